package packet

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	testMAC1 = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	testMAC2 = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	testSrc4 = net.IP{192, 0, 2, 1}
	testDst4 = net.IP{198, 51, 100, 7}
	testSrc6 = net.ParseIP("2001:db8::1")
	testDst6 = net.ParseIP("2001:db8:1::2")
)

// build serializes layers with lengths and checksums fixed.
func build(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: testMAC1, DstMAC: testMAC2, EthernetType: t}
}

func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: testSrc4, DstIP: testDst4, Id: 0x1234}
}

func ip6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: testSrc6, DstIP: testDst6}
}

// ipv4UDPFrame is a minimum-size (60-byte, padded) IPv4/UDP frame.
func ipv4UDPFrame() []byte {
	ip := ip4(layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: 1234, DstPort: 53}
	u.SetNetworkLayerForChecksum(ip)
	return build(eth(layers.EthernetTypeIPv4), ip, u, gopacket.Payload([]byte("ping")))
}

func ipv4TCPFrame(payload int) []byte {
	ip := ip4(layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1, Ack: 2, ACK: true, PSH: true, Window: 512}
	tc.SetNetworkLayerForChecksum(ip)
	return build(eth(layers.EthernetTypeIPv4), ip, tc, gopacket.Payload(make([]byte, payload)))
}

func ipv6TCPFrame(payload int) []byte {
	ip := ip6(layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1, SYN: true, Window: 512,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xa0}}}}
	tc.SetNetworkLayerForChecksum(ip)
	return build(eth(layers.EthernetTypeIPv6), ip, tc, gopacket.Payload(make([]byte, payload)))
}

func ipv6UDPFrame() []byte {
	ip := ip6(layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: 5353, DstPort: 5353}
	u.SetNetworkLayerForChecksum(ip)
	return build(eth(layers.EthernetTypeIPv6), ip, u, gopacket.Payload([]byte("hello")))
}

// ipv6ExtFrame is IPv6 with hop-by-hop, destination options and routing
// headers before UDP.
func ipv6ExtFrame() []byte {
	ip := ip6(layers.IPProtocolIPv6HopByHop)
	chain := []byte{
		byte(IPProtoDestOpts), 0, 1, 4, 0, 0, 0, 0, // hop-by-hop, PadN
		byte(IPProtoRouting), 0, 1, 4, 0, 0, 0, 0, // destination options
		byte(IPProtoUDP), 2, 0, 0, 0, 0, 0, 0, // routing type 0, one address
	}
	chain = append(chain, testDst6...)
	u := &layers.UDP{SrcPort: 1, DstPort: 2}
	u.SetNetworkLayerForChecksum(ip)
	return build(eth(layers.EthernetTypeIPv6), ip, gopacket.Payload(chain), u, gopacket.Payload([]byte("x")))
}

// ipv6Chain is an IPv6 frame with the given raw bytes after the fixed header.
func ipv6Chain(next IPProtocol, rest []byte) []byte {
	return build(eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocol(next)), gopacket.Payload(rest))
}

func destOpts(next IPProtocol) []byte { return []byte{byte(next), 0, 1, 4, 0, 0, 0, 0} }

func udpHeader(sport, dport uint16, payload int) []byte {
	b := make([]byte, 8+payload)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+payload))
	return b
}

func tcpHeader() []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], 1000)
	binary.BigEndian.PutUint16(b[2:], 80)
	b[12] = 5 << 4
	b[13] = byte(TCPSyn)
	return b
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// mutate returns a copy of b changed by f.
func mutate(b []byte, f func(b []byte)) []byte {
	c := append([]byte(nil), b...)
	f(c)
	return c
}

