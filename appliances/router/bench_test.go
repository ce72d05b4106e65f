package router

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/router/fib/fibtest"
	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// The benchmark's world: a router whose FIB holds an Internet-sized table,
// 1M IPv4 and 200k IPv6 prefixes (the fib package's generator, today's
// prefix-length mix) spread over four gateways on wan, all resolved
// (static neighbours), and 1M destinations inside random prefixes of it.
type benchWorld struct {
	r     *Router
	pool  *dataplane.Pool
	dst4  [][4]byte
	dst6  [][16]byte
	tpl4  []byte // 60-byte UDP frame from the lan host, destination to fill in
	tpl6  []byte // 62-byte UDP frame (the smallest IPv6/UDP frame)
	csum4 uint32 // the template's header sum without its destination
}

const benchAddrs = 1 << 20

var (
	benchOnce sync.Once
	theBench  *benchWorld
)

func getBenchWorld(tb testing.TB) *benchWorld {
	benchOnce.Do(func() {
		w := &benchWorld{}
		p4 := fibtest.IPv4(1_000_000, 1)
		p6 := fibtest.IPv6(200_000, 1)
		gws4 := []string{"198.51.100.1", "198.51.100.3", "198.51.100.4", "198.51.100.5"}
		gws6 := []string{"2001:db8:ff::1", "2001:db8:ff::3", "2001:db8:ff::4", "2001:db8:ff::5"}
		pol := &config.Policy{
			Appliance: config.Router,
			Interfaces: []config.Interface{
				{Name: "lan", Port: config.PortSpec{Kind: config.PortMem, Arg: "lan"},
					Address: config.Prefixes{netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("2001:db8:1::1/64")}},
				{Name: "wan", Port: config.PortSpec{Kind: config.PortMem, Arg: "wan"},
					Address: config.Prefixes{netip.MustParsePrefix("198.51.100.2/24"), netip.MustParsePrefix("2001:db8:ff::2/64")}},
			},
		}
		for i, gw := range gws4 {
			pol.Neighbors = append(pol.Neighbors,
				config.Neighbor{Interface: "wan", Address: netip.MustParseAddr(gw), MAC: config.MAC{2, 0, 0, 0, 1, byte(i)}},
				config.Neighbor{Interface: "wan", Address: netip.MustParseAddr(gws6[i]), MAC: config.MAC{2, 0, 0, 0, 1, byte(i)}})
		}
		for i, p := range p4 {
			pol.Routes = append(pol.Routes, config.Route{To: p, Via: config.Addrs{netip.MustParseAddr(gws4[i%4])}})
		}
		for i, p := range p6 {
			pol.Routes = append(pol.Routes, config.Route{To: p, Via: config.Addrs{netip.MustParseAddr(gws6[i%4])}})
		}
		pool, err := dataplane.NewMemPool(1024)
		if err != nil {
			panic(err)
		}
		stats := dataplane.NewStats(appliance.PortNames(pol)...)
		env, err := appliance.NewEnv(pol, pool, stats, nil)
		if err != nil {
			panic(err)
		}
		w.r, err = New(pol, env, Options{})
		if err != nil {
			panic(err)
		}
		w.pool = pool
		// Destinations the table routes to a gateway: not in the connected
		// networks nor special ranges, as the transit traffic of a router.
		for _, a := range fibtest.AddrsIn(p4, benchAddrs+benchAddrs/4, 8) {
			b := a.As4()
			u := binary.BigEndian.Uint32(b[:])
			if unusual4(u) || u>>8 == 0xc00002 || u>>8 == 0xc63364 {
				continue
			}
			if w.dst4 = append(w.dst4, b); len(w.dst4) == benchAddrs {
				break
			}
		}
		for _, a := range fibtest.AddrsIn(p6, benchAddrs+benchAddrs/4, 9) {
			b := a.As16()
			if unusual6(binary.BigEndian.Uint64(b[:8])) || binary.BigEndian.Uint32(b[:4]) == 0x20010db8 {
				continue
			}
			if w.dst6 = append(w.dst6, b); len(w.dst6) == benchAddrs {
				break
			}
		}
		w.tpl4 = udp4(fromHost, v4{src: "192.0.2.10", dst: "0.0.0.0", ttl: 64}, 1024, 80, payload(18, 0))
		ip := w.tpl4[14:34]
		ip[10], ip[11] = 0, 0
		w.csum4 = uint32(packet.Checksum(ip, 0))
		w.tpl6 = udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:9::1", hlim: 64}, 1024, 80, nil)
		theBench = w
	})
	if len(theBench.dst4) < benchAddrs || len(theBench.dst6) < benchAddrs {
		tb.Fatal("too few destinations")
	}
	return theBench
}

