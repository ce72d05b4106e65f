package fib

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// LPM4 is a compiled, immutable IPv4 longest-prefix-match table mapping
// addresses to next-hop indices. Safe for concurrent lookups.
type LPM4 struct {
	top   []uint32 // t.top, and the shift that indexes it, where the
	shift uint     // inlined fast path reaches them with one load each
	t     lpm
}

// LPM6 is LPM4 for IPv6.
type LPM6 struct{ t lpm }

// Options tune compilation. The zero value is the default.
type Options struct {
	// Compact caps the IPv4 top level at 18 bits (1 MiB) where a large table
	// would get 24 bits (64 MiB): a 1M-prefix table then takes about 12 MiB
	// instead of 64, and a lookup about twice as long (see the package doc).
	Compact bool
}

// big4 is the IPv4 table size from which the top level indexes 24 bits.
var big4 = 1 << 17

// Compile4 compiles IPv4 entries into an LPM4. Prefixes need not be masked;
// of equal prefixes the last one wins. The entries are not kept.
func Compile4(es []Entry, o Options) (*LPM4, error) {
	ps, err := prefixes(es, true)
	if err != nil {
		return nil, err
	}
	tb := topBitsFor(len(ps))
	if len(ps) >= big4 && !o.Compact {
		tb = 24
	}
	t := compile(ps, tb)
	return &LPM4{top: t.top, shift: 32 - tb, t: t}, nil
}

// Compile6 compiles IPv6 entries into an LPM6, as Compile4 does. No option
// applies to IPv6 yet.
func Compile6(es []Entry, _ Options) (*LPM6, error) {
	ps, err := prefixes(es, false)
	if err != nil {
		return nil, err
	}
	return &LPM6{compile(ps, topBitsFor(len(ps)))}, nil
}

// Len returns the number of distinct prefixes compiled in.
func (m *LPM4) Len() int { return m.t.Len() }

// Memory returns the bytes the compiled table holds.
func (m *LPM4) Memory() int { return m.t.Memory() }

// Lookup returns the next hop of the longest prefix containing dst, or
// NoRoute.
func (m *LPM4) Lookup(dst [4]byte) uint32 {
	return m.lookup(binary.BigEndian.Uint32(dst[:]))
}

// LookupUint32 is Lookup with the address as a host-order integer
// (192.0.2.1 is 0xc0000201). Its top-level fast path inlines into the
// caller, which makes it the quickest single lookup.
func (m *LPM4) LookupUint32(a uint32) uint32 {
	if e := m.top[a>>m.shift]; e < nodeBit {
		return e - 1
	}
	return m.lookup(a)
}

// lookup is the whole lookup, one call for any depth.
func (m *LPM4) lookup(a uint32) uint32 {
	e := m.top[a>>m.shift]
	if e < nodeBit {
		return e - 1
	}
	t := &m.t
	nodes := t.nodes
	n := &nodes[e&^nodeBit]
	k := uint64(a) << (32 + t.topBits)
	for {
		bit := uint64(1) << (k >> 58)
		if n.vector&bit == 0 {
			return t.leaves[n.base0+uint32(bits.OnesCount64(n.leafvec&(bit<<1-1)))-1]
		}
		n = &nodes[n.base1+uint32(bits.OnesCount64(n.vector&(bit<<1-1)))-1]
		k <<= stride
	}
}

// LookupAddr is Lookup for a netip.Addr; anything but an IPv4 address has
// NoRoute.
func (m *LPM4) LookupAddr(a netip.Addr) uint32 {
	if !a.Is4() {
		return NoRoute
	}
	return m.Lookup(a.As4())
}

// batchChunk is how many unfinished lookups a batch walks together.
const batchChunk = 64