func TestDecodeIPv4UDPPadded(t *testing.T) {
	f := ipv4UDPFrame()
	if len(f) != 60 {
		t.Fatalf("frame is %d bytes, want the 60-byte minimum", len(f))
	}
	var p Parsed
	if err := p.Decode(f); err != nil {
		t.Fatal(err)
	}
	want := Parsed{
		b: f, L3Off: 14, L4Off: 34, PayloadOff: 42, End: 14 + 20 + 8 + 4,
		EtherType: EtherTypeIPv4, IPVersion: 4, IPProto: IPProtoUDP, TTL: 64, HasL4: true,
		FragID: 0x1234, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.7"),
		SrcPort: 1234, DstPort: 53,
	}
	if !equalParsed(&p, &want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
	if string(p.Payload()) != "ping" {
		t.Errorf("Payload = %q", p.Payload())
	}
	if p.L2Len() != 14 || p.L3Len() != 20 || p.L4Len() != 8 || p.IPLen() != 32 || p.PayloadLen() != 4 {
		t.Errorf("lengths: L2 %d L3 %d L4 %d IP %d payload %d", p.L2Len(), p.L3Len(), p.L4Len(), p.IPLen(), p.PayloadLen())
	}
	if got := p.String(); got != "UDP 192.0.2.1:1234 > 198.51.100.7:53 len 32" {
		t.Errorf("String = %q", got)
	}
	if p.SrcAddrPort() != netip.MustParseAddrPort("192.0.2.1:1234") || p.DstAddrPort() != netip.MustParseAddrPort("198.51.100.7:53") {
		t.Errorf("AddrPorts %v %v", p.SrcAddrPort(), p.DstAddrPort())
	}
	if p.TCP() != nil || p.UDP() == nil || p.IPv6() != nil || p.ARP() != nil {
		t.Errorf("wrong views present")
	}
}

// equalParsed compares results and frame lengths.
func equalParsed(a, b *Parsed) bool { return equalFields(a, b) && len(a.b) == len(b.b) }

// equalFields compares results, not frames.
func equalFields(a, b *Parsed) bool {
	ac, bc := *a, *b
	ac.b, bc.b = nil, nil
	return reflect.DeepEqual(ac, bc)
}

func TestDecodeVLANs(t *testing.T) {
	base := ipv4UDPFrame()
	tag := func(tpid EtherType, tci uint16) []byte {
		return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, uint16(tpid)), tci)
	}
	insert := func(tags ...[]byte) []byte {
		return cat(base[:12], cat(tags...), base[12:])
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		err   error
		tags  []VLANTag
	}{
		{"802.1Q", insert(tag(EtherTypeVLAN, 0xa00a)), nil, []VLANTag{{EtherTypeVLAN, 0xa00a}}},
		{"802.1ad+802.1Q", insert(tag(EtherTypeQinQ, 0x3064), tag(EtherTypeVLAN, 0x0123)), nil,
			[]VLANTag{{EtherTypeQinQ, 0x3064}, {EtherTypeVLAN, 0x0123}}},
		{"legacy 0x9100", insert(tag(EtherTypeQinQLegacy, 7), tag(EtherTypeVLAN, 8)), nil,
			[]VLANTag{{EtherTypeQinQLegacy, 7}, {EtherTypeVLAN, 8}}},
		{"three tags", insert(tag(EtherTypeQinQ, 1), tag(EtherTypeVLAN, 2), tag(EtherTypeVLAN, 3)), ErrTooManyVLANs, nil},
		{"truncated tag", cat(base[:12], tag(EtherTypeVLAN, 5)[:3]), ErrTruncated, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Parsed
			err := p.Decode(tc.frame)
			if err != tc.err {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if int(p.NumVLANs) != len(tc.tags) || p.L3Off != 14+4*len(tc.tags) || p.EtherType != EtherTypeIPv4 || p.DstPort != 53 {
				t.Fatalf("got %+v", p)
			}
			for i, want := range tc.tags {
				if p.VLANs[i] != want || p.VLAN(i).TCI() != want.TCI {
					t.Errorf("tag %d = %+v, want %+v", i, p.VLANs[i], want)
				}
			}
			if p.VLAN(len(tc.tags)) != nil {
				t.Errorf("VLAN(%d) not nil", len(tc.tags))
			}
			if p.VLANs[0].ID() != tc.tags[0].TCI&0xfff || p.VLANs[0].Priority() != uint8(tc.tags[0].TCI>>13) {
				t.Errorf("ID/Priority of %+v", p.VLANs[0])
			}
		})
	}
}