// BenchmarkForward forwards bursts of 64 minimum-size frames (60 bytes of
// IPv4/UDP, 62 of IPv6/UDP) with random routed destinations through
// Router.Process on one core: the fast path end to end (link header,
// validation, batched FIB lookup, adjacency, TTL, MAC rewrite). Each burst
// first writes the frames' headers, as a NIC's receive would, which the
// figure includes.
func BenchmarkForward(b *testing.B) {
	w := getBenchWorld(b)
	b.Run("fib=1M/ipv4", func(b *testing.B) { w.run(b, false) })
	b.Run("fib=200k/ipv6", func(b *testing.B) { w.run(b, true) })
}

func (w *benchWorld) run(b *testing.B, v6 bool) {
	const burst = dataplane.DefaultBurst
	ids := make([]uint32, burst)
	if w.pool.GetIDs(ids) != burst {
		b.Fatal("pool empty")
	}
	defer w.pool.PutIDs(ids)
	batch := dataplane.NewBatch(2 * burst)
	tpl := w.tpl4
	if v6 {
		tpl = w.tpl6
	}
	head := dataplane.DefaultHeadroom
	var now int64 = 1
	forwarded, n := 0, 0
	off := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		batch.Pkts = batch.Pkts[:burst]
		for k := range burst {
			pk := &batch.Pkts[k]
			w.pool.SetPacket(pk, ids[k], head, len(tpl))
			d := pk.Data()
			copy(d, tpl)
			if v6 {
				copy(d[14+24:14+40], w.dst6[off+k][:])
			} else {
				a := w.dst4[off+k]
				copy(d[14+16:14+20], a[:])
				s := w.csum4 + uint32(binary.BigEndian.Uint16(a[0:])) + uint32(binary.BigEndian.Uint16(a[2:]))
				s = s&0xffff + s>>16
				s = s&0xffff + s>>16
				binary.BigEndian.PutUint16(d[14+10:], ^uint16(s))
			}
		}
		off = (off + burst) & (benchAddrs - 1)
		batch.Now = now
		now += 1000
		w.r.Process(batch)
		for k := range batch.Pkts {
			if batch.Pkts[k].Verdict == dataplane.Forward {
				forwarded++
			}
		}
		n += burst
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "Mpps")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/pkt")
	if forwarded != n {
		b.Fatalf("%d of %d packets forwarded", forwarded, n)
	}
}

// BenchmarkLookup is the FIB lookup alone, batched as Process does it, on
// the same table and destinations, for reading the forwarding figure.
func BenchmarkLookup(b *testing.B) {
	w := getBenchWorld(b)
	const burst = dataplane.DefaultBurst
	t := w.r.cur.Load().table
	out := make([]uint32, burst)
	b.Run("fib=1M/ipv4", func(b *testing.B) {
		n, off := 0, 0
		for b.Loop() {
			t.LookupBatch4(w.dst4[off:off+burst], out)
			off = (off + burst) & (benchAddrs - 1)
			n += burst
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/lookup")
	})
	b.Run("fib=200k/ipv6", func(b *testing.B) {
		n, off := 0, 0
		for b.Loop() {
			t.LookupBatch6(w.dst6[off:off+burst], out)
			off = (off + burst) & (benchAddrs - 1)
			n += burst
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/lookup")
	})
}
