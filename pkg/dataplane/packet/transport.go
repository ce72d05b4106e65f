package packet

import "encoding/binary"

// Transport header sizes.
const (
	UDPLen     = 8
	TCPMinLen  = 20 // header without options (data offset 5)
	TCPMaxLen  = 60 // header with 40 bytes of options (data offset 15)
	SCTPMinLen = 12 // common header
	ESPMinLen  = 8  // SPI and sequence number
)

// UDP is a view of a UDP header (RFC 768) and its payload. It must be at
// least UDPLen bytes.
type UDP []byte

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:2]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:4]) }

// Length returns the length field (header and payload).
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[4:6]) }

// Checksum returns the checksum field (0 over IPv4: not computed).
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[6:8]) }

// Payload returns the bytes after the header up to the length field, or to
// the end of the view if the length field is out of range.
func (u UDP) Payload() []byte {
	if n := int(u.Length()); n >= UDPLen && n <= len(u) {
		return u[UDPLen:n]
	}
	return u[UDPLen:]
}

// SetSrcPort sets the source port. The checksum is not updated;
// Parsed.SetSrcPort updates it.
func (u UDP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(u[0:2], v) }

// SetDstPort sets the destination port. The checksum is not updated.
func (u UDP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(u[2:4], v) }

// SetLength sets the length field.
func (u UDP) SetLength(v uint16) { binary.BigEndian.PutUint16(u[4:6], v) }

// SetChecksum sets the checksum field. A computed checksum of 0 must be
// stored as 0xffff (RFC 768); ComputeChecksum already does so.
func (u UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(u[6:8], v) }

// TCP is a view of a TCP header (RFC 9293), options and payload. It must be
// at least TCPMinLen bytes; Options and Payload need HeaderLen bytes.
type TCP []byte

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[0:2]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[2:4]) }

// Seq returns the sequence number.
func (t TCP) Seq() uint32 { return binary.BigEndian.Uint32(t[4:8]) }

// Ack returns the acknowledgment number.
func (t TCP) Ack() uint32 { return binary.BigEndian.Uint32(t[8:12]) }

// DataOffset returns the header length in 32-bit words.
func (t TCP) DataOffset() uint8 { return t[12] >> 4 }

// HeaderLen returns the header length in bytes, options included.
func (t TCP) HeaderLen() int { return int(t[12]>>4) * 4 }

// Flags returns the flags byte (CWR ... FIN).
func (t TCP) Flags() TCPFlags { return TCPFlags(t[13]) }

// Window returns the receive window (unscaled).
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[14:16]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[16:18]) }

// UrgentPtr returns the urgent pointer.
func (t TCP) UrgentPtr() uint16 { return binary.BigEndian.Uint16(t[18:20]) }

// Options returns the options bytes (empty with data offset 5).
func (t TCP) Options() []byte { return t[TCPMinLen:t.HeaderLen()] }

// Payload returns the bytes after the header.
func (t TCP) Payload() []byte { return t[t.HeaderLen():] }

// SetSrcPort sets the source port. The checksum is not updated;
// Parsed.SetSrcPort updates it.
func (t TCP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(t[0:2], v) }

// SetDstPort sets the destination port. The checksum is not updated.
func (t TCP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(t[2:4], v) }

// SetSeq sets the sequence number.
func (t TCP) SetSeq(v uint32) { binary.BigEndian.PutUint32(t[4:8], v) }

// SetAck sets the acknowledgment number.
func (t TCP) SetAck(v uint32) { binary.BigEndian.PutUint32(t[8:12], v) }

// SetDataOffset sets the header length in 32-bit words.
func (t TCP) SetDataOffset(words uint8) { t[12] = t[12]&0x0f | words<<4 }

// SetFlags sets the flags byte.
func (t TCP) SetFlags(f TCPFlags) { t[13] = uint8(f) }

// SetWindow sets the receive window.
func (t TCP) SetWindow(v uint16) { binary.BigEndian.PutUint16(t[14:16], v) }

// SetChecksum sets the checksum field.
func (t TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(t[16:18], v) }

// SetUrgentPtr sets the urgent pointer.
func (t TCP) SetUrgentPtr(v uint16) { binary.BigEndian.PutUint16(t[18:20], v) }

// SCTP is a view of an SCTP common header (RFC 9260). It must be at least
// SCTPMinLen bytes. Its checksum is CRC32c, which this package does not
// compute.
type SCTP []byte

// SrcPort returns the source port.
func (s SCTP) SrcPort() uint16 { return binary.BigEndian.Uint16(s[0:2]) }

// DstPort returns the destination port.
func (s SCTP) DstPort() uint16 { return binary.BigEndian.Uint16(s[2:4]) }

// VerificationTag returns the verification tag.
func (s SCTP) VerificationTag() uint32 { return binary.BigEndian.Uint32(s[4:8]) }

// Checksum returns the CRC32c checksum field.
func (s SCTP) Checksum() uint32 { return binary.BigEndian.Uint32(s[8:12]) }

// ESP is a view of an IPsec ESP packet (RFC 4303): SPI, sequence number,
// then the encrypted payload. It must be at least ESPMinLen bytes.
type ESP []byte

// SPI returns the security parameters index.
func (e ESP) SPI() uint32 { return binary.BigEndian.Uint32(e[0:4]) }

// Seq returns the (low 32 bits of the) sequence number.
func (e ESP) Seq() uint32 { return binary.BigEndian.Uint32(e[4:8]) }

// Payload returns the bytes after the sequence number: IV, ciphertext,
// padding, trailer and ICV, as the SA's transform lays them out.
func (e ESP) Payload() []byte { return e[ESPMinLen:] }

// SetSPI sets the security parameters index.
func (e ESP) SetSPI(v uint32) { binary.BigEndian.PutUint32(e[0:4], v) }

// SetSeq sets the sequence number.
func (e ESP) SetSeq(v uint32) { binary.BigEndian.PutUint32(e[4:8], v) }