// TestDecodeErrors feeds frames malformed in one way each.
func TestDecodeErrors(t *testing.T) {
	v4 := ipv4UDPFrame()
	v4tcp := ipv4TCPFrame(10)
	v6 := ipv6UDPFrame()
	const ip, ip6 = 14, 14 // L3 offsets
	setU16 := func(off int, v uint16) func([]byte) {
		return func(b []byte) { binary.BigEndian.PutUint16(b[off:], v) }
	}
	eightDestOpts := func(last IPProtocol, n int) []byte {
		var b []byte
		for i := range n {
			next := IPProtoDestOpts
			if i == n-1 {
				next = last
			}
			b = append(b, destOpts(next)...)
		}
		return b
	}
	fragHdr := func(next IPProtocol, off uint16, more bool) []byte {
		b := make([]byte, 8)
		IPv6Fragment(b).Set(next, off, more, 99)
		return b
	}
	ah := func(next IPProtocol, lenField byte) []byte {
		b := make([]byte, 24)
		b[0], b[1] = byte(next), lenField
		return b
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		err   error
	}{
		{"empty", nil, ErrTruncated},
		{"short ethernet", v4[:13], ErrTruncated},
		{"ipv4 short header", v4[:ip+19], ErrTruncated},
		{"ipv4 version 6", mutate(v4, func(b []byte) { b[ip] = 0x65 }), ErrBadVersion},
		{"ipv4 IHL 4", mutate(v4, func(b []byte) { b[ip] = 0x44 }), ErrBadHeaderLen},
		{"ipv4 total < header", mutate(v4, setU16(ip+2, 19)), ErrBadLength},
		{"ipv4 IHL beyond total", mutate(v4, func(b []byte) { b[ip] = 0x47; binary.BigEndian.PutUint16(b[ip+2:], 24) }), ErrBadLength},
		{"ipv4 total > frame", mutate(v4, setU16(ip+2, 47)), ErrTruncated},
		{"ipv4 total cut by frame", v4[:ip+31], ErrTruncated},
		{"udp length 7", mutate(v4, setU16(ip+20+4, 7)), ErrBadLength},
		{"udp length > segment", mutate(v4, setU16(ip+20+4, 13)), ErrBadLength},
		{"udp truncated", mutate(v4, setU16(ip+2, 27)), ErrTruncated},
		{"tcp truncated", mutate(v4tcp, setU16(ip+2, 39)), ErrTruncated},
		{"tcp data offset 4", mutate(v4tcp, func(b []byte) { b[ip+20+12] = 4 << 4 }), ErrBadHeaderLen},
		{"tcp data offset beyond", mutate(v4tcp, func(b []byte) { b[ip+20+12] = 9 << 4 }), ErrTruncated},
		{"ipv4 MF unaligned", mutate(v4, setU16(ip+6, 0x2000)), ErrBadFragment},
		{"ipv4 fragment past 64K", mutate(v4, setU16(ip+6, 0x1fff)), ErrBadFragment},
		{"ipv4 AH truncated", build(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolAH), gopacket.Payload(make([]byte, 11))), ErrTruncated},
		{"ipv4 AH too short", build(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolAH), gopacket.Payload(ah(IPProtoUDP, 0))), ErrBadHeaderLen},
		{"ipv4 AH beyond packet", build(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolAH), gopacket.Payload(ah(IPProtoUDP, 9))), ErrTruncated},
		{"ipv6 short", v6[:ip6+39], ErrTruncated},
		{"ipv6 version 4", mutate(v6, func(b []byte) { b[ip6] = 0x40 }), ErrBadVersion},
		{"ipv6 payload > frame", mutate(v6, setU16(ip6+4, 14)), ErrTruncated},
		{"ipv6 udp truncated", mutate(v6, setU16(ip6+4, 7)), ErrTruncated},
		{"ipv6 hop-by-hop not first", ipv6Chain(IPProtoDestOpts, cat(destOpts(IPProtoHopByHop), destOpts(IPProtoUDP))), ErrBadExtHeader},
		{"ipv6 ext header truncated", ipv6Chain(IPProtoDestOpts, destOpts(IPProtoUDP)[:7]), ErrTruncated},
		{"ipv6 ext header length beyond", ipv6Chain(IPProtoDestOpts, mutate(destOpts(IPProtoUDP), func(b []byte) { b[1] = 1 })), ErrTruncated},
		{"ipv6 two fragment headers", ipv6Chain(IPProtoFragment, cat(fragHdr(IPProtoFragment, 0, false), fragHdr(IPProtoUDP, 0, false), udpHeader(1, 2, 0))), ErrBadFragment},
		{"ipv6 fragment truncated", ipv6Chain(IPProtoFragment, fragHdr(IPProtoUDP, 0, false)[:7]), ErrTruncated},
		{"ipv6 MF unaligned", ipv6Chain(IPProtoFragment, cat(fragHdr(IPProtoUDP, 0, true), udpHeader(1, 2, 1))), ErrBadFragment},
		{"ipv6 fragment past 64K", ipv6Chain(IPProtoFragment, cat(fragHdr(IPProtoUDP, 8191, false), udpHeader(1, 2, 0))), ErrBadFragment},
		{"ipv6 AH too short", ipv6Chain(IPProtoAH, ah(IPProtoUDP, 0)), ErrBadHeaderLen},
		{"ipv6 9 extension headers", ipv6Chain(IPProtoDestOpts, cat(eightDestOpts(IPProtoDestOpts, 8), destOpts(IPProtoUDP), udpHeader(1, 2, 0))), ErrTooManyExtHeaders},
		{"ipv6 first fragment without full header", ipv6Chain(IPProtoFragment, cat(fragHdr(IPProtoTCP, 0, true), tcpHeader()[:16])), ErrTruncated},
		{"icmpv6 truncated", ipv6Chain(IPProtoICMPv6, []byte{128, 0, 0, 0}), ErrTruncated},
		{"esp truncated", ipv6Chain(IPProtoESP, []byte{1, 2, 3, 4, 5, 6, 7}), ErrTruncated},
		{"sctp truncated", ipv6Chain(IPProtoSCTP, make([]byte, 11)), ErrTruncated},
		{"arp truncated", build(eth(layers.EthernetTypeARP), gopacket.Payload(make([]byte, 7)))[:21], ErrTruncated},
		{"arp addresses truncated", mutate(build(eth(layers.EthernetTypeARP), gopacket.Payload(make([]byte, 46))), func(b []byte) { b[14+4], b[14+5] = 16, 8 }), ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Parsed
			err := p.Decode(tc.frame)
			if err != tc.err {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			var e Error
			if !errors.As(err, &e) || !errors.Is(err, tc.err) || e.Error() == "" {
				t.Errorf("error %v is not a usable Error", err)
			}
		})
	}
}

