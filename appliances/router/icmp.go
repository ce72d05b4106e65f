package router

import (
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// ICMP errors are built in the frame of the packet they are about: the
// quoted bytes stay where they are and the new headers go in front of them
// (into the old link header and the headroom), so an error costs no copy.
// The error is then routed like any packet the router makes.

const (
	// maxQuote4 is how much of the offending packet an ICMP error quotes:
	// as much as fits in 576 bytes (RFC 1812 4.3.2.3).
	maxQuote4 = 576 - packet.IPv4MinLen - packet.ICMPv4MinLen
	// maxQuote6 is the same within the IPv6 minimum MTU (RFC 4443 2.4(c)).
	maxQuote6 = 1280 - packet.IPv6Len - packet.ICMPv6MinLen
	// defaultTTL is the TTL and hop limit of what the router originates.
	defaultTTL = 64
)

func (r *Router) noRoute(b *dataplane.Batch, i int, v6 bool) {
	if v6 {
		r.icmpErr6(b, i, packet.ICMPv6DstUnreachable, packet.ICMPv6NoRoute, 0, ReasonNoRoute)
	} else {
		r.icmpErr4(b, i, packet.ICMPv4DstUnreachable, packet.ICMPv4NetUnreachable, 0, ReasonNoRoute)
	}
}

func (r *Router) timeExceeded(b *dataplane.Batch, i int, v6 bool) {
	if v6 {
		r.icmpErr6(b, i, packet.ICMPv6TimeExceeded, packet.ICMPv6HopLimitExceeded, 0, ReasonTTLExceeded)
	} else {
		r.icmpErr4(b, i, packet.ICMPv4TimeExceeded, packet.ICMPv4TTLExceeded, 0, ReasonTTLExceeded)
	}
}

func (r *Router) neighborFailed(b *dataplane.Batch, i int, v6 bool) {
	if v6 {
		r.icmpErr6(b, i, packet.ICMPv6DstUnreachable, packet.ICMPv6AddrUnreachable, 0, ReasonNeighFailed)
	} else {
		r.icmpErr4(b, i, packet.ICMPv4DstUnreachable, packet.ICMPv4HostUnreachable, 0, ReasonNeighFailed)
	}
}

// fragNeeded refuses an IPv4 packet with DF set that is bigger than the
// egress MTU, saying the MTU (RFC 1191).
func (r *Router) fragNeeded(b *dataplane.Batch, i int, mtu int) {
	r.icmpErr4(b, i, packet.ICMPv4DstUnreachable, packet.ICMPv4FragNeeded, uint32(mtu&0xffff), ReasonFragNeeded)
}

// packetTooBig refuses an IPv6 packet bigger than the egress MTU (RFC 8200
// section 5: routers never fragment IPv6).
func (r *Router) packetTooBig(b *dataplane.Batch, i int, mtu int) {
	r.icmpErr6(b, i, packet.ICMPv6PacketTooBig, 0, uint32(mtu), ReasonTooBig)
}

func (r *Router) paramProblem4(b *dataplane.Batch, i int, ptr uint8) {
	r.icmpErr4(b, i, packet.ICMPv4ParamProblem, packet.ICMPv4ParamPointer, uint32(ptr)<<24, ReasonBadOption)
}

func (r *Router) paramProblem6(b *dataplane.Batch, i int, ptr uint32) {
	r.icmpErr6(b, i, packet.ICMPv6ParamProblem, packet.ICMPv6ErroneousHeader, ptr, ReasonParamProb)
}

// allowICMP takes a token from the ICMP error bucket, refilled by the
// batch clock, so that replays limit the same way every time.
func (r *Router) allowICMP() bool {
	per := int64(1e9) / int64(r.opt.ICMPRate)
	full := per * int64(r.opt.ICMPBurst)
	if r.icmpLast == 0 {
		r.icmpCredit = full
	} else if el := r.now - r.icmpLast; el > 0 {
		r.icmpCredit = min(full, r.icmpCredit+el)
	}
	r.icmpLast = r.now
	if r.icmpCredit < per {
		r.cnt.icmpLimited.Add(1)
		return false
	}
	r.icmpCredit -= per
	return true
}

// mayError4 says whether an ICMP error may be sent about the IPv4 packet
// ip (RFC 1812 4.3.2.7): not about an ICMP error, a non-first fragment, a
// link or IP broadcast or multicast, a martian source, nor what the router
// made itself.
func (r *Router) mayError4(ip []byte, m *meta) bool {
	if m.flags&(mL2Cast|mLocalOrigin) != 0 || be16(ip[6:])&0x1fff != 0 {
		return false
	}
	src, dst := be32(ip[12:]), be32(ip[16:])
	if martianSrc4(src) || directedBcast(r.st, src) || dst == 0xffffffff || multicast4(dst) || directedBcast(r.st, dst) {
		return false
	}
	if hl := int(ip[0]&0xf) * 4; ip[9] == uint8(packet.IPProtoICMPv4) && len(ip) > hl && packet.ICMPv4Type(ip[hl]).IsError() {
		return false
	}
	return true
}

// mayError6 is mayError4 for IPv6 (RFC 4443 2.4(e)).
func (r *Router) mayError6(ip []byte, m *meta) bool {
	if m.flags&(mL2Cast|mLocalOrigin) != 0 {
		return false
	}
	shi, slo := be64(ip[8:]), be64(ip[16:])
	if shi == 0 && slo == 0 || multicast6(shi) || multicast6(be64(ip[24:])) {
		return false
	}
	pp := &r.p
	if err := pp.DecodeIP(ip); err != nil && (pp.IPVersion == 0 || pp.L4Off == 0) {
		return false
	}
	if pp.FragOffset != 0 {
		return false
	}
	if pp.IPProto == packet.IPProtoICMPv6 && pp.L4Off < pp.End && packet.ICMPv6Type(ip[pp.L4Off]).IsError() {
		return false
	}
	return true
}

// route4 finds where the router sends a packet of its own to dst: a
// neighbour-bound adjacency, or ok false.
func (r *Router) route4(dst [4]byte) (uint32, *adjacency, bool) {
	st := r.st
	g := st.table.Lookup4(dst)
	if g >= uint32(len(st.groups)) {
		return 0, nil, false
	}
	gr := st.groups[g]
	ai := st.hopAdj[gr.first+uint32(uint64(hashAddr(uint64(be32(dst[:])), 0))*uint64(gr.n)>>32)]
	a := &st.adjs[ai]
	return ai, a, a.kind <= adjGateway
}

// route6 is route4 for IPv6; a link-local destination is reached through
// interface in, where the packet being answered came from.
func (r *Router) route6(dst [16]byte, in int32) (uint32, *adjacency, bool) {
	st := r.st
	if linkLocal6(be64(dst[:8])) {
		if in < 0 {
			return 0, nil, false
		}
		ai := st.connAdj[in]
		return ai, &st.adjs[ai], true
	}
	g := st.table.Lookup6(dst)
	if g >= uint32(len(st.groups)) {
		return 0, nil, false
	}
	gr := st.groups[g]
	ai := st.hopAdj[gr.first+uint32(uint64(hashAddr(be64(dst[:8]), be64(dst[8:])))*uint64(gr.n)>>32)]
	a := &st.adjs[ai]
	return ai, a, a.kind <= adjGateway
}

func hashAddr(x, y uint64) uint32 {
	h := x*0x9e3779b97f4a7c15 ^ y*0xc2b2ae3d27d4eb4f
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return uint32(h)
}

// src4 picks the source of an ICMP error: an address of the interface the
// offending packet came in on, else of the one the error leaves by, else
// any.
func (r *Router) src4(in, out int32) ([4]byte, bool) {
	st := r.st
	if in >= 0 && st.ifaces[in].has4 {
		return st.ifaces[in].src4, true
	}
	if st.ifaces[out].has4 {
		return st.ifaces[out].src4, true
	}
	for k := range st.ifaces {
		if st.ifaces[k].has4 {
			return st.ifaces[k].src4, true
		}
	}
	return [4]byte{}, false
}

// src6 is src4 for IPv6: a global address unless the destination is
// link-local, when it is the egress interface's link-local address.
func (r *Router) src6(in, out int32, dst [16]byte) [16]byte {
	st := r.st
	if linkLocal6(be64(dst[:8])) {
		return st.ifaces[out].ll6.As16()
	}
	if in >= 0 && len(st.ifaces[in].v6) > 0 {
		return st.ifaces[in].src6
	}
	if len(st.ifaces[out].v6) > 0 {
		return st.ifaces[out].src6
	}
	for k := range st.ifaces {
		if len(st.ifaces[k].v6) > 0 {
			return st.ifaces[k].src6
		}
	}
	return st.ifaces[out].ll6.As16()
}

// place lays out packet i for an error of hdr header bytes quoting up to
// quote bytes of its IP packet, which starts at data offset l3: the quote
// stays put and the headers go in front, unless too little room is left
// for them and a link header, when the quote moves. It returns the data.
func place(p *dataplane.Packet, l3, hdr, quote int) []byte {
	buf := p.Buffer()
	from := p.Offset() + l3
	at := from - hdr
	if at < 2*packet.EthernetLen {
		at = dataplane.MinHeadroom
		quote = max(0, min(quote, len(buf)-at-hdr))
		copy(buf[at+hdr:], buf[from:from+quote])
	}
	p.SetData(at, hdr+quote)
	return p.Data()
}

// icmpErr4 turns IPv4 packet i into the ICMP error (typ, code, rest) about
// it and routes that, counting the packet as dropped for why; or, when no
// error may or can be sent, just drops it for why.
func (r *Router) icmpErr4(b *dataplane.Batch, i int, typ packet.ICMPv4Type, code uint8, rest uint32, why dataplane.Reason) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	ip := p.Data()[m.l2:]
	tl := min(int(be16(ip[2:])), len(ip))
	ip = ip[:tl]
	if !r.mayError4(ip, m) {
		p.Drop(why)
		return
	}
	dst := [4]byte(ip[12:16])
	ai, a, ok := r.route4(dst)
	if !ok {
		p.Drop(why)
		return
	}
	src, ok := r.src4(m.in, a.ifx)
	if !ok || !r.allowICMP() {
		p.Drop(why)
		return
	}
	r.stats.Drop(why)
	r.cnt.icmpErrors.Add(1)
	const hdr = packet.IPv4MinLen + packet.ICMPv4MinLen
	h := place(p, int(m.l2), hdr, min(tl, maxQuote4))
	r.ipID++
	h[0], h[1] = 0x45, 0xc0 // precedence: internetwork control (RFC 1812 4.3.2.5)
	put16(h[2:], uint16(len(h)))
	put16(h[4:], r.ipID)
	put16(h[6:], 0)
	h[8], h[9] = defaultTTL, uint8(packet.IPProtoICMPv4)
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
	fillChecksum4(h[:20])
	c := packet.ICMPv4(h[packet.IPv4MinLen:])
	c.SetTypeCode(typ, code)
	c.SetChecksum(0)
	c.SetRestOfHeader(rest)
	c.SetChecksum(^packet.Checksum(c, 0))
	*m = meta{in: m.in, flags: mNoTTL | mLocalOrigin}
	r.toAdj(b, i, ai, a, false)
}

