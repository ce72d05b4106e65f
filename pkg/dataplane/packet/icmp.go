package packet

import (
	"encoding/binary"
	"net/netip"
)

// ICMP header sizes.
const (
	ICMPv4MinLen = 8 // type, code, checksum and the 4-byte rest of header
	ICMPv6MinLen = 8 // type, code, checksum and the 4-byte message header
	ndpTargetEnd = 24
)

// ICMPv4 is a view of an ICMPv4 message (RFC 792). It must be at least
// ICMPv4MinLen bytes.
type ICMPv4 []byte

// Type returns the message type.
func (m ICMPv4) Type() ICMPv4Type { return ICMPv4Type(m[0]) }

// Code returns the message code.
func (m ICMPv4) Code() uint8 { return m[1] }

// Checksum returns the checksum field (over the whole message, no
// pseudo-header).
func (m ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:4]) }

// RestOfHeader returns bytes 4-7, whose meaning depends on the type.
func (m ICMPv4) RestOfHeader() uint32 { return binary.BigEndian.Uint32(m[4:8]) }

// ID returns the identifier of an echo or timestamp message.
func (m ICMPv4) ID() uint16 { return binary.BigEndian.Uint16(m[4:6]) }

// Seq returns the sequence number of an echo or timestamp message.
func (m ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(m[6:8]) }

// MTU returns the next-hop MTU of a "fragmentation needed" message (RFC 1191).
func (m ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(m[6:8]) }

// Pointer returns the pointer of a parameter problem message.
func (m ICMPv4) Pointer() uint8 { return m[4] }

// Gateway returns the gateway address of a redirect message.
func (m ICMPv4) Gateway() netip.Addr { return netip.AddrFrom4([4]byte(m[4:8])) }

// Payload returns the bytes after the 8-byte header: for an error, the
// quoted IP header and leading payload bytes of the offending packet.
func (m ICMPv4) Payload() []byte { return m[ICMPv4MinLen:] }

// SetTypeCode sets type and code.
func (m ICMPv4) SetTypeCode(t ICMPv4Type, code uint8) { m[0], m[1] = uint8(t), code }

// SetChecksum sets the checksum field.
func (m ICMPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(m[2:4], v) }

// SetRestOfHeader sets bytes 4-7.
func (m ICMPv4) SetRestOfHeader(v uint32) { binary.BigEndian.PutUint32(m[4:8], v) }

// SetID sets the echo identifier.
func (m ICMPv4) SetID(v uint16) { binary.BigEndian.PutUint16(m[4:6], v) }

// SetSeq sets the echo sequence number.
func (m ICMPv4) SetSeq(v uint16) { binary.BigEndian.PutUint16(m[6:8], v) }

// ComputeChecksum returns the checksum to store for the whole message, as if
// the checksum field were zero.
func (m ICMPv4) ComputeChecksum() uint16 {
	return ^ChecksumCombine(Checksum(m, 0), ^m.Checksum())
}

// ICMPv6 is a view of an ICMPv6 message (RFC 4443). It must be at least
// ICMPv6MinLen bytes.
type ICMPv6 []byte

// Type returns the message type.
func (m ICMPv6) Type() ICMPv6Type { return ICMPv6Type(m[0]) }

// Code returns the message code.
func (m ICMPv6) Code() uint8 { return m[1] }

// Checksum returns the checksum field (over the pseudo-header and message).
func (m ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:4]) }

// MessageHeader returns bytes 4-7, whose meaning depends on the type.
func (m ICMPv6) MessageHeader() uint32 { return binary.BigEndian.Uint32(m[4:8]) }

// ID returns the identifier of an echo message.
func (m ICMPv6) ID() uint16 { return binary.BigEndian.Uint16(m[4:6]) }

// Seq returns the sequence number of an echo message.
func (m ICMPv6) Seq() uint16 { return binary.BigEndian.Uint16(m[6:8]) }

// MTU returns the MTU of a packet-too-big message.
func (m ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(m[4:8]) }

// Pointer returns the pointer of a parameter problem message.
func (m ICMPv6) Pointer() uint32 { return binary.BigEndian.Uint32(m[4:8]) }

// HasNDPTarget reports whether m is a neighbor solicitation, neighbor
// advertisement or redirect long enough to carry a target address.
func (m ICMPv6) HasNDPTarget() bool {
	switch m.Type() {
	case ICMPv6NeighborSolicit, ICMPv6NeighborAdvert, ICMPv6Redirect:
		return len(m) >= ndpTargetEnd
	}
	return false
}

// NDPTarget returns the target address of a neighbor solicitation, neighbor
// advertisement or redirect; check HasNDPTarget first.
func (m ICMPv6) NDPTarget() netip.Addr { return netip.AddrFrom16([16]byte(m[8:24])) }

// Payload returns the bytes after the 8-byte header.
func (m ICMPv6) Payload() []byte { return m[ICMPv6MinLen:] }

// SetTypeCode sets type and code.
func (m ICMPv6) SetTypeCode(t ICMPv6Type, code uint8) { m[0], m[1] = uint8(t), code }

// SetChecksum sets the checksum field.
func (m ICMPv6) SetChecksum(v uint16) { binary.BigEndian.PutUint16(m[2:4], v) }

// SetMessageHeader sets bytes 4-7.
func (m ICMPv6) SetMessageHeader(v uint32) { binary.BigEndian.PutUint32(m[4:8], v) }

// SetID sets the echo identifier.
func (m ICMPv6) SetID(v uint16) { binary.BigEndian.PutUint16(m[4:6], v) }

// SetSeq sets the echo sequence number.
func (m ICMPv6) SetSeq(v uint16) { binary.BigEndian.PutUint16(m[6:8], v) }
