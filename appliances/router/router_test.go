package router

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

const reloadA = `appliance: router
interfaces:
  - {name: lan, port: "mem:lan", address: [192.0.2.1/24]}
  - {name: wan, port: "mem:wan", address: [198.51.100.2/24]}
routes:
  - {to: 203.0.113.0/24, via: 198.51.100.7}
neighbors:
  - {interface: lan, address: 192.0.2.10, mac: "02:00:00:00:02:0a"}
`

const reloadB = `appliance: router
interfaces:
  - {name: lan, port: "mem:lan", address: [192.0.2.1/24]}
  - {name: wan, port: "mem:wan", address: [198.51.100.2/24]}
routes:
  - {to: 203.0.113.0/24, via: 198.51.100.9}
  - {to: 10.0.0.0/8, via: 198.51.100.7}
neighbors:
  - {interface: lan, address: 192.0.2.10, mac: "02:00:00:00:02:0a"}
`

// TestReload: a reload swaps the routes and keeps what was learnt: the
// neighbour resolved under the old policy forwards at once under the new
// one, while the new route's gateway gets resolved; a bad policy is
// refused and the running one stays.
func TestReload(t *testing.T) {
	g := newRig(t, parse(t, reloadA), 256, Options{})
	ms := int64(time.Millisecond)
	to := func(dst string, ttl uint8) []byte {
		return udp4(fromHost, v4{src: "192.0.2.10", dst: dst, ttl: ttl}, 1, 2, payload(20, 0))
	}
	arpReq := func(target string) []byte {
		return arpFrame(wanBcast, layers.ARPRequest, wanMAC, "198.51.100.2", packet.MAC{}, target)
	}
	g.process(1*ms, in(0, to("203.0.113.5", 64)))
	if got := g.take(1); len(got) != 1 || !bytes.Equal(got[0].data, arpReq("198.51.100.7")) {
		t.Fatalf("want an ARP request for 198.51.100.7, got %d frames", len(got))
	}
	g.process(2*ms, in(1, arpFrame(fromPeer, layers.ARPReply, peerMAC, "198.51.100.7", wanMAC, "198.51.100.2")))
	if got := g.take(1); len(got) != 1 || !bytes.Equal(got[0].data, udp4(toPeer, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 63}, 1, 2, payload(20, 0))) {
		t.Fatalf("queued packet not released: %d frames", len(got))
	}

	if err := g.r.Reload(parse(t, reloadB)); err != nil {
		t.Fatal(err)
	}
	g.process(3*ms, in(0, to("10.1.2.3", 64)), in(0, to("203.0.113.5", 64)))
	got := g.take(1)
	if len(got) != 2 {
		t.Fatalf("after reload: %d frames out of wan, want 2", len(got))
	}
	if !bytes.Equal(got[0].data, udp4(toPeer, v4{src: "192.0.2.10", dst: "10.1.2.3", ttl: 63}, 1, 2, payload(20, 0))) {
		t.Errorf("10.1.2.3 not forwarded straight to the known neighbour:\n%s", describe(got[0].data))
	}
	if !bytes.Equal(got[1].data, arpReq("198.51.100.9")) {
		t.Errorf("203.0.113.5 did not resolve the new next hop:\n%s", describe(got[1].data))
	}

	bad := parse(t, reloadB)
	bad.Appliance = "firewall"
	if err := g.r.Reload(bad); err == nil {
		t.Fatal("a firewall policy was loaded into the router")
	}
	g.process(4*ms, in(0, to("10.1.2.3", 64)))
	if got := g.take(1); len(got) != 1 {
		t.Fatalf("after a failed reload: %d frames", len(got))
	}
	g.r.Release()
	if err := g.pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

