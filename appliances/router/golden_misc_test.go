package router

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// TestGoldenValidation: malformed frames and headers are dropped, each
// for its reason, and nothing is sent about them.
func TestGoldenValidation(t *testing.T) {
	good := func() []byte {
		return udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64}, 1, 2, payload(40, 0))
	}
	badSum := good()
	badSum[14+10] ^= 0x5a
	tooLong := good()
	binary.BigEndian.PutUint16(tooLong[14+2:], 200) // total length past the frame
	shortTL := good()
	binary.BigEndian.PutUint16(shortTL[14+2:], 12) // below the header
	ihl := good()
	ihl[14] = 0x44
	ver := good()
	ver[14] = 0x65
	trunc := good()[:14+12]
	good6 := func() []byte {
		return udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:9::5", hlim: 64}, 1, 2, payload(40, 0))
	}
	long6 := good6()
	binary.BigEndian.PutUint16(long6[14+4:], 500)
	runt := good()[:10]
	other := good()
	copy(other[0:6], []byte{2, 0, 0, 0, 9, 9}) // another router's MAC
	lldp := serialize(&layers.Ethernet{SrcMAC: hw(hostMAC), DstMAC: hw(packet.MAC{1, 0x80, 0xc2, 0, 0, 0xe}), EthernetType: layers.EthernetTypeLinkLayerDiscovery}, payloadOf(40))
	tagged := serialize(append(l2{src: hostMAC, dst: lanMAC, vlan: 42}.layers(layers.EthernetTypeIPv4),
		v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64}.layer(layers.IPProtocolUDP), payloadOf(20))...)
	golden{
		policy: policy("", ""),
		in: map[string][]frame{"lan": {
			{at(0), badSum}, {at(1), tooLong}, {at(2), shortTL}, {at(3), ihl}, {at(4), ver},
			{at(5), trunc}, {at(6), long6}, {at(7), runt}, {at(8), other}, {at(9), lldp}, {at(10), tagged},
			{at(11), good()},
		}},
		out: map[string][]frame{"wan": {
			{at(11), udp4(toGW, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 63}, 1, 2, payload(40, 0))},
		}},
		drops: map[string]uint64{
			"bad-checksum": 1, "bad-length": 4, "malformed": 3, "not-for-us": 1,
			"unknown-ethertype": 1, "unknown-vlan": 1,
		},
	}.run(t)
}

func payloadOf(n int) payloadBytes { return payloadBytes(payload(n, 0x30)) }

// TestGoldenMartians: martian sources and destinations (RFC 1812 5.3.7,
// RFC 4291) and link-local scopes are dropped, silently.
func TestGoldenMartians(t *testing.T) {
	p4 := func(src, dst string) []byte {
		return udp4(fromHost, v4{src: src, dst: dst, ttl: 64}, 1, 2, payload(8, 0))
	}
	p6 := func(src, dst string) []byte {
		return udp6(fromHost, v6{src: src, dst: dst, hlim: 64}, 1, 2, payload(8, 0))
	}
	golden{
		policy: policy("", ""),
		in: map[string][]frame{"lan": {
			{at(0), p4("127.0.0.1", "203.0.113.5")},
			{at(0), p4("224.0.0.5", "203.0.113.5")},
			{at(0), p4("0.0.0.7", "203.0.113.5")},
			{at(0), p4("240.0.0.1", "203.0.113.5")},
			{at(0), p4("255.255.255.255", "203.0.113.5")},
			{at(0), p4("198.51.100.255", "203.0.113.5")}, // a connected network's broadcast
			{at(1), p4("192.0.2.10", "0.1.2.3")},
			{at(1), p4("192.0.2.10", "127.0.0.1")},
			{at(1), p4("192.0.2.10", "240.0.0.1")},
			{at(2), p4("169.254.1.1", "203.0.113.5")},
			{at(2), p4("192.0.2.10", "169.254.1.1")},
			{at(3), p6("::1", "2001:db8:9::5")},
			{at(3), p6("ff02::1", "2001:db8:9::5")},
			{at(3), p6("::ffff:192.0.2.10", "2001:db8:9::5")},
			{at(3), p6("::", "2001:db8:9::5")},
			{at(4), p6("2001:db8:1::10", "::1")},
			{at(4), p6("2001:db8:1::10", "::ffff:203.0.113.5")},
			{at(5), p6("fe80::10", "2001:db8:9::5")},
			{at(5), p6("2001:db8:1::10", "fe80::99")},
		}},
		drops: map[string]uint64{"martian-source": 10, "martian-destination": 5, "link-local-scope": 4},
	}.run(t)
}

