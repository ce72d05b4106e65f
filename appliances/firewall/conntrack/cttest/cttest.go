// Package cttest builds the frames that the firewall engines' tests and
// benchmarks feed to conntrack and nat: TCP segments with options, UDP
// datagrams, ICMP queries and errors quoting another packet, fragments, all
// IPv4 or IPv6 in Ethernet, with correct checksums.
//
// It is test support: nothing in a shipped binary imports it.
package cttest

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Frame wraps an IP packet from src to dst around an upper-layer message
// (its checksum field left zero) and fills in the IPv4 header checksum and
// the TCP, UDP, ICMP or ICMPv6 checksum.
func Frame(src, dst netip.Addr, proto packet.IPProtocol, l4 []byte) []byte {
	var ip []byte
	if src.Is4() {
		ip = make([]byte, packet.IPv4MinLen+len(l4))
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
		binary.BigEndian.PutUint16(ip[4:], 0x1234)
		ip[8] = 64
		ip[9] = uint8(proto)
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		copy(ip[20:], l4)
	} else {
		ip = make([]byte, packet.IPv6Len+len(l4))
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6] = uint8(proto)
		ip[7] = 64
		s, d := src.As16(), dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		copy(ip[40:], l4)
	}
	return Ether(ip)
}

// Ether puts an Ethernet header in front of an IP packet.
func Ether(ip []byte) []byte {
	f := make([]byte, packet.EthernetLen+len(ip))
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
	et := packet.EtherTypeIPv4
	if len(ip) > 0 && ip[0]>>4 == 6 {
		et = packet.EtherTypeIPv6
	}
	binary.BigEndian.PutUint16(f[12:], uint16(et))
	copy(f[14:], ip)
	Fix(f)
	return f
}

// Fix recomputes a frame's IPv4 header checksum and its transport checksum
// (when the packet is not a fragment), after a test changed bytes.
func Fix(f []byte) {
	var p packet.Parsed
	if err := p.Decode(f); err != nil {
		panic(fmt.Sprintf("cttest: built a bad frame: %v", err))
	}
	if ip := p.IPv4(); ip != nil {
		ip.FillChecksum()
	}
	if !p.IsFragment() {
		_ = p.FillL4Checksum()
	}
}

// TCPOptions are the options a TCP segment carries.
type TCPOptions struct {
	MSS       uint16 // 0: none
	WScale    int    // -1 or 0 with HasWScale false: none
	HasWScale bool
	SACKPerm  bool
	SACK      [][2]uint32 // SACK blocks
	Timestamp bool        // 10-byte timestamp option (padded)
}

