package firewall

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// TestEstablishedAllocs: a packet of an established connection, TCP or
// UDP, plain or masqueraded, crosses the stage (route, conntrack, NAT)
// without allocating; so does a new connection's first packet (classify,
// create).
func TestEstablishedAllocs(t *testing.T) {
	g := newRig(t, parse(t, policy(masq, 1024)), 64)
	g.record = false
	syn := tcpSeg{sport: 40000, dport: 80, seq: 1000, flags: "S", win: 65535}
	synAck := tcpSeg{sport: 80, dport: 40000, seq: 5000, ack: 1001, flags: "SA", win: 65535}
	ack := tcpSeg{sport: 40000, dport: 80, seq: 1001, ack: 5001, flags: "A", win: 65535}
	g.send(0, lanPort, tcp(fromHost, h("192.0.2.10", "203.0.113.5", 64), syn))
	g.send(1, wanPort, tcp(fromGW, h("203.0.113.5", "198.51.100.2", 50), synAck))
	g.send(2, lanPort, tcp(fromHost, h("192.0.2.10", "203.0.113.5", 64), ack))
	u := udp(fromHost, h("192.0.2.10", "203.0.113.6", 64), 5000, 53, []byte("q"))
	g.send(3, lanPort, u)
	ua := udp(fromGW, h("203.0.113.6", "198.51.100.2", 50), 53, 5000, []byte("a"))
	g.send(4, wanPort, ua)
	for _, c := range []struct {
		name string
		port int
		f    []byte
	}{
		{"tcp-out", lanPort, tcp(fromHost, h("192.0.2.10", "203.0.113.5", 64), ack)},
		{"tcp-in", wanPort, tcp(fromGW, h("203.0.113.5", "198.51.100.2", 50), tcpSeg{sport: 80, dport: 40000, seq: 5001, ack: 1001, flags: "A", win: 65535})},
		{"udp-out", lanPort, u},
		{"udp-in", wanPort, ua},
	} {
		now := int64(10)
		before := g.stats.TotalDropped()
		n := testing.AllocsPerRun(1000, func() {
			now++
			g.send(now, c.port, c.f)
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per packet", c.name, n)
		}
		if d := g.stats.TotalDropped() - before; d != 0 {
			t.Errorf("%s: %d dropped: %v", c.name, d, g.stats.Drops())
		}
	}
	// New connections: a new source port each time (the UDP checksum,
	// which nothing here checks, goes stale).
	tmpl := udp(fromHost, h("192.0.2.10", "203.0.113.7", 64), 10000, 53, nil)
	port := uint16(10000)
	now := int64(time.Second)
	before := g.f.ConntrackStats()
	n := testing.AllocsPerRun(500, func() {
		port++
		now++
		g.add(lanPort, tmpl)
		binary.BigEndian.PutUint16(g.b.Pkts[0].Data()[14+20:], port)
		g.run(now)
	})
	if n != 0 {
		t.Errorf("new connections: %v allocations per packet", n)
	}
	if c := g.f.ConntrackStats().Created - before.Created; c < 500 {
		t.Errorf("%d connections created, want one per packet", c)
	}
}

// TestReload: a reload swaps the rules atomically; connections and their
// translations survive it, and those the new rules forbid are cut at
// their next packet; a bad policy leaves the running one.
func TestReload(t *testing.T) {
	g := newRig(t, parse(t, policy(masq, 64)), 64)
	dns := udp(fromHost, h("192.0.2.10", "203.0.113.5", 64), 5000, 53, []byte("q"))
	web := udp(fromHost, h("192.0.2.10", "203.0.113.6", 64), 5001, 443, []byte("q"))
	g.send(0, lanPort, dns)
	g.send(1, lanPort, web)
	if out := g.take(wanPort); len(out) != 2 {
		t.Fatalf("%d packets out before the reload, want 2", len(out))
	}
	// The new policy forbids DNS from inside; the NAT is the same.
	const forbidDNS = `
  - {from: inside, to: outside, proto: udp, dport: 53, action: drop}`
	p2 := parse(t, bytesReplace(policy(masq, 64), "rules:", "rules:"+forbidDNS))
	if err := g.f.Reload(p2); err != nil {
		t.Fatal(err)
	}
	bad := parse(t, policy(masq, 64))
	bad.Appliance = "router"
	if err := g.f.Reload(bad); err == nil {
		t.Fatal("reload of a router policy succeeded")
	}
	g.send(2, wanPort, udp(fromGW, h("203.0.113.5", "198.51.100.2", 50), 53, 5000, []byte("a")))
	g.send(3, wanPort, udp(fromGW, h("203.0.113.6", "198.51.100.2", 50), 443, 5001, []byte("a")))
	g.send(4, lanPort, web)
	g.send(5, lanPort, udp(fromHost, h("192.0.2.10", "203.0.113.9", 64), 5002, 53, []byte("q")))
	if got := g.stats.Dropped(ReasonReloadCut); got != 1 {
		t.Errorf("reload-cut %d, want 1", got)
	}
	if got := g.stats.Dropped(ReasonRuleDrop); got != 1 {
		t.Errorf("rule-drop %d, want 1 (a new DNS flow)", got)
	}
	lan := g.take(lanPort)
	if want := udp(toHost, h("203.0.113.6", "192.0.2.10", 49), 443, 5001, []byte("a")); len(lan) != 1 || !bytes.Equal(lan[0], want) {
		t.Errorf("lan got %x, want the web reply translated back %x", lan, want)
	}
	wan := g.take(wanPort)
	if want := udp(toGW, h("198.51.100.2", "203.0.113.6", 63), 5001, 443, []byte("q")); len(wan) != 1 || !bytes.Equal(wan[0], want) {
		t.Errorf("wan got %x, want the web flow masqueraded as before %x", wan, want)
	}
}

func bytesReplace(s, old, new string) string {
	return string(bytes.Replace([]byte(s), []byte(old), []byte(new), 1))
}

// TestPrefetched runs the stage's tests with the burst prefetch on for
// every table size (it starts at 32,768 connections otherwise): the
// packets Filter judges then come decoded from it, and conntrack and the
// classifier read ahead.
func TestPrefetched(t *testing.T) {
	defer func(n, m int) { prefetchMin, burstMin = n, m }(prefetchMin, burstMin)
	prefetchMin, burstMin = 0, 0
	t.Run("allocs", TestEstablishedAllocs)
	t.Run("reload", TestReload)
	t.Run("handshake", TestGoldenHandshake)
	t.Run("reject", TestGoldenReject)
	t.Run("timeouts", TestGoldenTimeouts)
	t.Run("masquerade", TestGoldenMasquerade)
	t.Run("dnat", TestGoldenDNAT)
	t.Run("full", TestGoldenFullTable)
}