// TestReloadInterfacesMoved: a reload that reorders interfaces keeps each
// neighbour on its interface.
func TestReloadInterfacesMoved(t *testing.T) {
	g := newRig(t, parse(t, reloadA), 256, Options{})
	ms := int64(time.Millisecond)
	g.process(1*ms, in(0, udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64}, 1, 2, payload(20, 0))))
	g.process(2*ms, in(1, arpFrame(fromPeer, layers.ARPReply, peerMAC, "198.51.100.7", wanMAC, "198.51.100.2")))
	g.take(1)
	swapped := `appliance: router
interfaces:
  - {name: wan, port: "mem:wan", address: [198.51.100.2/24]}
  - {name: lan, port: "mem:lan", address: [192.0.2.1/24]}
routes:
  - {to: 203.0.113.0/24, via: 198.51.100.7}
`
	// The ports keep their numbers: they belong to the running appliance.
	p := parse(t, swapped)
	if err := g.r.Reload(p); err != nil {
		t.Fatal(err)
	}
	g.process(3*ms, in(0, udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64}, 1, 2, payload(20, 0))))
	got := g.take(1)
	if len(got) != 1 || packet.MAC(got[0].data[0:6]) != peerMAC {
		t.Fatalf("neighbour lost across a reordering reload: %d frames", len(got))
	}
}

// TestReloadConcurrent reloads while bursts are routed (run with -race).
func TestReloadConcurrent(t *testing.T) {
	g := newRig(t, parse(t, policy("", "")), 512, Options{})
	pa, pb := parse(t, policy("", "")), parse(t, policy("", "\n  - {to: 10.0.0.0/8, blackhole: true}"))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := pa
			if i%2 == 1 {
				p = pb
			}
			if err := g.r.Reload(p); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	f := udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64}, 1, 2, payload(20, 0))
	for i := range 200 {
		g.process(int64(i)*int64(time.Millisecond), in(0, f), in(0, f))
		if got := g.take(1); len(got) != 2 {
			t.Fatalf("burst %d: %d forwarded", i, len(got))
		}
	}
	close(stop)
	wg.Wait()
}

// TestNeighborStates walks a neighbour through reachable, stale, delay,
// probe and back to reachable, then to failed, on the batch clock.
func TestNeighborStates(t *testing.T) {
	g := newRig(t, parse(t, reloadA), 256, Options{})
	s := int64(time.Second)
	pkt := udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64}, 1, 2, payload(20, 0))
	reply := arpFrame(fromPeer, layers.ARPReply, peerMAC, "198.51.100.7", wanMAC, "198.51.100.2")
	state := func() nstate {
		e := g.r.neigh.get(key4(1, 0xc6336407))
		if e == nil {
			t.Fatal("no entry for 198.51.100.7")
		}
		return e.state
	}
	g.process(1*s, in(0, pkt))
	if st := state(); st != nIncomplete {
		t.Fatalf("after the first packet: %v", st)
	}
	g.process(1*s+1, in(1, reply))
	if st := state(); st != nReachable {
		t.Fatalf("after the reply: %v", st)
	}
	g.take(1)
	g.tick(32 * s)
	if st := state(); st != nStale {
		t.Fatalf("30s later: %v", st)
	}
	g.process(33*s, in(0, pkt))
	if st := state(); st != nDelay {
		t.Fatalf("used while stale: %v", st)
	}
	if got := g.take(1); len(got) != 1 || packet.MAC(got[0].data[0:6]) != peerMAC {
		t.Fatal("a stale neighbour must still forward")
	}
	g.tick(38 * s)
	if st := state(); st != nProbe {
		t.Fatalf("5s after use: %v", st)
	}
	got := g.take(1)
	if len(got) != 1 || !bytes.Equal(got[0].data, arpFrame(l2{src: wanMAC, dst: peerMAC}, layers.ARPRequest, wanMAC, "198.51.100.2", packet.MAC{}, "198.51.100.7")) {
		t.Fatalf("no unicast probe: %d frames", len(got))
	}
	g.process(38*s+1, in(1, reply))
	if st := state(); st != nReachable {
		t.Fatalf("after the probe's reply: %v", st)
	}
	// Let it go stale and fail its probes.
	g.tick(70 * s)
	g.process(71*s, in(0, pkt))
	for k := int64(76); k <= 80; k++ {
		g.tick(k * s)
	}
	if st := state(); st != nFailed {
		t.Fatalf("after unanswered probes: %v", st)
	}
	if c := g.r.Counters(); c.NeighborFailed != 1 || c.ARPRequests != 5 {
		t.Errorf("counters %+v", c)
	}
	g.r.Release()
	if err := g.pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

