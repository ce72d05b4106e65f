package router

import (
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Neighbour resolution: ARP (RFC 826) and neighbour discovery (RFC 4861)
// in the dataplane, both driving the same neighbour states.

// NDP option types and neighbour advertisement flags.
const (
	ndpSourceLL = 1
	ndpTargetLL = 2

	naRouter    = 1 << 31
	naSolicited = 1 << 30
	naOverride  = 1 << 29

	ndpLen = packet.ICMPv6MinLen + 16 + 8 // NS or NA with a link-layer option
)

var allNodes6 = [16]byte{0: 0xff, 1: 0x02, 15: 1}

// setState moves e to s and arms the state's timer.
func (r *Router) setState(e *neighbor, s nstate) {
	e.state, e.probes = s, 0
	switch s {
	case nReachable:
		e.deadline = r.now + int64(r.opt.ReachableTime)
	case nStale:
		e.deadline = r.now + int64(r.opt.GCTime)
	}
}

// learn records that e has link address mac. solicited says the neighbour
// answered the router (reachability confirmed), override that mac replaces
// a different one (RFC 4861 7.2.5; ARP always overrides). Queued packets go
// once e is usable.
func (r *Router) learn(e *neighbor, mac packet.MAC, solicited, override bool) {
	if e.static {
		return
	}
	next := nStale
	if solicited {
		next = nReachable
	}
	switch {
	case e.state == nNone || e.state == nIncomplete || e.state == nFailed:
		e.mac = mac
		r.setState(e, next)
	case mac != e.mac && !override:
		if e.state == nReachable {
			r.setState(e, nStale)
		}
		return
	case mac != e.mac:
		e.mac = mac
		r.setState(e, next)
	case solicited:
		r.setState(e, nReachable)
	}
	r.markReady(e)
}

// arpIn handles an ARP packet: requests for the ingress interface's
// addresses are answered in place, and senders are learnt as RFC 826's
// merge says (only requests to the router create entries).
func (r *Router) arpIn(b *dataplane.Batch, i int) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	ifc := &r.st.ifaces[m.in]
	d := p.Data()
	l2 := int(m.l2)
	a := packet.ARP(d[l2:])
	if !a.IsEthernetIPv4() {
		p.Drop(ReasonBadARP)
		return
	}
	op := a.Op()
	sha := a.SenderMAC()
	spa, tpa := be32(a[14:18]), be32(a[24:28])
	switch {
	case op != packet.ARPRequest && op != packet.ARPReply:
		p.Drop(ReasonARPIgnored)
		return
	case sha.IsMulticast() || sha == packet.MAC{}:
		p.Drop(ReasonBadARP)
		return
	case ifc.own4(spa) || martianSrc4(spa) && spa != 0:
		p.Drop(ReasonARPIgnored)
		return
	}
	forUs := ifc.own4(tpa)
	learnt := false
	if spa != 0 {
		k := key4(m.in, spa)
		e := r.neigh.get(k)
		if e == nil && forUs && op == packet.ARPRequest {
			e = r.neigh.create(k)
		}
		if e != nil {
			r.learn(e, sha, op == packet.ARPReply && forUs, true)
			learnt = true
		}
	}
	if forUs && op == packet.ARPRequest {
		spaB, tpaB := a.SenderIP4(), a.TargetIP4()
		copy(d[0:6], sha[:])
		copy(d[6:12], ifc.mac[:])
		a.SetOp(packet.ARPReply)
		a.SetTarget(sha, spaB)
		a.SetSender(ifc.mac, tpaB)
		p.Trim(l2 + packet.ARPLen)
		padMin(p)
		p.Forward(int(ifc.port))
		r.cnt.arpRep.Add(1)
		return
	}
	if forUs && learnt {
		r.free(p) // a reply to the router: used up
		return
	}
	// Someone else's business, though it may have refreshed an entry.
	p.Drop(ReasonARPIgnored)
}

// free takes packet p, which the router has used up, off the batch and
// gives its frame back: it was not dropped, so no reason is counted.
func (r *Router) free(p *dataplane.Packet) {
	p.Consume()
	r.pool.Put(*p)
}

// ndpOption finds the link-layer address option typ in NDP options. ok is
// false for malformed options (a zero length, one past the end).
func ndpOption(opts []byte, typ uint8) (mac packet.MAC, has, ok bool) {
	for len(opts) >= 2 {
		l := int(opts[1]) * 8
		if l == 0 || l > len(opts) {
			return mac, false, false
		}
		if opts[0] == typ && l >= 8 && !has {
			mac, has = packet.MAC(opts[2:8]), true
		}
		opts = opts[l:]
	}
	return mac, has, true
}

