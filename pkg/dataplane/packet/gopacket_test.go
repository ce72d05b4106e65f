package packet

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestCrossCheckGopacket decodes many random frames with Decode and with
// gopacket and compares every field Parsed extracts, the offsets, and the
// checksums gopacket computed.
func TestCrossCheckGopacket(t *testing.T) {
	n := 30000
	if testing.Short() {
		n = 3000
	}
	g := newGenerator(1)
	for i := range n {
		frame := g.frame()
		if !crossCheck(t, frame) {
			t.Fatalf("frame %d: %x", i, frame)
		}
	}
	for _, k := range []genKind{
		"vlan1", "vlan2", "arp", "ipv4-options", "ipv4-frag-first", "ipv4-frag-later", "ipv4-ah",
		"ipv6-hbh", "ipv6-dstopts", "ipv6-routing", "ipv6-frag-first", "ipv6-frag-later",
		"ipv6-frag-atomic", "ipv6-ah", "ipv6-3ext", "tcp", "tcp-options", "udp", "icmpv4", "icmpv6",
		"esp", "sctp", "other-l4", "trailer",
	} {
		if g.kinds[k] < 10 {
			t.Errorf("generator made %d frames of kind %q; want at least 10", g.kinds[k], k)
		}
	}
	t.Logf("kinds: %v", g.kinds)
}

func addr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		panic("bad IP")
	}
	return a
}

