package firewall

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// BenchmarkClassify measures the whole stage (route, conntrack, classify,
// create) in memory on one core with 64-byte frames:
//
//   - new/rules=N: every packet opens a connection (a new source port),
//     so every packet is classified against N rules (UDP and TCP SYNs
//     from inside; seven in ten made to match a random rule, the rest
//     falling through to the last, a catch-all accept; a fifth of the
//     rules drop).
//   - established/flows=1000000: packets of a million answered UDP
//     connections, picked at random: conntrack lookups, no classifying.
//
// The headline is Mpps; rate at 10,000 rules ÷ rate at 10 is the
// flatness figure of DESIGN.md §5.
func BenchmarkClassify(b *testing.B) {
	for _, n := range []int{10, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("new/rules=%d", n), func(b *testing.B) {
			if n > 10000 && testing.Short() {
				b.Skip("compiling 100,000 rules takes about 25 s")
			}
			benchNew(b, n)
		})
	}
	b.Run("established/flows=1000000", func(b *testing.B) { benchEstablished(b, 1000000) })
}

// benchRules gives policy p n rules from inside to outside and the
// 64-byte frames (from a lan host's MAC) of first packets that hit them.
func benchRules(p *config.Policy, n int, frames int) [][]byte {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	type rr struct {
		src, dst netip.Prefix
		proto    config.Proto
		dport    uint16
	}
	var made []rr
	p.Rules = p.Rules[:0]
	for i := 0; i < n-1; i++ {
		r := rr{
			src:   netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), 0}), 24),
			dst:   netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(64 + rng.IntN(64)), byte(rng.IntN(256)), byte(rng.IntN(256))}), 16+rng.IntN(17)).Masked(),
			proto: config.Proto(17),
			dport: uint16(1 + rng.IntN(2048)),
		}
		if rng.IntN(2) == 0 {
			r.proto = 6
		}
		act := config.Accept
		if i%5 == 4 {
			act = config.Drop
		}
		made = append(made, r)
		p.Rules = append(p.Rules, config.Rule{From: "inside", To: "outside", Src: config.AddrMatches{{Prefix: r.src}},
			Dst: config.AddrMatches{{Prefix: r.dst}}, Proto: r.proto, Dport: config.PortRanges{{Lo: r.dport, Hi: r.dport}}, Action: act})
	}
	p.Rules = append(p.Rules, config.Rule{From: "inside", To: "outside", Action: config.Accept})
	out := make([][]byte, frames)
	for i := range out {
		src := netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		dst := netip.AddrFrom4([4]byte{100, byte(64 + rng.IntN(64)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		proto, dport := config.Proto(17), uint16(1+rng.IntN(65535))
		if len(made) > 0 && rng.IntN(10) < 7 {
			r := made[rng.IntN(len(made))]
			s4, d4 := src.As4(), r.dst.Addr().As4()
			copy(s4[:3], r.src.Addr().AsSlice()[:3])
			src, dst, proto, dport = netip.AddrFrom4(s4), netip.AddrFrom4(d4), r.proto, r.dport
		}
		hd := hdr{src: src.String(), dst: dst.String(), ttl: 64}
		if proto == 6 {
			out[i] = tcp(fromHost, hd, tcpSeg{sport: 1024, dport: dport, seq: 1, flags: "S", win: 1024})
		} else {
			out[i] = udp(fromHost, hd, 1024, dport, make([]byte, 18))
		}
	}
	return out
}

func benchNew(b *testing.B, rules int) {
	p := parse(b, policy("", 1))
	frames := benchRules(p, rules, 1<<14)
	p.Conntrack.Max = 1 << 20
	p.Conntrack.Timeouts.UDP, p.Conntrack.Timeouts.TCPSyn = time.Second, time.Second
	t0 := time.Now()
	g := newRig(b, p, 256)
	compile := time.Since(t0)
	g.record = false
	// Each packet opens a connection: its frame's source port moves on
	// every time round the frames. Frames made to hit the same rule may be
	// equal; such a group of g frames takes turns through the ports (rank
	// r of g uses port r, r+g, r+2g, ... in successive rounds), so a
	// connection comes back only after 64,000/g rounds, long after the
	// full table has dropped it (the transport checksum, which nothing
	// checks, goes stale).
	rank, group := make([]int, len(frames)), make([]int, len(frames))
	seen := map[string][]int{}
	for i, f := range frames {
		rank[i] = len(seen[string(f)])
		seen[string(f)] = append(seen[string(f)], i)
	}
	for _, is := range seen {
		for _, i := range is {
			group[i] = len(is)
		}
	}
	sent := 0
	patch := func(pk *dataplane.Packet, i int) {
		round := sent / len(frames)
		binary.BigEndian.PutUint16(pk.Data()[14+20:], 1024+uint16((round*group[i]+rank[i])%64000))
		sent++
	}
	before := g.f.ct.Stats()
	runBench(b, g, frames, patch, int64(time.Hour))
	b.ReportMetric(compile.Seconds(), "setup-s")
	// Every packet must have been judged by the rules: one a rule drops
	// leaves no connection, any other makes one (refused only when the
	// table is full).
	s := g.f.ct.Stats()
	if judged := s.Created - before.Created + s.Full - before.Full + g.stats.Dropped(ReasonRuleDrop); judged < uint64(b.N) {
		b.Fatalf("%d of %d packets judged by the rules: not all new", judged, b.N)
	}
	if d := g.stats.Dropped(ReasonTableFull); d > uint64(b.N)/100 {
		b.Logf("%d of %d refused as conntrack-full", d, b.N)
	}
}

func benchEstablished(b *testing.B, flows int) {
	p := parse(b, policy("", 1))
	p.Conntrack.Max = flows + flows/8
	g := newRig(b, p, 256)
	g.record = false
	out := make([][]byte, 0, 1<<16)
	at := int64(0)
	for i := range flows {
		src := fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff)
		dst := "100.64.0.1"
		g.add(lanPort, udp(fromHost, hdr{src: src, dst: dst, ttl: 64}, 1000, 53, make([]byte, 18)))
		g.add(wanPort, udp(fromGW, hdr{src: dst, dst: src, ttl: 64}, 53, 1000, make([]byte, 18)))
		if i%16 == 15 {
			at += 1000
			g.run(at)
		}
		if i < cap(out) {
			j := (i * 7919) % flows // spread the sample over the table
			s := fmt.Sprintf("10.%d.%d.%d", j>>16, j>>8&0xff, j&0xff)
			out = append(out, udp(fromHost, hdr{src: s, dst: dst, ttl: 64}, 1000, 53, make([]byte, 18)))
		}
	}
	g.run(at)
	if got := g.f.ct.Len(); got < flows*99/100 {
		b.Fatalf("%d connections set up, want %d", got, flows)
	}
	dropped := g.stats.TotalDropped()
	before := g.f.ct.Stats()
	// The clock goes on from the setup's, so that no connection times out
	// during the run: every packet must find its connection established.
	runBench(b, g, out, nil, at+1)
	if d := g.stats.TotalDropped() - dropped; d != 0 {
		b.Fatalf("%d established packets dropped: %v", d, g.stats.Drops())
	}
	if s := g.f.ct.Stats(); s.Created != before.Created || s.Expired != before.Expired || s.Entries < uint64(flows*99/100) {
		b.Fatalf("connections created %d, expired %d during the run, %d left: not all established",
			s.Created-before.Created, s.Expired-before.Expired, s.Entries)
	}
}

// runBench sends frames round-robin from the lan in bursts of
// dataplane.DefaultBurst, b.N packets in all, on a clock that starts at now
// and advances 100 ns a packet, and reports Mpps (and CPU time per packet).
// As the router's BenchmarkForward, it holds a burst's frames for the whole
// run and writes each packet into one, so that what is measured is the
// stage, not the pool's lock taken twice a packet; the stage still gets
// every packet in a frame of the pool, and what it drops is counted.
func runBench(b *testing.B, g *rig, frames [][]byte, patch func(pk *dataplane.Packet, frame int), now int64) {
	const burst = dataplane.DefaultBurst
	ids := make([]uint32, burst)
	if g.pool.GetIDs(ids) != burst {
		b.Fatal("pool empty")
	}
	defer func() { g.pool.PutIDs(ids) }()
	bt := g.b
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cttest.CPU()
	for done := 0; done < b.N; {
		n := min(burst, b.N-done)
		bt.Pkts = bt.Pkts[:n]
		for k := range n {
			pk := &bt.Pkts[k]
			f := frames[i]
			g.pool.SetPacket(pk, ids[k], dataplane.DefaultHeadroom, len(f))
			copy(pk.Data(), f)
			pk.InPort = lanPort
			if patch != nil {
				patch(pk, i)
			}
			if i++; i == len(frames) {
				i = 0
			}
		}
		now += int64(n) * 100 // 10 Mpps of time
		bt.Now = now
		g.f.Process(bt)
		// The frames the stage did not keep are the next burst's.
		ids = ids[:0]
		for k := range bt.Pkts {
			p := &bt.Pkts[k]
			switch p.Verdict {
			case dataplane.Consumed:
				continue
			case dataplane.Forward, dataplane.Punt:
			default:
				g.stats.Drop(p.Reason)
			}
			if len(ids) < burst {
				ids = append(ids, p.Frame())
			} else {
				g.pool.PutID(p.Frame())
			}
		}
		bt.Reset()
		if k := len(ids); k < burst {
			ids = ids[:burst]
			if g.pool.GetIDs(ids[k:]) != burst-k {
				b.Fatal("pool empty")
			}
		}
		done += n
	}
	// Mpps by the wall clock is the headline; the machine is shared, so
	// CPU time per packet is reported beside it.
	cttest.ReportPPS(b, b.N, cpu0)
}
