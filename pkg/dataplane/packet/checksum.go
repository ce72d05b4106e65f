package packet

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Checksum returns the 16-bit one's complement sum (RFC 1071) of b, added to
// initial. It is the sum, not its complement: a checksum field stores
// ^sum computed with the field as zero, and data that includes a correct
// checksum sums to 0xffff.
//
// To sum a message in pieces, pass each piece's result as the next piece's
// initial; every piece but the last must have an even length.
//
// The loop adds eight bytes at a time with carry (ADC on amd64 and arm64),
// reading words little-endian whatever the host; the one's complement sum
// does not depend on byte order (RFC 1071 section 2), so the big-endian sum
// is the byte-swapped result.
func Checksum(b []byte, initial uint16) uint16 {
	acc := uint64(bits.ReverseBytes16(initial))
	// A carry out of 64 bits is worth 2^64, which is 1 modulo 0xffff: count
	// the carries and add them once at the end.
	var carries, c uint64
	for len(b) >= 64 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), 0)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[32:40]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[40:48]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[48:56]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[56:64]), c)
		carries += c
		b = b[64:]
	}
	if len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), 0)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), c)
		carries += c
		b = b[32:]
	}
	if len(b) >= 16 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), 0)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		carries += c
		b = b[16:]
	}
	if len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), 0)
		carries += c
		b = b[8:]
	}
	// The tail words are at most 32 bits, so they cannot overflow a sum
	// that the fold below starts by splitting in halves.
	tail := carries
	if len(b) >= 4 {
		tail += uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		tail += uint64(binary.LittleEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		// An odd last byte is the high byte of a zero-padded word.
		tail += uint64(b[0])
	}
	s := acc&0xffffffff + acc>>32 + tail
	return bits.ReverseBytes16(fold(s))
}

// fold reduces a sum of 16-bit words to 16 bits with end-around carry. It
// returns 0 only for 0, so a sum of data that is not all zeros stays in
// [1, 0xffff], as RFC 1624 requires. s must be below 2^48.
func fold(s uint64) uint16 {
	s = s&0xffff + s>>16 // < 2^33
	s = s&0xffff + s>>16 // < 2^17 + 2^16
	s = s&0xffff + s>>16 // <= 0xffff + 2
	s = s&0xffff + s>>16 // <= 0xffff
	return uint16(s)
}

// ChecksumCombine returns the one's complement sum of two partial sums.
func ChecksumCombine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s&0xffff + s>>16)
}

// sumAddr returns the 16-bit words of a 4- or 16-byte address as a sum of
// 32-bit big-endian words, which is the same sum modulo 0xffff.
func sumAddr(a []byte) uint64 {
	if len(a) == 16 {
		return uint64(binary.BigEndian.Uint32(a[0:4])) + uint64(binary.BigEndian.Uint32(a[4:8])) +
			uint64(binary.BigEndian.Uint32(a[8:12])) + uint64(binary.BigEndian.Uint32(a[12:16]))
	}
	if len(a) == 4 {
		return uint64(binary.BigEndian.Uint32(a))
	}
	return uint64(Checksum(a, 0))
}

// PseudoHeaderChecksum returns the one's complement sum of the pseudo-header
// that TCP, UDP and ICMPv6 checksums cover (RFC 9293, RFC 768, RFC 8200
// section 8.1): source and destination addresses (4 or 16 bytes each, as
// found in the IP header), the protocol, and the upper-layer length. Pass
// the result as initial to Checksum over the upper-layer header and payload.
//
// Over IPv6 with a routing header the destination is the final one, which
// the caller supplies.
func PseudoHeaderChecksum(proto IPProtocol, src, dst []byte, length uint16) uint16 {
	return fold(uint64(proto) + uint64(length) + sumAddr(src) + sumAddr(dst))
}

// PseudoHeaderChecksumAddr is PseudoHeaderChecksum for netip addresses of
// one family.
func PseudoHeaderChecksumAddr(proto IPProtocol, src, dst netip.Addr, length uint16) uint16 {
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		return PseudoHeaderChecksum(proto, s[:], d[:], length)
	}
	s, d := src.As16(), dst.As16()
	return PseudoHeaderChecksum(proto, s[:], d[:], length)
}

// UpdateChecksum16 returns checksum hc after a 16-bit word of the covered
// data changes from old to new, by RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
// Unlike RFC 1141's eqn. 2 it never produces 0xffff (-0) for data that is
// not all zeros, so it matches a full recompute. The one difference is data
// that becomes all zeros, whose full checksum is 0xffff and which HC, m and
// m' cannot tell from data summing to 0xffff; no IPv4 header or transport
// pseudo-header is all zeros (version, protocol), so it does not arise here.
// For a UDP checksum, keep 0 ("none", IPv4) as is and store a result of 0 as
// 0xffff.
func UpdateChecksum16(hc, old, new uint16) uint16 {
	return ^fold(uint64(^hc) + uint64(^old) + uint64(new))
}

// UpdateChecksum32 is UpdateChecksum16 for a 32-bit field aligned on a
// 16-bit boundary (two words; ^old is the sum of both words' complements).
func UpdateChecksum32(hc uint16, old, new uint32) uint16 {
	return ^fold(uint64(^hc) + uint64(^old) + uint64(new))
}

// UpdateChecksumAddr4 is UpdateChecksum16 for an IPv4 address.
func UpdateChecksumAddr4(hc uint16, old, new [4]byte) uint16 {
	return UpdateChecksum32(hc, binary.BigEndian.Uint32(old[:]), binary.BigEndian.Uint32(new[:]))
}

// UpdateChecksumAddr16 is UpdateChecksum16 for an IPv6 address.
func UpdateChecksumAddr16(hc uint16, old, new [16]byte) uint16 {
	s := uint64(^hc)
	for i := 0; i < 16; i += 4 {
		s += uint64(^binary.BigEndian.Uint32(old[i:])) + uint64(binary.BigEndian.Uint32(new[i:]))
	}
	return ^fold(s)
}

// UpdateChecksumAddr is UpdateChecksumAddr4 or UpdateChecksumAddr16, by the
// family of old and new (which must agree).
func UpdateChecksumAddr(hc uint16, old, new netip.Addr) uint16 {
	if old.Is4() {
		return UpdateChecksumAddr4(hc, old.As4(), new.As4())
	}
	return UpdateChecksumAddr16(hc, old.As16(), new.As16())
}

// UpdateChecksumBytes is UpdateChecksum16 for a run of bytes at an even
// offset changing from old to new; old and new have the same even length.
func UpdateChecksumBytes(hc uint16, old, new []byte) uint16 {
	return ^ChecksumCombine(ChecksumCombine(^hc, ^Checksum(old, 0)), Checksum(new, 0))
}
