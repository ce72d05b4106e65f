package router

import (
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// forward routes packet i of b, an IPv4 or IPv6 packet whose FIB group is
// g: the adjacency of the group (by flow hash when there are several),
// then toAdj.
func (r *Router) forward(b *dataplane.Batch, i int, g uint32, v6 bool) {
	st := r.st
	if g >= uint32(len(st.groups)) {
		r.noRoute(b, i, v6)
		return
	}
	ai := st.hopAdj[r.hop(b, i, g, v6)]
	a := &st.adjs[ai]
	if r.opt.Filter != nil && !r.filter(b, i, a, v6) {
		return
	}
	if a.kind > adjGateway || r.meta[i].flags&(mL2Cast|mLinkLocal) != 0 {
		r.special(b, i, ai, a, v6)
		return
	}
	r.toAdj(b, i, ai, a, v6)
}

// hop returns the next hop of FIB group g (a valid one) for packet i: by
// flow hash when the group has several.
func (r *Router) hop(b *dataplane.Batch, i int, g uint32, v6 bool) uint32 {
	gr := r.st.groups[g]
	k := gr.first
	if gr.n > 1 {
		k += uint32(uint64(r.flowHash(b, i, v6)) * uint64(gr.n) >> 32)
	}
	return k
}

// adjOf returns the adjacency forward takes packet i of FIB group g to,
// or false with no route.
func (r *Router) adjOf(b *dataplane.Batch, i int, g uint32, v6 bool) (*adjacency, bool) {
	st := r.st
	if g >= uint32(len(st.groups)) {
		return nil, false
	}
	return &st.adjs[st.hopAdj[r.hop(b, i, g, v6)]], true
}

// special handles routes that are not to a neighbour, and packets that may
// be delivered locally only.
func (r *Router) special(b *dataplane.Batch, i int, ai uint32, a *adjacency, v6 bool) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	switch {
	case a.kind == adjBroadcast && a.ifx == m.in:
		// A broadcast to the network it came from: for the local stack.
		p.Punt()
	case m.flags&mL2Cast != 0:
		p.Drop(ReasonLinkBroadcast)
	case a.kind == adjLocal:
		if v6 {
			r.local6(b, i)
		} else {
			r.local4(b, i)
		}
	case m.flags&mLinkLocal != 0:
		p.Drop(ReasonLinkLocal)
	case a.kind == adjBlackhole:
		p.Drop(ReasonBlackhole)
	case a.kind == adjBroadcast:
		// RFC 2644: directed broadcasts are not forwarded.
		p.Drop(ReasonDirectedBc)
	default:
		r.toAdj(b, i, ai, a, v6)
	}
}

// toAdj sends packet i out through adjacency ai: TTL check, MTU check
// (fragmenting or refusing), TTL decrement, then the neighbour.
func (r *Router) toAdj(b *dataplane.Batch, i int, ai uint32, a *adjacency, v6 bool) {
	st := r.st
	p := &b.Pkts[i]
	m := &r.meta[i]
	ip := p.Data()[m.l2:]
	out := &st.ifaces[a.ifx]
	var ipLen int
	var key nkey
	if !v6 {
		ipLen = int(be16(ip[2:]))
		if m.flags&mNoTTL == 0 {
			if ip[8] <= 1 {
				r.timeExceeded(b, i, v6)
				return
			}
		}
		if ipLen > out.mtu {
			if ip[6]&0x40 != 0 {
				r.fragNeeded(b, i, out.mtu)
				return
			}
			if m.flags&mNoTTL == 0 {
				decTTL4(ip)
				m.flags |= mNoTTL
			}
			r.fragment(b, i, ai, a)
			return
		}
		if m.flags&mNoTTL == 0 {
			decTTL4(ip)
		}
		if a.kind == adjConnected {
			key = key4(a.ifx, be32(ip[16:]))
		}
	} else {
		ipLen = packet.IPv6Len + int(be16(ip[4:]))
		if m.flags&mNoTTL == 0 {
			if ip[7] <= 1 {
				r.timeExceeded(b, i, v6)
				return
			}
		}
		if ipLen > out.mtu {
			r.packetTooBig(b, i, out.mtu)
			return
		}
		if m.flags&mNoTTL == 0 {
			ip[7]--
		}
		if a.kind == adjConnected {
			key = key6(a.ifx, ip[24:40])
		}
	}
	if out.l3 {
		r.toVirtual(p, m, out, ipLen)
		return
	}
	var e *neighbor
	if a.kind == adjGateway {
		key = a.gw
		if s := r.adjSlot[ai]; s >= 0 {
			e = &r.neigh.ents[s]
		}
	} else {
		e = r.neigh.get(key)
	}
	r.emit(b, i, out, e, key, ipLen, v6)
}

// toVirtual hands packet p, routed to virtual interface out, to the
// appliance: the bare IP packet, its link header pulled off (see Virtual).
func (r *Router) toVirtual(p *dataplane.Packet, m *meta, out *ifaceState, ipLen int) {
	p.Pull(int(m.l2))
	m.l2 = 0
	p.Trim(ipLen)
	p.Forward(int(out.port))
}

