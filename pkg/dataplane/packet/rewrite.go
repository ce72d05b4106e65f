package packet

import (
	"encoding/binary"
	"net/netip"
)

// l4ChecksumOff returns the offset of the upper layer's checksum field
// within its header and whether that checksum covers the pseudo-header, or
// -1 if the packet has no L4 header with an Internet checksum.
func (p *Parsed) l4ChecksumOff() (off int, pseudo bool) {
	if !p.HasL4 {
		return -1, false
	}
	switch p.IPProto {
	case IPProtoTCP:
		return 16, true
	case IPProtoUDP:
		return 6, true
	case IPProtoICMPv6:
		return 2, true
	case IPProtoICMPv4:
		return 2, false
	}
	return -1, false
}

// udpNoChecksum reports whether the packet is UDP over IPv4 without a
// checksum (field 0), which rewrites must leave alone.
func (p *Parsed) udpNoChecksum(field uint16) bool {
	return field == 0 && p.IPProto == IPProtoUDP && p.IPVersion == 4
}

// storeL4Checksum writes an updated L4 checksum, applying UDP's rule that a
// computed 0 is sent as 0xffff.
func (p *Parsed) storeL4Checksum(at int, v uint16) {
	if v == 0 && p.IPProto == IPProtoUDP {
		v = 0xffff
	}
	binary.BigEndian.PutUint16(p.b[at:], v)
}

// SetSrc rewrites the source address, as source NAT does, and updates the
// IPv4 header checksum and the TCP, UDP or ICMPv6 checksum incrementally
// (RFC 1624). a must be of the packet's family (ErrAddrFamily); a non-IP
// packet gives ErrNotSupported. In a non-first fragment only the IP header
// changes: the transport checksum lives in the first fragment.
func (p *Parsed) SetSrc(a netip.Addr) error {
	if err := p.setAddr(a, 12, 8); err != nil {
		return err
	}
	p.Src = a
	return nil
}

// SetDst rewrites the destination address; see SetSrc. While an IPv6
// routing header has segments left, the transport checksum covers its final
// destination instead, so only the address changes.
func (p *Parsed) SetDst(a netip.Addr) error {
	if err := p.setAddr(a, 16, 24); err != nil {
		return err
	}
	p.Dst = a
	return nil
}

func (p *Parsed) setAddr(a netip.Addr, off4, off6 int) error {
	var hc uint16
	switch p.IPVersion {
	case 4:
		if !a.Is4() {
			return ErrAddrFamily
		}
		ip := IPv4(p.b[p.L3Off:p.End])
		old, new := [4]byte(ip[off4:off4+4]), a.As4()
		copy(ip[off4:], new[:])
		ip.SetChecksum(UpdateChecksumAddr4(ip.Checksum(), old, new))
		if at, ok := p.pseudoChecksumAt(); ok {
			hc = binary.BigEndian.Uint16(p.b[at:])
			if !p.udpNoChecksum(hc) {
				p.storeL4Checksum(at, UpdateChecksumAddr4(hc, old, new))
			}
		}
	case 6:
		if !a.Is6() {
			return ErrAddrFamily
		}
		at := p.L3Off + off6
		old, new := [16]byte(p.b[at:at+16]), a.As16()
		copy(p.b[at:], new[:])
		if off6 == 24 && p.finalDst != 0 {
			// The pseudo-header holds the routing header's final
			// destination, not this one.
			return nil
		}
		if at, ok := p.pseudoChecksumAt(); ok {
			hc = binary.BigEndian.Uint16(p.b[at:])
			p.storeL4Checksum(at, UpdateChecksumAddr16(hc, old, new))
		}
	default:
		return ErrNotSupported
	}
	return nil
}

// pseudoChecksumAt returns the frame offset of a checksum that covers the
// pseudo-header.
func (p *Parsed) pseudoChecksumAt() (int, bool) {
	off, pseudo := p.l4ChecksumOff()
	return p.L4Off + off, pseudo
}

// SetSrcPort rewrites the TCP or UDP source port and updates the checksum
// incrementally. Other packets (SCTP's CRC32c included) give
// ErrNotSupported.
func (p *Parsed) SetSrcPort(port uint16) error {
	if err := p.setPort(port, 0); err != nil {
		return err
	}
	p.SrcPort = port
	return nil
}

// SetDstPort rewrites the TCP or UDP destination port; see SetSrcPort.
func (p *Parsed) SetDstPort(port uint16) error {
	if err := p.setPort(port, 2); err != nil {
		return err
	}
	p.DstPort = port
	return nil
}

