package pktgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Marker starts the UDP payload of every generated packet, so a capture
// tells the generator's packets from anything else on the link.
var Marker = [8]byte{'n', 'f', 'v', 'b', 'e', 'n', 'c', 'h'}

// Frame sizes. Size is the Ethernet frame as handed to the interface:
// header and payload, without the 4-byte FCS (veth has none), preamble or
// inter-frame gap.
const (
	MinSize = 60   // the Ethernet minimum without FCS; holds headers and Marker
	MaxSize = 1514 // a 1500-byte MTU
	hdrLen  = 14 + 20 + 8
)

// Spec describes the generator's packets: IPv4/UDP from Src to Dst, one
// flow per source port SrcPort, SrcPort+1, ... SrcPort+Flows-1, so receive
// packet steering and socket fanout (which hash the 4-tuple) can spread
// them.
type Spec struct {
	SrcMAC, DstMAC   net.HardwareAddr
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Flows            int
	Size             int
	TTL              uint8
}

// Check reports what is wrong with s.
func (s Spec) Check() error {
	var errs []error
	if len(s.SrcMAC) != 6 || len(s.DstMAC) != 6 {
		errs = append(errs, errors.New("source and destination MAC addresses are required"))
	}
	if !s.Src.Is4() || !s.Dst.Is4() {
		errs = append(errs, errors.New("source and destination must be IPv4 addresses"))
	}
	if s.Size < MinSize || s.Size > MaxSize {
		errs = append(errs, fmt.Errorf("size %d is out of range (%d..%d bytes, Ethernet frame without FCS)", s.Size, MinSize, MaxSize))
	}
	if s.Flows < 1 || int(s.SrcPort)+s.Flows-1 > 65535 {
		errs = append(errs, fmt.Errorf("%d flows from source port %d do not fit in the port range", s.Flows, s.SrcPort))
	}
	if s.TTL < 2 {
		errs = append(errs, fmt.Errorf("TTL %d cannot cross a router", s.TTL))
	}
	return errors.Join(errs...)
}

// Frame writes flow's frame into b, which must hold s.Size bytes, and
// returns b[:s.Size]. Checksums are complete: the packets need no offload.
func (s Spec) Frame(b []byte, flow int) []byte {
	b = b[:s.Size]
	clear(b)
	eth := packet.Ethernet(b)
	eth.SetDst(packet.MAC(s.DstMAC))
	eth.SetSrc(packet.MAC(s.SrcMAC))
	eth.SetType(packet.EtherTypeIPv4)

	ip := packet.IPv4(b[14:])
	ip.SetVersionIHL(5)
	ip.SetTotalLen(uint16(s.Size - 14))
	ip.SetID(uint16(flow))
	ip.SetFlagsFragOff(packet.IPv4DontFragment)
	ip.SetTTL(s.TTL)
	ip.SetProtocol(packet.IPProtoUDP)
	ip.SetSrc(s.Src)
	ip.SetDst(s.Dst)
	ip.FillChecksum()

	udp := packet.UDP(b[14+20:])
	udpLen := uint16(s.Size - 14 - 20)
	udp.SetSrcPort(s.SrcPort + uint16(flow%s.Flows))
	udp.SetDstPort(s.DstPort)
	udp.SetLength(udpLen)
	copy(b[hdrLen:], Marker[:])
	binary.BigEndian.PutUint32(b[hdrLen+8:], uint32(flow%s.Flows))
	sum := ^packet.Checksum(b[14+20:], packet.PseudoHeaderChecksumAddr(packet.IPProtoUDP, s.Src, s.Dst, udpLen))
	if sum == 0 {
		sum = 0xffff
	}
	udp.SetChecksum(sum)
	return b
}

// CheckForwarded reports whether frame is one of s's packets as it should
// arrive after hops IPv4 routers, the last of which sent it to dstMAC: the
// destination MAC rewritten, the TTL down by hops, the IPv4 checksum valid
// for that, addresses, ports, length and payload intact. It returns the
// frame's source MAC, the last router's, for the caller to judge.
func (s Spec) CheckForwarded(frame []byte, hops int, dstMAC net.HardwareAddr) (net.HardwareAddr, error) {
	var p packet.Parsed
	if err := p.Decode(frame); err != nil {
		return nil, fmt.Errorf("does not parse: %w", err)
	}
	eth := p.Ethernet()
	src := net.HardwareAddr(append([]byte(nil), eth[6:12]...))
	switch {
	case p.IPVersion != 4 || p.IPProto != packet.IPProtoUDP || !p.HasL4:
		return src, errors.New("not an IPv4 UDP packet")
	case p.Src != s.Src || p.Dst != s.Dst:
		return src, fmt.Errorf("addresses %s -> %s, want %s -> %s", p.Src, p.Dst, s.Src, s.Dst)
	case p.DstPort != s.DstPort || p.SrcPort < s.SrcPort || int(p.SrcPort) >= int(s.SrcPort)+s.Flows:
		return src, fmt.Errorf("ports %d -> %d, not one of the generator's flows", p.SrcPort, p.DstPort)
	case len(frame) != s.Size:
		return src, fmt.Errorf("frame of %d bytes, sent %d", len(frame), s.Size)
	case !bytes.Equal(eth[0:6], dstMAC):
		return src, fmt.Errorf("destination MAC %s, want %s", net.HardwareAddr(eth[0:6]), dstMAC)
	case int(p.TTL) != int(s.TTL)-hops:
		return src, fmt.Errorf("TTL %d, want %d after %d hop(s)", p.TTL, int(s.TTL)-hops, hops)
	case !p.IPv4().IsChecksumValid():
		return src, errors.New("bad IPv4 header checksum")
	case len(p.Payload()) < len(Marker) || [8]byte(p.Payload()[:8]) != Marker:
		return src, errors.New("payload does not start with the generator's marker")
	}
	udp := p.UDP()
	if udp.Checksum() != 0 {
		sum := packet.Checksum(udp[:udp.Length()], packet.PseudoHeaderChecksumAddr(packet.IPProtoUDP, p.Src, p.Dst, udp.Length()))
		if sum != 0xffff {
			return src, errors.New("bad UDP checksum")
		}
	}
	return src, nil
}
