package fib_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gaissmai/bart"

	"github.com/nfvkit/nfvkit/appliances/router/fib"
	"github.com/nfvkit/nfvkit/appliances/router/fib/fibtest"
)

const (
	full4 = 1_000_000
	full6 = 200_000
	// nAddrs random destinations (4 MiB of IPv4, 16 MiB of IPv6): each
	// lookup lands somewhere unrelated to the last, so the benchmarks pay
	// the cache misses a router pays.
	nAddrs = 1 << 20
)

// world is the Internet-sized table every benchmark and the big tests share,
// built once per process.
type world struct {
	p4, p6       []netip.Prefix
	es4, es6     []fib.Entry
	m4           *fib.LPM4
	m6           *fib.LPM6
	bf           *bart.Fast[uint32] // both families
	heap         map[string]uint64  // retained heap per structure, bytes
	a4, a4routed [][4]byte
	u4           []uint32
	a6           [][16]byte
	addr4, addr6 []netip.Addr

	// Only for the benchmarks, built on first use.
	extraOnce sync.Once
	m4compact *fib.LPM4
	dir       *dir24
	bt        *bart.Table[uint32]
}

var (
	worldOnce sync.Once
	theWorld  *world
)

// heapOf returns build's result and how much heap it retains.
func heapOf[T any](build func() T) (T, uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return v, after.HeapAlloc - before.HeapAlloc
}

func bartOf[T interface{ Insert(netip.Prefix, uint32) }](t T, ess ...[]fib.Entry) T {
	for _, es := range ess {
		for _, e := range es {
			t.Insert(e.Prefix, e.NextHop)
		}
	}
	return t
}

func getWorld() *world {
	worldOnce.Do(func() {
		w := &world{heap: map[string]uint64{}}
		w.p4 = fibtest.IPv4(full4, 1)
		w.p6 = fibtest.IPv6(full6, 1)
		w.es4 = entries(w.p4, 256, 4)
		w.es6 = entries(w.p6, 256, 6)
		var h uint64
		w.m4, h = heapOf(func() *fib.LPM4 { m, _ := fib.Compile4(w.es4, fib.Options{}); return m })
		w.heap["ipv4/nfv"] = h
		w.m6, h = heapOf(func() *fib.LPM6 { m, _ := fib.Compile6(w.es6, fib.Options{}); return m })
		w.heap["ipv6/nfv"] = h
		// bart measured per family, then one table of both for the lookups.
		_, h = heapOf(func() *bart.Fast[uint32] { return bartOf(new(bart.Fast[uint32]), w.es6) })
		w.heap["ipv6/bart"] = h
		w.bf, h = heapOf(func() *bart.Fast[uint32] { return bartOf(new(bart.Fast[uint32]), w.es4) })
		w.heap["ipv4/bart"] = h
		bartOf(w.bf, w.es6)

		w.a4 = fibtest.Addrs4(nAddrs, 7)
		w.u4 = make([]uint32, nAddrs)
		w.addr4 = make([]netip.Addr, nAddrs)
		for i, a := range w.a4 {
			w.u4[i] = binary.BigEndian.Uint32(a[:])
			w.addr4[i] = netip.AddrFrom4(a)
		}
		for _, a := range fibtest.AddrsIn(w.p4, nAddrs, 8) {
			w.a4routed = append(w.a4routed, a.As4())
		}
		w.addr6 = fibtest.AddrsIn(w.p6, nAddrs, 9)
		w.a6 = make([][16]byte, nAddrs)
		for i, a := range w.addr6 {
			w.a6[i] = a.As16()
		}
		theWorld = w
	})
	return theWorld
}

// extras builds the structures only the benchmarks compare with.
func (w *world) extras() *world {
	w.extraOnce.Do(func() {
		var h uint64
		w.m4compact, h = heapOf(func() *fib.LPM4 { m, _ := fib.Compile4(w.es4, fib.Options{Compact: true}); return m })
		w.heap["ipv4/nfv-compact"] = h
		w.dir, h = heapOf(func() *dir24 { return newDir24(w.es4) })
		w.heap["ipv4/dir24"] = h
		w.bt, h = heapOf(func() *bart.Table[uint32] { return bartOf(new(bart.Table[uint32]), w.es4) })
		w.heap["ipv4/bart-table"] = h
		bartOf(w.bt, w.es6)
	})
	return w
}

var sink uint32

