package router

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// TestGoldenNDP: the router answers a neighbour solicitation for its
// global and link-local addresses (solicited-node multicast and unicast
// NUD) with advertisements, learning the solicitor; it resolves a next
// hop with an NS to the target's solicited-node group, and the NA releases
// the queued packet.
func TestGoldenNDP(t *testing.T) {
	lanLL := linkLocalFrom(lanMAC).String()
	sn, snMAC := solicitedNode(linkLocalFrom(lanMAC).As16())
	h := hostMAC
	fwd := func(l l2, hlim uint8) []byte {
		return udp6(l, v6{src: "2001:db8:1::10", dst: "2001:db8:ff::7", hlim: hlim}, 7, 8, payload(10, 3))
	}
	golden{
		policy: policy("", ""),
		in: map[string][]frame{
			"lan": {
				// From a host the policy does not know: learnt from the NS.
				{at(0), nsFrame(l2{src: hostMAC, dst: packet.MAC{0x33, 0x33, 0xff, 0, 0, 1}}, "2001:db8:1::20", "ff02::1:ff00:1", "2001:db8:1::1", &h)},
				{at(1), nsFrame(l2{src: hostMAC, dst: snMAC}, "fe80::20", netip.AddrFrom16(sn).String(), lanLL, &h)},
				{at(2), nsFrame(fromHost, "2001:db8:1::20", "2001:db8:1::1", "2001:db8:1::1", &h)},
				// Not the router's: a group it is not in, a target not its own.
				{at(3), nsFrame(l2{src: hostMAC, dst: packet.MAC{0x33, 0x33, 0xff, 0, 0, 0x30}}, "2001:db8:1::20", "ff02::1:ff00:30", "2001:db8:1::30", &h)},
				{at(3), nsFrame(fromHost, "2001:db8:1::20", "2001:db8:1::1", "2001:db8:1::30", &h)},
				{at(4), fwd(fromHost, 64)},
				// To the host learnt at 0: no NS needed.
				{at(6), echo6(fromHost, v6{src: "2001:db8:1::20", dst: "2001:db8:1::1", hlim: 64}, false, 1, 1, payload(8, 0))},
			},
			"wan": {
				{at(5), naFrame(fromPeer, "2001:db8:ff::7", "2001:db8:ff::2", "2001:db8:ff::7", naS|naO, peerMAC)},
			},
		},
		out: map[string][]frame{
			"lan": {
				{at(0), naFrame(toHost, "2001:db8:1::1", "2001:db8:1::20", "2001:db8:1::1", naR|naS|naO, lanMAC)},
				{at(1), naFrame(toHost, lanLL, "fe80::20", lanLL, naR|naS|naO, lanMAC)},
				{at(2), naFrame(toHost, "2001:db8:1::1", "2001:db8:1::20", "2001:db8:1::1", naR|naS|naO, lanMAC)},
				{at(6), echo6(toHost, v6{src: "2001:db8:1::1", dst: "2001:db8:1::20", hlim: 64}, true, 1, 1, payload(8, 0))},
			},
			"wan": {
				{at(4), nsFrame(l2{src: wanMAC, dst: packet.MAC{0x33, 0x33, 0xff, 0, 0, 7}}, "2001:db8:ff::2", "ff02::1:ff00:7", "2001:db8:ff::7", &wanMAC)},
				{at(5), fwd(toPeer, 63)},
			},
		},
		drops: map[string]uint64{"ndp-ignored": 1, "multicast": 1},
	}.run(t)
}

// TestGoldenTimeExceeded: TTL 1 and hop limit 1 get ICMP time exceeded,
// from the ingress interface's address, quoting the packet as received.
func TestGoldenTimeExceeded(t *testing.T) {
	in4 := udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 1, id: 3}, 33434, 33435, payload(32, 0))
	in6 := udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:9::5", hlim: 1}, 33434, 33435, payload(32, 0))
	in4w := udp4(fromGW, v4{src: "203.0.113.5", dst: "192.0.2.10", ttl: 1, id: 4}, 1, 2, payload(600, 0))
	golden{
		policy: policy("", ""),
		in: map[string][]frame{
			"lan": {{at(0), in4}, {at(1), in6}},
			"wan": {{at(2), in4w}},
		},
		out: map[string][]frame{
			"lan": {
				{at(0), icmp4Err(toHost, "192.0.2.1", "192.0.2.10", 1, 11, 0, 0, l3(in4))},
				{at(1), icmp6Err(toHost, "2001:db8:1::1", "2001:db8:1::10", 3, 0, 0, l3(in6))},
			},
			// The error quotes no more than fits in 576 bytes.
			"wan": {{at(2), icmp4Err(toGW, "198.51.100.2", "203.0.113.5", 2, 11, 0, 0, l3(in4w)[:548])}},
		},
		drops: map[string]uint64{"ttl-exceeded": 3},
	}.run(t)
}

