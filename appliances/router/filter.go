package router

import (
	"net/netip"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Filter is the hook of an appliance that uses the router as its
// forwarding engine and judges what it forwards (the firewall). The router
// calls it for every packet it is about to forward to a neighbour or
// deliver to itself, after the FIB lookup and before the TTL and MTU
// checks, once per packet. Broadcasts, multicasts and the router's own
// neighbour discovery do not reach it.
type Filter interface {
	// Filter judges packet i of b, whose IP packet starts at data offset
	// l3, arriving on interface in and routed to interface out (interface
	// numbers are the policy's; SelfIface for the router itself, as the
	// destination of a packet addressed to it or the source of one it
	// made). The filter may rewrite the packet in place (NAT) and says
	// what the router does next; why is the drop reason of FilterDrop and
	// FilterUnreachable. It runs on the worker and must not keep the
	// packet.
	Filter(b *dataplane.Batch, i, l3, in, out int) (v FilterVerdict, why dataplane.Reason)
}

// BurstFilter is a Filter that prepares for a burst: after the FIB
// lookups of a burst's plain unicast IPv4 packets (and again for its IPv6
// ones), before it filters the first of them, the router calls Prepare
// with those it will filter and the interfaces Filter will be given for
// each. Prepare must not change the packets: what it learns is advice for
// the Filter calls that follow (the firewall classifies the burst's first
// packets together there). Filter still judges every packet, and must not
// count on Prepare having seen it: the router may make other packets and
// filter them too (a reset, a packet after destination NAT). ps is the
// router's: Prepare must not keep it.
type BurstFilter interface {
	Filter
	// Prepares reports whether Prepare has use for the burst; when it
	// has not, the router does not list the packets.
	Prepares() bool
	Prepare(b *dataplane.Batch, ps []Pending)
}

// Pending is a packet the router is about to filter: packet I of the
// burst, its IP packet at data offset L3, and its interfaces as Filter
// will see them.
type Pending struct {
	I, L3   int
	In, Out int
}

// FilterVerdict is what the router does with a packet after its Filter.
type FilterVerdict uint8

const (
	// FilterPass: route the packet on as looked up.
	FilterPass FilterVerdict = iota
	// FilterDrop: drop it, counted for the reason given.
	FilterDrop
	// FilterReroute: its destination changed (destination NAT); look it
	// up again and route it without filtering it again.
	FilterReroute
	// FilterReply: the filter turned it into a packet of the router's own
	// (a TCP reset to its source); route that.
	FilterReply
	// FilterUnreachable: drop it, answering with an ICMP destination
	// unreachable, administratively prohibited, rate-limited as the
	// router's other errors.
	FilterUnreachable
)

// SelfIface is the interface number Filter gives the router itself.
const SelfIface = -1

// mFiltered marks a packet the Filter has seen.
const mFiltered uint8 = 1 << 7

// filter runs the Filter on packet i routed to adjacency a; it reports
// whether the router goes on with it as routed.
func (r *Router) filter(b *dataplane.Batch, i int, a *adjacency, v6 bool) bool {
	in, out, ok := r.ends(i, a)
	if !ok {
		return true
	}
	m := &r.meta[i]
	m.flags |= mFiltered
	v, why := r.opt.Filter.Filter(b, i, int(m.l2), in, out)
	switch v {
	case FilterPass:
		return true
	case FilterReroute:
		r.reroute(b, i, v6)
	case FilterReply:
		m.flags |= mNoTTL | mLocalOrigin
		r.reroute(b, i, v6)
	case FilterUnreachable:
		if v6 {
			r.icmpErr6(b, i, packet.ICMPv6DstUnreachable, packet.ICMPv6AdminProhibited, 0, why)
		} else {
			r.icmpErr4(b, i, packet.ICMPv4DstUnreachable, packet.ICMPv4AdminProhibited, 0, why)
		}
	default:
		b.Pkts[i].Drop(why)
	}
	return false
}

// ends returns the interfaces Filter is given for packet i routed to
// adjacency a, or false when the packet is not for the Filter.
func (r *Router) ends(i int, a *adjacency) (in, out int, ok bool) {
	m := &r.meta[i]
	switch a.kind {
	case adjGateway, adjConnected:
		out = int(a.ifx)
	case adjLocal:
		out = SelfIface
	default:
		return 0, 0, false
	}
	if m.flags&(mL2Cast|mFiltered) != 0 {
		return 0, 0, false
	}
	in = int(m.in)
	if m.flags&mLocalOrigin != 0 || in < 0 {
		in = SelfIface
	}
	return in, out, true
}

// prepare gives a BurstFilter the packets idx, whose FIB groups are gs,
// that it is about to filter.
func (r *Router) prepare(b *dataplane.Batch, bf BurstFilter, idx []int32, gs []uint32, v6 bool) {
	ps := r.pending[:0]
	for k, i := range idx {
		a, ok := r.adjOf(b, int(i), gs[k], v6)
		if !ok {
			continue
		}
		if in, out, ok := r.ends(int(i), a); ok {
			ps = append(ps, Pending{I: int(i), L3: int(r.meta[i].l2), In: in, Out: out})
		}
	}
	r.pending = ps
	if len(ps) > 0 {
		bf.Prepare(b, ps)
	}
}

// reroute looks packet i up again (its destination changed) and routes it.
func (r *Router) reroute(b *dataplane.Batch, i int, v6 bool) {
	ip := b.Pkts[i].Data()[r.meta[i].l2:]
	if v6 {
		r.forward(b, i, r.st.table.Lookup6([16]byte(ip[24:40])), true)
	} else {
		r.forward(b, i, r.st.table.Lookup4([4]byte(ip[16:20])), false)
	}
}

// Egress returns the interface the router would send a packet to dst by
// (SelfIface for its own addresses), for a Filter judging a packet whose
// destination it will translate; ok is false with no route or a route
// that forwards nothing (blackhole, broadcast). It uses the worker's
// state and runs on the worker.
func (r *Router) Egress(dst netip.Addr) (ifx int, ok bool) {
	st := r.st
	if st == nil {
		st = r.cur.Load()
	}
	g := st.table.LookupAddr(dst.Unmap())
	if g >= uint32(len(st.groups)) {
		return 0, false
	}
	a := &st.adjs[st.hopAdj[st.groups[g].first]]
	switch a.kind {
	case adjGateway, adjConnected:
		return int(a.ifx), true
	case adjLocal:
		return SelfIface, true
	}
	return 0, false
}