// report adds the headline metrics: lookups per second and per lookup, and
// the heap of the structure looked up in.
func report(b *testing.B, lookups int, heap uint64) {
	b.ReportMetric(float64(lookups)/b.Elapsed().Seconds()/1e6, "Mlookups/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(lookups), "ns/lookup")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
}

// BenchmarkLookup looks up pre-generated random destinations, 1M of them so
// that they are not cache-resident themselves, in the 1M-prefix IPv4 and
// 200k-prefix IPv6 tables: ours (nfv, and nfv-compact with
// Options.Compact), github.com/gaissmai/bart (bart = bart.Fast, its fastest;
// bart-table = bart.Table), and a plain DIR-24-8 (dir24). ipv4 destinations
// are uniform over the address space; ipv4-routed and ipv6 ones lie inside
// random prefixes of the table, which walks every depth of it. batchN looks
// up bursts of N; bart has no batch call, so its batch is a loop.
func BenchmarkLookup(b *testing.B) {
	w := getWorld().extras()
	const mask = nAddrs - 1

	single4 := func(name string, m *fib.LPM4, as [][4]byte) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var s uint32
			i := 0
			for ; b.Loop(); i++ {
				s += m.Lookup(as[i&mask])
			}
			sink = s
			report(b, i, w.heap[heapKey(name)])
		})
	}
	batch4 := func(name string, m *fib.LPM4, as [][4]byte, burst int) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			out := make([]uint32, burst)
			n := 0
			for off := 0; b.Loop(); off = (off + burst) & mask {
				m.LookupBatch(as[off:off+burst], out)
				n += burst
			}
			sink = out[0]
			report(b, n, w.heap[heapKey(name)])
		})
	}
	bart1 := func(name string, lookup func(netip.Addr) (uint32, bool), as []netip.Addr, burst int) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var s uint32
			n := 0
			for off := 0; b.Loop(); off = (off + burst) & mask {
				for _, a := range as[off : off+burst] {
					v, _ := lookup(a)
					s += v
				}
				n += burst
			}
			sink = s
			report(b, n, w.heap[heapKey(name)])
		})
	}
	ad4r := make([]netip.Addr, nAddrs)
	u4r := make([]uint32, nAddrs)
	for i, a := range w.a4routed {
		ad4r[i] = netip.AddrFrom4(a)
		u4r[i] = binary.BigEndian.Uint32(a[:])
	}
	dir := func(name string, as []uint32) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var s uint32
			i := 0
			for ; b.Loop(); i++ {
				s += w.dir.lookup(as[i&mask])
			}
			sink = s
			report(b, i, w.heap["ipv4/dir24"])
		})
	}

	single4("ipv4/nfv", w.m4, w.a4)
	single4("ipv4/nfv-compact", w.m4compact, w.a4)
	dir("ipv4/dir24", w.u4)
	bart1("ipv4/bart", w.bf.Lookup, w.addr4, 1)
	bart1("ipv4/bart-table", w.bt.Lookup, w.addr4, 1)
	for _, burst := range []int{32, 256} {
		batch4(fmt.Sprintf("ipv4/batch%d/nfv", burst), w.m4, w.a4, burst)
		batch4(fmt.Sprintf("ipv4/batch%d/nfv-compact", burst), w.m4compact, w.a4, burst)
		bart1(fmt.Sprintf("ipv4/batch%d/bart", burst), w.bf.Lookup, w.addr4, burst)
	}
	single4("ipv4-routed/nfv", w.m4, w.a4routed)
	single4("ipv4-routed/nfv-compact", w.m4compact, w.a4routed)
	dir("ipv4-routed/dir24", u4r)
	bart1("ipv4-routed/bart", w.bf.Lookup, ad4r, 1)
	batch4("ipv4-routed/batch256/nfv", w.m4, w.a4routed, 256)
	batch4("ipv4-routed/batch256/nfv-compact", w.m4compact, w.a4routed, 256)

	b.Run("ipv6/nfv", func(b *testing.B) {
		b.ReportAllocs()
		var s uint32
		i := 0
		for ; b.Loop(); i++ {
			s += w.m6.Lookup(w.a6[i&mask])
		}
		sink = s
		report(b, i, w.heap["ipv6/nfv"])
	})
	bart1("ipv6/bart", w.bf.Lookup, w.addr6, 1)
	for _, burst := range []int{32, 256} {
		b.Run(fmt.Sprintf("ipv6/batch%d/nfv", burst), func(b *testing.B) {
			b.ReportAllocs()
			out := make([]uint32, burst)
			n := 0
			for off := 0; b.Loop(); off = (off + burst) & mask {
				w.m6.LookupBatch(w.a6[off:off+burst], out)
				n += burst
			}
			sink = out[0]
			report(b, n, w.heap["ipv6/nfv"])
		})
		bart1(fmt.Sprintf("ipv6/batch%d/bart", burst), w.bf.Lookup, w.addr6, burst)
	}
}

// heapKey maps a benchmark name to its structure: "ipv4-routed/batch32/nfv"
// to "ipv4/nfv".
func heapKey(name string) string {
	parts := strings.Split(name, "/")
	return strings.TrimSuffix(parts[0], "-routed") + "/" + parts[len(parts)-1]
}

// BenchmarkBuild compiles the full tables: each family alone (ours, in both
// layouts, and bart), and a whole Table through the Builder, 1M IPv4 and
// 200k IPv6 static routes over a few gateways, as a reload does.
func BenchmarkBuild(b *testing.B) {
	w := getWorld()
	for _, c := range []struct {
		name  string
		build func() any
	}{
		{"ipv4/nfv", func() any { m, _ := fib.Compile4(w.es4, fib.Options{}); return m }},
		{"ipv4/nfv-compact", func() any { m, _ := fib.Compile4(w.es4, fib.Options{Compact: true}); return m }},
		{"ipv4/bart", func() any { return bartOf(new(bart.Fast[uint32]), w.es4) }},
		{"ipv6/nfv", func() any { m, _ := fib.Compile6(w.es6, fib.Options{}); return m }},
		{"ipv6/bart", func() any { return bartOf(new(bart.Fast[uint32]), w.es6) }},
		{"table/nfv", func() any {
			var bl fib.Builder
			bl.AddInterface(0, netip.MustParsePrefix("192.0.2.1/24"))
			bl.AddInterface(0, netip.MustParsePrefix("2001:db8::1/64"))
			for i, e := range w.es4 {
				bl.AddStatic(e.Prefix, netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i%8)}))
			}
			for i, e := range w.es6 {
				bl.AddStatic(e.Prefix, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(10 + i%8)}))
			}
			t, err := bl.Build()
			if err != nil {
				b.Fatal(err)
			}
			return t
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.build()
			}
			b.StopTimer()
			_, heap := heapOf(c.build)
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		})
	}
}
