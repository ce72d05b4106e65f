package fib_test

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/router/fib"
	"github.com/nfvkit/nfvkit/appliances/router/fib/fibtest"
)

// The router policy of DESIGN.md, section 2.
func exampleBuilder(t *testing.T) *fib.Builder {
	t.Helper()
	var b fib.Builder
	for _, e := range []struct {
		iface int
		addr  string
	}{
		{0, "192.0.2.1/24"}, {0, "2001:db8:1::1/64"}, {1, "198.51.100.2/30"},
	} {
		if err := b.AddInterface(e.iface, pfx(e.addr)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.AddStatic(pfx("0.0.0.0/0"), addr("198.51.100.1")); err != nil {
		t.Fatal(err)
	}
	if err := b.AddStatic(pfx("10.20.0.0/16"), addr("192.0.2.254")); err != nil {
		t.Fatal(err)
	}
	return &b
}

func TestTableRoutes(t *testing.T) {
	tb, err := exampleBuilder(t).Build()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dst  string
		want *fib.NextHop
	}{
		{"8.8.8.8", &fib.NextHop{Iface: 1, Gateway: addr("198.51.100.1")}},
		{"10.20.3.4", &fib.NextHop{Iface: 0, Gateway: addr("192.0.2.254")}},
		{"192.0.2.77", &fib.NextHop{Iface: 0}},
		{"192.0.2.1", &fib.NextHop{Iface: 0, Local: true}},
		{"198.51.100.1", &fib.NextHop{Iface: 1}},
		{"198.51.100.2", &fib.NextHop{Iface: 1, Local: true}},
		{"2001:db8:1::42", &fib.NextHop{Iface: 0}},
		{"2001:db8:1::1", &fib.NextHop{Iface: 0, Local: true}},
		{"2001:db8:2::1", nil}, // no IPv6 default
	}
	for _, c := range cases {
		a := addr(c.dst)
		got := tb.RouteAddr(a, 12345)
		var got2 *fib.NextHop
		if a.Is4() {
			got2 = tb.Route4(a.As4(), 12345)
		} else {
			got2 = tb.Route6(a.As16(), 12345)
		}
		if got != got2 {
			t.Errorf("%s: RouteAddr and Route4/6 disagree", c.dst)
		}
		switch {
		case c.want == nil && got != nil:
			t.Errorf("%s: got %+v, want no route", c.dst, *got)
		case c.want != nil && (got == nil || *got != *c.want):
			t.Errorf("%s: got %+v, want %+v", c.dst, got, *c.want)
		}
	}
	if tb.Len4() != 6 || tb.Len6() != 2 { // connected, local and static
		t.Errorf("Len4, Len6 = %d, %d; want 6, 2", tb.Len4(), tb.Len6())
	}
}

func TestBuilderPrecedenceAndDelete(t *testing.T) {
	b := exampleBuilder(t)
	// A static route for a connected network and for a local address lose.
	if err := b.AddStatic(pfx("192.0.2.0/24"), addr("198.51.100.1")); err != nil {
		t.Fatal(err)
	}
	if err := b.AddStatic(pfx("192.0.2.1/32"), addr("198.51.100.1")); err != nil {
		t.Fatal(err)
	}
	tb, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if h := tb.RouteAddr(addr("192.0.2.9"), 0); h == nil || h.Gateway.IsValid() {
		t.Errorf("connected lost to static: %+v", h)
	}
	if h := tb.RouteAddr(addr("192.0.2.1"), 0); h == nil || !h.Local {
		t.Errorf("local lost to static: %+v", h)
	}
	// Delete, rebuild: the default goes, the rest stays.
	b.Delete(pfx("0.0.0.0/0"))
	tb2, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if h := tb2.RouteAddr(addr("8.8.8.8"), 0); h != nil {
		t.Errorf("deleted default still routes: %+v", h)
	}
	if h := tb2.RouteAddr(addr("10.20.0.1"), 0); h == nil || h.Gateway != addr("192.0.2.254") {
		t.Errorf("10.20/16 lost: %+v", h)
	}
	// The old table is untouched.
	if h := tb.RouteAddr(addr("8.8.8.8"), 0); h == nil {
		t.Error("rebuild changed the old table")
	}
	// Re-insert with another gateway.
	if err := b.AddStatic(pfx("0.0.0.0/0"), addr("192.0.2.253")); err != nil {
		t.Fatal(err)
	}
	tb3, _ := b.Build()
	if h := tb3.RouteAddr(addr("8.8.8.8"), 0); h == nil || *h != (fib.NextHop{Iface: 0, Gateway: addr("192.0.2.253")}) {
		t.Errorf("re-inserted default: %+v", h)
	}
}

func TestBuilderErrors(t *testing.T) {
	var b fib.Builder
	if err := b.AddInterface(0, pfx("192.0.2.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := b.AddInterface(-1, pfx("192.0.2.1/24")); err == nil {
		t.Error("negative interface accepted")
	}
	if err := b.AddStatic(pfx("10.0.0.0/8"), addr("2001:db8::1")); err == nil {
		t.Error("IPv6 gateway for IPv4 route accepted")
	}
	if err := b.AddStatic(pfx("10.0.0.0/8")); err == nil {
		t.Error("route without gateway accepted")
	}
	if err := b.AddRoute(pfx("10.0.0.0/8")); err == nil {
		t.Error("route without hop accepted")
	}
	if err := b.AddStatic(netip.Prefix{}, addr("192.0.2.9")); err == nil {
		t.Error("invalid destination accepted")
	}
	if err := b.AddStatic(pfx("10.0.0.0/8"), addr("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(); err == nil {
		t.Error("route via the appliance's own address built")
	}
	if err := b.AddStatic(pfx("10.0.0.0/8"), addr("203.0.113.1")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(); err == nil {
		t.Error("gateway on no connected network built")
	} else if !errors.Is(err, fib.ErrNoConnected) {
		t.Errorf("error %v does not wrap ErrNoConnected", err)
	}
}

func TestECMP(t *testing.T) {
	var b fib.Builder
	b.AddInterface(0, pfx("192.0.2.1/24"))
	b.AddInterface(1, pfx("198.51.100.1/24"))
	gws := []netip.Addr{addr("192.0.2.10"), addr("192.0.2.11"), addr("198.51.100.10")}
	if err := b.AddStatic(pfx("0.0.0.0/0"), gws...); err != nil {
		t.Fatal(err)
	}
	// The same set in another order, and with a repeat, is the same group.
	if err := b.AddStatic(pfx("10.0.0.0/8"), gws[2], gws[0], gws[1], gws[0]); err != nil {
		t.Fatal(err)
	}
	tb, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	g := tb.LookupAddr(addr("8.8.8.8"))
	if g2 := tb.LookupAddr(addr("10.1.1.1")); g2 != g {
		t.Fatalf("same hops, different groups %d, %d", g, g2)
	}
	if n := len(tb.Group(g)); n != 3 {
		t.Fatalf("group has %d hops, want 3", n)
	}
	count := map[netip.Addr]int{}
	r := rand.New(rand.NewPCG(3, 3))
	for range 30000 {
		flow := r.Uint32()
		h := tb.NextHop(g, flow)
		if tb.NextHop(g, flow) != h {
			t.Fatal("flow changed hop")
		}
		count[h.Gateway]++
	}
	for _, gw := range gws {
		if c := count[gw]; c < 9000 || c > 11000 {
			t.Errorf("gateway %v got %d of 30000 flows", gw, c)
		}
	}
	if tb.NextHop(fib.NoRoute, 1) != nil || tb.Group(fib.NoRoute) != nil {
		t.Error("NoRoute has hops")
	}
	// Explicit hops, one with a gateway and one connected.
	if err := b.AddRoute(pfx("2001:db8::/32"), fib.NextHop{Iface: 1, Gateway: addr("fe80::1")}, fib.NextHop{Iface: 0}); err != nil {
		t.Fatal(err)
	}
	tb, _ = b.Build()
	if hs := tb.Group(tb.LookupAddr(addr("2001:db8::5"))); len(hs) != 2 || hs[0].Iface != 0 || hs[1].Gateway != addr("fe80::1") {
		t.Errorf("explicit group: %+v", hs)
	}
}

func TestTableAllocs(t *testing.T) {
	tb, err := exampleBuilder(t).Build()
	if err != nil {
		t.Fatal(err)
	}
	var f fib.FIB
	f.Store(tb)
	d4 := [][4]byte{{8, 8, 8, 8}, {192, 0, 2, 9}}
	d6 := [][16]byte{addr("2001:db8:1::9").As16()}
	out := make([]uint32, 2)
	a := addr("10.20.1.1")
	var s int
	for name, fn := range map[string]func(){
		"Route4":       func() { s += f.Load().Route4(d4[0], 7).Iface },
		"Route6":       func() { _ = f.Load().Route6(d6[0], 7) },
		"RouteAddr":    func() { s += f.Load().RouteAddr(a, 7).Iface },
		"LookupBatch4": func() { f.Load().LookupBatch4(d4, out) },
		"LookupBatch6": func() { f.Load().LookupBatch6(d6, out) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations per run", name, n)
		}
	}
}

// Readers keep looking up while a writer swaps tables: every reader sees
// one whole table or the other, never a mixture, and never blocks.
func TestFIBSwap(t *testing.T) {
	var f fib.FIB
	if f.Load() == nil || f.Load().RouteAddr(addr("8.8.8.8"), 0) != nil {
		t.Fatal("zero FIB is not an empty table")
	}
	tables := make([]*fib.Table, 2)
	for i := range tables {
		var b fib.Builder
		b.AddInterface(i, pfx("192.0.2.1/24"))
		b.AddStatic(pfx("0.0.0.0/0"), addr("192.0.2.254"))
		b.AddStatic(pfx("10.0.0.0/8"), addr("192.0.2.254"))
		tb, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		tables[i] = tb
	}
	f.Store(tables[0])
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				tb := f.Load()
				a := tb.RouteAddr(addr("8.8.8.8"), 1)
				b := tb.RouteAddr(addr("10.1.1.1"), 1)
				if a == nil || b == nil || a.Iface != b.Iface {
					bad.Add(1)
				}
			}
		}()
	}
	for i := range 2000 {
		if old := f.Swap(tables[(i+1)%2]); old != tables[i%2] {
			t.Fatalf("Swap returned the wrong table")
		}
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d inconsistent reads", bad.Load())
	}
}

// A full-size table through the Builder: many static routes sharing a few
// gateways become few groups.
func TestBuilderLarge(t *testing.T) {
	var b fib.Builder
	b.AddInterface(0, pfx("192.0.2.1/24"))
	b.AddInterface(1, pfx("2001:db8:1::1/64"))
	gw4 := []netip.Addr{addr("192.0.2.10"), addr("192.0.2.11"), addr("192.0.2.12")}
	gw6 := []netip.Addr{addr("2001:db8:1::10"), addr("2001:db8:1::11")}
	ref := new(fibtest.Ref[netip.Addr])
	ps := fibtest.IPv4(50000, 5)
	for i, p := range ps {
		b.AddStatic(p, gw4[i%3])
		ref.Insert(p, gw4[i%3])
	}
	for i, p := range fibtest.IPv6(20000, 5) {
		b.AddStatic(p, gw6[i%2])
		ref.Insert(p, gw6[i%2])
	}
	tb, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if tb.Groups() != 3+2+4 { // gateways + 2 connected + 2 local
		t.Errorf("%d groups, want 9", tb.Groups())
	}
	for _, a := range fibtest.AddrsIn(ps, 10000, 1) {
		w, ok := ref.Lookup(a)
		h := tb.RouteAddr(a, 0)
		if !ok && h != nil || ok && (h == nil || h.Gateway != w) {
			t.Fatalf("%v: got %+v, want %v", a, h, w)
		}
	}
}