// TestGoldenNoRoute: without a route, ICMP net unreachable / no route.
func TestGoldenNoRoute(t *testing.T) {
	const pol = `appliance: router
interfaces:
  - {name: lan, port: "mem:lan", address: [192.0.2.1/24, 2001:db8:1::1/64]}
  - {name: wan, port: "mem:wan", address: [198.51.100.2/24, 2001:db8:ff::2/64]}
routes:
  - {to: 10.0.0.0/8, via: 198.51.100.1}
neighbors:
  - {interface: lan, address: 192.0.2.10, mac: "02:00:00:00:02:0a"}
  - {interface: lan, address: 2001:db8:1::10, mac: "02:00:00:00:02:0a"}
`
	in4 := udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64, id: 3}, 1, 2, payload(10, 0))
	in6 := udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:9::5", hlim: 64}, 1, 2, payload(10, 0))
	golden{
		policy: pol,
		in:     map[string][]frame{"lan": {{at(0), in4}, {at(1), in6}}},
		out: map[string][]frame{"lan": {
			{at(0), icmp4Err(toHost, "192.0.2.1", "192.0.2.10", 1, 3, 0, 0, l3(in4)[:38])},
			{at(1), icmp6Err(toHost, "2001:db8:1::1", "2001:db8:1::10", 1, 0, 0, l3(in6))},
		}},
		drops: map[string]uint64{"no-route": 2},
	}.run(t)
}

