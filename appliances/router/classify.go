package router

import (
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// classify looks at packet i of b: the link header, then either the fast
// path's checks of a plain unicast IPv4 or IPv6 packet, which it leaves for
// the batched lookup (in r.idx4 and r.dst4, or r.idx6 and r.dst6), or the
// slow path, which settles everything else.
func (r *Router) classify(b *dataplane.Batch, i int, st *state) {
	p := &b.Pkts[i]
	d := p.Data()
	m := &r.meta[i]
	if len(d) < packet.EthernetLen {
		p.Drop(ReasonMalformed)
		return
	}
	et := packet.EtherType(be16(d[12:]))
	l2 := packet.EthernetLen
	var vid uint16
	if et == packet.EtherTypeVLAN {
		if len(d) < l2+packet.VLANLen {
			p.Drop(ReasonMalformed)
			return
		}
		vid = be16(d[14:]) & 0x0fff
		et = packet.EtherType(be16(d[16:]))
		l2 += packet.VLANLen
	}
	if int(p.InPort) >= len(st.ports) {
		p.Drop(ReasonUnknownVLAN)
		return
	}
	pi := &st.ports[p.InPort]
	if pi.l3 {
		// A bare IP packet (see Virtual): what was read as a link header
		// above is not one. (A packet shorter than one is malformed all
		// the same.)
		r.classifyL3(b, i, st, pi)
		return
	}
	ifx := pi.untagged
	if vid != 0 { // VLAN 0 is a priority tag: untagged
		ifx = -1
		if pi.vlans != nil {
			ifx = pi.vlans[vid]
		}
	}
	if ifx < 0 {
		p.Drop(ReasonUnknownVLAN)
		return
	}
	ifc := &st.ifaces[ifx]
	*m = meta{in: ifx, l2: uint8(l2)}
	if be32(d[0:4]) != ifc.macHi || be16(d[4:6]) != ifc.macLo {
		if d[0]&1 == 0 {
			p.Drop(ReasonNotForUs)
			return
		}
		m.flags = mL2Cast
		r.slow(b, i, st, et)
		return
	}
	ip := d[l2:]
	switch et {
	case packet.EtherTypeIPv4:
		if len(ip) < packet.IPv4MinLen || ip[0] != 0x45 {
			break
		}
		tl := int(be16(ip[2:]))
		if tl < packet.IPv4MinLen || tl > len(ip) || ip[8] <= 1 || be16(ip[6:])&0x3fff != 0 {
			break
		}
		if sum20(ip) != 0xffff {
			p.Drop(ReasonBadChecksum)
			return
		}
		src, dst := be32(ip[12:]), be32(ip[16:])
		if unusual4(src) || unusual4(dst) || len(st.bcast4) > 0 && directedBcast(st, src) {
			break
		}
		r.dst4[r.n4] = [4]byte(ip[16:20])
		r.idx4[r.n4] = int32(i)
		r.n4++
		return
	case packet.EtherTypeIPv6:
		if len(ip) < packet.IPv6Len || ip[0]>>4 != 6 || int(be16(ip[4:]))+packet.IPv6Len > len(ip) || ip[7] <= 1 {
			break
		}
		if unusual6(be64(ip[8:])) || unusual6(be64(ip[24:])) {
			break
		}
		r.dst6[r.n6] = [16]byte(ip[24:40])
		r.idx6[r.n6] = int32(i)
		r.n6++
		return
	}
	r.slow(b, i, st, et)
}

// classifyL3 is classify for a bare IP packet from a virtual interface or
// the appliance itself (see Virtual).
func (r *Router) classifyL3(b *dataplane.Batch, i int, st *state, pi *portIfaces) {
	p := &b.Pkts[i]
	d := p.Data()
	m := &r.meta[i]
	*m = meta{in: pi.untagged}
	if pi.local {
		m.flags = mNoTTL | mLocalOrigin
	}
	if len(d) == 0 {
		p.Drop(ReasonMalformed)
		return
	}
	switch d[0] >> 4 {
	case 4:
		r.classifyIP(b, i, st, packet.EtherTypeIPv4, d)
	case 6:
		r.classifyIP(b, i, st, packet.EtherTypeIPv6, d)
	default:
		p.Drop(ReasonMalformed)
	}
}

// classifyIP is classify's look at the IP packet ip of packet i for a bare
// IP packet: a plain unicast packet waits for the batched lookup, anything
// else takes the slow path. It repeats classify's checks, which stay
// inline there (a call per packet costs the fast path a few percent):
// change both together.
func (r *Router) classifyIP(b *dataplane.Batch, i int, st *state, et packet.EtherType, ip []byte) {
	p := &b.Pkts[i]
	switch et {
	case packet.EtherTypeIPv4:
		if len(ip) < packet.IPv4MinLen || ip[0] != 0x45 {
			break
		}
		tl := int(be16(ip[2:]))
		if tl < packet.IPv4MinLen || tl > len(ip) || ip[8] <= 1 || be16(ip[6:])&0x3fff != 0 {
			break
		}
		if sum20(ip) != 0xffff {
			p.Drop(ReasonBadChecksum)
			return
		}
		src, dst := be32(ip[12:]), be32(ip[16:])
		if unusual4(src) || unusual4(dst) || len(st.bcast4) > 0 && directedBcast(st, src) {
			break
		}
		r.dst4[r.n4] = [4]byte(ip[16:20])
		r.idx4[r.n4] = int32(i)
		r.n4++
		return
	case packet.EtherTypeIPv6:
		if len(ip) < packet.IPv6Len || ip[0]>>4 != 6 || int(be16(ip[4:]))+packet.IPv6Len > len(ip) || ip[7] <= 1 {
			break
		}
		if unusual6(be64(ip[8:])) || unusual6(be64(ip[24:])) {
			break
		}
		r.dst6[r.n6] = [16]byte(ip[24:40])
		r.idx6[r.n6] = int32(i)
		r.n6++
		return
	}
	r.slow(b, i, st, et)
}

func directedBcast(st *state, a uint32) bool {
	for _, bc := range st.bcast4 {
		if a == bc {
			return true
		}
	}
	return false
}

// slow handles what the fast path does not: ARP, link broadcasts and
// multicasts, IP headers with options or errors, fragments, special
// addresses, expiring TTLs. It either settles the packet or routes it.
func (r *Router) slow(b *dataplane.Batch, i int, st *state, et packet.EtherType) {
	p := &b.Pkts[i]
	switch et {
	case packet.EtherTypeARP:
		r.arpIn(b, i)
	case packet.EtherTypeIPv4:
		r.slow4(b, i, st)
	case packet.EtherTypeIPv6:
		r.slow6(b, i, st)
	case packet.EtherTypeVLAN, packet.EtherTypeQinQ, packet.EtherTypeQinQLegacy:
		p.Drop(ReasonUnknownVLAN)
	default:
		p.Drop(ReasonUnknownType)
	}
}

// decodeReason maps a decode error to a drop reason.
func decodeReason(err error) dataplane.Reason {
	switch err {
	case packet.ErrBadLength, packet.ErrTruncated:
		return ReasonBadLength
	}
	return ReasonMalformed
}

// decode parses packet i. A packet whose network header is sound but whose
// transport header is not still decodes: a router forwards it all the same.
func (r *Router) decode(p *dataplane.Packet) bool {
	pp := &r.p
	var err error
	if r.st.ports[p.InPort].l3 {
		err = pp.DecodeIP(p.Data())
	} else {
		err = pp.Decode(p.Data())
	}
	if err == nil || pp.IPVersion != 0 && pp.L4Off != 0 {
		return true
	}
	p.Drop(decodeReason(err))
	return false
}

func (r *Router) slow4(b *dataplane.Batch, i int, st *state) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	if !r.decode(p) {
		return
	}
	pp := &r.p
	if pp.NumVLANs > 1 {
		p.Drop(ReasonUnknownVLAN)
		return
	}
	ip := pp.IPv4()
	hl := ip.HeaderLen()
	if packet.Checksum(ip[:hl], 0) != 0xffff {
		p.Drop(ReasonBadChecksum)
		return
	}
	// Link padding goes now: the packet may become a reply or an error.
	p.Trim(pp.End)
	if hl > packet.IPv4MinLen {
		switch ptr, srcRoute := checkOptions4(ip[packet.IPv4MinLen:hl]); {
		case ptr >= 0:
			r.paramProblem4(b, i, uint8(packet.IPv4MinLen+ptr))
			return
		case srcRoute:
			p.Drop(ReasonSourceRoute)
			return
		}
	}
	src, dst := be32(ip[12:]), be32(ip[16:])
	switch {
	case martianSrc4(src) || directedBcast(st, src):
		p.Drop(ReasonMartianSrc)
		return
	case dst == 0xffffffff:
		p.Punt()
		return
	case multicast4(dst):
		// Link-local groups (OSPF, VRRP, ...) are for the local stack;
		// the router does not route multicast.
		if dst>>8 == 0xe00000 {
			p.Punt()
		} else {
			p.Drop(ReasonMulticast)
		}
		return
	case martianDst4(dst):
		p.Drop(ReasonMartianDst)
		return
	}
	if linkLocal4(src) || linkLocal4(dst) {
		m.flags |= mLinkLocal
	}
	var a [4]byte
	put32(a[:], dst)
	r.forward(b, i, st.table.Lookup4(a), false)
}