// TestDecodeIPv6Chains covers extension-header walks gopacket cannot build
// or decode.
func TestDecodeIPv6Chains(t *testing.T) {
	eight := func(last IPProtocol) []byte {
		var b []byte
		for i := range 8 {
			next := IPProtoDestOpts
			if i == 7 {
				next = last
			}
			b = append(b, destOpts(next)...)
		}
		return b
	}
	frag := func(next IPProtocol, off uint16, more bool) []byte {
		b := make([]byte, 8)
		IPv6Fragment(b).Set(next, off, more, 0xdeadbeef)
		return b
	}
	for _, tc := range []struct {
		name    string
		frame   []byte
		proto   IPProtocol
		l4Off   int
		hasL4   bool
		ext     ExtHeaders
		isFrag  bool
		dstPort uint16
	}{
		{"8 extension headers", ipv6Chain(IPProtoDestOpts, cat(eight(IPProtoUDP), udpHeader(7, 9, 3))), IPProtoUDP, 54 + 64, true, ExtDestOpts, false, 9},
		{"hop-by-hop, dest, routing", ipv6ExtFrame(), IPProtoUDP, 54 + 40, true, ExtHopByHop | ExtDestOpts | ExtRouting, false, 2},
		{"ESP ends the walk", ipv6Chain(IPProtoDestOpts, cat(destOpts(IPProtoESP), []byte{0, 0, 1, 0, 0, 0, 0, 1}, destOpts(IPProtoUDP))), IPProtoESP, 54 + 8, true, ExtDestOpts, false, 0},
		{"no next header", ipv6Chain(IPProtoDestOpts, cat(destOpts(IPProtoNoNextHeader), tcpHeader())), IPProtoNoNextHeader, 54 + 8, false, ExtDestOpts, false, 0},
		{"later fragment hides headers", ipv6Chain(IPProtoFragment, cat(frag(IPProtoTCP, 3, false), tcpHeader())), IPProtoTCP, 54 + 8, false, ExtFragment, true, 0},
		{"first fragment", ipv6Chain(IPProtoFragment, cat(frag(IPProtoTCP, 0, true), tcpHeader(), make([]byte, 4))), IPProtoTCP, 54 + 8, true, ExtFragment, true, 80},
		{"atomic fragment", ipv6Chain(IPProtoFragment, cat(frag(IPProtoUDP, 0, false), udpHeader(1, 2, 1))), IPProtoUDP, 54 + 8, true, ExtFragment, false, 2},
		{"unknown upper layer", ipv6Chain(IPProtoGRE, make([]byte, 4)), IPProtoGRE, 54, false, 0, false, 0},
		{"empty payload", ipv6Chain(IPProtoNoNextHeader, nil), IPProtoNoNextHeader, 54, false, 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Parsed
			if err := p.Decode(tc.frame); err != nil {
				t.Fatal(err)
			}
			if p.IPProto != tc.proto || p.L4Off != tc.l4Off || p.HasL4 != tc.hasL4 || p.Ext != tc.ext ||
				p.IsFragment() != tc.isFrag || p.DstPort != tc.dstPort {
				t.Errorf("got proto %v L4Off %d HasL4 %v Ext %b frag %v dport %d",
					p.IPProto, p.L4Off, p.HasL4, p.Ext, p.IsFragment(), p.DstPort)
			}
			if tc.ext&ExtFragment != 0 && p.FragID != 0xdeadbeef {
				t.Errorf("FragID = %#x", p.FragID)
			}
		})
	}
}

