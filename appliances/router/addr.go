package router

import (
	"encoding/binary"
	"net/netip"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Address classes, on the raw header words the fast path already holds:
// IPv4 addresses as host-order uint32s, IPv6 ones as two uint64 halves.

// unusual4 reports whether an IPv4 address needs the slow path's closer
// look: 0/8, 127/8, 169.254/16, multicast, 240/4 and broadcast.
func unusual4(a uint32) bool {
	o := a >> 24
	return o == 0 || o == 127 || o >= 224 || a>>16 == 0xa9fe
}

// martianSrc4 is RFC 1812 5.3.7's list of source addresses no packet may
// carry: "this network" 0/8, loopback 127/8, multicast 224/4 and the
// reserved 240/4, limited broadcast included.
func martianSrc4(a uint32) bool {
	o := a >> 24
	return o == 0 || o == 127 || o >= 224
}

// martianDst4 is the list of destinations never forwarded nor delivered:
// 0/8, 127/8 and 240/4 less the limited broadcast.
func martianDst4(a uint32) bool {
	o := a >> 24
	return o == 0 || o == 127 || o >= 240 && a != 0xffffffff
}

func linkLocal4(a uint32) bool { return a>>16 == 0xa9fe }
func multicast4(a uint32) bool { return a>>28 == 0xe }

// unusual6 reports whether an IPv6 address (its first half) needs the slow
// path: ::/64 (unspecified, loopback, IPv4-mapped and -compatible),
// link-local unicast and multicast.
func unusual6(hi uint64) bool {
	return hi == 0 || hi>>56 == 0xff || hi>>54 == 0xfe80>>6
}

func multicast6(hi uint64) bool { return hi>>56 == 0xff }
func linkLocal6(hi uint64) bool { return hi>>54 == 0xfe80>>6 }

// martian6 is what neither a source nor a destination may be: the
// unspecified address (a source only for DAD, checked separately),
// loopback and IPv4-mapped addresses (RFC 4291 2.5.3, 2.5.5.2).
func martian6(hi, lo uint64) bool {
	return hi == 0 && (lo == 0 || lo == 1 || lo>>32 == 0xffff)
}

func be16(b []byte) uint16     { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32     { return binary.BigEndian.Uint32(b) }
func be64(b []byte) uint64     { return binary.BigEndian.Uint64(b) }
func put16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
func put32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }

// nkey is a neighbour's key: the interface and the address, an IPv4 one
// IPv4-mapped so that both families share one table.
type nkey struct {
	hi, lo uint64
	ifx    int32
}

func key4(ifx int32, a uint32) nkey { return nkey{lo: 0xffff<<32 | uint64(a), ifx: ifx} }

func key6(ifx int32, a []byte) nkey { return nkey{hi: be64(a[0:8]), lo: be64(a[8:16]), ifx: ifx} }

func keyOf(ifx int32, a netip.Addr) nkey {
	b := a.As16()
	return key6(ifx, b[:])
}

func (k nkey) is4() bool { return k.hi == 0 && k.lo>>32 == 0xffff }

func (k nkey) addr4() [4]byte {
	var b [4]byte
	put32(b[:], uint32(k.lo))
	return b
}

func (k nkey) addr16() [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], k.hi)
	binary.BigEndian.PutUint64(b[8:16], k.lo)
	return b
}

func (k nkey) addr() netip.Addr {
	if k.is4() {
		return netip.AddrFrom4(k.addr4())
	}
	return netip.AddrFrom16(k.addr16())
}

// solicitedNode returns the solicited-node multicast address of a
// (ff02::1:ffXX:XXXX, RFC 4291 2.7.1) and its Ethernet group (RFC 2464 7).
func solicitedNode(a [16]byte) ([16]byte, packet.MAC) {
	s := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
	return s, multicastMAC6(s)
}

// multicastMAC6 maps an IPv6 multicast address to its Ethernet group.
func multicastMAC6(a [16]byte) packet.MAC {
	return packet.MAC{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// linkLocalFrom is the EUI-64 link-local address of a MAC (RFC 4291
// appendix A), which every IPv6 interface has.
func linkLocalFrom(m packet.MAC) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: m[0] ^ 0x02, 9: m[1], 10: m[2], 11: 0xff, 12: 0xfe, 13: m[3], 14: m[4], 15: m[5]})
}

// sum20 is the one's complement sum of a 20-byte IPv4 header, 0xffff when
// its checksum is right: five 32-bit words, folded (2^16 is 1 modulo
// 0xffff, so 32-bit words sum like pairs of 16-bit ones).
func sum20(ip []byte) uint32 {
	_ = ip[19]
	s := uint64(be32(ip[0:])) + uint64(be32(ip[4:])) + uint64(be32(ip[8:])) +
		uint64(be32(ip[12:])) + uint64(be32(ip[16:]))
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint32(s)
}

// decTTL4 decrements the TTL and updates the header checksum by RFC 1624
// eqn. 3, HC' = ~(~HC + ~m + m'), m being the TTL/protocol word.
func decTTL4(ip []byte) {
	old := uint32(be16(ip[8:]))
	ip[8]--
	s := (^uint32(be16(ip[10:])))&0xffff + (^old)&0xffff + (old - 0x100)
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	put16(ip[10:], ^uint16(s))
}

// fillChecksum4 computes and stores the checksum of the IPv4 header ip.
func fillChecksum4(ip []byte) {
	ip[10], ip[11] = 0, 0
	put16(ip[10:], ^packet.Checksum(ip[:int(ip[0]&0xf)*4], 0))
}