// emit puts the egress link header on packet i and sends it to neighbour
// e, or queues it until e is resolved.
func (r *Router) emit(b *dataplane.Batch, i int, out *ifaceState, e *neighbor, key nkey, ipLen int, v6 bool) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	if l2, nl2 := int(m.l2), out.l2len; nl2 != l2 {
		if nl2 > l2 {
			if p.Prepend(nl2-l2) == nil {
				p.Drop(ReasonNoHeadroom)
				return
			}
		} else {
			p.Pull(l2 - nl2)
		}
		m.l2 = uint8(nl2)
	}
	p.Trim(out.l2len + ipLen)
	if ipLen < minFrame-out.l2len {
		padMin(p)
	}
	d := p.Data()
	f := 0
	if v6 {
		f = 1
	}
	copy(d[6:out.l2len], out.hdr[f][6:out.l2len])
	if e != nil && r.usable(e) {
		copy(d[0:6], e.mac[:])
		p.Forward(int(out.port))
		return
	}
	r.enqueue(b, i, out, e, key)
}

// minFrame is the shortest Ethernet frame without its FCS: shorter ones are
// padded with zeros, as a NIC does, so that captures show the wire.
const minFrame = 60

func padMin(p *dataplane.Packet) {
	if n := p.Len(); n < minFrame {
		clear(p.Append(minFrame - n))
	}
}

// usable reports whether e's MAC may be used, moving a stale entry to
// delay: it is re-probed unless confirmed meanwhile (RFC 4861 7.3.3).
func (r *Router) usable(e *neighbor) bool {
	switch e.state {
	case nReachable, nPermanent, nDelay, nProbe:
		return true
	case nStale:
		e.state, e.deadline = nDelay, r.now+int64(r.opt.DelayFirstProbe)
		return true
	}
	return false
}

// enqueue holds packet i until its neighbour is resolved, starting the
// resolution if need be.
func (r *Router) enqueue(b *dataplane.Batch, i int, out *ifaceState, e *neighbor, key nkey) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	if e == nil {
		if e = r.neigh.create(key); e == nil {
			p.Drop(ReasonNeighTable)
			return
		}
	}
	if e.state == nNone || e.state == nFailed {
		e.state, e.probes, e.deadline = nIncomplete, 0, r.now
		if r.probe(b, e, false) {
			e.probes, e.deadline = 1, r.now+int64(r.opt.RetransTime)
		}
	}
	old, dropped, ok := r.neigh.push(e, queued{pkt: *p, l2: m.l2, flags: m.flags, port: out.port, in: m.in})
	if dropped {
		r.stats.Drop(ReasonQueueFull)
		r.pool.Put(old)
	}
	if !ok {
		p.Drop(ReasonQueueFull)
		return
	}
	p.Consume()
}

// markReady notes that e's queued packets may go.
func (r *Router) markReady(e *neighbor) {
	if e.qlen > 0 && !e.ready {
		e.ready = true
		r.ready = append(r.ready, r.neigh.slot(e))
	}
}

// flushReady sends the queued packets of resolved neighbours, as many as
// the burst has room for; the rest go with the next burst or tick.
func (r *Router) flushReady(b *dataplane.Batch) {
	if len(r.ready) == 0 {
		return
	}
	t := &r.neigh
	w := 0
	for _, s := range r.ready {
		e := &t.ents[s]
		if !e.used || !e.ready {
			continue
		}
		for e.qlen > 0 && b.Room() > 0 && r.usable(e) {
			q := t.pop(e)
			copy(q.pkt.Data()[0:6], e.mac[:])
			q.pkt.Forward(int(q.port))
			b.Add(q.pkt)
		}
		if e.qlen > 0 && r.usable(e) {
			r.ready[w] = s
			w++
		} else {
			e.ready = false
		}
	}
	r.ready = r.ready[:w]
}

// flowHash hashes packet i's flow for ECMP: addresses, protocol and ports
// for IPv4 (ports left out of fragments, so that every fragment of a
// datagram takes one path); addresses and the flow label, or the ports
// when it is zero, for IPv6. It is the same for the same flow on every run.
func (r *Router) flowHash(b *dataplane.Batch, i int, v6 bool) uint32 {
	ip := b.Pkts[i].Data()[r.meta[i].l2:]
	var x, y uint64
	if !v6 {
		proto := ip[9]
		hl := int(ip[0]&0xf) * 4
		var ports uint32
		if be16(ip[6:])&0x3fff == 0 && (proto == 6 || proto == 17 || proto == 132) && len(ip) >= hl+4 {
			ports = be32(ip[hl:])
		}
		x = uint64(be32(ip[12:]))<<32 | uint64(be32(ip[16:]))
		y = uint64(ports)<<8 | uint64(proto)
	} else {
		x = be64(ip[8:]) ^ be64(ip[16:])*0x9e3779b97f4a7c15 ^ be64(ip[24:])*0xc2b2ae3d27d4eb4f ^ be64(ip[32:])
		nh := ip[6]
		y = uint64(be32(ip[0:]) & 0xfffff)
		if y == 0 && (nh == 6 || nh == 17 || nh == 132) && len(ip) >= packet.IPv6Len+4 {
			y = uint64(be32(ip[packet.IPv6Len:]))<<8 | uint64(nh)
		}
		y |= 1 << 63
	}
	h := x*0x9e3779b97f4a7c15 ^ y*0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return uint32(h)
}
