package spd

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func pfxs(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

// ipPacket builds a minimal IPv4 or IPv6 header and 4 bytes of transport
// header (ports, or ICMP type and code).
func ipPacket(src, dst string, proto uint8, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	var b []byte
	if s.Is4() {
		b = make([]byte, 24)
		b[0], b[9] = 0x45, proto
		a, c := s.As4(), d.As4()
		copy(b[12:], a[:])
		copy(b[16:], c[:])
	} else {
		b = make([]byte, 44)
		b[0], b[6] = 0x60, proto
		a, c := s.As16(), d.As16()
		copy(b[8:], a[:])
		copy(b[24:], c[:])
	}
	binary.BigEndian.PutUint16(b[len(b)-4:], sport)
	binary.BigEndian.PutUint16(b[len(b)-2:], dport)
	return b
}

func TestLookup(t *testing.T) {
	sels := []Selector{
		0: {Local: pfxs("10.1.0.0/16"), Remote: pfxs("10.2.0.0/16"), Proto: 6, RemotePorts: PortRange{443, 443}},
		1: {Local: pfxs("10.1.0.0/16"), Remote: pfxs("10.2.0.0/16")},
		2: {Local: pfxs("10.1.5.0/24"), Remote: pfxs("10.2.7.0/24")}, // shadowed by 1
		3: {Local: pfxs("0.0.0.0/0"), Remote: pfxs("10.2.7.0/24", "192.0.2.0/24")},
		4: {Local: pfxs("fd01::/48"), Remote: pfxs("fd02::/48", "::/0"), Proto: 58, LocalPorts: PortRange{128 << 8, 128<<8 | 0xff}},
		5: {Local: pfxs("fd01::/48"), Remote: pfxs("fd02:0:0:1::/64")},
	}
	tab, err := Compile(sels)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		pkt  []byte
		want int
	}{
		{ipPacket("10.1.0.1", "10.2.0.1", 6, 5000, 443), 0},
		{ipPacket("10.1.0.1", "10.2.0.1", 6, 5000, 80), 1},
		{ipPacket("10.1.5.1", "10.2.7.1", 17, 5000, 80), 1},
		{ipPacket("10.9.5.1", "10.2.7.1", 17, 5000, 80), 3},
		{ipPacket("10.9.5.1", "192.0.2.200", 1, 0, 0), 3},
		{ipPacket("10.9.5.1", "10.2.8.1", 17, 5000, 80), NoMatch},
		{ipPacket("10.1.0.1", "10.3.0.1", 17, 5000, 80), NoMatch},
		{ipPacket("fd01::1", "2001:db8::1", 58, 128<<8, 0), 4}, // echo request
		{ipPacket("fd01::1", "2001:db8::1", 58, 129<<8, 0), NoMatch},
		{ipPacket("fd01::1", "fd02:0:0:1::5", 17, 1, 1), 5},
		{ipPacket("fd01::1", "fd02:0:0:2::5", 17, 1, 1), NoMatch},
		{ipPacket("fd09::1", "fd02:0:0:1::5", 17, 1, 1), NoMatch},
	}
	var k Key
	for i, c := range cases {
		if !k.Parse(c.pkt, true) {
			t.Fatalf("case %d: parse", i)
		}
		if got := tab.Lookup(&k); got != c.want {
			t.Errorf("case %d (%v -> %v): %d, want %d", i, k.Local(), k.Remote(), got, c.want)
		}
		// Inbound, the same flow seen from the other end matches the same.
		var r Key
		sp, dp := k.RemotePort, k.LocalPort
		if k.Proto == 1 || k.Proto == 58 {
			sp, dp = k.LocalPort, 0 // ICMP: type and code, both ways
		}
		r.Parse(ipPacket(k.Remote().String(), k.Local().String(), k.Proto, sp, dp), false)
		if r != k {
			t.Errorf("case %d: inbound key %+v, outbound %+v", i, r, k)
		}
	}
	if tab.Len() != len(sels) {
		t.Errorf("Len %d", tab.Len())
	}
	empty, _ := Compile(nil)
	k.Parse(ipPacket("10.1.0.1", "10.2.0.1", 6, 1, 1), true)
	if empty.Lookup(&k) != NoMatch {
		t.Error("empty table matched")
	}
	if _, err := Compile([]Selector{{Local: pfxs("10.0.0.0/8"), Remote: []netip.Prefix{{}}}}); err == nil {
		t.Error("invalid prefix compiled")
	}
	if _, err := Compile([]Selector{{Local: pfxs("10.0.0.0/8"), Remote: pfxs("10.0.0.0/8"), LocalPorts: PortRange{9, 8}}}); err == nil {
		t.Error("empty port range compiled")
	}
}

