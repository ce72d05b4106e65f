package conntrack

import (
	"encoding/binary"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// prefetchChunk is how many packets Prefetch looks up together.
const prefetchChunk = 64

// prefetchLinks bounds the chain links Prefetch follows for a packet.
const prefetchLinks = 3

// Prefetch reads, for each packet of a burst, the index bucket and the
// entry that Track will read, so that the burst's cache misses overlap
// instead of coming one after the other: in a table much bigger than the
// caches (a million connections is 184 MiB), an entry is a miss to memory,
// and Track on a burst after Prefetch costs a fraction of Track alone (see
// the package doc). It changes nothing and does not allocate; in a table
// that fits the caches it is wasted work.
//
// When seen is not nil (at least len(ps) long), seen[i] reports whether
// packet i's connection was found: false for a first packet, and for the
// rare one further down a long chain than Prefetch looks.
func (t *Table) Prefetch(ps []packet.Parsed, seen []bool) {
	if seen != nil {
		clear(seen[:len(ps)])
	}
	var keys [prefetchChunk]Tuple
	var refs [prefetchChunk]uint32
	var who [prefetchChunk]uint8
	var sink int64
	for base := 0; base < len(ps); base += prefetchChunk {
		c := ps[base:min(len(ps), base+prefetchChunk)]
		// The hashes first, with no load from the table, then the loads
		// in loops of a few instructions each: that way the out-of-order
		// core has many misses in flight, not the one or two that fit its
		// window beside the decoding and hashing.
		n := 0
		for i := range c {
			if quickTuple(&c[i], &keys[i]) {
				refs[n] = uint32(t.key.hash(&keys[i]) & t.mask)
				who[n] = uint8(i)
				n++
			}
		}
		// The buckets: independent loads.
		for i, h := range refs[:n] {
			refs[i] = t.heads[h]
		}
		// Then the entries the buckets name, a chain link at a time for
		// the whole burst: one loop that only loads (the lines Track
		// reads: the key, the chain link, the timer and status, and TCP's
		// window), then one that compares, the entries now at hand, and
		// keeps the packets whose key is further down their chain (a
		// bucket holds one key on average, so a third of them).
		for link := 0; n > 0; link++ {
			for j, r := range refs[:n] {
				if r != 0 {
					e := &t.entries[refEntry(r)]
					d := refDir(r)
					k := e.tup(d)
					sink += e.expires + int64(e.status) + int64(*e.next(d)) + int64(k.Src[0]) + int64(k.DstPort)
					if keys[who[j]].Proto == packet.IPProtoTCP {
						w := &t.tcp[refEntry(r)]
						sink += int64(w[0].end) + int64(w[1].maxAck)
					}
				}
			}
			m := 0
			for j, r := range refs[:n] {
				if r == 0 {
					continue // the end of the chain: no entry
				}
				e := &t.entries[refEntry(r)]
				d := refDir(r)
				i := who[j]
				if e.tup(d).equal(&keys[i]) {
					if seen != nil {
						seen[base+int(i)] = true
					}
				} else if link+1 < prefetchLinks {
					refs[m], who[m] = *e.next(d), i
					m++
				}
			}
			n = m
		}
	}
	t.sink += sink
}

// quickTuple is Track's tuple of a packet that may have an entry, or false.
func quickTuple(p *packet.Parsed, k *Tuple) bool {
	if p.IPVersion == 0 || p.FragOffset != 0 {
		return false
	}
	k.V6 = p.IPVersion == 6
	k.Src, k.Dst = p.Src.As16(), p.Dst.As16()
	k.Proto = p.IPProto
	switch pr := p.IPProto; {
	case pr == packet.IPProtoTCP || pr == packet.IPProtoUDP || pr == packet.IPProtoSCTP:
		k.SrcPort, k.DstPort = p.SrcPort, p.DstPort
	case isICMP(pr, k.V6) && p.HasL4:
		m := p.L4()
		k.SrcPort, k.DstPort = binary.BigEndian.Uint16(m[4:6]), uint16(m[0])
	}
	return true
}