func TestDecodeIP(t *testing.T) {
	for _, f := range [][]byte{ipv4UDPFrame(), ipv6TCPFrame(20), ipv6ExtFrame()} {
		var pe, pi Parsed
		if err := pe.Decode(f); err != nil {
			t.Fatal(err)
		}
		if err := pi.DecodeIP(f[14:pe.End]); err != nil {
			t.Fatal(err)
		}
		// The same packet, shifted by the Ethernet header.
		pe.L3Off -= 14
		pe.L4Off -= 14
		pe.PayloadOff -= 14
		pe.End -= 14
		if pe.finalDst != 0 {
			pe.finalDst -= 14
		}
		pe.b = pe.b[14 : pe.End+14]
		if !equalParsed(&pe, &pi) {
			t.Errorf("DecodeIP:\n got %+v\nwant %+v", pi, pe)
		}
		if pi.Ethernet() != nil || pi.L2Len() != 0 {
			t.Errorf("Ethernet view after DecodeIP")
		}
	}
	var p Parsed
	if err := p.DecodeIP(nil); err != ErrTruncated {
		t.Errorf("empty: %v", err)
	}
	if err := p.DecodeIP([]byte{0x50}); err != ErrBadVersion {
		t.Errorf("version 5: %v", err)
	}
}