// ndpValid checks what RFC 4861 7.1 asks of any NS or NA: hop limit 255,
// code 0, the fixed part present, a good checksum, a unicast target.
func (r *Router) ndpValid() bool {
	pp := &r.p
	icmp := pp.ICMPv6()
	return pp.TTL == 255 && icmp.Code() == 0 && len(icmp) >= packet.ICMPv6MinLen+16 &&
		!pp.IsFragment() && pp.VerifyL4Checksum() == nil && icmp[8] != 0xff
}

// ndpNS answers a neighbour solicitation for one of the interface's
// addresses with an advertisement, in place, learning the solicitor.
func (r *Router) ndpNS(b *dataplane.Batch, i int, ifc *ifaceState) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	pp := &r.p
	if !r.ndpValid() {
		p.Drop(ReasonBadNDP)
		return
	}
	ip, icmp := pp.IPv6(), pp.ICMPv6()
	target, src, dst := [16]byte(icmp[8:24]), [16]byte(ip[8:24]), [16]byte(ip[24:40])
	slla, has, ok := ndpOption(icmp[packet.ICMPv6MinLen+16:], ndpSourceLL)
	dad := src == [16]byte{}
	if !ok || dad && (has || !ifc.solicited(dst)) {
		p.Drop(ReasonBadNDP)
		return
	}
	if !ifc.own6(target) {
		p.Drop(ReasonNDPIgnored)
		return
	}
	ethSrc := packet.MAC(p.Data()[6:12])
	if has && !dad {
		k := key6(m.in, src[:])
		e := r.neigh.get(k)
		if e == nil {
			e = r.neigh.create(k)
		}
		if e != nil {
			r.learn(e, slla, false, true)
		}
	}
	flags := uint32(naRouter | naOverride)
	dmac := ethSrc
	switch {
	case dad:
		dst, dmac = allNodes6, multicastMAC6(allNodes6)
	case has:
		dst, dmac, flags = src, slla, flags|naSolicited
	default:
		dst, flags = src, flags|naSolicited
	}
	l2 := ifc.l2len
	p.Trim(0)
	d := p.Append(l2 + packet.IPv6Len + ndpLen)
	copy(d[0:6], dmac[:])
	copy(d[6:l2], ifc.hdr[1][6:l2])
	h := d[l2:]
	writeIPv6(h, ndpLen, 255, target, dst)
	c := h[packet.IPv6Len:]
	c[0], c[1], c[2], c[3] = uint8(packet.ICMPv6NeighborAdvert), 0, 0, 0
	put32(c[4:], flags)
	copy(c[8:24], target[:])
	c[24], c[25] = ndpTargetLL, 1
	copy(c[26:32], ifc.mac[:])
	put16(c[2:], ^packet.Checksum(c, packet.PseudoHeaderChecksum(packet.IPProtoICMPv6, target[:], dst[:], ndpLen)))
	p.Forward(int(ifc.port))
	r.cnt.na.Add(1)
}

// ndpNA takes a neighbour advertisement: it resolves or updates an entry
// the router has (RFC 4861 7.2.5); others are ignored.
func (r *Router) ndpNA(b *dataplane.Batch, i int, ifc *ifaceState) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	pp := &r.p
	if !r.ndpValid() {
		p.Drop(ReasonBadNDP)
		return
	}
	ip, icmp := pp.IPv6(), pp.ICMPv6()
	flags := be32(icmp[4:])
	solicited, override := flags&naSolicited != 0, flags&naOverride != 0
	tlla, has, ok := ndpOption(icmp[packet.ICMPv6MinLen+16:], ndpTargetLL)
	if !ok || solicited && multicast6(be64(ip[24:])) {
		p.Drop(ReasonBadNDP)
		return
	}
	target := [16]byte(icmp[8:24])
	e := r.neigh.get(key6(m.in, target[:]))
	if e == nil || ifc.own6(target) {
		p.Drop(ReasonNDPIgnored)
		return
	}
	switch {
	case has:
		r.learn(e, tlla, solicited, override)
	case e.state == nNone || e.state == nIncomplete || e.state == nFailed:
		p.Drop(ReasonNDPIgnored)
		return
	case solicited:
		r.learn(e, e.mac, true, false)
	}
	r.free(p)
}

