package esp

import (
	"encoding/binary"
	"net/netip"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// The ESP packet in tunnel mode, as Encap builds it in one frame (RFC 4303
// section 2, RFC 4106 section 3, RFC 3948 section 2.1):
//
//	headroom | outer IPv4/IPv6 | [UDP 4500] | SPI | Seq | IV | inner IP packet | Padding | PadLen | NextHdr | ICV | tailroom
//	         '------------ prepended ------------------------'  '- in place -'  '---------- appended -----------'
//	                                                            '---------- encrypted -------------------'
//
// The inner packet never moves: the AEAD encrypts it where it lies, and the
// headers in front and the trailer behind go into the frame's headroom and
// tailroom. The IV is the 64-bit sequence number (plus IVBase), unique per
// SA as RFC 4106 section 3.1 requires; the nonce is salt || IV, and the
// AAD is SPI || Seq, or SPI || Seq-high || Seq-low with ESN (RFC 4106
// section 5).

const (
	ipv4Len = packet.IPv4MinLen
	ipv6Len = packet.IPv6Len
	udpLen  = packet.UDPLen
	// maxOuter is the longest header block Encap prepends.
	maxOuter = ipv6Len + udpLen + hdrLen + ivLen

	nextHeaderIPv4 = uint8(packet.IPProtoIPIP)
	nextHeaderIPv6 = uint8(packet.IPProtoIPv6)
	nextHeaderNone = uint8(packet.IPProtoNoNextHeader) // RFC 4303 dummy packet
)

// padLen is the padding an inner packet of n bytes needs so that the
// encrypted payload and its trailer end on a 4-byte boundary (RFC 4303
// section 2.4; the AEADs here have no block size of their own).
func padLen(n int) int { return -(n + trailerLen) & 3 }

// outerHeader is an outbound SA's header block: outer IP, UDP when
// encapsulated, and the SPI, with every field that does not change per
// packet filled in. Encap copies it in front of each packet and fills the
// lengths, the TOS, the IPv4 ID and checksum, and the sequence number.
type outerHeader struct {
	b     [maxOuter - ivLen]byte
	n     int // IP + UDP + ESP header
	ipLen int
	v6    bool
	udp   bool
	dst   netip.AddrPort
	// sum is the IPv4 header's one's complement sum with the per-packet
	// fields (TOS, length, ID, flags) and the checksum zero.
	sum uint16
}

func newOuterHeader(sa *SA, dst netip.AddrPort) *outerHeader {
	h := &outerHeader{v6: !sa.local.Is4(), udp: sa.encap, dst: dst}
	proto := packet.IPProtoESP
	if sa.encap {
		proto = packet.IPProtoUDP
	}
	if h.v6 {
		h.ipLen = ipv6Len
		ip := packet.IPv6(h.b[:ipv6Len])
		ip.SetVersionTrafficFlow(0, 0)
		ip.SetNextHeader(proto)
		ip.SetHopLimit(sa.ttl)
		ip.SetSrc(sa.local)
		ip.SetDst(dst.Addr())
	} else {
		h.ipLen = ipv4Len
		ip := packet.IPv4(h.b[:ipv4Len])
		ip.SetVersionIHL(5)
		ip.SetTTL(sa.ttl)
		ip.SetProtocol(proto)
		ip.SetSrc(sa.local)
		ip.SetDst(dst.Addr())
		h.sum = packet.Checksum(ip, 0)
	}
	h.n = h.ipLen
	if sa.encap {
		u := packet.UDP(h.b[h.n : h.n+udpLen])
		u.SetSrcPort(sa.lport)
		u.SetDstPort(dst.Port())
		h.n += udpLen
	}
	binary.BigEndian.PutUint32(h.b[h.n:], sa.spi)
	h.n += hdrLen
	return h
}

// fill writes the per-packet fields of the header block at the front of
// pkt (the whole outer packet): total length from len(pkt), TOS or traffic
// class, DF, and the IPv4 ID, which the sequence number makes unique per SA
// for 64k packets. The UDP checksum over IPv6 is filled after encryption.
func (h *outerHeader) fill(pkt []byte, tos uint8, df bool, seq uint64) {
	n := len(pkt)
	if h.v6 {
		ip := packet.IPv6(pkt)
		binary.BigEndian.PutUint32(ip[0:4], 6<<28|uint32(tos)<<20)
		ip.SetPayloadLen(uint16(n - ipv6Len))
	} else {
		ip := packet.IPv4(pkt)
		ip[1] = tos
		ip.SetTotalLen(uint16(n))
		ip.SetID(uint16(seq))
		var ff uint16
		if df {
			ff = packet.IPv4DontFragment
		}
		ip.SetFlagsFragOff(ff)
		s := packet.ChecksumCombine(h.sum, uint16(tos))
		s = packet.ChecksumCombine(s, uint16(n))
		s = packet.ChecksumCombine(s, uint16(seq))
		s = packet.ChecksumCombine(s, ff)
		ip.SetChecksum(^s)
	}
	if h.udp {
		packet.UDP(pkt[h.ipLen:]).SetLength(uint16(n - h.ipLen))
	}
}

// udpChecksum6 fills the UDP checksum of an IPv6 outer packet, which IPv6
// requires (RFC 8200 section 8.1); over IPv4 it stays zero (RFC 3948
// section 2.1).
func udpChecksum6(pkt []byte) {
	ip := packet.IPv6(pkt)
	u := packet.UDP(pkt[ipv6Len:])
	u.SetChecksum(0)
	s := packet.PseudoHeaderChecksum(packet.IPProtoUDP, ip[8:24], ip[24:40], uint16(len(u)))
	c := ^packet.Checksum(u, s)
	if c == 0 {
		c = 0xffff
	}
	u.SetChecksum(c)
}

// seal encrypts an ESP packet in place. esp starts with the ESP header and
// IV, already written; the plaintext (inner packet, padding, trailer) is the
// next ptLen bytes, and the ICV goes into the 16 bytes after it, which must
// be within esp's capacity. seq is the full sequence number, for the AAD.
func (w *Worker) seal(sa *SA, esp []byte, ptLen int, seq uint64) {
	copy(w.nonce[:saltLen], sa.salt[:])
	copy(w.nonce[saltLen:], esp[hdrLen:hdrLen+ivLen])
	pt := esp[hdrLen+ivLen : hdrLen+ivLen+ptLen]
	sa.aead.Seal(pt[:0], w.nonce[:], pt, w.aadOf(sa, esp, seq))
}

// open authenticates and decrypts an ESP packet (header to ICV) in place
// and returns the plaintext: inner packet, padding and trailer.
func (w *Worker) open(sa *SA, esp []byte, seq uint64) ([]byte, bool) {
	copy(w.nonce[:saltLen], sa.salt[:])
	copy(w.nonce[saltLen:], esp[hdrLen:hdrLen+ivLen])
	ct := esp[hdrLen+ivLen:]
	pt, err := sa.aead.Open(ct[:0], w.nonce[:], ct, w.aadOf(sa, esp, seq))
	return pt, err == nil
}

// aadOf is the AAD of an ESP packet: its first 8 bytes as they are on the
// wire, or with ESN the SPI, the high and the low half of the sequence
// number (RFC 4106 section 5).
func (w *Worker) aadOf(sa *SA, esp []byte, seq uint64) []byte {
	if !sa.esn {
		return esp[:hdrLen]
	}
	copy(w.aad[0:4], esp[0:4])
	binary.BigEndian.PutUint32(w.aad[4:8], uint32(seq>>32))
	binary.BigEndian.PutUint32(w.aad[8:12], uint32(seq))
	return w.aad[:]
}

// writeTrailer writes padding (1, 2, 3, ... as RFC 4303 section 2.4
// prescribes), the pad length and the next header into t, which is
// pad+trailerLen bytes.
func writeTrailer(t []byte, pad int, next uint8) {
	for i := range pad {
		t[i] = byte(i + 1)
	}
	t[pad] = byte(pad)
	t[pad+1] = next
}

// parseTrailer checks the trailer of a decrypted payload and returns the
// length of the data before the padding and the next header. The padding
// must be the monotonic 1, 2, 3, ... sequence (RFC 4303 section 2.4: the
// receiver should check it); anything else is malformed.
func parseTrailer(pt []byte) (n int, next uint8, ok bool) {
	if len(pt) < trailerLen {
		return 0, 0, false
	}
	pad := int(pt[len(pt)-2])
	next = pt[len(pt)-1]
	n = len(pt) - trailerLen - pad
	if n < 0 {
		return 0, 0, false
	}
	for i, b := range pt[n : n+pad] {
		if b != byte(i+1) {
			return 0, 0, false
		}
	}
	return n, next, true
}

// innerLen validates the inner IP packet at the start of pkt against the
// next-header value and returns its length (shorter than pkt when the
// sender added TFC padding, RFC 4303 section 2.7), or 0 when it is not a
// whole IP packet of that version.
func innerLen(pkt []byte, next uint8) int {
	switch next {
	case nextHeaderIPv4:
		if len(pkt) < ipv4Len || pkt[0]>>4 != 4 {
			return 0
		}
		ip := packet.IPv4(pkt)
		hl, tl := ip.HeaderLen(), int(ip.TotalLen())
		if hl < ipv4Len || tl < hl || tl > len(pkt) {
			return 0
		}
		return tl
	case nextHeaderIPv6:
		if len(pkt) < ipv6Len || pkt[0]>>4 != 6 {
			return 0
		}
		tl := ipv6Len + int(packet.IPv6(pkt).PayloadLen())
		if tl > len(pkt) {
			return 0
		}
		return tl
	}
	return 0
}

// ECN codepoints (RFC 3168).
const (
	ecnMask   = 3
	ecnNotECT = 0
	ecnECT1   = 1
	ecnECT0   = 2
	ecnCE     = 3
)

// decapECN combines the outer header's ECN field into the inner packet's,
// as RFC 6040 section 4.2 specifies for a tunnel's egress: CE outside makes
// CE inside, ECT(1) outside upgrades ECT(0) inside, and the rest leaves the
// inner field as it was. It reports false when the packet must be dropped:
// CE outside a packet whose inner header is Not-ECT (congestion marked on
// a packet whose endpoints could not understand it).
func decapECN(inner []byte, outer uint8) bool {
	outer &= ecnMask
	if outer == ecnNotECT || outer == ecnECT0 {
		return true
	}
	var in uint8
	if inner[0]>>4 == 4 {
		in = inner[1] & ecnMask
	} else {
		in = uint8(binary.BigEndian.Uint16(inner[0:2])>>4) & ecnMask
	}
	var to uint8
	switch {
	case outer == ecnCE && in == ecnNotECT:
		return false
	case outer == ecnCE:
		to = ecnCE
	case outer == ecnECT1 && in == ecnECT0:
		to = ecnECT1
	default:
		return true
	}
	if inner[0]>>4 == 4 {
		ip := packet.IPv4(inner)
		old := binary.BigEndian.Uint16(ip[0:2])
		ip[1] = ip[1]&^ecnMask | to
		ip.SetChecksum(packet.UpdateChecksum16(ip.Checksum(), old, binary.BigEndian.Uint16(ip[0:2])))
	} else {
		v := binary.BigEndian.Uint16(inner[0:2])
		binary.BigEndian.PutUint16(inner[0:2], v&^(ecnMask<<4)|uint16(to)<<4)
	}
	return true
}

// innerTOS returns the inner packet's TOS or traffic class, which the outer
// header copies (DSCP and ECN, RFC 4301 section 5.1.2.1 and RFC 6040's
// normal mode), and for IPv4 its DF bit, which the outer header copies too.
func innerTOS(pkt []byte) (tos uint8, df bool) {
	if pkt[0]>>4 == 4 {
		return pkt[1], packet.IPv4(pkt).DontFragment()
	}
	return uint8(binary.BigEndian.Uint16(pkt[0:2]) >> 4), false
}