// TestGoldenMTU: IPv4 with DF bigger than the egress MTU gets "fragmentation
// needed" with the MTU; IPv6 bigger than it gets "packet too big"; IPv4
// without DF is fragmented, the options with the copy flag in every
// fragment, the others in the first only.
func TestGoldenMTU(t *testing.T) {
	const pol = `appliance: router
interfaces:
  - {name: lan, port: "mem:lan", address: [192.0.2.1/24, 2001:db8:1::1/64]}
  - {name: wan, port: "mem:wan", address: [198.51.100.2/24, 2001:db8:ff::2/64], mtu: 1280}
  - {name: slow, port: "mem:slow", address: [198.18.0.1/24], mtu: 576}
routes:
  - {to: 0.0.0.0/0, via: 198.51.100.1}
  - {to: "::/0", via: 2001:db8:ff::1}
  - {to: 203.0.113.128/25, via: 198.18.0.9}
neighbors:
  - {interface: wan, address: 198.51.100.1, mac: "02:00:00:00:01:01"}
  - {interface: wan, address: 2001:db8:ff::1, mac: "02:00:00:00:01:01"}
  - {interface: slow, address: 198.18.0.9, mac: "02:00:00:00:01:09"}
  - {interface: lan, address: 192.0.2.10, mac: "02:00:00:00:02:0a"}
  - {interface: lan, address: 2001:db8:1::10, mac: "02:00:00:00:02:0a"}
`
	slowMAC := appliance.LocalMAC("slow")
	toSlow := l2{src: slowMAC, dst: packet.MAC{2, 0, 0, 0, 1, 9}}
	df := udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64, id: 5, df: true}, 1, 2, payload(1400, 0))
	big6 := udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:9::5", hlim: 64}, 1, 2, payload(1400, 0))
	fits6 := udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:9::5", hlim: 64}, 1, 2, payload(1280-48, 0))

	// 1400 bytes of IP, 24 of header (a copied router-alert option): the
	// 1376 bytes of data split 552 + 552 + 272 over MTU 576.
	opts := []layers.IPv4Option{
		{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}, // router alert: copied
	}
	frag := udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.130", ttl: 64, id: 0x4242, options: opts}, 1, 2, payload(1400-24-8, 0))
	data := l3(frag)[24:]
	fr := func(off int, n int, more bool) []byte {
		h := v4{src: "192.0.2.10", dst: "203.0.113.130", ttl: 63, id: 0x4242, options: opts}
		ipl := h.layer(layers.IPProtocolUDP)
		ipl.FragOffset = uint16(off / 8)
		if more {
			ipl.Flags = layers.IPv4MoreFragments
		}
		return serialize(append(toSlow.layers(layers.EthernetTypeIPv4), ipl, gopacket.Payload(data[off:off+n]))...)
	}
	// Options without the copy flag stay in the first fragment.
	opts2 := []layers.IPv4Option{
		{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}, // record route: not copied
		{OptionType: 1, OptionLength: 1},
	}
	frag2 := udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.131", ttl: 64, id: 0x4343, options: opts2}, 1, 2, payload(600, 1))
	data2 := l3(frag2)[28:]
	h2 := v4{src: "192.0.2.10", dst: "203.0.113.131", ttl: 63, id: 0x4343, options: opts2}
	f2a := h2.layer(layers.IPProtocolUDP)
	f2a.Flags = layers.IPv4MoreFragments
	h2.options = nil
	f2b := h2.layer(layers.IPProtocolUDP)
	f2b.FragOffset = 544 / 8

	golden{
		policy: pol,
		in: map[string][]frame{"lan": {
			{at(0), df}, {at(1), big6}, {at(2), fits6}, {at(3), frag}, {at(4), frag2},
		}},
		out: map[string][]frame{
			"lan": {
				{at(0), icmp4Err(toHost, "192.0.2.1", "192.0.2.10", 1, 3, 4, 1280, l3(df)[:548])},
				{at(1), icmp6Err(toHost, "2001:db8:1::1", "2001:db8:1::10", 2, 0, 1280, l3(big6)[:1232])},
			},
			"wan": {
				{at(2), udp6(toGW, v6{src: "2001:db8:1::10", dst: "2001:db8:9::5", hlim: 63}, 1, 2, payload(1280-48, 0))},
			},
			"slow": {
				{at(3), fr(0, 552, true)},
				{at(3), fr(552, 552, true)},
				{at(3), fr(1104, 1376-1104, false)},
				{at(4), serialize(append(toSlow.layers(layers.EthernetTypeIPv4), f2a, gopacket.Payload(data2[:544]))...)},
				{at(4), serialize(append(toSlow.layers(layers.EthernetTypeIPv4), f2b, gopacket.Payload(data2[544:]))...)},
			},
		},
		drops: map[string]uint64{"frag-needed": 1, "packet-too-big": 1},
	}.run(t)
}

// TestGoldenRateLimit: ICMP errors come at most ICMPBurst at once, then
// ICMPRate per second, by the capture's clock; the packets are dropped
// and counted all the same.
func TestGoldenRateLimit(t *testing.T) {
	var in, out []frame
	mk := func(i int) []byte {
		return udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 1, id: uint16(i)}, 1, 2, payload(4, 0))
	}
	id := uint16(0)
	for i := range 15 {
		in = append(in, frame{at(0), mk(i)})
		if i < 10 {
			id++
			out = append(out, frame{at(0), icmp4Err(toHost, "192.0.2.1", "192.0.2.10", id, 11, 0, 0, l3(mk(i))[:32])})
		}
	}
	// 100/s: one token every 10ms.
	for k, ms := range []float64{5, 10, 12, 25} {
		f := mk(100 + k)
		in = append(in, frame{at(ms), f})
		if ms == 10 || ms == 25 {
			id++
			out = append(out, frame{at(ms), icmp4Err(toHost, "192.0.2.1", "192.0.2.10", id, 11, 0, 0, l3(f)[:32])})
		}
	}
	golden{
		policy: policy("", ""),
		in:     map[string][]frame{"lan": in},
		out:    map[string][]frame{"lan": out},
		drops:  map[string]uint64{"ttl-exceeded": 19},
	}.run(t)
}