// probe sends an ARP request or a neighbour solicitation for e: to the
// broadcast or solicited-node group while resolving, to e's MAC when
// re-probing a known neighbour. It reports false when the burst is full or
// the pool empty, and the probe should be retried.
func (r *Router) probe(b *dataplane.Batch, e *neighbor, unicast bool) bool {
	st := r.st
	if b.Room() == 0 || int(e.key.ifx) >= len(st.ifaces) {
		return false
	}
	f, ok := r.pool.Get()
	if !ok {
		return false
	}
	ifc := &st.ifaces[e.key.ifx]
	l2 := ifc.l2len
	if e.key.is4() {
		d := f.Append(l2 + packet.ARPLen)
		if unicast {
			copy(d[0:6], e.mac[:])
		} else {
			copy(d[0:6], packet.BroadcastMAC[:])
		}
		copy(d[6:l2], ifc.hdr[0][6:l2])
		put16(d[l2-2:], uint16(packet.EtherTypeARP))
		a := packet.ARP(d[l2:])
		a.SetEthernetIPv4(packet.ARPRequest)
		a.SetSender(ifc.mac, ifc.probeSrc4(e.key.addr()))
		a.SetTarget(packet.MAC{}, e.key.addr4())
		padMin(&f)
		r.cnt.arpReq.Add(1)
	} else {
		target := e.key.addr16()
		dst, dmac := solicitedNode(target)
		if unicast {
			dst, dmac = target, e.mac
		}
		src := ifc.probeSrc6(e.key.addr())
		d := f.Append(l2 + packet.IPv6Len + ndpLen)
		copy(d[0:6], dmac[:])
		copy(d[6:l2], ifc.hdr[1][6:l2])
		h := d[l2:]
		writeIPv6(h, ndpLen, 255, src, dst)
		c := h[packet.IPv6Len:]
		c[0], c[1], c[2], c[3] = uint8(packet.ICMPv6NeighborSolicit), 0, 0, 0
		put32(c[4:], 0)
		copy(c[8:24], target[:])
		c[24], c[25] = ndpSourceLL, 1
		copy(c[26:32], ifc.mac[:])
		put16(c[2:], ^packet.Checksum(c, packet.PseudoHeaderChecksum(packet.IPProtoICMPv6, src[:], dst[:], ndpLen)))
		r.cnt.ns.Add(1)
	}
	f.Forward(int(ifc.port))
	b.Add(f)
	return true
}

// timers runs the neighbour state machine's timers.
func (r *Router) timers(b *dataplane.Batch) {
	t := &r.neigh
	now := r.now
	retrans := int64(r.opt.RetransTime)
	for s := range t.ents {
		e := &t.ents[s]
		if !e.used || now < e.deadline {
			continue
		}
		switch e.state {
		case nIncomplete:
			if int(e.probes) >= r.opt.MaxProbes {
				r.fail(b, e)
			} else if r.probe(b, e, false) {
				e.probes++
				e.deadline = now + retrans
			}
		case nReachable:
			r.setState(e, nStale)
		case nDelay, nProbe:
			if e.state == nDelay {
				e.state, e.probes = nProbe, 0
			}
			if int(e.probes) >= r.opt.MaxProbes {
				r.fail(b, e)
			} else if r.probe(b, e, true) {
				e.probes++
				e.deadline = now + retrans
			}
		case nStale, nFailed, nNone:
			if !e.static && e.pin != r.st.gen && e.qlen == 0 {
				t.remove(e)
			} else {
				e.deadline = now + int64(r.opt.GCTime)
			}
		}
	}
}

// fail gives up on e: its queued packets are dropped, each with an ICMP
// destination (host / address) unreachable to its source.
func (r *Router) fail(b *dataplane.Batch, e *neighbor) {
	r.cnt.failed.Add(1)
	r.log.Debug("neighbour unreachable", "neighbor", e.key.addr(), "interface", r.st.ifaces[e.key.ifx].name, "queued", e.qlen)
	e.state, e.probes, e.deadline = nFailed, 0, r.now+int64(r.opt.GCTime)
	v6 := !e.key.is4()
	for e.qlen > 0 {
		q := r.neigh.pop(e)
		if b.Room() == 0 {
			r.stats.Drop(ReasonNeighFailed)
			r.pool.Put(q.pkt)
			continue
		}
		b.Add(q.pkt)
		j := len(b.Pkts) - 1
		r.meta[j] = meta{in: q.in, l2: q.l2, flags: q.flags}
		r.neighborFailed(b, j, v6)
	}
}
