package packet

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 header sizes.
const (
	IPv4MinLen = 20 // header without options (IHL 5)
	IPv4MaxLen = 60 // header with 40 bytes of options (IHL 15)
)

// IPv4 flag bits, in the flags/fragment-offset word.
const (
	IPv4DontFragment  uint16 = 0x4000
	IPv4MoreFragments uint16 = 0x2000
	ipv4FragOffMask   uint16 = 0x1fff
)

// IPv4 is a view of an IPv4 header (RFC 791), options and payload. It must
// be at least IPv4MinLen bytes; Options and Payload further need the lengths
// the header declares, which Parsed has checked.
type IPv4 []byte

// Version returns the version field (4 for a valid header).
func (ip IPv4) Version() uint8 { return ip[0] >> 4 }

// IHL returns the header length in 32-bit words.
func (ip IPv4) IHL() uint8 { return ip[0] & 0xf }

// HeaderLen returns the header length in bytes, options included.
func (ip IPv4) HeaderLen() int { return int(ip[0]&0xf) * 4 }

// TOS returns the type-of-service byte (DSCP and ECN).
func (ip IPv4) TOS() uint8 { return ip[1] }

// TotalLen returns the total length of the packet, header included.
func (ip IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(ip[2:4]) }

// ID returns the identification field.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[4:6]) }

// FlagsFragOff returns the raw flags and fragment-offset word.
func (ip IPv4) FlagsFragOff() uint16 { return binary.BigEndian.Uint16(ip[6:8]) }

// DontFragment reports whether DF is set.
func (ip IPv4) DontFragment() bool { return ip.FlagsFragOff()&IPv4DontFragment != 0 }

// MoreFragments reports whether MF is set.
func (ip IPv4) MoreFragments() bool { return ip.FlagsFragOff()&IPv4MoreFragments != 0 }

// FragOffset returns the fragment offset in 8-byte units.
func (ip IPv4) FragOffset() uint16 { return ip.FlagsFragOff() & ipv4FragOffMask }

// IsFragment reports whether the packet is a fragment (MF set or a
// non-zero offset).
func (ip IPv4) IsFragment() bool { return ip.FlagsFragOff()&(IPv4MoreFragments|ipv4FragOffMask) != 0 }

// TTL returns the time to live.
func (ip IPv4) TTL() uint8 { return ip[8] }

// Protocol returns the protocol of the payload.
func (ip IPv4) Protocol() IPProtocol { return IPProtocol(ip[9]) }

// Checksum returns the header checksum field.
func (ip IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(ip[10:12]) }

// Src4 returns the source address.
func (ip IPv4) Src4() [4]byte { return [4]byte(ip[12:16]) }

// Dst4 returns the destination address.
func (ip IPv4) Dst4() [4]byte { return [4]byte(ip[16:20]) }

// Src returns the source address.
func (ip IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(ip[12:16])) }

// Dst returns the destination address.
func (ip IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(ip[16:20])) }

// Options returns the options bytes (empty when IHL is 5).
func (ip IPv4) Options() []byte { return ip[IPv4MinLen:ip.HeaderLen()] }

// Payload returns the bytes after the header up to the total length.
func (ip IPv4) Payload() []byte { return ip[ip.HeaderLen():ip.TotalLen()] }

// SetVersionIHL sets version 4 and the header length in 32-bit words.
func (ip IPv4) SetVersionIHL(ihl uint8) { ip[0] = 4<<4 | ihl&0xf }

// SetTOS sets the type-of-service byte. The checksum is not updated.
func (ip IPv4) SetTOS(v uint8) { ip[1] = v }

// SetTotalLen sets the total length. The checksum is not updated.
func (ip IPv4) SetTotalLen(v uint16) { binary.BigEndian.PutUint16(ip[2:4], v) }

// SetID sets the identification field. The checksum is not updated.
func (ip IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(ip[4:6], v) }

// SetFlagsFragOff sets the raw flags and fragment-offset word. The checksum
// is not updated.
func (ip IPv4) SetFlagsFragOff(v uint16) { binary.BigEndian.PutUint16(ip[6:8], v) }

// SetTTL sets the time to live. The checksum is not updated; see DecTTL.
func (ip IPv4) SetTTL(v uint8) { ip[8] = v }

// SetProtocol sets the protocol. The checksum is not updated.
func (ip IPv4) SetProtocol(v IPProtocol) { ip[9] = uint8(v) }

// SetChecksum sets the header checksum field.
func (ip IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(ip[10:12], v) }

// SetSrc4 sets the source address. The checksum is not updated.
func (ip IPv4) SetSrc4(a [4]byte) { copy(ip[12:16], a[:]) }

// SetDst4 sets the destination address. The checksum is not updated.
func (ip IPv4) SetDst4(a [4]byte) { copy(ip[16:20], a[:]) }

// SetSrc sets the source address, which must be IPv4. The checksum is not
// updated; Parsed.SetSrc updates every checksum.
func (ip IPv4) SetSrc(a netip.Addr) { ip.SetSrc4(a.As4()) }

// SetDst sets the destination address, which must be IPv4. The checksum is
// not updated; Parsed.SetDst updates every checksum.
func (ip IPv4) SetDst(a netip.Addr) { ip.SetDst4(a.As4()) }

// ComputeChecksum returns the header checksum to store: the complement of
// the one's complement sum of the header with the checksum field as zero.
func (ip IPv4) ComputeChecksum() uint16 {
	h := ip[:ip.HeaderLen()]
	// Summing the stored checksum and then removing it (adding its
	// complement) avoids writing to the header.
	return ^ChecksumCombine(Checksum(h, 0), ^ip.Checksum())
}

// IsChecksumValid reports whether the header checksum is correct.
func (ip IPv4) IsChecksumValid() bool {
	return Checksum(ip[:ip.HeaderLen()], 0) == 0xffff
}

// FillChecksum computes and stores the header checksum.
func (ip IPv4) FillChecksum() { ip.SetChecksum(ip.ComputeChecksum()) }

// DecTTL decrements the TTL and updates the header checksum incrementally
// (RFC 1624), as a router does per hop. The caller checks TTL() > 1 first;
// a TTL of 0 wraps to 255.
func (ip IPv4) DecTTL() {
	old := binary.BigEndian.Uint16(ip[8:10])
	ip[8]--
	ip.SetChecksum(UpdateChecksum16(ip.Checksum(), old, old-0x100))
}