func (p *Parsed) setPort(port uint16, off int) error {
	if !p.HasL4 || p.IPProto != IPProtoTCP && p.IPProto != IPProtoUDP {
		return ErrNotSupported
	}
	at := p.L4Off + off
	old := binary.BigEndian.Uint16(p.b[at:])
	binary.BigEndian.PutUint16(p.b[at:], port)
	cs, _ := p.pseudoChecksumAt()
	hc := binary.BigEndian.Uint16(p.b[cs:])
	if !p.udpNoChecksum(hc) {
		p.storeL4Checksum(cs, UpdateChecksum16(hc, old, port))
	}
	return nil
}

// DecTTL decrements the IPv4 TTL (updating the header checksum
// incrementally) or the IPv6 hop limit, and the TTL field. The caller checks
// TTL > 1 first. A non-IP packet gives ErrNotSupported.
func (p *Parsed) DecTTL() error {
	switch p.IPVersion {
	case 4:
		IPv4(p.b[p.L3Off:]).DecTTL()
	case 6:
		IPv6(p.b[p.L3Off:]).DecHopLimit()
	default:
		return ErrNotSupported
	}
	p.TTL--
	return nil
}

// PseudoHeaderChecksum returns the sum of the packet's pseudo-header for an
// upper layer of length L4Off to End (see the package function). Over IPv6
// with a routing header that has segments left, the destination is the
// final one it names (routing types 0, 2 and 4). It is 0 for a packet that
// is not IP.
func (p *Parsed) PseudoHeaderChecksum() uint16 {
	if p.IPVersion == 0 {
		return 0
	}
	return p.pseudoHeader(uint16(p.End - p.L4Off))
}

func (p *Parsed) pseudoHeader(length uint16) uint16 {
	if p.IPVersion == 4 {
		return PseudoHeaderChecksum(p.IPProto, p.b[p.L3Off+12:p.L3Off+16], p.b[p.L3Off+16:p.L3Off+20], length)
	}
	dst := p.L3Off + 24
	if p.finalDst != 0 {
		dst = p.finalDst
	}
	return PseudoHeaderChecksum(p.IPProto, p.b[p.L3Off+8:p.L3Off+24], p.b[dst:dst+16], length)
}

// l4Checked returns the bytes the L4 checksum covers, the checksum field's
// offset within them and the initial sum (the pseudo-header's).
func (p *Parsed) l4Checked() (seg []byte, off int, initial uint16, err error) {
	off, pseudo := p.l4ChecksumOff()
	if off < 0 || p.IsFragment() {
		return nil, 0, 0, ErrNotSupported
	}
	seg = p.b[p.L4Off:p.End]
	if p.IPProto == IPProtoUDP {
		// Decode checked the length; check again in case the packet
		// changed since.
		n := int(binary.BigEndian.Uint16(seg[4:6]))
		if n < UDPLen || n > len(seg) {
			return nil, 0, 0, ErrBadLength
		}
		seg = seg[:n]
	}
	if pseudo {
		initial = p.pseudoHeader(uint16(len(seg)))
	}
	return seg, off, initial, nil
}

// ComputeL4Checksum returns the checksum to store in the TCP, UDP, ICMPv4 or
// ICMPv6 header, computed over the whole segment as if the field were zero
// (for UDP, 0 comes out as 0xffff). A fragment, a packet without such a
// header or one of another protocol gives ErrNotSupported.
func (p *Parsed) ComputeL4Checksum() (uint16, error) {
	seg, off, initial, err := p.l4Checked()
	if err != nil {
		return 0, err
	}
	field := binary.BigEndian.Uint16(seg[off:])
	c := ^ChecksumCombine(Checksum(seg, initial), ^field)
	if c == 0 && p.IPProto == IPProtoUDP {
		c = 0xffff
	}
	return c, nil
}

// VerifyL4Checksum returns nil if the TCP, UDP, ICMPv4 or ICMPv6 checksum is
// correct (or is UDP-over-IPv4's 0, "none"), ErrBadChecksum if not, and
// ErrNotSupported when it cannot be checked (see ComputeL4Checksum), and
// ErrBadLength for a UDP length field changed since Decode.
func (p *Parsed) VerifyL4Checksum() error {
	seg, off, initial, err := p.l4Checked()
	if err != nil {
		return err
	}
	field := binary.BigEndian.Uint16(seg[off:])
	if p.udpNoChecksum(field) {
		return nil
	}
	if field == 0 && p.IPProto == IPProtoUDP || Checksum(seg, initial) != 0xffff {
		return ErrBadChecksum
	}
	return nil
}

// FillL4Checksum computes the L4 checksum and stores it; see
// ComputeL4Checksum.
func (p *Parsed) FillL4Checksum() error {
	c, err := p.ComputeL4Checksum()
	if err != nil {
		return err
	}
	off, _ := p.l4ChecksumOff()
	binary.BigEndian.PutUint16(p.b[p.L4Off+off:], c)
	return nil
}