// TestGoldenNoErrorAbout: no ICMP error about an ICMP error, a non-first
// fragment, a broadcast or a multicast; the packets are dropped (or punted)
// silently.
func TestGoldenNoErrorAbout(t *testing.T) {
	inner := udp4(fromHost, v4{src: "203.0.113.5", dst: "192.0.2.10", ttl: 64}, 1, 2, payload(4, 0))
	errPkt := serialize(append(fromHost.layers(layers.EthernetTypeIPv4),
		v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 1}.layer(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(l3(inner)))...)
	ip6 := v6{src: "2001:db8:1::10", dst: "2001:db8:9::5", hlim: 1}.layer(layers.IPProtocolICMPv6)
	ic6 := icmp6Layer(1, 4)
	ic6.SetNetworkLayerForChecksum(ip6)
	err6 := serialize(append(fromHost.layers(layers.EthernetTypeIPv6), ip6, ic6, gopacket.Payload(make([]byte, 52)))...)
	nonFirst := func() []byte {
		h := v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 1}.layer(layers.IPProtocolUDP)
		h.FragOffset = 100
		return serialize(append(fromHost.layers(layers.EthernetTypeIPv4), h, gopacket.Payload(payload(16, 0)))...)
	}()
	golden{
		policy: policy("", ""),
		in: map[string][]frame{"lan": {
			{at(0), errPkt},
			{at(1), nonFirst},
			// A unicast packet in a broadcast frame: dropped before any TTL.
			{at(2), udp4(hostBcast, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 1}, 1, 2, payload(4, 0))},
			// Multicast is not routed.
			{at(3), udp4(l2{src: hostMAC, dst: packet.MAC{1, 0, 0x5e, 1, 2, 3}}, v4{src: "192.0.2.10", dst: "239.1.2.3", ttl: 1}, 1, 2, payload(4, 0))},
			// Broadcasts are for the local stack, none here.
			{at(4), udp4(hostBcast, v4{src: "192.0.2.10", dst: "255.255.255.255", ttl: 1}, 68, 67, payload(4, 0))},
			{at(5), udp4(hostBcast, v4{src: "192.0.2.10", dst: "192.0.2.255", ttl: 1}, 68, 67, payload(4, 0))},
			{at(6), err6},
		}},
		drops: map[string]uint64{"ttl-exceeded": 3, "link-broadcast": 1, "multicast": 1, "no-local-stack": 2},
	}.run(t)
}

func icmp6Layer(typ, code uint8) *layers.ICMPv6 {
	return &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
}

// TestGoldenEcho: echo requests to the router's addresses, IPv4 and IPv6,
// on either interface, are answered from the address asked, routed back.
func TestGoldenEcho(t *testing.T) {
	lanLL := linkLocalFrom(lanMAC).String()
	golden{
		policy: policy("", ""),
		in: map[string][]frame{"lan": {
			{at(0), echo4(fromHost, v4{src: "192.0.2.10", dst: "192.0.2.1", ttl: 64, id: 77}, false, 9, 1, payload(56, 0))},
			{at(1), echo4(fromHost, v4{src: "192.0.2.10", dst: "198.51.100.2", ttl: 1, id: 78}, false, 9, 2, payload(56, 0))},
			{at(2), echo6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:1::1", hlim: 64}, false, 9, 3, payload(56, 0))},
			{at(3), echo6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:ff::2", hlim: 1}, false, 9, 4, payload(56, 0))},
			{at(4), echo6(l2{src: hostMAC, dst: lanMAC}, v6{src: "fe80::10", dst: lanLL, hlim: 64}, false, 9, 5, payload(8, 0))},
		}},
		out: map[string][]frame{"lan": {
			{at(0), echo4(toHost, v4{src: "192.0.2.1", dst: "192.0.2.10", ttl: 64, id: 77}, true, 9, 1, payload(56, 0))},
			{at(1), echo4(toHost, v4{src: "198.51.100.2", dst: "192.0.2.10", ttl: 64, id: 78}, true, 9, 2, payload(56, 0))},
			{at(2), echo6(toHost, v6{src: "2001:db8:1::1", dst: "2001:db8:1::10", hlim: 64}, true, 9, 3, payload(56, 0))},
			{at(3), echo6(toHost, v6{src: "2001:db8:ff::2", dst: "2001:db8:1::10", hlim: 64}, true, 9, 4, payload(56, 0))},
			{at(4), nsFrame(l2{src: lanMAC, dst: packet.MAC{0x33, 0x33, 0xff, 0, 0, 0x10}}, lanLL, "ff02::1:ff00:10", "fe80::10", &lanMAC)},
		}},
		// fe80::10 is not known: resolved first (and never answers here).
		drops: map[string]uint64{"neighbor-pending-at-stop": 1},
	}.run(t)
}
