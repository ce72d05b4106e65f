package packet

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
)

// ExtHeaders is a set of IP extension headers seen while walking a packet.
type ExtHeaders uint8

// Extension headers recorded in Parsed.Ext.
const (
	ExtHopByHop ExtHeaders = 1 << iota
	ExtRouting
	ExtFragment // an IPv6 fragment header (atomic fragments included)
	ExtDestOpts
	ExtAH
)

// Parsed is the result of one pass over a frame: offsets into it and the
// fields the dataplane's stages read for every packet. Decode fills it in
// place, so one Parsed per worker is reused for every packet without
// allocating. The fields are results; change the packet through the views
// and the Set methods, not by assigning fields.
//
// Offsets are from the start of the frame and satisfy
//
//	0 <= L3Off <= L4Off <= PayloadOff <= End <= len(frame)
//
// after a successful Decode. Parsed aliases the frame and is meaningful only
// while the caller owns it. After an error, only the fields decoded before
// the failing header are set.
type Parsed struct {
	b []byte

	// L3Off is where the network header starts: 14 for untagged Ethernet,
	// 4 more per VLAN tag, 0 after DecodeIP.
	L3Off int
	// L4Off is where the upper layer starts, after IPv4 options and IPv6
	// extension headers: the transport header, or fragment data in a
	// non-first fragment. For ARP it equals End; for an unknown EtherType,
	// L3Off.
	L4Off int
	// PayloadOff is where the upper layer's payload starts: after the
	// transport header when HasL4, otherwise L4Off.
	PayloadOff int
	// End is the end of the network packet: IPv4 total length or IPv6
	// payload length past L3Off. Bytes from End to len(frame) are link
	// padding (60-byte minimum Ethernet frames) or trailers.
	End int

	// EtherType is the type after any VLAN tags; set to EtherTypeIPv4 or
	// EtherTypeIPv6 by DecodeIP.
	EtherType EtherType
	// VLANs holds NumVLANs tags, outermost first.
	VLANs    [2]VLANTag
	NumVLANs uint8

	// IPVersion is 4 or 6, or 0 for a frame that is not IP.
	IPVersion uint8
	// IPProto is the upper-layer protocol: for IPv6, the next header that
	// ended the extension-header walk (ESP, no-next-header, the fragmented
	// protocol of a non-first fragment, ...); for IPv4, the protocol field,
	// or AH's next header.
	IPProto IPProtocol
	// TTL is the IPv4 time to live or IPv6 hop limit.
	TTL uint8
	// HasL4 reports that a complete TCP, UDP, SCTP, ICMPv4, ICMPv6 or ESP
	// header starts at L4Off. It is false for other protocols and for
	// non-first fragments.
	HasL4 bool
	// TCPFlags is the TCP flags byte when IPProto is TCP and HasL4.
	TCPFlags TCPFlags
	// Ext records the extension headers walked (IPv6; AH in IPv4 too).
	Ext ExtHeaders

	// Fragmentation: FragID is the IPv4 identification (set for every IPv4
	// packet) or the IPv6 fragment header's identification; FragOffset is
	// in 8-byte units, as on the wire. IsFragment tells whether the packet
	// is one.
	FragID     uint32
	FragOffset uint16
	MoreFrags  bool

	// Src and Dst are the IP header's addresses, invalid (zero) when not IP.
	Src, Dst netip.Addr
	// SrcPort and DstPort are the TCP, UDP or SCTP ports when HasL4.
	SrcPort, DstPort uint16

	// finalDst is the offset of the final destination address of an IPv6
	// routing header with segments left, which the upper-layer
	// pseudo-header uses instead of Dst (RFC 8200 section 8.1); 0 if none.
	finalDst int
}

