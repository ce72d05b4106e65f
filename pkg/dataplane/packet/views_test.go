package packet

import (
	"bytes"
	"errors"
	"go/parser"
	"go/token"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Setters and getters of each view, round-tripped and, where gopacket can
// decode the result, compared with it.

func TestEthernetVLANView(t *testing.T) {
	b := make([]byte, EthernetLen+VLANLen)
	e := Ethernet(b)
	src, dst := MAC{2, 0, 0, 0, 0, 1}, MAC{0x33, 0x33, 0, 0, 0, 1}
	e.SetSrc(src)
	e.SetDst(dst)
	e.SetType(EtherTypeVLAN)
	v := VLAN(b[EthernetLen:])
	v.SetTCI(0xffff)
	v.SetID(100)
	v.SetPriority(5)
	v.SetType(EtherTypeIPv6)
	if e.Src() != src || e.Dst() != dst || e.Type() != EtherTypeVLAN {
		t.Errorf("Ethernet %v %v %v", e.Src(), e.Dst(), e.Type())
	}
	if v.ID() != 100 || v.Priority() != 5 || !v.DropEligible() || v.Type() != EtherTypeIPv6 || v.TCI() != 0xb064 {
		t.Errorf("VLAN tci %#x id %d pcp %d", v.TCI(), v.ID(), v.Priority())
	}
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.NoCopy)
	d, _ := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	if d == nil || d.VLANIdentifier != 100 || d.Priority != 5 || !d.DropEligible || d.Type != layers.EthernetTypeIPv6 {
		t.Errorf("gopacket: %+v", d)
	}
	if !dst.IsMulticast() || src.IsMulticast() || !BroadcastMAC.IsBroadcast() || src.IsBroadcast() {
		t.Errorf("MAC predicates")
	}
	if s := dst.String(); s != "33:33:00:00:00:01" {
		t.Errorf("MAC.String = %q", s)
	}
}

func TestARPView(t *testing.T) {
	a := ARP(make([]byte, ARPLen))
	a.SetEthernetIPv4(ARPReply)
	a.SetSender(MAC{1, 2, 3, 4, 5, 6}, [4]byte{10, 0, 0, 1})
	a.SetTarget(MAC{6, 5, 4, 3, 2, 1}, [4]byte{10, 0, 0, 2})
	if !a.IsEthernetIPv4() || a.Op() != ARPReply || a.HardwareLen() != 6 || a.ProtocolLen() != 4 ||
		a.SenderIP() != netip.MustParseAddr("10.0.0.1") || a.TargetIP4() != [4]byte{10, 0, 0, 2} ||
		a.SenderMAC() != (MAC{1, 2, 3, 4, 5, 6}) || a.TargetMAC() != (MAC{6, 5, 4, 3, 2, 1}) {
		t.Errorf("ARP view %x", []byte(a))
	}
	var l layers.ARP
	if err := l.DecodeFromBytes(a, gopacket.NilDecodeFeedback); err != nil || l.Operation != ARPReply ||
		!bytes.Equal(l.SourceProtAddress, []byte{10, 0, 0, 1}) {
		t.Errorf("gopacket: %+v %v", l, err)
	}
	if ARP(a[:20]).IsEthernetIPv4() {
		t.Error("short ARP claims Ethernet/IPv4")
	}
}

func TestIPv4View(t *testing.T) {
	ip := IPv4(make([]byte, 28))
	ip.SetVersionIHL(6)
	copy(ip[20:24], []byte{148, 4, 0, 0}) // router alert
	ip.SetTOS(0xb8)
	ip.SetTotalLen(28)
	ip.SetID(0xbeef)
	ip.SetFlagsFragOff(IPv4MoreFragments | 3)
	ip.SetTTL(9)
	ip.SetProtocol(IPProtoUDP)
	ip.SetSrc(netip.MustParseAddr("10.1.2.3"))
	ip.SetDst4([4]byte{10, 4, 5, 6})
	ip.FillChecksum()
	if ip.Version() != 4 || ip.IHL() != 6 || ip.HeaderLen() != 24 || ip.TOS() != 0xb8 || ip.TotalLen() != 28 ||
		ip.ID() != 0xbeef || !ip.MoreFragments() || ip.DontFragment() || ip.FragOffset() != 3 || !ip.IsFragment() ||
		ip.TTL() != 9 || ip.Protocol() != IPProtoUDP || ip.Src4() != [4]byte{10, 1, 2, 3} ||
		ip.Dst() != netip.MustParseAddr("10.4.5.6") || !ip.IsChecksumValid() || len(ip.Options()) != 4 || len(ip.Payload()) != 4 {
		t.Errorf("IPv4 view %x", []byte(ip))
	}
	var l layers.IPv4
	if err := l.DecodeFromBytes(ip, gopacket.NilDecodeFeedback); err != nil || l.Checksum != ip.Checksum() ||
		l.FragOffset != 3 || l.TTL != 9 || len(l.Options) != 1 || l.Options[0].OptionType != 148 {
		t.Errorf("gopacket: %+v %v", l, err)
	}
	ip.SetDst(netip.MustParseAddr("10.9.9.9"))
	if ip.IsChecksumValid() {
		t.Error("checksum still valid after an unchecked change")
	}
}