// icmpErr6 is icmpErr4 for IPv6.
func (r *Router) icmpErr6(b *dataplane.Batch, i int, typ packet.ICMPv6Type, code uint8, rest uint32, why dataplane.Reason) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	ip := p.Data()[m.l2:]
	n := min(packet.IPv6Len+int(be16(ip[4:])), len(ip))
	ip = ip[:n]
	if !r.mayError6(ip, m) {
		p.Drop(why)
		return
	}
	dst := [16]byte(ip[8:24])
	ai, a, ok := r.route6(dst, m.in)
	if !ok || !r.allowICMP() {
		p.Drop(why)
		return
	}
	src := r.src6(m.in, a.ifx, dst)
	r.stats.Drop(why)
	r.cnt.icmpErrors.Add(1)
	const hdr = packet.IPv6Len + packet.ICMPv6MinLen
	h := place(p, int(m.l2), hdr, min(n, maxQuote6))
	writeIPv6(h, len(h)-packet.IPv6Len, defaultTTL, src, dst)
	c := packet.ICMPv6(h[packet.IPv6Len:])
	c.SetTypeCode(typ, code)
	c.SetChecksum(0)
	c.SetMessageHeader(rest)
	c.SetChecksum(^packet.Checksum(c, packet.PseudoHeaderChecksum(packet.IPProtoICMPv6, src[:], dst[:], uint16(len(c)))))
	*m = meta{in: m.in, flags: mNoTTL | mLocalOrigin}
	r.toAdj(b, i, ai, a, true)
}