// TestGoldenVLAN: 802.1Q sub-interfaces: tags pushed (untagged lan to VLAN
// 100), popped (VLAN 100 to wan), rewritten (VLAN 100 to VLAN 200); ARP
// answered on the VLAN, tagged; unknown VLANs dropped.
func TestGoldenVLAN(t *testing.T) {
	pol := policy("", "") + `  - {interface: v100, address: 10.100.0.5, mac: "02:00:00:00:64:05"}
  - {interface: v200, address: 10.200.0.5, mac: "02:00:00:00:c8:05"}
`
	pol = pol[:len("appliance: router\ninterfaces:\n")] + `  - {name: v100, parent: lan, vlan: 100, address: [10.100.0.1/24]}
  - {name: v200, parent: lan, vlan: 200, address: [10.200.0.1/24]}
` + pol[len("appliance: router\ninterfaces:\n"):]
	h100 := packet.MAC{2, 0, 0, 0, 0x64, 5}
	h200 := packet.MAC{2, 0, 0, 0, 0xc8, 5}
	from100 := l2{src: h100, dst: lanMAC, vlan: 100}
	to100 := l2{src: lanMAC, dst: h100, vlan: 100}
	to200 := l2{src: lanMAC, dst: h200, vlan: 200}
	u := func(l l2, src, dst string, ttl uint8) []byte {
		return udp4(l, v4{src: src, dst: dst, ttl: ttl}, 1, 2, payload(30, 0))
	}
	golden{
		policy: pol,
		in: map[string][]frame{"lan": {
			{at(0), u(fromHost, "192.0.2.10", "10.100.0.5", 64)},
			{at(1), u(from100, "10.100.0.5", "203.0.113.5", 64)},
			{at(2), u(from100, "10.100.0.5", "10.200.0.5", 64)},
			{at(3), arpFrame(l2{src: h100, dst: bcast, vlan: 100}, layers.ARPRequest, h100, "10.100.0.5", packet.MAC{}, "10.100.0.1")},
			{at(4), arpFrame(l2{src: h100, dst: bcast, vlan: 100}, layers.ARPRequest, h100, "10.100.0.5", packet.MAC{}, "192.0.2.1")},
			{at(5), u(l2{src: h100, dst: lanMAC, vlan: 300}, "10.100.0.5", "203.0.113.5", 64)},
			{at(6), echo4(from100, v4{src: "10.100.0.5", dst: "10.100.0.1", ttl: 64}, false, 1, 1, payload(8, 0))},
		}},
		out: map[string][]frame{
			"lan": {
				{at(0), u(to100, "192.0.2.10", "10.100.0.5", 63)},
				{at(2), u(to200, "10.100.0.5", "10.200.0.5", 63)},
				{at(3), arpFrame(to100, layers.ARPReply, lanMAC, "10.100.0.1", h100, "10.100.0.5")},
				{at(6), echo4(to100, v4{src: "10.100.0.1", dst: "10.100.0.5", ttl: 64}, true, 1, 1, payload(8, 0))},
			},
			"wan": {
				{at(1), u(toGW, "10.100.0.5", "203.0.113.5", 63)},
			},
		},
		drops: map[string]uint64{"arp-ignored": 1, "unknown-vlan": 1},
	}.run(t)
}