func TestIPv6Views(t *testing.T) {
	ip := IPv6(make([]byte, IPv6Len+8))
	ip.SetVersionTrafficFlow(0xa5, 0x12345)
	ip.SetTrafficClass(0x5a)
	ip.SetPayloadLen(8)
	ip.SetNextHeader(IPProtoFragment)
	ip.SetHopLimit(2)
	ip.SetSrc(netip.MustParseAddr("fe80::1"))
	ip.SetDst16(netip.MustParseAddr("ff02::1").As16())
	ip.DecHopLimit()
	f := IPv6Fragment(ip[IPv6Len:])
	f.Set(IPProtoUDP, 100, true, 0xcafef00d)
	if ip.Version() != 6 || ip.TrafficClass() != 0x5a || ip.FlowLabel() != 0x12345 || ip.PayloadLen() != 8 ||
		ip.NextHeader() != IPProtoFragment || ip.HopLimit() != 1 || ip.Src() != netip.MustParseAddr("fe80::1") ||
		ip.Dst16() != netip.MustParseAddr("ff02::1").As16() || len(ip.Payload()) != 8 {
		t.Errorf("IPv6 view %x", []byte(ip))
	}
	if f.NextHeader() != IPProtoUDP || f.FragOffset() != 100 || !f.MoreFragments() || f.ID() != 0xcafef00d {
		t.Errorf("fragment view %x", []byte(f))
	}
	pkt := gopacket.NewPacket(ip, layers.LayerTypeIPv6, gopacket.NoCopy)
	l, _ := pkt.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
	if l == nil || l.FragmentOffset != 100 || !l.MoreFragments || l.Identification != 0xcafef00d {
		t.Errorf("gopacket: %+v", l)
	}
	x := IPv6ExtHeader([]byte{byte(IPProtoTCP), 1, 4, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	if x.NextHeader() != IPProtoTCP || x.Len() != 16 || x.RoutingType() != 4 || x.SegmentsLeft() != 2 {
		t.Errorf("ext header view")
	}
	ah := AH([]byte{byte(IPProtoTCP), 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	if ah.NextHeader() != IPProtoTCP || ah.Len() != 24 || ah.SPI() != 256 || ah.Seq() != 7 || len(ah.ICV()) != 12 {
		t.Errorf("AH view")
	}
}

func TestTransportViews(t *testing.T) {
	tc := TCP(make([]byte, 28))
	tc.SetSrcPort(1)
	tc.SetDstPort(2)
	tc.SetSeq(3)
	tc.SetAck(4)
	tc.SetDataOffset(6)
	tc.SetFlags(TCPSyn | TCPAck | TCPEce)
	tc.SetWindow(5)
	tc.SetChecksum(6)
	tc.SetUrgentPtr(7)
	if tc.SrcPort() != 1 || tc.DstPort() != 2 || tc.Seq() != 3 || tc.Ack() != 4 || tc.DataOffset() != 6 ||
		tc.HeaderLen() != 24 || tc.Flags() != TCPSyn|TCPAck|TCPEce || tc.Window() != 5 || tc.Checksum() != 6 ||
		tc.UrgentPtr() != 7 || len(tc.Options()) != 4 || len(tc.Payload()) != 4 {
		t.Errorf("TCP view %x", []byte(tc))
	}
	var lt layers.TCP
	if err := lt.DecodeFromBytes(tc, gopacket.NilDecodeFeedback); err != nil || !lt.SYN || !lt.ACK || !lt.ECE || lt.FIN || lt.DataOffset != 6 {
		t.Errorf("gopacket TCP: %+v %v", lt, err)
	}
	if s := (TCPSyn | TCPAck).String(); s != "SA" {
		t.Errorf("flags %q", s)
	}
	if s := TCPFlags(0).String(); s != "." {
		t.Errorf("no flags %q", s)
	}

	u := UDP(make([]byte, 12))
	u.SetSrcPort(53)
	u.SetDstPort(5353)
	u.SetLength(10)
	u.SetChecksum(0xffff)
	if u.SrcPort() != 53 || u.DstPort() != 5353 || u.Length() != 10 || u.Checksum() != 0xffff || len(u.Payload()) != 2 {
		t.Errorf("UDP view %x", []byte(u))
	}
	u.SetLength(100)
	if len(u.Payload()) != 4 {
		t.Errorf("UDP payload with bad length: %d bytes", len(u.Payload()))
	}

	s := SCTP([]byte{0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4})
	if s.SrcPort() != 1 || s.DstPort() != 2 || s.VerificationTag() != 3 || s.Checksum() != 4 {
		t.Errorf("SCTP view")
	}

	e := ESP(make([]byte, 20))
	e.SetSPI(0x1000)
	e.SetSeq(42)
	if e.SPI() != 0x1000 || e.Seq() != 42 || len(e.Payload()) != 12 {
		t.Errorf("ESP view")
	}
}

func TestICMPViews(t *testing.T) {
	m := ICMPv4(make([]byte, 12))
	m.SetTypeCode(ICMPv4Echo, 0)
	m.SetID(7)
	m.SetSeq(8)
	m.SetChecksum(m.ComputeChecksum())
	if m.Type() != ICMPv4Echo || m.Code() != 0 || m.ID() != 7 || m.Seq() != 8 || m.RestOfHeader() != 7<<16|8 ||
		Checksum(m, 0) != 0xffff || len(m.Payload()) != 4 {
		t.Errorf("ICMPv4 view %x", []byte(m))
	}
	var l4 layers.ICMPv4
	if err := l4.DecodeFromBytes(m, gopacket.NilDecodeFeedback); err != nil || l4.Id != 7 || l4.Seq != 8 || l4.TypeCode.Type() != 8 {
		t.Errorf("gopacket ICMPv4: %+v %v", l4, err)
	}
	m.SetTypeCode(ICMPv4DstUnreachable, ICMPv4FragNeeded)
	m.SetRestOfHeader(1400)
	if m.MTU() != 1400 || !m.Type().IsError() || ICMPv4Echo.IsError() {
		t.Errorf("frag needed MTU %d", m.MTU())
	}
	m.SetRestOfHeader(0x0a000001)
	if m.Gateway() != netip.MustParseAddr("10.0.0.1") || m.Pointer() != 10 {
		t.Errorf("redirect gateway %v", m.Gateway())
	}

	v6 := ICMPv6(make([]byte, 24))
	v6.SetTypeCode(ICMPv6NeighborSolicit, 0)
	copy(v6[8:], netip.MustParseAddr("2001:db8::9").AsSlice())
	if !v6.HasNDPTarget() || v6.NDPTarget() != netip.MustParseAddr("2001:db8::9") || v6.Type().IsError() {
		t.Errorf("NS target %v", v6.NDPTarget())
	}
	if ICMPv6(v6[:20]).HasNDPTarget() {
		t.Error("short NS has a target")
	}
	v6.SetTypeCode(ICMPv6PacketTooBig, 0)
	v6.SetMessageHeader(1280)
	v6.SetChecksum(9)
	if v6.MTU() != 1280 || v6.Pointer() != 1280 || !v6.Type().IsError() || v6.HasNDPTarget() || v6.Checksum() != 9 || len(v6.Payload()) != 16 {
		t.Errorf("ICMPv6 PTB")
	}
	v6.SetID(1)
	v6.SetSeq(2)
	if v6.ID() != 1 || v6.Seq() != 2 || v6.Code() != 0 {
		t.Errorf("ICMPv6 echo fields")
	}
}

func TestStrings(t *testing.T) {
	for v, want := range map[EtherType]string{EtherTypeIPv4: "IPv4", EtherTypeQinQ: "802.1ad", 0x0042: "0x0042", EtherTypeLLDP: "LLDP"} {
		if v.String() != want {
			t.Errorf("%#x: %q, want %q", uint16(v), v.String(), want)
		}
	}
	for v, want := range map[IPProtocol]string{IPProtoTCP: "TCP", IPProtoICMPv6: "ICMPv6", 253: "IPProto(253)"} {
		if v.String() != want {
			t.Errorf("%d: %q, want %q", v, v.String(), want)
		}
	}
	for e := Error(0); e <= NumErrors; e++ {
		if s := e.Error(); !strings.HasPrefix(s, "packet: ") {
			t.Errorf("Error(%d) = %q", e, s)
		}
	}
	if !errors.Is(error(ErrTruncated), ErrTruncated) || errors.Is(error(ErrTruncated), ErrBadLength) {
		t.Error("errors.Is")
	}
	var p Parsed
	f := ipv4TCPFrame(0)
	_ = p.Decode(f)
	p.MoreFrags = true
	if s := p.String(); s != "TCP 192.0.2.1:40000 > 198.51.100.7:443 [PA] frag id 4660 off 0+ len 40" {
		t.Errorf("String = %q", s)
	}
}

// TestNoTestOnlyImports keeps gopacket and testing out of the shipped code.
func TestNoTestOnlyImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "testing" || strings.Contains(path, "gopacket") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
	if len(files) == 0 {
		wd, _ := os.Getwd()
		t.Fatalf("no Go files in %s", wd)
	}
}
