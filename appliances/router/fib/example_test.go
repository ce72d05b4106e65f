package fib_test

import (
	"fmt"
	"net/netip"

	"github.com/nfvkit/nfvkit/appliances/router/fib"
)

// The router policy of DESIGN.md: two interfaces, a default route and a
// static route, compiled and swapped in; a worker routes a burst.
func Example() {
	var b fib.Builder
	b.AddInterface(0, netip.MustParsePrefix("192.0.2.1/24"))    // lan
	b.AddInterface(1, netip.MustParsePrefix("198.51.100.2/30")) // wan
	b.AddStatic(netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr("198.51.100.1"))
	b.AddStatic(netip.MustParsePrefix("10.20.0.0/16"), netip.MustParseAddr("192.0.2.254"))
	t, err := b.Build()
	if err != nil {
		panic(err)
	}
	var f fib.FIB
	f.Store(t) // on every reload

	// A worker, once per burst:
	tb := f.Load()
	dst := [][4]byte{{8, 8, 8, 8}, {10, 20, 1, 1}, {192, 0, 2, 7}, {192, 0, 2, 1}}
	groups := make([]uint32, len(dst))
	tb.LookupBatch4(dst, groups)
	for i, g := range groups {
		h := tb.NextHop(g, 0x9e3779b9 /* the packet's flow hash */)
		fmt.Printf("%v -> iface %d gateway %v local %v\n", netip.AddrFrom4(dst[i]), h.Iface, h.Gateway, h.Local)
	}
	// Output:
	// 8.8.8.8 -> iface 1 gateway 198.51.100.1 local false
	// 10.20.1.1 -> iface 0 gateway 192.0.2.254 local false
	// 192.0.2.7 -> iface 0 gateway invalid IP local false
	// 192.0.2.1 -> iface 0 gateway invalid IP local true
}
