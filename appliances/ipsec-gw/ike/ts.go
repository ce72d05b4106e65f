package ike

import (
	"math/bits"
	"net/netip"
	"slices"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp/spd"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
)

// Traffic selectors (RFC 7296 section 2.9). A child's configuration names
// prefixes; on the wire each becomes an address range with any protocol
// and any port. What is negotiated comes back as ranges, which the ESP
// data path wants as prefixes again.

// selectorsOf turns prefixes into traffic selectors: proto any, ports
// 0-65535.
func selectorsOf(ps []netip.Prefix) []wire.Selector {
	out := make([]wire.Selector, 0, len(ps))
	for _, p := range ps {
		p = p.Masked()
		out = append(out, wire.Selector{EndPort: 0xffff, Start: p.Addr(), End: lastAddr(p)})
	}
	return out
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	hi, lo := u128(p.Masked().Addr())
	n := p.Addr().BitLen() - p.Bits()
	mhi, mlo := onesBelow(n)
	if p.Addr().Is4() {
		return addrOf(hi, lo|mlo, true)
	}
	return addrOf(hi|mhi, lo|mlo, false)
}

// onesBelow is the 128-bit value with its n low bits set.
func onesBelow(n int) (hi, lo uint64) {
	switch {
	case n <= 0:
		return 0, 0
	case n < 64:
		return 0, 1<<n - 1
	case n == 64:
		return 0, ^uint64(0)
	case n < 128:
		return 1<<(n-64) - 1, ^uint64(0)
	}
	return ^uint64(0), ^uint64(0)
}

// u128 is an address as a 128-bit integer; IPv4 addresses are in lo.
func u128(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		b := a.As4()
		return 0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	}
	b := a.As16()
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

func addrOf(hi, lo uint64, v4 bool) netip.Addr {
	if v4 {
		return netip.AddrFrom4([4]byte{byte(lo >> 24), byte(lo >> 16), byte(lo >> 8), byte(lo)})
	}
	var b [16]byte
	for i := range 8 {
		b[7-i] = byte(hi >> (8 * i))
		b[15-i] = byte(lo >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

func less128(ahi, alo, bhi, blo uint64) bool { return ahi < bhi || ahi == bhi && alo < blo }

// rangePrefixes is the minimal set of prefixes covering [start, end]
// exactly; nil for an empty or mixed-family range.
func rangePrefixes(start, end netip.Addr) []netip.Prefix {
	if !start.IsValid() || !end.IsValid() || start.Is4() != end.Is4() || end.Less(start) {
		return nil
	}
	v4 := start.Is4()
	width := 128
	if v4 {
		width = 32
	}
	shi, slo := u128(start)
	ehi, elo := u128(end)
	var out []netip.Prefix
	for len(out) < 256 {
		// The largest block starting at s: limited by s's alignment and
		// by how far end is.
		var tz int
		switch {
		case slo != 0:
			tz = bits.TrailingZeros64(slo)
		case shi != 0:
			tz = 64 + bits.TrailingZeros64(shi)
		default:
			tz = 128
		}
		tz = min(tz, width)
		for tz > 0 {
			mhi, mlo := onesBelow(tz)
			lhi, llo := shi|mhi, slo|mlo
			if !less128(ehi, elo, lhi, llo) {
				break
			}
			tz--
		}
		out = append(out, netip.PrefixFrom(addrOf(shi, slo, v4), width-tz))
		mhi, mlo := onesBelow(tz)
		lhi, llo := shi|mhi, slo|mlo
		if lhi == ehi && llo == elo {
			return out
		}
		// s = last + 1
		slo = llo + 1
		shi = lhi
		if slo == 0 {
			shi++
		}
	}
	return out
}

// selectorPrefixes turns negotiated selectors into prefixes.
func selectorPrefixes(ss []wire.Selector) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		for _, p := range rangePrefixes(s.Start, s.End) {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// narrow intersects what a peer proposed with what we allow (RFC 7296
// section 2.9): each result lies within both. The protocol and ports come
// from whichever side is narrower.
func narrow(proposed, ours []wire.Selector) []wire.Selector {
	var out []wire.Selector
	for _, p := range proposed {
		for _, o := range ours {
			if r, ok := intersect(p, o); ok && !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

func intersect(a, b wire.Selector) (wire.Selector, bool) {
	if !a.Start.IsValid() || !b.Start.IsValid() || a.Start.Is4() != b.Start.Is4() {
		return wire.Selector{}, false
	}
	var r wire.Selector
	switch {
	case a.IPProto == 0:
		r.IPProto = b.IPProto
	case b.IPProto == 0 || b.IPProto == a.IPProto:
		r.IPProto = a.IPProto
	default:
		return r, false
	}
	r.StartPort, r.EndPort = max(a.StartPort, b.StartPort), min(a.EndPort, b.EndPort)
	if r.StartPort > r.EndPort {
		return r, false
	}
	r.Start, r.End = a.Start, a.End
	if r.Start.Less(b.Start) {
		r.Start = b.Start
	}
	if b.End.Less(r.End) {
		r.End = b.End
	}
	if r.End.Less(r.Start) {
		return r, false
	}
	return r, true
}

// within reports whether every selector of got lies inside one of sent:
// what an initiator accepts from a narrowing responder.
func within(got, sent []wire.Selector) bool {
	if len(got) == 0 {
		return false
	}
	for _, g := range got {
		ok := false
		for _, s := range sent {
			if r, in := intersect(g, s); in && r == g {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// spdSelector is the ESP selector of negotiated selectors, from our point
// of view. ESP's selector has one protocol and one port range per side:
// when the negotiated selectors differ in those, the widest (any) is
// installed for the addresses negotiated; the peer's own inbound check
// still holds it to what it agreed.
func spdSelector(local, remote []wire.Selector) spd.Selector {
	s := spd.Selector{Local: selectorPrefixes(local), Remote: selectorPrefixes(remote)}
	if p, lp, ok := uniform(local); ok {
		if q, rp, ok := uniform(remote); ok && p == q {
			s.Proto, s.LocalPorts, s.RemotePorts = p, lp, rp
		}
	}
	return s
}

func uniform(ss []wire.Selector) (uint8, spd.PortRange, bool) {
	if len(ss) == 0 {
		return 0, spd.PortRange{}, false
	}
	p, r := ss[0].IPProto, spd.PortRange{From: ss[0].StartPort, To: ss[0].EndPort}
	for _, s := range ss[1:] {
		if s.IPProto != p || s.StartPort != r.From || s.EndPort != r.To {
			return 0, spd.PortRange{}, false
		}
	}
	if r.Any() {
		r = spd.PortRange{}
	}
	return p, r, true
}
