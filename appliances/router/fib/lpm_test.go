package fib_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/router/fib"
	"github.com/nfvkit/nfvkit/appliances/router/fib/fibtest"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

// entries gives each prefix a next hop below nh.
func entries(ps []netip.Prefix, nh int, seed uint64) []fib.Entry {
	r := rand.New(rand.NewPCG(seed, 1))
	es := make([]fib.Entry, len(ps))
	for i, p := range ps {
		es[i] = fib.Entry{Prefix: p, NextHop: uint32(r.IntN(nh))}
	}
	return es
}

func refOf(es []fib.Entry) *fibtest.Ref[uint32] {
	ref := new(fibtest.Ref[uint32])
	for _, e := range es {
		ref.Insert(e.Prefix, e.NextHop)
	}
	return ref
}

func want(ref *fibtest.Ref[uint32], a netip.Addr) uint32 {
	if v, ok := ref.Lookup(a); ok {
		return v
	}
	return fib.NoRoute
}

// randomPrefixes makes n prefixes of any length, crowded into a few regions
// so that they nest and overlap heavily, plus whatever extra adds.
func randomPrefixes(r *rand.Rand, v4 bool, n int, extra ...string) []netip.Prefix {
	var bases []netip.Prefix
	if v4 {
		bases = []netip.Prefix{pfx("10.0.0.0/14"), pfx("192.0.2.0/24"), pfx("0.0.0.0/0"), pfx("255.255.0.0/16")}
	} else {
		bases = []netip.Prefix{pfx("2001:db8::/44"), pfx("2001:db8:0:1::/64"), pfx("::/0"), pfx("ffff:ffff::/32")}
	}
	var ps []netip.Prefix
	for range n {
		base := bases[r.IntN(len(bases))]
		a := fibtest.RandomIn(r, base)
		l := base.Bits() + r.IntN(a.BitLen()-base.Bits()+1)
		if r.IntN(4) == 0 {
			l = r.IntN(a.BitLen() + 1) // any length, shorter than the base too
		}
		p, _ := a.Prefix(l)
		ps = append(ps, p)
	}
	for _, s := range extra {
		ps = append(ps, pfx(s))
	}
	return ps
}