// TestGoldenECMP: a route with two next hops spreads flows over both, and
// keeps every packet of a flow on one; IPv4 by addresses and ports, IPv6 by
// flow label.
func TestGoldenECMP(t *testing.T) {
	pol := policy("", `
  - {to: 203.0.113.0/24, via: [198.51.100.1, 198.51.100.3]}
  - {to: "2001:db8:77::/48", via: [2001:db8:ff::1, 2001:db8:ff::3]}`) +
		`  - {interface: wan, address: 198.51.100.3, mac: "02:00:00:00:01:03"}
  - {interface: wan, address: 2001:db8:ff::3, mac: "02:00:00:00:01:03"}
`
	var in []frame
	const flows = 32
	for round := range 3 {
		for f := range flows {
			ms := float64(round*flows + f)
			in = append(in,
				frame{at(ms), udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64}, uint16(10000+f), 80, payload(10, byte(round)))},
				frame{at(ms), udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:77::5", hlim: 64, flow: uint32(1000 + f)}, 5, 80, payload(10, byte(round)))})
		}
	}
	g := golden{policy: pol, in: map[string][]frame{"lan": in}}
	// The expected frames depend on the hash; check the properties instead.
	dir := t.TempDir()
	g.out = nil
	sum := g.runLoose(t, dir)
	if sum.Dropped != 0 {
		t.Fatalf("drops: %v", sum.Drops)
	}
	out := readCapture(t, filepath.Join(dir, "out", "wan.pcap"))
	if len(out) != len(in) {
		t.Fatalf("%d frames out of wan, want %d", len(out), len(in))
	}
	hop := map[string]packet.MAC{}
	used := map[packet.MAC]int{}
	for i, f := range out {
		var key string
		if binary.BigEndian.Uint16(f.data[12:]) == 0x0800 {
			key = "4/" + string(f.data[14+20:14+22])
		} else {
			key = "6/" + string(f.data[14+1:14+4])
		}
		m := packet.MAC(f.data[0:6])
		if m != gwMAC && m != gw2MAC {
			t.Fatalf("frame %d to %v, not a next hop", i, m)
		}
		if prev, ok := hop[key]; ok && prev != m {
			t.Errorf("flow %x moved from %v to %v", key, prev, m)
		}
		hop[key] = m
		used[m]++
	}
	if len(hop) != 2*flows {
		t.Errorf("%d flows seen, want %d", len(hop), 2*flows)
	}
	for _, m := range []packet.MAC{gwMAC, gw2MAC} {
		if n := used[m]; n < len(in)/4 {
			t.Errorf("next hop %v got %d of %d packets", m, n, len(in))
		}
	}
}