// TestNeighTable exercises the open-addressing table: inserts, finds and
// removals in a crowded table keep every key findable.
func TestNeighTable(t *testing.T) {
	tb := newNeighTable(64, 4, 16)
	keys := map[nkey]bool{}
	for i := range 64 {
		k := key4(int32(i%3), uint32(0x0a000000+i*7919))
		if tb.create(k) == nil {
			t.Fatalf("create %d failed", i)
		}
		keys[k] = true
	}
	if tb.create(key4(9, 9)) != nil {
		t.Fatal("created past capacity")
	}
	i := 0
	for k := range keys {
		if i%2 == 0 {
			tb.remove(tb.get(k))
			delete(keys, k)
		}
		i++
	}
	for k := range keys {
		if tb.get(k) == nil {
			t.Fatalf("%v lost after removals", k)
		}
	}
	if tb.get(key4(0, 1)) != nil {
		t.Fatal("found a key never added")
	}
}

// TestProcessAllocs: the forwarding path of a resolved IPv4 and IPv6
// packet allocates nothing, nor does an ICMP error, a queued packet or ARP.
func TestProcessAllocs(t *testing.T) {
	pol := policy("", "") + `  - {interface: v100, address: 10.100.0.5, mac: "02:00:00:00:64:05"}
`
	const head = "appliance: router\ninterfaces:\n"
	pol = head + "  - {name: v100, parent: lan, vlan: 100, address: [10.100.0.1/24]}\n" + pol[len(head):]
	g := newRig(t, parse(t, pol), 512, Options{})
	f4 := udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64}, 1000, 53, payload(18, 0))
	f6 := udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:9::5", hlim: 64}, 1000, 53, payload(18, 0))
	ttl1 := udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 1}, 1000, 53, payload(18, 0))
	pop := udp4(l2{src: hostMAC, dst: lanMAC, vlan: 100}, v4{src: "10.100.0.5", dst: "203.0.113.5", ttl: 64}, 1000, 53, payload(18, 0))
	push := udp4(fromHost, v4{src: "192.0.2.10", dst: "10.100.0.5", ttl: 64}, 1000, 53, payload(18, 0))
	for _, c := range []struct {
		name string
		in   []inFrame
	}{
		{"ipv4", []inFrame{in(0, f4)}},
		{"ipv6", []inFrame{in(0, f6)}},
		{"burst", []inFrame{in(0, f4), in(0, f6), in(0, f4), in(0, f6)}},
		{"ttl-exceeded", []inFrame{in(0, ttl1)}},
		{"vlan-pop", []inFrame{in(0, pop)}},
		{"vlan-push", []inFrame{in(0, push)}},
	} {
		pks := make([]dataplane.Packet, len(c.in))
		run := func() {
			g.b.Reset()
			for i, f := range c.in {
				pk := &pks[i]
				if pk.Buffer() == nil {
					var ok bool
					if *pk, ok = g.pool.Get(); !ok {
						t.Fatal("pool empty")
					}
				}
				g.pool.SetPacket(pk, pk.Frame(), dataplane.DefaultHeadroom, len(f.data))
				copy(pk.Data(), f.data)
				pk.InPort = uint16(f.port)
				g.b.Add(*pk)
			}
			g.b.Now += 1000
			g.r.Process(g.b)
			for i := range g.b.Pkts {
				// The ICMP errors run out of tokens: dropped, no less.
				if g.b.Pkts[i].Verdict != dataplane.Forward && c.name != "ttl-exceeded" {
					t.Fatalf("%s: packet %d: %v %v", c.name, i, g.b.Pkts[i].Verdict, g.b.Pkts[i].Reason)
				}
			}
		}
		run()
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Errorf("%s: %v allocations per burst", c.name, n)
		}
		for i := range pks {
			g.pool.Put(pks[i])
		}
	}
}
