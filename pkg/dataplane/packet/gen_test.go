package packet

import (
	"math/rand/v2"
	"net"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// This file builds random, well-formed frames with gopacket for the
// cross-checks, fuzz seeds and benchmarks. gopacket serializes every header
// it can; the IPv6 extension headers, AH and ESP it cannot write are added as
// raw bytes with their next-header chain set by hand.

// genKind counts what the generator produced, so a test can insist every
// kind of frame was covered.
type genKind string

type generator struct {
	r     *rand.Rand
	kinds map[genKind]int
}

func newGenerator(seed uint64) *generator {
	return &generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), kinds: map[genKind]int{}}
}

func (g *generator) note(k genKind) { g.kinds[k]++ }

func (g *generator) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g *generator) mac() net.HardwareAddr { return net.HardwareAddr(g.bytes(6)) }
func (g *generator) ip4() net.IP           { return net.IP(g.bytes(4)) }
func (g *generator) ip6() net.IP           { return net.IP(g.bytes(16)) }
func (g *generator) u16() uint16           { return uint16(g.r.Uint32()) }
func (g *generator) chance(pct int) bool   { return g.r.IntN(100) < pct }

// frame returns one random Ethernet frame.
func (g *generator) frame() []byte {
	eth := &layers.Ethernet{SrcMAC: g.mac(), DstMAC: g.mac()}
	ls := []gopacket.SerializableLayer{eth}
	var l3 layers.EthernetType
	switch n := g.r.IntN(20); {
	case n < 2:
		l3 = layers.EthernetTypeARP
	case n < 11:
		l3 = layers.EthernetTypeIPv4
	default:
		l3 = layers.EthernetTypeIPv6
	}
	// VLAN tags: none, 802.1Q, or 802.1ad over 802.1Q.
	prev := &eth.EthernetType
	switch v := g.r.IntN(4); v {
	case 2, 3:
		tpids := []layers.EthernetType{layers.EthernetTypeDot1Q}
		if v == 3 {
			tpids = []layers.EthernetType{layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q}
			g.note("vlan2")
		} else {
			g.note("vlan1")
		}
		for _, tp := range tpids {
			*prev = tp
			d := &layers.Dot1Q{Priority: uint8(g.r.IntN(8)), DropEligible: g.chance(50), VLANIdentifier: uint16(g.r.IntN(4096))}
			ls = append(ls, d)
			prev = &d.Type
		}
	}
	*prev = l3
	switch l3 {
	case layers.EthernetTypeARP:
		g.note("arp")
		ls = append(ls, &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: uint16(1 + g.r.IntN(2)),
			SourceHwAddress: g.mac(), SourceProtAddress: g.ip4(),
			DstHwAddress: g.mac(), DstProtAddress: g.ip4(),
		})
	case layers.EthernetTypeIPv4:
		ls = g.ipv4(ls)
	default:
		ls = g.ipv6(ls)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		panic(err)
	}
	b := buf.Bytes()
	if g.chance(10) {
		// A trailer beyond the padding, such as an FCS some ports keep.
		g.note("trailer")
		b = append(b, g.bytes(4)...)
	}
	return b
}

var l4Choices = []layers.IPProtocol{
	layers.IPProtocolTCP, layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolUDP,
	0xff, // ICMP of the IP version
	layers.IPProtocolESP, layers.IPProtocolGRE, layers.IPProtocolSCTP,
}

