package packet

import (
	"encoding/binary"
	"net/netip"
)

// Datagrams of the appliance's own: the outer UDP of a tunnel (WireGuard,
// IKE, ESP in UDP) is built and read here, once for every user.

// UDPHeaderLen is the length of the UDP header.
const UDPHeaderLen = 8

// DatagramHeaderLen is the length of the IP and UDP headers of a datagram
// to dst: 28 for IPv4, 48 for IPv6.
func DatagramHeaderLen(dst netip.Addr) int {
	if dst.Is4() {
		return IPv4MinLen + UDPHeaderLen
	}
	return IPv6Len + UDPHeaderLen
}

// PutDatagram writes the IP and UDP headers of a datagram from src to dst
// in front of its payload: d holds DatagramHeaderLen(dst.Addr()) bytes of
// room, then the payload, and nothing after. The addresses must be of one
// family and the payload short enough for UDP. IPv4 datagrams carry the
// given identification and TTL 64, and no UDP checksum unless csum4 (RFC
// 768 allows none; protocols that authenticate every message need none);
// IPv6 ones always carry it (RFC 8200 section 8.1).
func PutDatagram(d []byte, src, dst netip.AddrPort, id uint16, csum4 bool) {
	hl := DatagramHeaderLen(dst.Addr()) - UDPHeaderLen
	u := UDP(d[hl:])
	ul := uint16(len(u))
	u.SetSrcPort(src.Port())
	u.SetDstPort(dst.Port())
	u.SetLength(ul)
	u.SetChecksum(0)
	if dst.Addr().Is4() {
		s, t := src.Addr().As4(), dst.Addr().As4()
		d[0], d[1] = 0x45, 0
		binary.BigEndian.PutUint16(d[2:], uint16(hl)+ul)
		binary.BigEndian.PutUint16(d[4:], id)
		binary.BigEndian.PutUint16(d[6:], 0)
		d[8], d[9] = 64, uint8(IPProtoUDP)
		binary.BigEndian.PutUint16(d[10:], 0)
		copy(d[12:16], s[:])
		copy(d[16:20], t[:])
		binary.BigEndian.PutUint16(d[10:], ^Checksum(d[:IPv4MinLen], 0))
		if csum4 {
			u.SetChecksum(udpChecksum(u, s[:], t[:]))
		}
		return
	}
	s, t := src.Addr().As16(), dst.Addr().As16()
	binary.BigEndian.PutUint32(d[0:], 6<<28)
	binary.BigEndian.PutUint16(d[4:], ul)
	d[6], d[7] = uint8(IPProtoUDP), 64
	copy(d[8:24], s[:])
	copy(d[24:40], t[:])
	u.SetChecksum(udpChecksum(u, s[:], t[:]))
}

func udpChecksum(u UDP, src, dst []byte) uint16 {
	c := ^Checksum(u, PseudoHeaderChecksum(IPProtoUDP, src, dst, uint16(len(u))))
	if c == 0 {
		c = 0xffff
	}
	return c
}

// ParseDatagram reads an IPv4 or IPv6 packet (no link header) carrying an
// unfragmented UDP datagram: its source and destination, and its payload,
// which aliases d. It reports false for anything else or anything
// truncated; it checks no checksum.
func ParseDatagram(d []byte) (src, dst netip.AddrPort, payload []byte, ok bool) {
	var u []byte
	var s, t netip.Addr
	switch {
	case len(d) >= IPv4MinLen && d[0]>>4 == 4:
		hl := int(d[0]&0xf) * 4
		tl := int(binary.BigEndian.Uint16(d[2:]))
		if hl < IPv4MinLen || tl < hl+UDPHeaderLen || tl > len(d) || d[9] != uint8(IPProtoUDP) ||
			binary.BigEndian.Uint16(d[6:])&0x3fff != 0 {
			return
		}
		s, t = netip.AddrFrom4([4]byte(d[12:16])), netip.AddrFrom4([4]byte(d[16:20]))
		u = d[hl:tl]
	case len(d) >= IPv6Len+UDPHeaderLen && d[0]>>4 == 6:
		pl := int(binary.BigEndian.Uint16(d[4:]))
		if pl < UDPHeaderLen || IPv6Len+pl > len(d) || d[6] != uint8(IPProtoUDP) {
			return
		}
		s, t = netip.AddrFrom16([16]byte(d[8:24])), netip.AddrFrom16([16]byte(d[24:40]))
		u = d[IPv6Len : IPv6Len+pl]
	default:
		return
	}
	ul := int(UDP(u).Length())
	if ul < UDPHeaderLen || ul > len(u) {
		return
	}
	return netip.AddrPortFrom(s, UDP(u).SrcPort()), netip.AddrPortFrom(t, UDP(u).DstPort()), u[UDPHeaderLen:ul], true
}
