package conntrack

import (
	"encoding/binary"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// maxQuoteExtHeaders bounds the IPv6 extension headers walked in a quote.
const maxQuoteExtHeaders = 8

// parseQuote reads the IP packet an ICMP error quotes, starting at frame
// offset off of b (which ends where the ICMP message ends), into in. A
// quote is truncated by nature, so unlike packet.Parsed it asks only for
// the bytes it reads: the IP header, and the first 8 bytes of a TCP, UDP,
// SCTP, UDP-Lite, DCCP or ICMP header (RFC 792 guarantees 8).
func parseQuote(b []byte, off int, v6 bool, in *Inner) Reason {
	q := b[min(off, len(b)):]
	in.L3Off, in.End = off, len(b)
	k := &in.Tuple
	*k = Tuple{V6: v6}
	var l4 int
	var proto packet.IPProtocol
	if !v6 {
		if len(q) < packet.IPv4MinLen || q[0]>>4 != 4 {
			return ReasonICMPBadQuote
		}
		l4 = int(q[0]&0xf) * 4
		if l4 < packet.IPv4MinLen || binary.BigEndian.Uint16(q[6:8])&0x1fff != 0 {
			// A bad header, or a non-first fragment: no ports to match.
			return ReasonICMPBadQuote
		}
		proto = packet.IPProtocol(q[9])
		k.Src[10], k.Src[11], k.Dst[10], k.Dst[11] = 0xff, 0xff, 0xff, 0xff
		copy(k.Src[12:], q[12:16])
		copy(k.Dst[12:], q[16:20])
	} else {
		if len(q) < packet.IPv6Len || q[0]>>4 != 6 {
			return ReasonICMPBadQuote
		}
		copy(k.Src[:], q[8:24])
		copy(k.Dst[:], q[24:40])
		proto = packet.IPProtocol(q[6])
		l4 = packet.IPv6Len
	walk:
		for n := 0; ; n++ {
			if n == maxQuoteExtHeaders || len(q) < l4+8 {
				return ReasonICMPBadQuote
			}
			switch proto {
			case packet.IPProtoHopByHop, packet.IPProtoRouting, packet.IPProtoDestOpts:
				proto, l4 = packet.IPProtocol(q[l4]), l4+(int(q[l4+1])+1)*8
			case packet.IPProtoAH:
				proto, l4 = packet.IPProtocol(q[l4]), l4+(int(q[l4+1])+2)*4
			case packet.IPProtoFragment:
				if binary.BigEndian.Uint16(q[l4+2:])>>3 != 0 {
					return ReasonICMPBadQuote
				}
				proto, l4 = packet.IPProtocol(q[l4]), l4+packet.IPv6FragmentLen
			default:
				break walk
			}
		}
	}
	k.Proto = proto
	in.L4Off = off + l4
	switch {
	case hasPorts(proto):
		if len(q) < l4+8 {
			return ReasonICMPBadQuote
		}
		k.SrcPort = binary.BigEndian.Uint16(q[l4:])
		k.DstPort = binary.BigEndian.Uint16(q[l4+2:])
	case isICMP(proto, v6):
		if len(q) < l4+8 {
			return ReasonICMPBadQuote
		}
		typ := q[l4]
		// An error about an error is never sent (RFC 1122 3.2.2), and
		// only queries are tracked.
		if queryPeer(v6, typ) == 0xff {
			return ReasonICMPBadQuote
		}
		k.SrcPort = binary.BigEndian.Uint16(q[l4+4:])
		k.DstPort = uint16(typ)
	default:
		if len(q) < l4 {
			return ReasonICMPBadQuote
		}
	}
	return ReasonNone
}