func (g *generator) ipv4(ls []gopacket.SerializableLayer) []gopacket.SerializableLayer {
	ip := &layers.IPv4{
		Version: 4, TOS: uint8(g.r.Uint32()), Id: g.u16(), TTL: uint8(g.r.Uint32()),
		SrcIP: g.ip4(), DstIP: g.ip4(),
	}
	if g.chance(50) {
		ip.Flags |= layers.IPv4DontFragment
	}
	if g.chance(25) {
		g.note("ipv4-options")
		n := 0
		for n < 36 && g.chance(70) {
			switch g.r.IntN(3) {
			case 0:
				ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 1})
				n++
			case 1: // router alert
				ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}})
				n += 4
			default: // a record route with room for k addresses
				if k := 1 + g.r.IntN(4); n+3+4*k <= 40 {
					ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 7, OptionLength: uint8(3 + 4*k), OptionData: append([]byte{4}, g.bytes(4*k)...)})
					n += 3 + 4*k
				}
			}
		}
	}
	proto := l4Choices[g.r.IntN(len(l4Choices))]
	if proto == 0xff {
		proto = layers.IPProtocolICMPv4
	}
	ah := g.chance(8)
	ip.Protocol = proto
	if ah {
		ip.Protocol = layers.IPProtocolAH
	}
	ls = append(ls, ip)
	frag := g.r.IntN(10)
	switch {
	case frag == 0: // a later fragment: offset > 0, data only
		g.note("ipv4-frag-later")
		ip.FragOffset = uint16(1 + g.r.IntN(1000))
		n := 8 * (1 + g.r.IntN(30))
		if g.chance(50) {
			ip.Flags |= layers.IPv4MoreFragments
		} else {
			n -= g.r.IntN(8)
		}
		ip.Flags &^= layers.IPv4DontFragment
		return append(ls, gopacket.Payload(g.bytes(n)))
	case frag == 1: // the first fragment: transport header present
		g.note("ipv4-frag-first")
		ip.Flags = layers.IPv4MoreFragments
	}
	if ah {
		g.note("ipv4-ah")
		ls = append(ls, gopacket.Payload(g.ah(proto)))
	}
	return g.l4(ls, proto, ip, frag == 1)
}

// ah returns an AH header with a 12- or 20-byte ICV (24 or 32 bytes in all,
// a multiple of 8 as IPv6 requires).
func (g *generator) ah(next layers.IPProtocol) []byte {
	icv := 12 + 8*g.r.IntN(2)
	b := g.bytes(12 + icv)
	b[0], b[1], b[2], b[3] = byte(next), byte((12+icv)/4-2), 0, 0
	return b
}

func (g *generator) ipv6(ls []gopacket.SerializableLayer) []gopacket.SerializableLayer {
	ip := &layers.IPv6{
		Version: 6, TrafficClass: uint8(g.r.Uint32()), FlowLabel: g.r.Uint32() & 0xfffff,
		HopLimit: uint8(g.r.Uint32()), SrcIP: g.ip6(), DstIP: g.ip6(),
	}
	ls = append(ls, ip)
	proto := l4Choices[g.r.IntN(len(l4Choices))]
	if proto == 0xff {
		proto = layers.IPProtocolICMPv6
	}
	if g.chance(5) {
		proto = layers.IPProtocolNoNextHeader
	}
	// Extension headers, in RFC 8200's recommended order, each present by
	// chance; built back to front so each knows its next header.
	type ext struct {
		proto layers.IPProtocol
		b     []byte
	}
	var exts []ext
	if g.chance(20) {
		exts = append(exts, ext{layers.IPProtocolIPv6HopByHop, g.tlvExt()})
		g.note("ipv6-hbh")
	}
	if g.chance(15) {
		exts = append(exts, ext{layers.IPProtocolIPv6Destination, g.tlvExt()})
		g.note("ipv6-dstopts")
	}
	if g.chance(15) {
		// Type 0 (the only type gopacket decodes), segments left 0.
		k := 1 + g.r.IntN(2)
		b := append([]byte{0, byte(2 * k), 0, 0, 0, 0, 0, 0}, g.bytes(16*k)...)
		exts = append(exts, ext{layers.IPProtocolIPv6Routing, b})
		g.note("ipv6-routing")
	}
	frag := -1
	if g.chance(20) {
		frag = len(exts)
		exts = append(exts, ext{layers.IPProtocolIPv6Fragment, g.bytes(8)})
	}
	if g.chance(8) {
		exts = append(exts, ext{layers.IPProtocolAH, g.ah(0)})
		g.note("ipv6-ah")
	}
	if g.chance(10) {
		exts = append(exts, ext{layers.IPProtocolIPv6Destination, g.tlvExt()})
		g.note("ipv6-dstopts")
	}
	if len(exts) >= 3 {
		g.note("ipv6-3ext")
	}
	later, first := false, false
	if frag >= 0 {
		f := exts[frag].b
		f[1] = 0
		off, more := uint16(0), g.chance(70)
		switch g.r.IntN(3) {
		case 0:
			off = uint16(1 + g.r.IntN(1000))
			later = true
			g.note("ipv6-frag-later")
		default:
			if more {
				first = true
				g.note("ipv6-frag-first")
			} else {
				g.note("ipv6-frag-atomic")
			}
		}
		v := off << 3
		if more {
			v |= 1
		}
		f[2], f[3] = byte(v>>8), byte(v)
		if later {
			// Headers after a later fragment's header are fragment data.
			exts = exts[:frag+1]
		}
	}
	next := proto
	var chain []byte
	for i := len(exts) - 1; i >= 0; i-- {
		exts[i].b[0] = byte(next)
		next = exts[i].proto
	}
	ip.NextHeader = next
	for _, e := range exts {
		chain = append(chain, e.b...)
	}
	if later {
		n := 8 * (1 + g.r.IntN(30))
		if exts[frag].b[3]&1 == 0 {
			n -= g.r.IntN(8)
		}
		return append(ls, gopacket.Payload(append(chain, g.bytes(n)...)))
	}
	if len(chain) > 0 {
		ls = append(ls, gopacket.Payload(chain))
	}
	return g.l4(ls, proto, ip, first)
}