// probes returns addresses that test the edges of every prefix — first,
// last, and the neighbours just outside — and random ones inside and out.
func probes(r *rand.Rand, ps []netip.Prefix, n int) []netip.Addr {
	var out []netip.Addr
	for _, p := range ps {
		first := p.Masked().Addr()
		last := lastAddr(p)
		out = append(out, first, last)
		if q := first.Prev(); q.IsValid() {
			out = append(out, q)
		}
		if q := last.Next(); q.IsValid() {
			out = append(out, q)
		}
	}
	whole := pfx("0.0.0.0/0")
	if len(ps) > 0 && ps[0].Addr().Is6() {
		whole = pfx("::/0")
	}
	for range n {
		out = append(out, fibtest.RandomIn(r, whole))
		if len(ps) > 0 {
			out = append(out, fibtest.RandomIn(r, ps[r.IntN(len(ps))]))
		}
	}
	return out
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// check compares every way of looking up with the reference.
func check4(t *testing.T, m *fib.LPM4, ref *fibtest.Ref[uint32], as []netip.Addr) {
	t.Helper()
	dst := make([][4]byte, len(as))
	u := make([]uint32, len(as))
	for i, a := range as {
		dst[i] = a.As4()
		u[i] = binary.BigEndian.Uint32(dst[i][:])
	}
	out := make([]uint32, len(as)+1)
	out2 := make([]uint32, len(as))
	m.LookupBatch(dst, out)
	m.LookupBatchUint32(u, out2)
	for i, a := range as {
		w := want(ref, a)
		if got := m.Lookup(dst[i]); got != w {
			t.Fatalf("Lookup(%v) = %d, want %d", a, got, w)
		}
		if got := m.LookupAddr(a); got != w {
			t.Fatalf("LookupAddr(%v) = %d, want %d", a, got, w)
		}
		if out[i] != w || out2[i] != w {
			t.Fatalf("LookupBatch: %v = %d / %d, want %d", a, out[i], out2[i], w)
		}
	}
}

func check6(t *testing.T, m *fib.LPM6, ref *fibtest.Ref[uint32], as []netip.Addr) {
	t.Helper()
	dst := make([][16]byte, len(as))
	for i, a := range as {
		dst[i] = a.As16()
	}
	out := make([]uint32, len(as))
	m.LookupBatch(dst, out)
	for i, a := range as {
		w := want(ref, a)
		if got := m.Lookup(dst[i]); got != w {
			t.Fatalf("Lookup(%v) = %d, want %d", a, got, w)
		}
		if got := m.LookupAddr(a); got != w {
			t.Fatalf("LookupAddr(%v) = %d, want %d", a, got, w)
		}
		if out[i] != w {
			t.Fatalf("LookupBatch: %v = %d, want %d", a, out[i], w)
		}
	}
}

// The corner cases, checked against a linear scan over every prefix edge.
func TestLPMCorners(t *testing.T) {
	cases := []struct {
		name string
		ps   []string
	}{
		{"empty", nil},
		{"default only", []string{"0.0.0.0/0"}},
		{"host only", []string{"192.0.2.1/32"}},
		{"extremes", []string{"0.0.0.0/32", "255.255.255.255/32", "0.0.0.0/1", "128.0.0.0/1"}},
		{"nested", []string{"0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.128/25", "10.1.2.200/32", "10.1.2.201/32"}},
		{"boundaries", []string{"10.0.0.0/5", "10.0.0.0/6", "10.0.0.0/11", "10.0.0.0/12", "10.0.0.0/17", "10.0.0.0/18", "10.0.0.0/23", "10.0.0.0/24", "10.0.0.0/29", "10.0.0.0/30", "10.0.0.0/31"}},
		{"siblings", []string{"10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/23", "10.0.4.0/22", "10.0.3.7/32"}},
		{"v6 default only", []string{"::/0"}},
		{"v6 host only", []string{"2001:db8::1/128"}},
		{"v6 extremes", []string{"::/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "::/1", "8000::/1"}},
		{"v6 nested", []string{"::/0", "2000::/3", "2001:db8::/32", "2001:db8:1::/48", "2001:db8:1:2::/64", "2001:db8:1:2::1/128", "2001:db8:1:2:8000::/65"}},
		{"v6 boundaries", []string{"2001:db8::/58", "2001:db8::/60", "2001:db8::/63", "2001:db8::/64", "2001:db8::/66", "2001:db8::/120", "2001:db8::/124", "2001:db8::/126", "2001:db8::/127"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ps []netip.Prefix
			var nhs []uint32
			var es []fib.Entry
			for i, s := range c.ps {
				ps = append(ps, pfx(s))
				nhs = append(nhs, uint32(i*3+1))
				es = append(es, fib.Entry{Prefix: pfx(s), NextHop: uint32(i*3 + 1)})
			}
			r := rand.New(rand.NewPCG(1, 2))
			v6 := len(ps) > 0 && ps[0].Addr().Is6()
			as := probes(r, ps, 200)
			if v6 || c.name == "empty" {
				m, err := fib.Compile6(es, fib.Options{})
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range probes(r, append(ps, pfx("::/0")), 200) {
					w, ok := fibtest.Linear(ps, nhs, a)
					if !ok {
						w = fib.NoRoute
					}
					if got := m.LookupAddr(a); got != w {
						t.Fatalf("%v: got %d want %d", a, got, w)
					}
				}
			}
			if !v6 {
				m, err := fib.Compile4(es, fib.Options{})
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range as {
					w, ok := fibtest.Linear(ps, nhs, a)
					if !ok {
						w = fib.NoRoute
					}
					if got := m.LookupAddr(a); got != w {
						t.Fatalf("%v: got %d want %d", a, got, w)
					}
				}
			}
		})
	}
}

// Random, heavily overlapping tables at every size class of the top level
// (6, 12, 18 and 24 bits for IPv4), checked against the reference.
func TestLPMRandom(t *testing.T) {
	sizes := []int{1, 20, 300, 3000, 20000}
	if !testing.Short() {
		sizes = append(sizes, 140000)
	}
	for _, n := range sizes {
		for _, compact := range []bool{false, true} {
			if compact && n < 100000 {
				continue
			}
			t.Run(fmt.Sprintf("v4/%d/compact=%v", n, compact), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(n), 4))
				ps := randomPrefixes(r, true, n, "0.0.0.0/0", "0.0.0.0/32", "255.255.255.255/32")
				es := entries(ps, 1000, uint64(n))
				m, err := fib.Compile4(es, fib.Options{Compact: compact})
				if err != nil {
					t.Fatal(err)
				}
				check4(t, m, refOf(es), probes(r, ps[:min(len(ps), 5000)], 5000))
			})
		}
		t.Run(fmt.Sprintf("v6/%d", n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(n), 6))
			ps := randomPrefixes(r, false, n, "::/0", "::/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")
			es := entries(ps, 1000, uint64(n))
			m, err := fib.Compile6(es, fib.Options{})
			if err != nil {
				t.Fatal(err)
			}
			check6(t, m, refOf(es), probes(r, ps[:min(len(ps), 5000)], 5000))
		})
	}
}