func TestDecodeOtherEtherTypes(t *testing.T) {
	f := build(eth(layers.EthernetTypeLinkLayerDiscovery), gopacket.Payload(make([]byte, 50)))
	var p Parsed
	if err := p.Decode(f); err != nil {
		t.Fatal(err)
	}
	if p.EtherType != EtherTypeLLDP || p.L3Off != 14 || p.End != len(f) || p.IPVersion != 0 || p.HasL4 || p.Src.IsValid() {
		t.Errorf("got %+v", p)
	}
	if s := p.String(); s != "LLDP len 50" {
		t.Errorf("String = %q", s)
	}
}

// TestTruncations cuts generated frames at every length: Decode must fail
// (or, past the IP packet's end, give the same result) and never panic.
func TestTruncations(t *testing.T) {
	g := newGenerator(11)
	n := 1500
	if testing.Short() {
		n = 200
	}
	for range n {
		f := g.frame()
		var full Parsed
		if err := full.Decode(f); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		for cut := range len(f) {
			var p Parsed
			err := p.Decode(f[:cut])
			switch {
			case cut < full.End:
				if err == nil {
					t.Fatalf("cut %d of %d (End %d) decoded: %+v\n%x", cut, len(f), full.End, p, f)
				}
			case err != nil:
				t.Fatalf("cut %d at or past End %d: %v", cut, full.End, err)
			case full.IPVersion != 0 || full.EtherType == EtherTypeARP:
				if !equalFields(&p, &full) {
					t.Fatalf("cut %d past End: %+v, want %+v", cut, p, full)
				}
			}
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	frames := map[string][]byte{
		"ipv4-udp": ipv4UDPFrame(), "ipv6-tcp": ipv6TCPFrame(100), "ipv6-ext": ipv6ExtFrame(),
		"truncated": ipv6TCPFrame(0)[:50], "bad-version": mutate(ipv4UDPFrame(), func(b []byte) { b[14] = 0x65 }),
	}
	var p Parsed
	for name, f := range frames {
		if n := testing.AllocsPerRun(100, func() { _ = p.Decode(f) }); n != 0 {
			t.Errorf("Decode %s: %v allocs", name, n)
		}
		if n := testing.AllocsPerRun(100, func() { _ = p.DecodeIP(f[14:]) }); n != 0 {
			t.Errorf("DecodeIP %s: %v allocs", name, n)
		}
	}
	f := ipv4TCPFrame(1000)
	_ = p.Decode(f)
	checks := map[string]func(){
		"Checksum":             func() { _ = Checksum(f, 0) },
		"PseudoHeaderChecksum": func() { _ = p.PseudoHeaderChecksum() },
		"VerifyL4Checksum":     func() { _ = p.VerifyL4Checksum() },
		"FillL4Checksum":       func() { _ = p.FillL4Checksum() },
		"IPv4.IsChecksumValid": func() { _ = p.IPv4().IsChecksumValid() },
		"UpdateChecksum16":     func() { _ = UpdateChecksum16(1, 2, 3) },
		"UpdateChecksumAddr":   func() { _ = UpdateChecksumAddr(1, p.Src, p.Dst) },
		"SetSrc":               func() { _ = p.SetSrc(p.Dst) },
		"SetDstPort":           func() { _ = p.SetDstPort(8080) },
		"DecTTL":               func() { _ = p.DecTTL() },
		"SetSrc wrong family":  func() { _ = p.SetSrc(netip.IPv6Loopback()) },
	}
	for name, fn := range checks {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