// writeIPv6 writes an IPv6 header for an ICMPv6 payload of n bytes.
func writeIPv6(h []byte, n int, hlim uint8, src, dst [16]byte) {
	put32(h[0:], 6<<28)
	put16(h[4:], uint16(n))
	h[6], h[7] = uint8(packet.IPProtoICMPv6), hlim
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])
}

// local4 delivers an IPv4 packet addressed to the router: echo requests
// are answered here, the rest goes to the local stack.
func (r *Router) local4(b *dataplane.Batch, i int) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	ip := p.Data()[m.l2:]
	tl := int(be16(ip[2:]))
	if ip[0] != 0x45 || be16(ip[6:])&0x3fff != 0 || ip[9] != uint8(packet.IPProtoICMPv4) ||
		tl < packet.IPv4MinLen+packet.ICMPv4MinLen || ip[20] != uint8(packet.ICMPv4Echo) {
		p.Punt()
		return
	}
	ip = ip[:tl]
	icmp := ip[packet.IPv4MinLen:]
	if packet.Checksum(icmp, 0) != 0xffff {
		p.Drop(ReasonBadChecksum)
		return
	}
	src, dst := [4]byte(ip[12:16]), [4]byte(ip[16:20])
	ai, a, ok := r.route4(src)
	if !ok {
		p.Drop(ReasonNoRoute)
		return
	}
	copy(ip[12:16], dst[:])
	copy(ip[16:20], src[:])
	ip[8] = defaultTTL
	fillChecksum4(ip)
	code := uint16(icmp[1])
	put16(icmp[2:], packet.UpdateChecksum16(be16(icmp[2:]), uint16(packet.ICMPv4Echo)<<8|code, uint16(packet.ICMPv4EchoReply)<<8|code))
	icmp[0] = uint8(packet.ICMPv4EchoReply)
	m.flags = mNoTTL | mLocalOrigin
	r.cnt.echoReplies.Add(1)
	r.toAdj(b, i, ai, a, false)
}