// Realistic tables, smaller than the full one, with random addresses.
func TestLPMRealistic(t *testing.T) {
	for _, n := range []int{1000, 50000, 200000} {
		if testing.Short() && n > 50000 {
			continue
		}
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p4 := fibtest.IPv4(n, uint64(n))
			es4 := entries(p4, 300, 1)
			m4, err := fib.Compile4(es4, fib.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var as []netip.Addr
			for _, a := range fibtest.Addrs4(20000, 3) {
				as = append(as, netip.AddrFrom4(a))
			}
			as = append(as, fibtest.AddrsIn(p4, 20000, 4)...)
			check4(t, m4, refOf(es4), as)

			p6 := fibtest.IPv6(n/5, uint64(n))
			es6 := entries(p6, 300, 2)
			m6, err := fib.Compile6(es6, fib.Options{})
			if err != nil {
				t.Fatal(err)
			}
			check6(t, m6, refOf(es6), fibtest.AddrsIn(p6, 40000, 5))
		})
	}
}

// A table changed (routes deleted, re-added, next hops changed) and rebuilt
// answers as the reference changed the same way does.
func TestLPMRebuild(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, v4 := range []bool{true, false} {
		ps := randomPrefixes(r, v4, 5000)
		es := entries(ps, 50, 9)
		ref := refOf(es)
		cur := map[netip.Prefix]uint32{}
		for _, e := range es {
			cur[e.Prefix.Masked()] = e.NextHop
		}
		for round := range 5 {
			// Delete a fifth, re-add half of those with new hops, add new.
			for _, p := range ps {
				switch r.IntN(10) {
				case 0, 1:
					delete(cur, p.Masked())
					ref.Delete(p)
				case 2:
					nh := uint32(100 + round)
					cur[p.Masked()] = nh
					ref.Insert(p, nh)
				}
			}
			for _, p := range randomPrefixes(r, v4, 300) {
				cur[p.Masked()] = uint32(200 + round)
				ref.Insert(p, uint32(200+round))
			}
			var next []fib.Entry
			for p, nh := range cur {
				next = append(next, fib.Entry{Prefix: p, NextHop: nh})
			}
			as := probes(r, ps, 3000)
			if v4 {
				m, err := fib.Compile4(next, fib.Options{})
				if err != nil {
					t.Fatal(err)
				}
				check4(t, m, ref, as)
			} else {
				m, err := fib.Compile6(next, fib.Options{})
				if err != nil {
					t.Fatal(err)
				}
				check6(t, m, ref, as)
			}
		}
	}
}