func (o *TCPOptions) bytes() []byte {
	if o == nil {
		return nil
	}
	var b []byte
	if o.MSS != 0 {
		b = append(b, 2, 4, byte(o.MSS>>8), byte(o.MSS))
	}
	if o.HasWScale {
		b = append(b, 1, 3, 3, byte(o.WScale))
	}
	if o.SACKPerm {
		b = append(b, 1, 1, 4, 2)
	}
	if o.Timestamp {
		b = append(b, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0)
	}
	if len(o.SACK) > 0 {
		b = append(b, 1, 1, 5, byte(2+8*len(o.SACK)))
		for _, s := range o.SACK {
			b = binary.BigEndian.AppendUint32(b, s[0])
			b = binary.BigEndian.AppendUint32(b, s[1])
		}
	}
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Seg describes a TCP segment.
type Seg struct {
	Src, Dst netip.AddrPort
	Flags    packet.TCPFlags
	Seq, Ack uint32
	Win      uint16
	Len      int // payload bytes
	Opts     *TCPOptions
}

// TCP builds the frame of segment s.
func TCP(s Seg) []byte {
	opts := s.Opts.bytes()
	h := make([]byte, packet.TCPMinLen+len(opts)+s.Len)
	t := packet.TCP(h)
	t.SetSrcPort(s.Src.Port())
	t.SetDstPort(s.Dst.Port())
	t.SetSeq(s.Seq)
	t.SetAck(s.Ack)
	t.SetDataOffset(uint8((packet.TCPMinLen + len(opts)) / 4))
	t.SetFlags(s.Flags)
	t.SetWindow(s.Win)
	copy(h[packet.TCPMinLen:], opts)
	for i := packet.TCPMinLen + len(opts); i < len(h); i++ {
		h[i] = byte(i)
	}
	return Frame(s.Src.Addr(), s.Dst.Addr(), packet.IPProtoTCP, h)
}

// UDP builds a UDP datagram with n payload bytes.
func UDP(src, dst netip.AddrPort, n int) []byte {
	h := make([]byte, packet.UDPLen+n)
	u := packet.UDP(h)
	u.SetSrcPort(src.Port())
	u.SetDstPort(dst.Port())
	u.SetLength(uint16(len(h)))
	for i := packet.UDPLen; i < len(h); i++ {
		h[i] = byte(i * 7)
	}
	return Frame(src.Addr(), dst.Addr(), packet.IPProtoUDP, h)
}

// Proto builds a packet of another protocol with n payload bytes.
func Proto(src, dst netip.Addr, proto packet.IPProtocol, n int) []byte {
	h := make([]byte, n)
	for i := range h {
		h[i] = byte(i * 3)
	}
	return Frame(src, dst, proto, h)
}

// ICMP builds an ICMP (IPv4) or ICMPv6 (IPv6) message of type typ and code
// whose bytes 4-7 are rest, followed by body.
func ICMP(src, dst netip.Addr, typ, code uint8, rest uint32, body []byte) []byte {
	h := make([]byte, 8+len(body))
	h[0], h[1] = typ, code
	binary.BigEndian.PutUint32(h[4:], rest)
	copy(h[8:], body)
	proto := packet.IPProtoICMPv4
	if src.Is6() {
		proto = packet.IPProtoICMPv6
	}
	return Frame(src, dst, proto, h)
}

// Echo builds an echo request (reply false) or reply with identifier id.
func Echo(src, dst netip.Addr, reply bool, id, seq uint16) []byte {
	typ := uint8(8)
	switch {
	case src.Is6() && reply:
		typ = 129
	case src.Is6():
		typ = 128
	case reply:
		typ = 0
	}
	return ICMP(src, dst, typ, 0, uint32(id)<<16|uint32(seq), []byte("ping-payload-bytes"))
}

// Error builds an ICMP error from src to dst quoting the IP packet of frame
// quoted (its first quoteLen bytes of IP; 0 or more than there are: all).
// For IPv4 typ 3 code 3 is port unreachable; for IPv6, typ 1 code 4.
func Error(src, dst netip.Addr, typ, code uint8, quoted []byte, quoteLen int) []byte {
	ip := quoted[packet.EthernetLen:]
	if quoteLen > 0 && quoteLen < len(ip) {
		ip = ip[:quoteLen]
	}
	return ICMP(src, dst, typ, code, 0, ip)
}

// Unreachable is a port-unreachable error about frame quoted, from src to
// its source, quoting all of it.
func Unreachable(src netip.Addr, quoted []byte) []byte {
	var p packet.Parsed
	if err := p.Decode(quoted); err != nil {
		panic(err)
	}
	if p.IPVersion == 6 {
		return Error(src, p.Src, 1, 4, quoted, 0)
	}
	return Error(src, p.Src, 3, 3, quoted, 0)
}

// Fragments splits a frame's IP payload (transport header included) into
// fragments of at most size bytes (a multiple of 8), with identification id:
// IPv4 by its header's fields, IPv6 with a fragment header.
func Fragments(frame []byte, size int, id uint32) [][]byte {
	var p packet.Parsed
	if err := p.Decode(frame); err != nil {
		panic(err)
	}
	data := frame[p.L4Off:p.End]
	var out [][]byte
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		more := end < len(data)
		chunk := data[off:end]
		if p.IPVersion == 4 {
			ip := make([]byte, packet.IPv4MinLen+len(chunk))
			copy(ip, frame[p.L3Off:p.L3Off+packet.IPv4MinLen])
			ip[0] = 0x45
			binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
			binary.BigEndian.PutUint16(ip[4:], uint16(id))
			ff := uint16(off / 8)
			if more {
				ff |= packet.IPv4MoreFragments
			}
			binary.BigEndian.PutUint16(ip[6:], ff)
			copy(ip[20:], chunk)
			packet.IPv4(ip).FillChecksum()
			out = append(out, etherRaw(ip))
			continue
		}
		ip := make([]byte, packet.IPv6Len+packet.IPv6FragmentLen+len(chunk))
		copy(ip, frame[p.L3Off:p.L3Off+packet.IPv6Len])
		binary.BigEndian.PutUint16(ip[4:], uint16(packet.IPv6FragmentLen+len(chunk)))
		ip[6] = uint8(packet.IPProtoFragment)
		packet.IPv6Fragment(ip[40:48]).Set(p.IPProto, uint16(off/8), more, id)
		copy(ip[48:], chunk)
		out = append(out, etherRaw(ip))
	}
	return out
}

// etherRaw is Ether without fixing checksums (fragments keep the
// datagram's).
func etherRaw(ip []byte) []byte {
	f := make([]byte, packet.EthernetLen+len(ip))
	et := packet.EtherTypeIPv4
	if ip[0]>>4 == 6 {
		et = packet.EtherTypeIPv6
	}
	binary.BigEndian.PutUint16(f[12:], uint16(et))
	copy(f[14:], ip)
	return f
}

// Decode parses a frame, panicking on a malformed one.
func Decode(f []byte) *packet.Parsed {
	p := new(packet.Parsed)
	if err := p.Decode(f); err != nil {
		panic(fmt.Sprintf("cttest: %v", err))
	}
	return p
}

// AP is netip.MustParseAddrPort.
func AP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// A is netip.MustParseAddr.
func A(s string) netip.Addr { return netip.MustParseAddr(s) }