// local6 delivers an IPv6 packet addressed to the router: neighbour
// discovery and echo requests are handled here, the rest goes to the local
// stack.
func (r *Router) local6(b *dataplane.Batch, i int) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	if !r.decode(p) {
		return
	}
	pp := &r.p
	p.Trim(pp.End)
	ip := pp.IPv6()
	if pp.Ext&packet.ExtRouting != 0 {
		if ptr := routingPointer(ip); ptr > 0 {
			r.paramProblem6(b, i, uint32(ptr))
			return
		}
	}
	icmp := pp.ICMPv6()
	if icmp == nil {
		p.Punt()
		return
	}
	ifc := &r.st.ifaces[m.in]
	switch icmp.Type() {
	case packet.ICMPv6NeighborSolicit, packet.ICMPv6NeighborAdvert:
		if ifc.l3 { // no neighbours on a virtual interface
			p.Drop(ReasonNDPIgnored)
		} else if icmp.Type() == packet.ICMPv6NeighborSolicit {
			r.ndpNS(b, i, ifc)
		} else {
			r.ndpNA(b, i, ifc)
		}
		return
	case packet.ICMPv6EchoRequest:
		if pp.L4Off == pp.L3Off+packet.IPv6Len {
			r.echo6(b, i)
			return
		}
	}
	p.Punt()
}

// echo6 answers the ICMPv6 echo request i, decoded in r.p, in place.
func (r *Router) echo6(b *dataplane.Batch, i int) {
	p := &b.Pkts[i]
	m := &r.meta[i]
	pp := &r.p
	if pp.VerifyL4Checksum() != nil {
		p.Drop(ReasonBadChecksum)
		return
	}
	ip := pp.IPv6()
	icmp := pp.ICMPv6()
	src, dst := [16]byte(ip[8:24]), [16]byte(ip[24:40])
	ai, a, ok := r.route6(src, m.in)
	if !ok {
		p.Drop(ReasonNoRoute)
		return
	}
	// Swapping the addresses leaves the pseudo-header's sum as it was.
	copy(ip[8:24], dst[:])
	copy(ip[24:40], src[:])
	ip[7] = defaultTTL
	code := uint16(icmp[1])
	put16(icmp[2:], packet.UpdateChecksum16(be16(icmp[2:]), uint16(packet.ICMPv6EchoRequest)<<8|code, uint16(packet.ICMPv6EchoReply)<<8|code))
	icmp[0] = uint8(packet.ICMPv6EchoReply)
	m.flags = mNoTTL | mLocalOrigin
	r.cnt.echoReplies.Add(1)
	r.toAdj(b, i, ai, a, true)
}

// routingPointer returns the offset, from the IPv6 header, of the routing
// type of a routing header with segments left, or -1. The router
// implements no routing type, so such a header addressed to it is a
// parameter problem (RFC 8200 4.4, RFC 5095).
func routingPointer(ip []byte) int {
	nh, off := packet.IPProtocol(ip[6]), packet.IPv6Len
	for range packet.MaxIPv6ExtHeaders {
		if off+packet.IPv6ExtMinLen > len(ip) {
			return -1
		}
		switch nh {
		case packet.IPProtoRouting:
			if ip[off+3] != 0 {
				return off + 2
			}
			fallthrough
		case packet.IPProtoHopByHop, packet.IPProtoDestOpts:
			nh, off = packet.IPProtocol(ip[off]), off+(int(ip[off+1])+1)*8
		case packet.IPProtoAH:
			nh, off = packet.IPProtocol(ip[off]), off+(int(ip[off+1])+2)*4
		default:
			return -1
		}
	}
	return -1
}
