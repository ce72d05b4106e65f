package esp

import (
	"net/netip"
	"slices"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

type endpoints struct{ local, peer netip.AddrPort }

// keepalive is Keepalives' scratch: one pair of endpoints, when it last
// carried a packet, and the header of one of its SAs.
type keepalive struct {
	ep   endpoints
	last int64
	hdr  *outerHeader
}

// Keepalives appends to b a NAT keepalive (RFC 3948 section 2.3: a UDP
// datagram of the single byte 0xFF, from port 4500 to the peer's port) for
// every pair of endpoints of installed outbound SAs with UDP encapsulation
// that has carried nothing for the Engine's KeepaliveInterval, taking
// frames from pool. It returns how many it appended; they are outer IP
// packets, as Encap makes, that the caller routes like Encap's output (their
// verdict is left unset). b.Now is the time. A stage calls it from Tick,
// from one worker: two calling at once may both send a keepalive, which is
// harmless.
func (w *Worker) Keepalives(b *dataplane.Batch, pool *dataplane.Pool) int {
	now := b.Now
	every := int64(w.e.opt.KeepaliveInterval)
	sas := *w.e.out.Load()
	// Traffic on any SA between two endpoints keeps their mapping open:
	// find each pair's latest transmission first.
	w.kaSent = w.kaSent[:0]
	for _, sa := range sas {
		if !sa.encap || sa.dead() {
			continue
		}
		ep := endpoints{sa.Local(), sa.hdr.Load().dst}
		last := sa.lastTx.Load()
		if i := slices.IndexFunc(w.kaSent, func(k keepalive) bool { return k.ep == ep }); i >= 0 {
			w.kaSent[i].last = max(w.kaSent[i].last, last)
		} else {
			w.kaSent = append(w.kaSent, keepalive{ep, last, sa.hdr.Load()})
		}
	}
	added := 0
	for _, k := range w.kaSent {
		if now-k.last < every || b.Room() == 0 {
			continue
		}
		p, ok := pool.Get()
		if !ok {
			break
		}
		h := k.hdr
		d := p.Append(h.ipLen + udpLen + 1)
		copy(d, h.b[:h.ipLen+udpLen])
		d[len(d)-1] = 0xff
		h.fill(d, 0, false, 0)
		if h.v6 {
			udpChecksum6(d)
		}
		b.Add(p)
		added++
		for _, sa := range sas {
			if sa.encap && sa.Local() == k.ep.local && sa.hdr.Load().dst == k.ep.peer {
				sa.lastTx.Store(now)
			}
		}
	}
	return added
}