func TestParse(t *testing.T) {
	var k Key
	// An IPv6 packet with hop-by-hop and destination options before UDP.
	p := ipPacket("fd01::1", "fd02::2", 0, 0, 0)[:40]
	p = append(p, 60, 0, 0, 0, 0, 0, 0, 0) // hop-by-hop -> dest opts
	p = append(p, 17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	p = append(p, 0x13, 0x88, 0x00, 0x35)
	if !k.Parse(p, true) || k.Proto != 17 || !k.HasPorts || k.LocalPort != 5000 || k.RemotePort != 53 {
		t.Errorf("ext headers: %+v", k)
	}
	// A non-first IPv6 fragment has no ports.
	f := ipPacket("fd01::1", "fd02::2", 44, 0, 0)[:40]
	f = append(f, 17, 0, 0, 8, 0, 0, 0, 1, 0x13, 0x88, 0, 53)
	if !k.Parse(f, true) || k.Proto != 17 || k.HasPorts {
		t.Errorf("fragment: %+v", k)
	}
	// Nor a non-first IPv4 fragment.
	v4 := ipPacket("10.0.0.1", "10.0.0.2", 17, 1, 2)
	v4[7] = 10
	if !k.Parse(v4, true) || k.HasPorts {
		t.Errorf("IPv4 fragment: %+v", k)
	}
	for _, bad := range [][]byte{nil, {0x45}, {0x46, 0, 0}, make([]byte, 30), ipPacket("10.0.0.1", "10.0.0.2", 17, 1, 2)[:19]} {
		if k.Parse(bad, true) {
			t.Errorf("parsed %x", bad)
		}
	}
	// A selector with ports does not match a packet without them.
	m, _ := (&Selector{Local: pfxs("::/0"), Remote: pfxs("::/0"), RemotePorts: PortRange{53, 53}}).Compile()
	k.Parse(f, true)
	if m.Match(&k) {
		t.Error("port selector matched a fragment")
	}
}

// TestLookupModel compares the compiled table with a linear scan of the
// selectors over random tables and packets.
func TestLookupModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	randPrefix := func(v6 bool) netip.Prefix {
		// A small address space, so that prefixes nest and overlap.
		if v6 {
			a := [16]byte{0xfd, 0, byte(rng.IntN(4)), byte(rng.IntN(256))}
			p, _ := netip.AddrFrom16(a).Prefix(16 + rng.IntN(17))
			return p
		}
		a := [4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))}
		p, _ := netip.AddrFrom4(a).Prefix(8 + rng.IntN(25))
		return p
	}
	randAddr := func(v6 bool) string {
		if v6 {
			return netip.AddrFrom16([16]byte{0xfd, 0, byte(rng.IntN(4)), byte(rng.IntN(256)), 15: byte(rng.IntN(256))}).String()
		}
		return netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))}).String()
	}
	for round := range 20 {
		sels := make([]Selector, 1+rng.IntN(300))
		for i := range sels {
			s := &sels[i]
			for range 1 + rng.IntN(3) {
				v6 := rng.IntN(3) == 0
				s.Local = append(s.Local, randPrefix(v6))
				s.Remote = append(s.Remote, randPrefix(v6))
			}
			if rng.IntN(4) == 0 {
				s.Proto = []uint8{6, 17}[rng.IntN(2)]
			}
			if rng.IntN(5) == 0 {
				lo := uint16(rng.IntN(100))
				s.RemotePorts = PortRange{lo, lo + uint16(rng.IntN(20))}
			}
		}
		tab, err := Compile(sels)
		if err != nil {
			t.Fatal(err)
		}
		ms := make([]Matcher, len(sels))
		for i := range sels {
			ms[i], _ = sels[i].Compile()
		}
		var k Key
		for range 2000 {
			v6 := rng.IntN(3) == 0
			k.Parse(ipPacket(randAddr(v6), randAddr(v6), []uint8{6, 17, 1}[rng.IntN(3)], uint16(rng.IntN(120)), uint16(rng.IntN(120))), true)
			want := NoMatch
			for i := range ms {
				if ms[i].Match(&k) {
					want = i
					break
				}
			}
			if got := tab.Lookup(&k); got != want {
				t.Fatalf("round %d: %v -> %v proto %d: %d, want %d", round, k.Local(), k.Remote(), k.Proto, got, want)
			}
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	tab, _ := Compile([]Selector{{Local: pfxs("10.1.0.0/16", "fd01::/48"), Remote: pfxs("10.2.0.0/16", "fd02::/48")}})
	p4, p6 := ipPacket("10.1.0.1", "10.2.0.1", 6, 1, 2), ipPacket("fd01::1", "fd02::1", 17, 1, 2)
	var k Key
	n := testing.AllocsPerRun(100, func() {
		k.Parse(p4, true)
		tab.Lookup(&k)
		k.Parse(p6, true)
		tab.Lookup(&k)
	})
	if n != 0 {
		t.Errorf("%.1f allocations", n)
	}
}

// BenchmarkLookup: one lookup in tables of 1 to 100,000 IPv4 policies
// (distinct /24 remote networks, one local network).
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1, 1000, 100000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			sels := make([]Selector, n)
			for i := range sels {
				p, _ := netip.AddrFrom4([4]byte{byte(100 + i>>16), byte(i >> 8), byte(i), 0}).Prefix(24)
				sels[i] = Selector{Local: pfxs("192.168.0.0/16"), Remote: []netip.Prefix{p}}
			}
			tab, err := Compile(sels)
			if err != nil {
				b.Fatal(err)
			}
			keys := make([]Key, 1024)
			for i := range keys {
				j := (i * 7919) % n
				keys[i].Parse(ipPacket("192.168.1.1", fmt.Sprintf("%d.%d.%d.9", 100+j>>16, byte(j>>8), byte(j)), 17, 1, 2), true)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if tab.Lookup(&keys[i%len(keys)]) == NoMatch {
					b.Fatal("no match")
				}
			}
		})
	}
}