// Decode parses an Ethernet II frame, optionally VLAN-tagged, in one pass.
// It returns nil for any well-formed frame, including EtherTypes and IP
// protocols it does not know (which it leaves undecoded), and an Error for
// a malformed one. It neither allocates nor modifies frame, and does not
// verify checksums (see IPv4.IsChecksumValid and VerifyL4Checksum).
func (p *Parsed) Decode(frame []byte) error {
	*p = Parsed{b: frame}
	if len(frame) < EthernetLen {
		return ErrTruncated
	}
	et := EtherType(binary.BigEndian.Uint16(frame[12:14]))
	off := EthernetLen
	for isVLANTPID(et) {
		if p.NumVLANs == uint8(len(p.VLANs)) {
			return ErrTooManyVLANs
		}
		if len(frame) < off+VLANLen {
			return ErrTruncated
		}
		p.VLANs[p.NumVLANs] = VLANTag{TPID: et, TCI: binary.BigEndian.Uint16(frame[off:])}
		p.NumVLANs++
		et = EtherType(binary.BigEndian.Uint16(frame[off+2:]))
		off += VLANLen
	}
	p.EtherType = et
	p.L3Off = off
	switch et {
	case EtherTypeIPv4:
		return p.decodeIPv4(off)
	case EtherTypeIPv6:
		return p.decodeIPv6(off)
	case EtherTypeARP:
		return p.decodeARP(off)
	}
	p.L4Off, p.PayloadOff, p.End = off, off, len(frame)
	return nil
}

// DecodeIP parses a bare IPv4 or IPv6 packet, as read from a TUN device or
// decrypted from a tunnel, choosing the version from its first nibble.
// Otherwise it is Decode with L3Off 0.
func (p *Parsed) DecodeIP(pkt []byte) error {
	*p = Parsed{b: pkt}
	if len(pkt) == 0 {
		return ErrTruncated
	}
	switch pkt[0] >> 4 {
	case 4:
		p.EtherType = EtherTypeIPv4
		return p.decodeIPv4(0)
	case 6:
		p.EtherType = EtherTypeIPv6
		return p.decodeIPv6(0)
	}
	return ErrBadVersion
}

func (p *Parsed) decodeARP(off int) error {
	a := p.b[off:]
	if len(a) < 8 {
		return ErrTruncated
	}
	n := 8 + 2*(int(a[4])+int(a[5]))
	if len(a) < n {
		return ErrTruncated
	}
	p.End = off + n
	p.L4Off, p.PayloadOff = p.End, p.End
	return nil
}

