package router

import (
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// fragment splits IPv4 packet i, whose TTL is already decremented and
// which does not fit the MTU of adjacency ai's interface, into fragments
// that do (RFC 791 section 3.2, RFC 1812 4.2.2.7). The first fragment is
// the packet itself, cut short in place; the others are new frames from the
// pool, carrying the options whose copy flag is set. Offsets add to the
// packet's own (it may be a fragment already), the last keeps its MF.
func (r *Router) fragment(b *dataplane.Batch, i int, ai uint32, a *adjacency) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	out := &r.st.ifaces[a.ifx]
	ip := p.Data()[m.l2:]
	hl := int(ip[0]&0xf) * 4
	tl := int(be16(ip[2:]))
	var opts [packet.IPv4MaxLen - packet.IPv4MinLen]byte
	ol := copiedOptions(ip[packet.IPv4MinLen:hl], opts[:])
	hl2 := packet.IPv4MinLen + ol
	first := (out.mtu - hl) &^ 7
	rest := (out.mtu - hl2) &^ 7
	data := tl - hl
	if first < 8 || rest < 8 {
		p.Drop(ReasonFragNeeded)
		return
	}
	nmore := (data - first + rest - 1) / rest
	if b.Room() < nmore {
		p.Drop(ReasonBurstFull)
		return
	}
	ff := be16(ip[6:])
	base := int(ff & 0x1fff)
	lastMF := ff & packet.IPv4MoreFragments
	start := len(b.Pkts)
	for off := first; off < data; off += rest {
		f, ok := r.pool.Get()
		if !ok {
			for _, q := range b.Pkts[start:] {
				r.pool.Put(q)
			}
			b.Pkts = b.Pkts[:start]
			p.Drop(dataplane.ReasonNoBuffer)
			return
		}
		n := min(rest, data-off)
		h := f.Append(hl2 + n)
		copy(h, ip[:packet.IPv4MinLen])
		copy(h[packet.IPv4MinLen:], opts[:ol])
		copy(h[hl2:], ip[hl+off:hl+off+n])
		h[0] = 0x40 | uint8(hl2/4)
		put16(h[2:], uint16(hl2+n))
		mf := lastMF
		if off+n < data {
			mf = packet.IPv4MoreFragments
		}
		put16(h[6:], mf|uint16(base+off/8))
		fillChecksum4(h[:hl2])
		f.InPort = p.InPort
		b.Add(f)
		r.meta[len(b.Pkts)-1] = meta{in: m.in, flags: m.flags | mNoTTL}
	}
	put16(ip[2:], uint16(hl+first))
	put16(ip[6:], packet.IPv4MoreFragments|uint16(base))
	fillChecksum4(ip)
	m.flags |= mNoTTL
	r.cnt.frags.Add(uint64(1 + len(b.Pkts) - start))
	end := len(b.Pkts)
	r.toAdj(b, i, ai, a, false)
	for k := start; k < end; k++ {
		r.toAdj(b, k, ai, a, false)
	}
}

// copiedOptions writes to dst the options of opts whose copy flag is set,
// padded with end-of-options to a multiple of 4, and returns their length.
// The options were checked by the slow path.
func copiedOptions(opts, dst []byte) int {
	n := 0
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == 0 {
			break
		}
		if t == 1 {
			i++
			continue
		}
		if i+1 >= len(opts) {
			break
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			break
		}
		if t&0x80 != 0 {
			n += copy(dst[n:], opts[i:i+l])
		}
		i += l
	}
	for n%4 != 0 {
		dst[n] = 0
		n++
	}
	return n
}