// tlvExt returns a hop-by-hop or destination options header of 8 or 16
// bytes holding one PadN option.
func (g *generator) tlvExt() []byte {
	n := 8 * (1 + g.r.IntN(2))
	b := make([]byte, n)
	b[1] = byte(n/8 - 1)
	b[2], b[3] = 1, byte(n-4) // PadN
	return b
}

// l4 appends the transport header and payload. For a first fragment the
// segment is padded to a multiple of 8 bytes.
func (g *generator) l4(ls []gopacket.SerializableLayer, proto layers.IPProtocol, ip gopacket.NetworkLayer, firstFrag bool) []gopacket.SerializableLayer {
	payload := g.bytes(g.r.IntN(64))
	hdr := 0
	switch proto {
	case layers.IPProtocolTCP:
		g.note("tcp")
		t := &layers.TCP{
			SrcPort: layers.TCPPort(g.u16()), DstPort: layers.TCPPort(g.u16()),
			Seq: g.r.Uint32(), Ack: g.r.Uint32(), Window: g.u16(), Urgent: g.u16(),
			FIN: g.chance(20), SYN: g.chance(30), RST: g.chance(10), PSH: g.chance(30),
			ACK: g.chance(70), URG: g.chance(10), ECE: g.chance(10), CWR: g.chance(10),
		}
		if g.chance(40) {
			g.note("tcp-options")
			t.Options = []layers.TCPOption{
				{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}},
				{OptionType: layers.TCPOptionKindNop},
				{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
			}
			if g.chance(50) {
				t.Options = append(t.Options, layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: g.bytes(8)})
			}
		}
		t.SetNetworkLayerForChecksum(ip)
		ls = append(ls, t)
		hdr = 20
	case layers.IPProtocolUDP:
		g.note("udp")
		u := &layers.UDP{SrcPort: layers.UDPPort(g.u16()), DstPort: layers.UDPPort(g.u16())}
		u.SetNetworkLayerForChecksum(ip)
		ls = append(ls, u)
		hdr = 8
	case layers.IPProtocolICMPv4:
		g.note("icmpv4")
		types := []uint8{0, 3, 8, 11, 12, 5}
		ls = append(ls, &layers.ICMPv4{
			TypeCode: layers.CreateICMPv4TypeCode(types[g.r.IntN(len(types))], uint8(g.r.IntN(16))),
			Id:       g.u16(), Seq: g.u16(),
		})
		hdr = 8
	case layers.IPProtocolICMPv6:
		g.note("icmpv6")
		types := []uint8{1, 2, 3, 4, 128, 129, 135, 136}
		m := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(types[g.r.IntN(len(types))], uint8(g.r.IntN(8)))}
		m.SetNetworkLayerForChecksum(ip)
		ls = append(ls, m)
		payload = append(g.bytes(4), payload...)
		hdr = 4
	case layers.IPProtocolESP:
		g.note("esp")
		payload = append(g.bytes(8), payload...)
	case layers.IPProtocolSCTP:
		g.note("sctp")
		payload = append(g.bytes(12), payload...)
	default:
		g.note("other-l4")
	}
	if firstFrag {
		// Data of a non-last fragment is a multiple of 8 bytes: pad the
		// segment (TCP without options, so its header size is known).
		if t, ok := ls[len(ls)-1].(*layers.TCP); ok && proto == layers.IPProtocolTCP {
			t.Options, hdr = nil, 20
		}
		n := hdr + len(payload)
		payload = append(payload, make([]byte, (8-n%8)%8)...)
	}
	return append(ls, gopacket.Payload(payload))
}
