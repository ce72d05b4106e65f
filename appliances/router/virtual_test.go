package router

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// virtualOptions gives the base policy one virtual interface, a tunnel
// like ipsec-gw's WireGuard ones: 10.8.0.1/24, 2001:db8:8::1/64, MTU 1420,
// routes to 10.2.0.0/24 and 2001:db8:2::/48.
func virtualOptions() Options {
	return Options{Virtual: func(*config.Policy) ([]Virtual, error) {
		return []Virtual{{
			Name:    "wg0",
			MTU:     1420,
			Address: []netip.Prefix{netip.MustParsePrefix("10.8.0.1/24"), netip.MustParsePrefix("2001:db8:8::1/64")},
			Routes:  []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24"), netip.MustParsePrefix("2001:db8:2::/48")},
		}}, nil
	}}
}

// bare is the IP packet of an Ethernet frame.
func bare(frame []byte) []byte { return frame[packet.EthernetLen:] }

// TestVirtualInterface: a router with a virtual interface sends what it
// routes there as bare IP packets to the virtual port, takes bare IP
// packets from it as received there, routes the appliance's own packets
// from the local port without touching their TTL, answers pings to the
// virtual interface's address through it, and refuses what exceeds its MTU.
func TestVirtualInterface(t *testing.T) {
	g := newRig(t, parse(t, policy("", "")), 64, virtualOptions())
	g.sent = make([][]sentFrame, g.r.VirtualPort(0)+1)
	lan, wan, local, vp := 0, 1, g.r.LocalPort(), g.r.VirtualPort(0)
	if local != 2 || vp != 3 {
		t.Fatalf("local port %d, virtual port %d (want 2, 3)", local, vp)
	}
	pl := payload(100, 1)

	// Into the tunnel, by its route and to its connected network.
	for _, dst := range []string{"10.2.0.5", "10.8.0.7"} {
		g.process(1, in(lan, udp4(fromHost, v4{src: "192.0.2.10", dst: dst, ttl: 64}, 1000, 53, pl)))
		got := g.take(vp)
		want := bare(udp4(l2{}, v4{src: "192.0.2.10", dst: dst, ttl: 63}, 1000, 53, pl))
		if len(got) != 1 || !bytes.Equal(got[0].data, want) {
			t.Fatalf("to %s: virtual port got %x\nwant %x", dst, got, want)
		}
	}
	g.process(1, in(lan, udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:2::5", hlim: 64}, 1000, 53, pl)))
	if got, want := g.take(vp), bare(udp6(l2{}, v6{src: "2001:db8:1::10", dst: "2001:db8:2::5", hlim: 63}, 1000, 53, pl)); len(got) != 1 || !bytes.Equal(got[0].data, want) {
		t.Fatalf("IPv6 into the tunnel: got %x\nwant %x", got, want)
	}

	// Out of the tunnel, to a lan host: a link header and a TTL less.
	g.process(2, in(vp, bare(udp4(l2{}, v4{src: "10.2.0.5", dst: "192.0.2.10", ttl: 64}, 53, 1000, pl))))
	if got, want := g.take(lan), udp4(toHost, v4{src: "10.2.0.5", dst: "192.0.2.10", ttl: 63}, 53, 1000, pl); len(got) != 1 || !bytes.Equal(got[0].data, want) {
		t.Fatalf("out of the tunnel: got %x\nwant %x", got, want)
	}

	// The appliance's own packet (a tunnel's outer datagram): TTL kept.
	g.process(3, in(local, bare(udp4(l2{}, v4{src: "198.51.100.2", dst: "203.0.113.9", ttl: 64}, 51820, 51820, pl))))
	if got, want := g.take(wan), udp4(toGW, v4{src: "198.51.100.2", dst: "203.0.113.9", ttl: 64}, 51820, 51820, pl); len(got) != 1 || !bytes.Equal(got[0].data, want) {
		t.Fatalf("own packet: got %x\nwant %x", got, want)
	}

	// A ping to the tunnel's address from the far side is answered into
	// the tunnel.
	g.process(4, in(vp, bare(echo4(l2{}, v4{src: "10.8.0.2", dst: "10.8.0.1", ttl: 64}, false, 7, 1, pl))))
	if got, want := g.take(vp), bare(echo4(l2{}, v4{src: "10.8.0.1", dst: "10.8.0.2", ttl: 64}, true, 7, 1, pl)); len(got) != 1 || !bytes.Equal(got[0].data, want) {
		t.Fatalf("echo reply: got %x\nwant %x", got, want)
	}

	// Bigger than the tunnel's MTU with DF: fragmentation needed, MTU 1420.
	big := udp4(fromHost, v4{src: "192.0.2.10", dst: "10.2.0.5", ttl: 64, df: true}, 1000, 53, payload(1450, 2))
	g.process(5, in(lan, big))
	got := g.take(lan)
	if len(got) != 1 || len(g.take(vp)) != 0 {
		t.Fatalf("too big: %d ICMP errors", len(got))
	}
	icmp := got[0].data[packet.EthernetLen+packet.IPv4MinLen:]
	if icmp[0] != uint8(packet.ICMPv4DstUnreachable) || icmp[1] != packet.ICMPv4FragNeeded || icmp[6] != 1420>>8 || icmp[7] != 1420&0xff {
		t.Fatalf("too big: got %x", icmp[:8])
	}
	// Without DF it is fragmented to fit.
	big = udp4(fromHost, v4{src: "192.0.2.10", dst: "10.2.0.5", ttl: 64}, 1000, 53, payload(1450, 2))
	g.process(6, in(lan, big))
	frags := g.take(vp)
	if len(frags) != 2 || len(frags[0].data) > 1420 || frags[0].data[0] != 0x45 {
		t.Fatalf("fragments: %d, first %d bytes", len(frags), len(frags[0].data))
	}

	// Bare packets that are not IP are dropped.
	g.process(7, in(vp, []byte{0x00, 1, 2, 3}))
	if g.stats.Dropped(ReasonMalformed) != 1 {
		t.Fatalf("malformed: %v", g.stats.Drops())
	}

	for dst, want := range map[string]string{"10.2.0.5": "10.8.0.1", "203.0.113.9": "198.51.100.2", "192.0.2.77": "192.0.2.1", "2001:db8:9::1": "2001:db8:ff::2"} {
		if src, ok := g.r.SourceFor(netip.MustParseAddr(dst)); !ok || src.String() != want {
			t.Errorf("SourceFor(%s) = %v, %v; want %s", dst, src, ok, want)
		}
	}
	if err := g.pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

// TestVirtualAllocs: packets into, out of and from the appliance through
// virtual ports allocate nothing.
func TestVirtualAllocs(t *testing.T) {
	g := newRig(t, parse(t, policy("", "")), 64, virtualOptions())
	pl := payload(100, 1)
	cases := []inFrame{
		in(0, udp4(fromHost, v4{src: "192.0.2.10", dst: "10.2.0.5", ttl: 64}, 1000, 53, pl)),
		in(g.r.VirtualPort(0), bare(udp4(l2{}, v4{src: "10.2.0.5", dst: "192.0.2.10", ttl: 64}, 53, 1000, pl))),
		in(g.r.LocalPort(), bare(udp4(l2{}, v4{src: "198.51.100.2", dst: "203.0.113.9", ttl: 64}, 51820, 51820, pl))),
	}
	pks := make([]dataplane.Packet, len(cases))
	for i := range pks {
		pks[i], _ = g.pool.Get()
	}
	run := func() {
		g.b.Reset()
		for i, f := range cases {
			pk := &pks[i]
			g.pool.SetPacket(pk, pk.Frame(), dataplane.DefaultHeadroom, len(f.data))
			copy(pk.Data(), f.data)
			pk.InPort = uint16(f.port)
			g.b.Add(*pk)
		}
		g.r.Process(g.b)
		for i := range g.b.Pkts {
			if g.b.Pkts[i].Verdict != dataplane.Forward {
				t.Fatalf("packet %d: %v %v", i, g.b.Pkts[i].Verdict, g.b.Pkts[i].Reason)
			}
		}
	}
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Errorf("%v allocations per burst", n)
	}
	for i := range pks {
		g.pool.Put(pks[i])
	}
}