// crossCheck compares Decode with gopacket on one valid frame.
func crossCheck(t *testing.T, frame []byte) bool {
	t.Helper()
	var p Parsed
	if err := p.Decode(frame); err != nil {
		t.Errorf("Decode: %v", err)
		return false
	}
	ok := true
	check := func(what string, got, want any) {
		if got != want {
			t.Errorf("%s: got %v, want %v", what, got, want)
			ok = false
		}
	}
	offset := func(b []byte) int { return cap(frame) - cap(b) }

	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	check("Ethernet.Dst", p.Ethernet().Dst(), MAC(eth.DstMAC))
	check("Ethernet.Src", p.Ethernet().Src(), MAC(eth.SrcMAC))

	// VLAN tags.
	var tags []*layers.Dot1Q
	for _, l := range pkt.Layers() {
		if d, isTag := l.(*layers.Dot1Q); isTag {
			tags = append(tags, d)
		}
	}
	check("NumVLANs", int(p.NumVLANs), len(tags))
	tpid := EtherType(eth.EthernetType)
	for i, d := range tags {
		if i >= int(p.NumVLANs) {
			break
		}
		v := p.VLANs[i]
		check("VLAN.TPID", v.TPID, tpid)
		check("VLAN.ID", v.ID(), d.VLANIdentifier)
		check("VLAN.Priority", v.Priority(), d.Priority)
		check("VLAN.DEI", v.DropEligible(), d.DropEligible)
		check("VLAN view ID", p.VLAN(i).ID(), d.VLANIdentifier)
		check("VLAN view Type", p.VLAN(i).Type(), EtherType(d.Type))
		tpid = EtherType(d.Type)
	}
	check("EtherType", p.EtherType, tpid)

	// Network layer and the IPv6 extension-header chain: the upper layer
	// starts where the last of these ends.
	var last gopacket.Layer
	var nextProto layers.IPProtocol
	var ext ExtHeaders
	end := -1
	ls := pkt.Layers()
	for len(ls) > 0 {
		l := ls[0]
		ls = ls[1:]
		switch l := l.(type) {
		case *layers.ARP:
			check("L3Off", p.L3Off, offset(l.Contents))
			a := p.ARP()
			check("ARP.Op", a.Op(), l.Operation)
			check("ARP.IsEthernetIPv4", a.IsEthernetIPv4(), true)
			check("ARP.SenderMAC", a.SenderMAC(), MAC(l.SourceHwAddress))
			check("ARP.SenderIP", a.SenderIP(), addr(l.SourceProtAddress))
			check("ARP.TargetMAC", a.TargetMAC(), MAC(l.DstHwAddress))
			check("ARP.TargetIP", a.TargetIP(), addr(l.DstProtAddress))
			check("End", p.End, offset(l.Contents)+len(l.Contents))
			check("L3Len", p.L3Len(), ARPLen)
			check("IPVersion", p.IPVersion, uint8(0))
			return ok
		case *layers.IPv4:
			check("L3Off", p.L3Off, offset(l.Contents))
			check("IPVersion", p.IPVersion, uint8(4))
			check("Src", p.Src, addr(l.SrcIP))
			check("Dst", p.Dst, addr(l.DstIP))
			check("TTL", p.TTL, l.TTL)
			check("FragID", p.FragID, uint32(l.Id))
			check("FragOffset", p.FragOffset, l.FragOffset)
			check("MoreFrags", p.MoreFrags, l.Flags&layers.IPv4MoreFragments != 0)
			ip := p.IPv4()
			check("IPv4.DontFragment", ip.DontFragment(), l.Flags&layers.IPv4DontFragment != 0)
			check("IPv4.TOS", ip.TOS(), l.TOS)
			check("IPv4.HeaderLen", ip.HeaderLen(), int(l.IHL)*4)
			check("IPv4.Options", bytes.Equal(ip.Options(), l.Contents[20:]), true)
			check("IPv4.Checksum", ip.Checksum(), l.Checksum)
			check("IPv4.ComputeChecksum", ip.ComputeChecksum(), l.Checksum)
			check("IPv4.IsChecksumValid", ip.IsChecksumValid(), true)
			end = p.L3Off + int(l.Length)
			last, nextProto = l, l.Protocol
			if l.Flags&layers.IPv4MoreFragments != 0 && l.FragOffset == 0 {
				// gopacket stops at any fragment; a first fragment's
				// headers go on.
				ls = gopacket.NewPacket(l.Payload, nextProto.LayerType(), gopacket.DecodeOptions{NoCopy: true}).Layers()
			}
		case *layers.IPv6:
			check("L3Off", p.L3Off, offset(l.Contents))
			check("IPVersion", p.IPVersion, uint8(6))
			check("Src", p.Src, addr(l.SrcIP))
			check("Dst", p.Dst, addr(l.DstIP))
			check("TTL", p.TTL, l.HopLimit)
			ip := p.IPv6()
			check("IPv6.TrafficClass", ip.TrafficClass(), l.TrafficClass)
			check("IPv6.FlowLabel", ip.FlowLabel(), l.FlowLabel)
			end = p.L3Off + IPv6Len + int(l.Length)
			last, nextProto = l, l.NextHeader
		case *layers.IPv6HopByHop:
			ext |= ExtHopByHop
			last, nextProto = l, l.NextHeader
		case *layers.IPv6Destination:
			ext |= ExtDestOpts
			last, nextProto = l, l.NextHeader
		case *layers.IPv6Routing:
			ext |= ExtRouting
			last, nextProto = l, l.NextHeader
		case *layers.IPSecAH:
			ext |= ExtAH
			last, nextProto = l, l.NextHeader
		case *layers.IPv6Fragment:
			ext |= ExtFragment
			check("FragOffset", p.FragOffset, l.FragmentOffset)
			check("MoreFrags", p.MoreFrags, l.MoreFragments)
			check("FragID", p.FragID, l.Identification)
			last, nextProto = l, l.NextHeader
			if l.FragmentOffset == 0 {
				// gopacket stops at any fragment header; a first
				// fragment's headers go on.
				rest := l.Payload[:end-offset(l.Payload)]
				ls = gopacket.NewPacket(rest, nextProto.LayerType(), gopacket.DecodeOptions{NoCopy: true}).Layers()
			}
		}
	}
	if last == nil {
		t.Errorf("gopacket found no network layer")
		return false
	}
	check("Ext", p.Ext, ext)
	check("End", p.End, end)
	check("IPLen", p.IPLen(), end-p.L3Off)
	check("IPProto", p.IPProto, IPProtocol(nextProto))
	l4off := offset(last.LayerContents()) + len(last.LayerContents())
	check("L4Off", p.L4Off, l4off)
	check("L3Len", p.L3Len(), l4off-p.L3Off)

	later := p.FragOffset != 0
	check("IsFragment", p.IsFragment(), p.MoreFrags || later)
	seg := frame[l4off:end]
	decodeL4 := func(lt gopacket.LayerType) gopacket.Layer {
		return gopacket.NewPacket(seg, lt, gopacket.DecodeOptions{NoCopy: true}).Layer(lt)
	}
	wantL4 := !later
	hdrLen := 0
	switch p.IPProto {
	case IPProtoTCP:
		l, _ := decodeL4(layers.LayerTypeTCP).(*layers.TCP)
		if later || l == nil {
			break
		}
		check("SrcPort", p.SrcPort, uint16(l.SrcPort))
		check("DstPort", p.DstPort, uint16(l.DstPort))
		var f TCPFlags
		for i, set := range []bool{l.FIN, l.SYN, l.RST, l.PSH, l.ACK, l.URG, l.ECE, l.CWR} {
			if set {
				f |= 1 << i
			}
		}
		check("TCPFlags", p.TCPFlags, f)
		tcp := p.TCP()
		check("TCP.Seq", tcp.Seq(), l.Seq)
		check("TCP.Ack", tcp.Ack(), l.Ack)
		check("TCP.Window", tcp.Window(), l.Window)
		check("TCP.Urgent", tcp.UrgentPtr(), l.Urgent)
		check("TCP.DataOffset", tcp.DataOffset(), l.DataOffset)
		check("TCP.Options", len(l.Contents) >= 20 && bytes.Equal(tcp.Options(), l.Contents[20:]), true)
		check("TCP.Checksum", tcp.Checksum(), l.Checksum)
		hdrLen = len(l.Contents)
	case IPProtoUDP:
		l, _ := decodeL4(layers.LayerTypeUDP).(*layers.UDP)
		if later || l == nil {
			break
		}
		check("SrcPort", p.SrcPort, uint16(l.SrcPort))
		check("DstPort", p.DstPort, uint16(l.DstPort))
		check("UDP.Length", p.UDP().Length(), l.Length)
		check("UDP.Checksum", p.UDP().Checksum(), l.Checksum)
		hdrLen = 8
	case IPProtoSCTP:
		l, _ := decodeL4(layers.LayerTypeSCTP).(*layers.SCTP)
		if later || l == nil {
			break
		}
		check("SrcPort", p.SrcPort, uint16(l.SrcPort))
		check("DstPort", p.DstPort, uint16(l.DstPort))
		check("SCTP.VerificationTag", p.SCTP().VerificationTag(), l.VerificationTag)
		hdrLen = 12
	case IPProtoICMPv4:
		l, _ := decodeL4(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if later || l == nil {
			break
		}
		m := p.ICMPv4()
		check("ICMPv4.Type", uint8(m.Type()), l.TypeCode.Type())
		check("ICMPv4.Code", m.Code(), l.TypeCode.Code())
		check("ICMPv4.ID", m.ID(), l.Id)
		check("ICMPv4.Seq", m.Seq(), l.Seq)
		check("ICMPv4.Checksum", m.Checksum(), l.Checksum)
		hdrLen = 8
	case IPProtoICMPv6:
		l, _ := decodeL4(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		if later || l == nil {
			break
		}
		m := p.ICMPv6()
		check("ICMPv6.Type", uint8(m.Type()), l.TypeCode.Type())
		check("ICMPv6.Code", m.Code(), l.TypeCode.Code())
		check("ICMPv6.Checksum", m.Checksum(), l.Checksum)
		check("ICMPv6.MessageHeader", m.MessageHeader(), binary.BigEndian.Uint32(l.Payload))
		hdrLen = 8
	case IPProtoESP:
		l, _ := decodeL4(layers.LayerTypeIPSecESP).(*layers.IPSecESP)
		if later || l == nil {
			break
		}
		check("ESP.SPI", p.ESP().SPI(), l.SPI)
		check("ESP.Seq", p.ESP().Seq(), l.Seq)
		check("ESP.Payload", bytes.Equal(p.ESP().Payload(), l.Encrypted), true)
		hdrLen = 8
	default:
		wantL4 = false
	}
	check("HasL4", p.HasL4, wantL4)
	check("PayloadOff", p.PayloadOff, l4off+hdrLen)
	check("L4Len", p.L4Len(), hdrLen)
	if !p.HasL4 {
		check("SrcPort", p.SrcPort, uint16(0))
		check("TCP()", p.TCP() == nil, true)
	}

	// Transport checksums as gopacket computed them.
	switch err := p.VerifyL4Checksum(); {
	case p.IsFragment() || !p.HasL4:
		check("VerifyL4Checksum (unsupported)", err, error(ErrNotSupported))
	case p.IPProto == IPProtoTCP || p.IPProto == IPProtoUDP || p.IPProto == IPProtoICMPv4 || p.IPProto == IPProtoICMPv6:
		check("VerifyL4Checksum", err, nil)
		c, err := p.ComputeL4Checksum()
		check("ComputeL4Checksum err", err, nil)
		field := map[IPProtocol]int{IPProtoTCP: 16, IPProtoUDP: 6, IPProtoICMPv4: 2, IPProtoICMPv6: 2}[p.IPProto]
		check("ComputeL4Checksum", c, binary.BigEndian.Uint16(frame[p.L4Off+field:]))
	}
	return ok
}
