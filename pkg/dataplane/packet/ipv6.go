package packet

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 header sizes.
const (
	IPv6Len         = 40 // fixed header
	IPv6FragmentLen = 8  // fragment extension header
	IPv6ExtMinLen   = 8  // smallest hop-by-hop, routing or destination options header
	AHMinLen        = 12 // AH without integrity check value
)

// MaxIPv6ExtHeaders bounds the extension headers Decode walks before it
// gives up with ErrTooManyExtHeaders, so a crafted chain cannot make one
// packet cost more than a few dozen nanoseconds.
const MaxIPv6ExtHeaders = 8

// IPv6 is a view of an IPv6 fixed header (RFC 8200) and what follows it. It
// must be at least IPv6Len bytes.
type IPv6 []byte

// Version returns the version field (6 for a valid header).
func (ip IPv6) Version() uint8 { return ip[0] >> 4 }

// TrafficClass returns the traffic class (DSCP and ECN).
func (ip IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(ip[0:2]) >> 4) }

// FlowLabel returns the 20-bit flow label.
func (ip IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(ip[0:4]) & 0xfffff }

// PayloadLen returns the payload length (extension headers included).
func (ip IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(ip[4:6]) }

// NextHeader returns the protocol of the first extension header or payload.
func (ip IPv6) NextHeader() IPProtocol { return IPProtocol(ip[6]) }

// HopLimit returns the hop limit.
func (ip IPv6) HopLimit() uint8 { return ip[7] }

// Src16 returns the source address.
func (ip IPv6) Src16() [16]byte { return [16]byte(ip[8:24]) }

// Dst16 returns the destination address.
func (ip IPv6) Dst16() [16]byte { return [16]byte(ip[24:40]) }

// Src returns the source address.
func (ip IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(ip[8:24])) }

// Dst returns the destination address.
func (ip IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(ip[24:40])) }

// Payload returns the bytes after the fixed header up to the payload length.
func (ip IPv6) Payload() []byte { return ip[IPv6Len : IPv6Len+int(ip.PayloadLen())] }

// SetVersionTrafficFlow sets version 6, the traffic class and the flow label.
func (ip IPv6) SetVersionTrafficFlow(tc uint8, flow uint32) {
	binary.BigEndian.PutUint32(ip[0:4], 6<<28|uint32(tc)<<20|flow&0xfffff)
}

// SetTrafficClass sets the traffic class.
func (ip IPv6) SetTrafficClass(tc uint8) {
	v := binary.BigEndian.Uint32(ip[0:4])
	binary.BigEndian.PutUint32(ip[0:4], v&^(0xff<<20)|uint32(tc)<<20)
}

// SetPayloadLen sets the payload length.
func (ip IPv6) SetPayloadLen(v uint16) { binary.BigEndian.PutUint16(ip[4:6], v) }

// SetNextHeader sets the next header.
func (ip IPv6) SetNextHeader(v IPProtocol) { ip[6] = uint8(v) }

// SetHopLimit sets the hop limit.
func (ip IPv6) SetHopLimit(v uint8) { ip[7] = v }

// DecHopLimit decrements the hop limit (IPv6 has no header checksum). The
// caller checks HopLimit() > 1 first.
func (ip IPv6) DecHopLimit() { ip[7]-- }

// SetSrc16 sets the source address. Upper-layer checksums are not updated.
func (ip IPv6) SetSrc16(a [16]byte) { copy(ip[8:24], a[:]) }

// SetDst16 sets the destination address. Upper-layer checksums are not
// updated.
func (ip IPv6) SetDst16(a [16]byte) { copy(ip[24:40], a[:]) }

// SetSrc sets the source address; an IPv4 address is stored 4in6-mapped.
// Upper-layer checksums are not updated; Parsed.SetSrc updates them.
func (ip IPv6) SetSrc(a netip.Addr) { ip.SetSrc16(a.As16()) }

// SetDst sets the destination address; see SetSrc.
func (ip IPv6) SetDst(a netip.Addr) { ip.SetDst16(a.As16()) }

// IPv6ExtHeader is a view of a hop-by-hop, routing or destination options
// header: the formats whose second byte is the length in 8-byte units not
// counting the first 8. It must be at least IPv6ExtMinLen bytes.
type IPv6ExtHeader []byte

// NextHeader returns the protocol of the following header.
func (h IPv6ExtHeader) NextHeader() IPProtocol { return IPProtocol(h[0]) }

// Len returns the header length in bytes.
func (h IPv6ExtHeader) Len() int { return (int(h[1]) + 1) * 8 }

// RoutingType returns the routing type of a routing header.
func (h IPv6ExtHeader) RoutingType() uint8 { return h[2] }

// SegmentsLeft returns the segments-left field of a routing header.
func (h IPv6ExtHeader) SegmentsLeft() uint8 { return h[3] }

// IPv6Fragment is a view of an IPv6 fragment header (IPv6FragmentLen bytes).
type IPv6Fragment []byte

// NextHeader returns the protocol of the fragmented payload.
func (f IPv6Fragment) NextHeader() IPProtocol { return IPProtocol(f[0]) }

// FragOffset returns the fragment offset in 8-byte units.
func (f IPv6Fragment) FragOffset() uint16 { return binary.BigEndian.Uint16(f[2:4]) >> 3 }

// MoreFragments reports whether the M flag is set.
func (f IPv6Fragment) MoreFragments() bool { return f[3]&1 != 0 }

// ID returns the identification field.
func (f IPv6Fragment) ID() uint32 { return binary.BigEndian.Uint32(f[4:8]) }

// Set writes the whole fragment header.
func (f IPv6Fragment) Set(next IPProtocol, offset uint16, more bool, id uint32) {
	f[0], f[1] = uint8(next), 0
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(f[2:4], v)
	binary.BigEndian.PutUint32(f[4:8], id)
}

// AH is a view of an IP Authentication Header (RFC 4302), in IPv4 or IPv6.
// It must be at least AHMinLen bytes.
type AH []byte

// NextHeader returns the protocol of the protected payload.
func (a AH) NextHeader() IPProtocol { return IPProtocol(a[0]) }

// Len returns the header length in bytes, integrity check value included.
func (a AH) Len() int { return (int(a[1]) + 2) * 4 }

// SPI returns the security parameters index.
func (a AH) SPI() uint32 { return binary.BigEndian.Uint32(a[4:8]) }

// Seq returns the sequence number.
func (a AH) Seq() uint32 { return binary.BigEndian.Uint32(a[8:12]) }

// ICV returns the integrity check value.
func (a AH) ICV() []byte { return a[AHMinLen:a.Len()] }