// LookupBatch looks up every dst[i] into out[i]; out must be at least as long
// as dst. It reads the top level for the whole burst first, in a tight loop
// of independent loads, so their cache misses overlap; the lookups that go
// deeper then walk down one trie level at a time, together, for the same
// reason.
func (m *LPM4) LookupBatch(dst [][4]byte, out []uint32) {
	out = out[:len(dst)]
	top, shift := m.top, m.shift
	for i := range dst {
		out[i] = top[binary.BigEndian.Uint32(dst[i][:])>>shift]
	}
	var key [batchChunk]uint64
	var pend [batchChunk]uint8
	kshift := 32 + m.t.topBits
	for off := 0; off < len(out); off += batchChunk {
		o := out[off:min(off+batchChunk, len(out))]
		d := dst[off:][:len(o)]
		np := 0
		for i, e := range o {
			if e < nodeBit {
				o[i] = e - 1
				continue
			}
			key[i] = uint64(binary.BigEndian.Uint32(d[i][:])) << kshift
			pend[np] = uint8(i)
			np++
		}
		if np > 0 {
			m.t.walkBatch4(o, &key, pend[:np])
		}
	}
}

// LookupBatchUint32 is LookupBatch with host-order integer addresses.
func (m *LPM4) LookupBatchUint32(dst []uint32, out []uint32) {
	out = out[:len(dst)]
	top, shift := m.top, m.shift
	for i, a := range dst {
		out[i] = top[a>>shift]
	}
	var key [batchChunk]uint64
	var pend [batchChunk]uint8
	kshift := 32 + m.t.topBits
	for off := 0; off < len(out); off += batchChunk {
		o := out[off:min(off+batchChunk, len(out))]
		d := dst[off:][:len(o)]
		np := 0
		for i, e := range o {
			if e < nodeBit {
				o[i] = e - 1
				continue
			}
			key[i] = uint64(d[i]) << kshift
			pend[np] = uint8(i)
			np++
		}
		if np > 0 {
			m.t.walkBatch4(o, &key, pend[:np])
		}
	}
}

// Len returns the number of distinct prefixes compiled in.
func (m *LPM6) Len() int { return m.t.Len() }

// Memory returns the bytes the compiled table holds.
func (m *LPM6) Memory() int { return m.t.Memory() }

// Lookup returns the next hop of the longest prefix containing dst, or
// NoRoute.
func (m *LPM6) Lookup(dst [16]byte) uint32 {
	hi := binary.BigEndian.Uint64(dst[:8])
	lo := binary.BigEndian.Uint64(dst[8:])
	t := &m.t
	tb := t.topBits
	e := t.top[hi>>(64-tb)]
	if e&nodeBit == 0 {
		return e - 1
	}
	return t.walk6(e&^nodeBit, hi<<tb|lo>>(64-tb), lo<<tb)
}

// LookupAddr is Lookup for a netip.Addr; anything but an IPv6 address
// (IPv4-mapped ones included, as an IPv6 header carries them) has NoRoute.
func (m *LPM6) LookupAddr(a netip.Addr) uint32 {
	if !a.Is6() {
		return NoRoute
	}
	return m.Lookup(a.As16())
}

// LookupBatch looks up every dst[i] into out[i], as LPM4.LookupBatch does.
func (m *LPM6) LookupBatch(dst [][16]byte, out []uint32) {
	out = out[:len(dst)]
	top, shift := m.t.top, 64-m.t.topBits
	for i := range dst {
		out[i] = top[binary.BigEndian.Uint64(dst[i][:8])>>shift]
	}
	var khi, klo [batchChunk]uint64
	var pend [batchChunk]uint8
	tb := m.t.topBits
	for off := 0; off < len(out); off += batchChunk {
		o := out[off:min(off+batchChunk, len(out))]
		d := dst[off:][:len(o)]
		np := 0
		for i, e := range o {
			if e < nodeBit {
				o[i] = e - 1
				continue
			}
			hi := binary.BigEndian.Uint64(d[i][:8])
			lo := binary.BigEndian.Uint64(d[i][8:])
			khi[i], klo[i] = hi<<tb|lo>>(64-tb), lo<<tb
			pend[np] = uint8(i)
			np++
		}
		if np > 0 {
			m.t.walkBatch6(o, &khi, &klo, pend[:np])
		}
	}
}