// checkOptions4 walks IPv4 options. It returns the offset of the first
// malformed byte (or -1) and whether a source route option is present.
func checkOptions4(opts []byte) (bad int, srcRoute bool) {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0: // end of options
			return -1, srcRoute
		case 1: // no-op
			i++
			continue
		case 131, 137: // loose, strict source route
			srcRoute = true
		}
		if i+1 >= len(opts) {
			return i, srcRoute
		}
		if l := int(opts[i+1]); l < 2 || i+l > len(opts) {
			return i + 1, srcRoute
		} else {
			i += l
		}
	}
	return -1, srcRoute
}

func (r *Router) slow6(b *dataplane.Batch, i int, st *state) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	if !r.decode(p) {
		return
	}
	pp := &r.p
	if pp.NumVLANs > 1 {
		p.Drop(ReasonUnknownVLAN)
		return
	}
	p.Trim(pp.End)
	ip := pp.IPv6()
	shi, slo := be64(ip[8:]), be64(ip[16:])
	dhi, dlo := be64(ip[24:]), be64(ip[32:])
	ifc := &st.ifaces[m.in]
	switch {
	case multicast6(shi):
		p.Drop(ReasonMartianSrc)
		return
	case shi == 0 && slo == 0:
		// The unspecified source is only for duplicate address detection.
		if !multicast6(dhi) {
			p.Drop(ReasonMartianSrc)
			return
		}
	case martian6(shi, slo):
		p.Drop(ReasonMartianSrc)
		return
	}
	switch {
	case multicast6(dhi):
		r.multicast6(b, i, ifc)
		return
	case martian6(dhi, dlo):
		p.Drop(ReasonMartianDst)
		return
	case m.flags&mL2Cast != 0:
		p.Drop(ReasonLinkBroadcast)
		return
	case linkLocal6(dhi):
		if ifc.own6([16]byte(ip[24:40])) {
			r.local6(b, i)
		} else {
			p.Drop(ReasonLinkLocal)
		}
		return
	case shi == 0 && slo == 0:
		p.Drop(ReasonMartianSrc)
		return
	}
	if linkLocal6(shi) {
		m.flags |= mLinkLocal
	}
	r.forward(b, i, st.table.Lookup6([16]byte(ip[24:40])), true)
}

// multicast6 handles an IPv6 packet to a multicast group: neighbour
// discovery to the solicited-node groups of the interface's addresses and to
// all-nodes, the other link-local groups the router belongs to to the local
// stack; the router routes no multicast.
func (r *Router) multicast6(b *dataplane.Batch, i int, ifc *ifaceState) {
	p := &b.Pkts[i]
	pp := &r.p
	dst := [16]byte(pp.IPv6()[24:40])
	allNodes := dst == [16]byte{0: 0xff, 1: 0x02, 15: 1}
	allRouters := dst == [16]byte{0: 0xff, 1: 0x02, 15: 2}
	if ifc.l3 || !allNodes && !allRouters && !ifc.solicited(dst) {
		p.Drop(ReasonMulticast)
		return
	}
	if icmp := pp.ICMPv6(); icmp != nil {
		switch icmp.Type() {
		case packet.ICMPv6NeighborSolicit:
			r.ndpNS(b, i, ifc)
			return
		case packet.ICMPv6NeighborAdvert:
			r.ndpNA(b, i, ifc)
			return
		}
	}
	p.Punt()
}