func (p *Parsed) decodeIPv4(off int) error {
	ip := p.b[off:]
	if len(ip) < IPv4MinLen {
		return ErrTruncated
	}
	if ip[0]>>4 != 4 {
		return ErrBadVersion
	}
	hl := int(ip[0]&0xf) * 4
	if hl < IPv4MinLen {
		return ErrBadHeaderLen
	}
	tl := int(binary.BigEndian.Uint16(ip[2:4]))
	if tl < hl {
		return ErrBadLength
	}
	if tl > len(ip) {
		return ErrTruncated
	}
	p.IPVersion = 4
	p.TTL = ip[8]
	p.Src = netip.AddrFrom4([4]byte(ip[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
	p.FragID = uint32(binary.BigEndian.Uint16(ip[4:6]))
	ff := binary.BigEndian.Uint16(ip[6:8])
	p.FragOffset = ff & ipv4FragOffMask
	p.MoreFrags = ff&IPv4MoreFragments != 0
	p.End = off + tl
	if err := checkFragment(p.FragOffset, p.MoreFrags, tl-hl); err != nil {
		return err
	}
	l4 := off + hl
	proto := IPProtocol(ip[9])
	if proto == IPProtoAH && p.FragOffset == 0 {
		n, next, err := p.skipAH(l4)
		if err != nil {
			return err
		}
		l4, proto = n, next
	}
	return p.decodeL4(l4, proto)
}

// checkFragment rejects fragments that no sender produces: a non-last
// fragment whose data is not a multiple of 8 bytes, or one that reaches
// past the 65535-byte maximum datagram ("ping of death").
func checkFragment(offset uint16, more bool, dataLen int) error {
	if more && dataLen&7 != 0 || int(offset)*8+dataLen > 0xffff {
		return ErrBadFragment
	}
	return nil
}

// skipAH checks the AH header at off and returns the offset and protocol
// after it.
func (p *Parsed) skipAH(off int) (int, IPProtocol, error) {
	if p.End-off < AHMinLen {
		return 0, 0, ErrTruncated
	}
	n := (int(p.b[off+1]) + 2) * 4
	if n < AHMinLen {
		return 0, 0, ErrBadHeaderLen
	}
	if p.End-off < n {
		return 0, 0, ErrTruncated
	}
	p.Ext |= ExtAH
	return off + n, IPProtocol(p.b[off]), nil
}

func (p *Parsed) decodeIPv6(off int) error {
	ip := p.b[off:]
	if len(ip) < IPv6Len {
		return ErrTruncated
	}
	if ip[0]>>4 != 6 {
		return ErrBadVersion
	}
	end := off + IPv6Len + int(binary.BigEndian.Uint16(ip[4:6]))
	if end > len(p.b) {
		return ErrTruncated
	}
	p.IPVersion = 6
	p.TTL = ip[7]
	p.Src = netip.AddrFrom16([16]byte(ip[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(ip[24:40]))
	p.End = end
	b := p.b[:end]
	nh := IPProtocol(ip[6])
	cur := off + IPv6Len
	for n := 0; ; n++ {
		if n == MaxIPv6ExtHeaders && isIPv6ExtHeader(nh) {
			return ErrTooManyExtHeaders
		}
		var bit ExtHeaders
		switch nh {
		case IPProtoHopByHop:
			if n != 0 {
				// RFC 8200 4.1: only immediately after the IPv6 header.
				return ErrBadExtHeader
			}
			bit = ExtHopByHop
		case IPProtoRouting:
			bit = ExtRouting
		case IPProtoDestOpts:
			bit = ExtDestOpts
		case IPProtoFragment:
			if p.Ext&ExtFragment != 0 {
				return ErrBadFragment
			}
			if end-cur < IPv6FragmentLen {
				return ErrTruncated
			}
			p.Ext |= ExtFragment
			fo := binary.BigEndian.Uint16(b[cur+2:])
			p.FragOffset = fo >> 3
			p.MoreFrags = fo&1 != 0
			p.FragID = binary.BigEndian.Uint32(b[cur+4:])
			nh = IPProtocol(b[cur])
			cur += IPv6FragmentLen
			if err := checkFragment(p.FragOffset, p.MoreFrags, end-cur); err != nil {
				return err
			}
			if p.FragOffset != 0 {
				// Fragment data, not headers, follows.
				return p.decodeL4(cur, nh)
			}
		case IPProtoAH:
			next, proto, err := p.skipAH(cur)
			if err != nil {
				return err
			}
			cur, nh = next, proto
		default:
			return p.decodeL4(cur, nh)
		}
		if bit != 0 {
			if end-cur < IPv6ExtMinLen {
				return ErrTruncated
			}
			hl := (int(b[cur+1]) + 1) * 8
			if end-cur < hl {
				return ErrTruncated
			}
			if bit == ExtRouting && b[cur+3] != 0 && hl >= 24 {
				p.finalDst = finalDestination(cur, hl, b[cur+2])
			}
			p.Ext |= bit
			nh = IPProtocol(b[cur])
			cur += hl
		}
	}
}

// finalDestination returns the offset of the last destination named by a
// routing header at off of length n with segments left, or 0 for a routing
// type whose addresses it does not know.
func finalDestination(off, n int, typ uint8) int {
	switch typ {
	case 0, 2: // source route (deprecated), Mobile IPv6: the last address
		return off + n - 16
	case 4: // segment routing: Segment List[0] comes first
		return off + 8
	}
	return 0
}

// isIPv6ExtHeader reports whether Decode walks past nh as an extension header.
func isIPv6ExtHeader(nh IPProtocol) bool {
	switch nh {
	case IPProtoHopByHop, IPProtoRouting, IPProtoFragment, IPProtoDestOpts, IPProtoAH:
		return true
	}
	return false
}

// decodeL4 records the upper layer at off and, when this is not a
// non-first fragment, validates and reads its header.
func (p *Parsed) decodeL4(off int, proto IPProtocol) error {
	p.IPProto = proto
	p.L4Off, p.PayloadOff = off, off
	if p.FragOffset != 0 {
		return nil
	}
	seg := p.b[off:p.End]
	var hl int
	switch proto {
	case IPProtoTCP:
		if len(seg) < TCPMinLen {
			return ErrTruncated
		}
		hl = int(seg[12]>>4) * 4
		if hl < TCPMinLen {
			return ErrBadHeaderLen
		}
		if hl > len(seg) {
			return ErrTruncated
		}
		p.TCPFlags = TCPFlags(seg[13])
		p.SrcPort = binary.BigEndian.Uint16(seg[0:2])
		p.DstPort = binary.BigEndian.Uint16(seg[2:4])
	case IPProtoUDP:
		if len(seg) < UDPLen {
			return ErrTruncated
		}
		if !p.MoreFrags {
			// Whole datagram here: its length must fit. Bytes past it
			// are allowed and ignored, as by Linux.
			if n := int(binary.BigEndian.Uint16(seg[4:6])); n < UDPLen || n > len(seg) {
				return ErrBadLength
			}
		}
		hl = UDPLen
		p.SrcPort = binary.BigEndian.Uint16(seg[0:2])
		p.DstPort = binary.BigEndian.Uint16(seg[2:4])
	case IPProtoSCTP:
		if len(seg) < SCTPMinLen {
			return ErrTruncated
		}
		hl = SCTPMinLen
		p.SrcPort = binary.BigEndian.Uint16(seg[0:2])
		p.DstPort = binary.BigEndian.Uint16(seg[2:4])
	case IPProtoICMPv4, IPProtoICMPv6:
		if len(seg) < ICMPv4MinLen {
			return ErrTruncated
		}
		hl = ICMPv4MinLen
	case IPProtoESP:
		if len(seg) < ESPMinLen {
			return ErrTruncated
		}
		hl = ESPMinLen
	default:
		return nil
	}
	p.HasL4 = true
	p.PayloadOff = off + hl
	return nil
}

// Bytes returns the frame passed to Decode.
func (p *Parsed) Bytes() []byte { return p.b }

// L2Len returns the link header length, VLAN tags included (0 after
// DecodeIP).
func (p *Parsed) L2Len() int { return p.L3Off }

// L3Len returns the network header length: the IPv4 header with options, or
// the IPv6 header with the extension headers walked, as DPDK's l3_len. For
// ARP it is the ARP packet's length.
func (p *Parsed) L3Len() int { return p.L4Off - p.L3Off }

// L4Len returns the transport header length (0 unless HasL4).
func (p *Parsed) L4Len() int { return p.PayloadOff - p.L4Off }

// IPLen returns the length of the network packet, headers included (the
// IPv4 total length, or 40 plus the IPv6 payload length).
func (p *Parsed) IPLen() int { return p.End - p.L3Off }

// PayloadLen returns the length of the upper layer's payload.
func (p *Parsed) PayloadLen() int { return p.End - p.PayloadOff }

// IsFragment reports whether the packet is an IP fragment: more fragments
// follow or the offset is not zero. An IPv6 atomic fragment (a fragment
// header with offset 0 and M clear) is not one; see Ext for the header.
func (p *Parsed) IsFragment() bool { return p.MoreFrags || p.FragOffset != 0 }

// Ethernet returns the Ethernet header, or nil after DecodeIP.
func (p *Parsed) Ethernet() Ethernet {
	if p.L3Off == 0 {
		return nil
	}
	return Ethernet(p.b[:EthernetLen])
}

// VLAN returns the i'th VLAN tag's TCI and inner type (outermost is 0).
func (p *Parsed) VLAN(i int) VLAN {
	if i >= int(p.NumVLANs) {
		return nil
	}
	o := EthernetLen + i*VLANLen
	return VLAN(p.b[o : o+VLANLen])
}

// L3 returns the network packet, header to End.
func (p *Parsed) L3() []byte { return p.b[p.L3Off:p.End] }

// IPv4 returns the IPv4 packet, or nil if the frame is not IPv4.
func (p *Parsed) IPv4() IPv4 {
	if p.IPVersion != 4 {
		return nil
	}
	return IPv4(p.b[p.L3Off:p.End])
}

// IPv6 returns the IPv6 packet, or nil if the frame is not IPv6.
func (p *Parsed) IPv6() IPv6 {
	if p.IPVersion != 6 {
		return nil
	}
	return IPv6(p.b[p.L3Off:p.End])
}

// ARP returns the ARP packet, or nil if the frame is not ARP.
func (p *Parsed) ARP() ARP {
	if p.EtherType != EtherTypeARP || p.End == 0 {
		return nil
	}
	return ARP(p.b[p.L3Off:p.End])
}

// L4 returns the upper layer, header and payload, L4Off to End.
func (p *Parsed) L4() []byte { return p.b[p.L4Off:p.End] }

// Payload returns the upper layer's payload, PayloadOff to End.
func (p *Parsed) Payload() []byte { return p.b[p.PayloadOff:p.End] }

func (p *Parsed) l4(proto IPProtocol) []byte {
	if !p.HasL4 || p.IPProto != proto {
		return nil
	}
	return p.b[p.L4Off:p.End]
}

// TCP returns the TCP segment, or nil if HasL4 is false or it is not TCP.
func (p *Parsed) TCP() TCP { return p.l4(IPProtoTCP) }

// UDP returns the UDP datagram, or nil if HasL4 is false or it is not UDP.
func (p *Parsed) UDP() UDP { return p.l4(IPProtoUDP) }

// SCTP returns the SCTP packet, or nil if HasL4 is false or it is not SCTP.
func (p *Parsed) SCTP() SCTP { return p.l4(IPProtoSCTP) }

// ICMPv4 returns the ICMPv4 message, or nil.
func (p *Parsed) ICMPv4() ICMPv4 { return p.l4(IPProtoICMPv4) }

// ICMPv6 returns the ICMPv6 message, or nil.
func (p *Parsed) ICMPv6() ICMPv6 { return p.l4(IPProtoICMPv6) }

// ESP returns the ESP packet, or nil.
func (p *Parsed) ESP() ESP { return p.l4(IPProtoESP) }

// SrcAddrPort returns the source address and port.
func (p *Parsed) SrcAddrPort() netip.AddrPort { return netip.AddrPortFrom(p.Src, p.SrcPort) }

// DstAddrPort returns the destination address and port.
func (p *Parsed) DstAddrPort() netip.AddrPort { return netip.AddrPortFrom(p.Dst, p.DstPort) }

// String describes the packet for logs and tests (it allocates).
func (p *Parsed) String() string {
	var sb strings.Builder
	for i := range int(p.NumVLANs) {
		sb.WriteString("vlan ")
		sb.WriteString(strconv.Itoa(int(p.VLANs[i].ID())))
		sb.WriteByte(' ')
	}
	switch p.IPVersion {
	case 4, 6:
		sb.WriteString(p.IPProto.String())
		sb.WriteByte(' ')
		if p.SrcPort != 0 || p.DstPort != 0 {
			sb.WriteString(p.SrcAddrPort().String())
			sb.WriteString(" > ")
			sb.WriteString(p.DstAddrPort().String())
		} else {
			sb.WriteString(p.Src.String())
			sb.WriteString(" > ")
			sb.WriteString(p.Dst.String())
		}
		if p.IPProto == IPProtoTCP && p.HasL4 {
			sb.WriteString(" [")
			sb.WriteString(p.TCPFlags.String())
			sb.WriteByte(']')
		}
		if p.IsFragment() {
			sb.WriteString(" frag id ")
			sb.WriteString(strconv.FormatUint(uint64(p.FragID), 10))
			sb.WriteString(" off ")
			sb.WriteString(strconv.Itoa(int(p.FragOffset) * 8))
			if p.MoreFrags {
				sb.WriteByte('+')
			}
		}
		sb.WriteString(" len ")
		sb.WriteString(strconv.Itoa(p.IPLen()))
	default:
		sb.WriteString(p.EtherType.String())
		sb.WriteString(" len ")
		sb.WriteString(strconv.Itoa(p.End - p.L3Off))
	}
	return sb.String()
}