func TestCompileDuplicatesLastWins(t *testing.T) {
	m, err := fib.Compile4([]fib.Entry{
		{Prefix: pfx("10.0.0.0/8"), NextHop: 1},
		{Prefix: pfx("10.1.2.3/8"), NextHop: 2}, // same prefix, unmasked
		{Prefix: pfx("10.0.0.0/8"), NextHop: 3},
		{Prefix: pfx("10.0.0.0/9"), NextHop: 4},
	}, fib.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.LookupAddr(addr("10.200.0.1")); got != 3 {
		t.Errorf("got %d, want 3", got)
	}
	if m.Len() != 2 {
		t.Errorf("Len = %d, want 2", m.Len())
	}
}

func TestCompileErrors(t *testing.T) {
	if _, err := fib.Compile4([]fib.Entry{{Prefix: pfx("2001:db8::/32")}}, fib.Options{}); err == nil {
		t.Error("Compile4 took an IPv6 prefix")
	}
	if _, err := fib.Compile6([]fib.Entry{{Prefix: pfx("192.0.2.0/24")}}, fib.Options{}); err == nil {
		t.Error("Compile6 took an IPv4 prefix")
	}
	if _, err := fib.Compile4([]fib.Entry{{}}, fib.Options{}); err == nil {
		t.Error("Compile4 took an invalid prefix")
	}
	if _, err := fib.Compile4([]fib.Entry{{Prefix: pfx("10.0.0.0/8"), NextHop: fib.MaxNextHop + 1}}, fib.Options{}); err == nil {
		t.Error("Compile4 took a next hop past MaxNextHop")
	}
	if _, err := fib.Compile4([]fib.Entry{{Prefix: pfx("10.0.0.0/8"), NextHop: fib.MaxNextHop}}, fib.Options{}); err != nil {
		t.Errorf("Compile4 refused MaxNextHop: %v", err)
	}
}

func TestLookupWrongFamily(t *testing.T) {
	m4, _ := fib.Compile4([]fib.Entry{{Prefix: pfx("0.0.0.0/0"), NextHop: 1}}, fib.Options{})
	m6, _ := fib.Compile6([]fib.Entry{{Prefix: pfx("::/0"), NextHop: 1}}, fib.Options{})
	if m4.LookupAddr(addr("::1")) != fib.NoRoute || m4.LookupAddr(netip.Addr{}) != fib.NoRoute {
		t.Error("LPM4 answered a non-IPv4 address")
	}
	if m6.LookupAddr(addr("192.0.2.1")) != fib.NoRoute || m6.LookupAddr(netip.Addr{}) != fib.NoRoute {
		t.Error("LPM6 answered a non-IPv6 address")
	}
	if m6.LookupAddr(addr("::ffff:192.0.2.1")) != 1 {
		t.Error("LPM6 did not answer an IPv4-mapped address")
	}
}

func TestLookupAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	p4 := fibtest.IPv4(20000, 1)
	p6 := fibtest.IPv6(20000, 1)
	m4, _ := fib.Compile4(entries(p4, 10, 1), fib.Options{})
	m6, _ := fib.Compile6(entries(p6, 10, 1), fib.Options{})
	as4 := probes(r, p4[:100], 100)
	as6 := probes(r, p6[:100], 100)
	d4 := make([][4]byte, 256)
	d6 := make([][16]byte, 256)
	u4 := make([]uint32, 256)
	for i := range d4 {
		d4[i] = as4[i%len(as4)].As4()
		d6[i] = as6[i%len(as6)].As16()
		u4[i] = binary.BigEndian.Uint32(d4[i][:])
	}
	out := make([]uint32, 256)
	var s uint32
	for name, f := range map[string]func(){
		"Lookup4":           func() { s += m4.Lookup(d4[3]) },
		"LookupAddr4":       func() { s += m4.LookupAddr(as4[5]) },
		"LookupBatch4":      func() { m4.LookupBatch(d4, out) },
		"LookupBatchUint32": func() { m4.LookupBatchUint32(u4, out) },
		"Lookup6":           func() { s += m6.Lookup(d6[3]) },
		"LookupAddr6":       func() { s += m6.LookupAddr(as6[5]) },
		"LookupBatch6":      func() { m6.LookupBatch(d6, out) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per run", name, n)
		}
	}
	_ = s
}

func TestGeneratorDeterministicAndRealistic(t *testing.T) {
	a := fibtest.IPv4(100000, 42)
	b := fibtest.IPv4(100000, 42)
	if !slices.Equal(a, b) {
		t.Fatal("IPv4 not deterministic")
	}
	if c := fibtest.IPv4(100000, 43); slices.Equal(a, c) {
		t.Fatal("IPv4 ignores the seed")
	}
	check := func(ps []netip.Prefix, n int, shares map[int][2]float64) {
		t.Helper()
		if len(ps) != n {
			t.Fatalf("%d prefixes, want %d", len(ps), n)
		}
		seen := map[netip.Prefix]bool{}
		byLen := map[int]int{}
		for _, p := range ps {
			if p != p.Masked() || seen[p] {
				t.Fatalf("prefix %v unmasked or repeated", p)
			}
			seen[p] = true
			byLen[p.Bits()]++
		}
		for l, r := range shares {
			if s := float64(byLen[l]) / float64(n); s < r[0] || s > r[1] {
				t.Errorf("/%d is %.3f of the table, want %.2f–%.2f", l, s, r[0], r[1])
			}
		}
	}
	check(a, 100000, map[int][2]float64{24: {0.55, 0.65}, 22: {0.10, 0.15}, 23: {0.08, 0.12}})
	p6 := fibtest.IPv6(50000, 42)
	if !slices.Equal(p6, fibtest.IPv6(50000, 42)) {
		t.Fatal("IPv6 not deterministic")
	}
	check(p6, 50000, map[int][2]float64{48: {0.40, 0.52}, 32: {0.10, 0.16}, 29: {0.02, 0.04}})
}