// TestGoldenBlackhole: blackhole routes drop, silently, and win over a
// shorter route; a longer route inside one still forwards.
func TestGoldenBlackhole(t *testing.T) {
	pol := policy("", `
  - {to: 10.99.0.0/16, blackhole: true}
  - {to: 10.99.1.0/24, via: 198.51.100.1}
  - {to: "2001:db8:dead::/48", blackhole: true}`)
	golden{
		policy: pol,
		in: map[string][]frame{"lan": {
			{at(0), udp4(fromHost, v4{src: "192.0.2.10", dst: "10.99.5.5", ttl: 64}, 1, 2, payload(10, 0))},
			{at(1), udp4(fromHost, v4{src: "192.0.2.10", dst: "10.99.1.5", ttl: 64}, 1, 2, payload(10, 0))},
			{at(2), udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:dead::1", hlim: 64}, 1, 2, payload(10, 0))},
		}},
		out: map[string][]frame{"wan": {
			{at(1), udp4(toGW, v4{src: "192.0.2.10", dst: "10.99.1.5", ttl: 63}, 1, 2, payload(10, 0))},
		}},
		drops: map[string]uint64{"blackhole": 2},
	}.run(t)
}

// TestGoldenNeighborFailure: a next hop that never answers is asked three
// times, a second apart (the tick clock is the capture's), then its queued
// packets are answered with ICMP host unreachable. The queue keeps the
// newest 8 packets.
func TestGoldenNeighborFailure(t *testing.T) {
	pkt := func(i int) []byte {
		return udp4(fromHost, v4{src: "192.0.2.10", dst: "198.51.100.7", ttl: 64, id: uint16(i)}, 1, 2, payload(10, 0))
	}
	queued := func(i int) []byte {
		return udp4(toPeer, v4{src: "192.0.2.10", dst: "198.51.100.7", ttl: 63, id: uint16(i)}, 1, 2, payload(10, 0))
	}
	var in []frame
	for i := range 10 {
		in = append(in, frame{at(float64(i)), pkt(i)})
	}
	in = append(in, frame{at(3500), serialize(&layers.Ethernet{SrcMAC: hw(hostMAC), DstMAC: hw(lanMAC), EthernetType: 0x88b5}, payloadOf(50))})
	var errs []frame
	for i := 2; i < 10; i++ {
		errs = append(errs, frame{at(3000), icmp4Err(toHost, "192.0.2.1", "192.0.2.10", uint16(i-1), 3, 1, 0, l3(queued(i))[:38])})
	}
	arp := arpFrame(wanBcast, layers.ARPRequest, wanMAC, "198.51.100.2", packet.MAC{}, "198.51.100.7")
	golden{
		policy: policy("", ""),
		in:     map[string][]frame{"lan": in},
		out: map[string][]frame{
			"wan": {{at(0), arp}, {at(1000), arp}, {at(2000), arp}},
			"lan": errs,
		},
		drops: map[string]uint64{"neighbor-queue-full": 2, "neighbor-failed": 8, "unknown-ethertype": 1},
	}.run(t)
}

// TestGoldenParameterProblem: a malformed IPv4 option gets a parameter
// problem pointing at it; source-routed packets are dropped (RFC 7126); an
// IPv6 routing header with segments left, addressed to the router, which
// implements no routing type, gets a parameter problem pointing at its
// type (RFC 8200 4.4).
func TestGoldenParameterProblem(t *testing.T) {
	badOpt := udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64, id: 1,
		options: []layers.IPv4Option{{OptionType: 1, OptionLength: 1}, {OptionType: 0x44, OptionLength: 12, OptionData: make([]byte, 10)}}}, 1, 2, payload(8, 0))
	badOpt[14+20+2] = 60 // the timestamp option's length now runs past the header
	hdr := badOpt[14:]
	hdr[10], hdr[11] = 0, 0
	binary.BigEndian.PutUint16(hdr[10:], ^packet.Checksum(hdr[:int(hdr[0]&0xf)*4], 0))
	lsrr := udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64,
		options: []layers.IPv4Option{{OptionType: 131, OptionLength: 7, OptionData: []byte{4, 203, 0, 113, 9}}}}, 1, 2, payload(8, 0))

	// IPv6 + routing header (type 0, one address, one segment left) + UDP.
	rh := []byte{17, 2, 0, 1, 0, 0, 0, 0}
	rh = append(rh, ip("2001:db8:9::9")...)
	udp := udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:1::1", hlim: 64}, 1, 2, payload(8, 0))[14+40:]
	ipl := v6{src: "2001:db8:1::10", dst: "2001:db8:1::1", hlim: 64}.layer(layers.IPProtocolIPv6Routing)
	routed := serialize(append(fromHost.layers(layers.EthernetTypeIPv6), ipl, payloadBytes(append(rh, udp...)))...)
	golden{
		policy: policy("", ""),
		in:     map[string][]frame{"lan": {{at(0), badOpt}, {at(1), lsrr}, {at(2), routed}}},
		out: map[string][]frame{"lan": {
			{at(0), icmp4Err(toHost, "192.0.2.1", "192.0.2.10", 1, 12, 0, 22<<24, l3(badOpt)[:binary.BigEndian.Uint16(l3(badOpt)[2:])])},
			{at(2), icmp6Err(toHost, "2001:db8:1::1", "2001:db8:1::10", 4, 0, 42, l3(routed))},
		}},
		drops: map[string]uint64{"bad-ip-option": 1, "source-route": 1, "parameter-problem": 1},
	}.run(t)
}
