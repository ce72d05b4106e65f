package conntrack

import (
	"encoding/binary"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// prefetchChunk is how many packets Prefetch looks up together.
const prefetchChunk = 64

// Prefetch reads, for each packet of a burst, the index bucket and the
// entry that Track will read, so that the burst's cache misses overlap
// instead of coming one after the other: in a table much bigger than the
// caches (a million connections is 152 MiB), an entry is a miss to memory,
// and Track on a burst after Prefetch costs a fraction of Track alone (see
// the package doc). It changes nothing and does not allocate; in a table
// that fits the caches it is wasted work.
func (t *Table) Prefetch(ps []packet.Parsed) {
	var hs [prefetchChunk]uint64
	var refs [prefetchChunk]uint32
	var sink int64
	for len(ps) > 0 {
		c := ps[:min(len(ps), prefetchChunk)]
		ps = ps[len(c):]
		// The hashes first, with no load from the table, then the loads
		// in loops of a few instructions each: that way the out-of-order
		// core has many misses in flight, not the one or two that fit its
		// window beside the decoding and hashing.
		n := 0
		for i := range c {
			var k Tuple
			if quickTuple(&c[i], &k) {
				hs[n] = t.key.hash(&k) & t.mask
				n++
			}
		}
		// The buckets: independent loads.
		for i, h := range hs[:n] {
			refs[i] = t.heads[h]
		}
		// Then the entries the buckets name: the lines Track reads (the
		// key, the timer and status, the TCP state).
		for _, r := range refs[:n] {
			if r != 0 {
				e := &t.entries[refEntry(r)]
				sink += e.expires + int64(e.tuple[refDir(r)].SrcPort) + int64(e.status) + int64(e.tcp[1].end)
			}
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
