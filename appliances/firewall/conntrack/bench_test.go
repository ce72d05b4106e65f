package conntrack_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack"
	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// benchSample is how many decoded packets a benchmark cycles through: more
// than the caches hold for the big tables, so lookups land anywhere.
const benchSample = 1 << 16

func flowAddrs(i int, v6 bool) (netip.AddrPort, netip.AddrPort) {
	if v6 {
		c := netip.AddrFrom16([16]byte{0xfd, 0, 1, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		return netip.AddrPortFrom(c, uint16(1024+i%50000)), cttest.AP("[2001:db8::80]:443")
	}
	c := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	return netip.AddrPortFrom(c, uint16(1024+i%50000)), cttest.AP("198.51.100.80:443")
}

type benchTable struct {
	ct *conntrack.Table
	ps []packet.Parsed
}

// established makes a table holding n connections, TCP (with the
// handshake done) or UDP (answered), and a sample of packets of them, both
// ways: for TCP, ACKs that repeat the last one, which the window checks
// accept every time.
func established(b *testing.B, n int, tcp, v6 bool) *benchTable {
	ct, err := conntrack.New(conntrack.Options{Max: n + n/8, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	var r conntrack.Result
	var p packet.Parsed
	now := int64(time.Hour)
	feed := func(f []byte) {
		if err := p.Decode(f); err != nil {
			b.Fatal(err)
		}
		if ct.Track(&p, now, &r) == conntrack.StateNew && r.Entry == nil {
			if _, err := ct.Create(&r, nil, now); err != nil {
				b.Fatal(err)
			}
		}
	}
	pkts := func(i int) (o, rp []byte) {
		c, s := flowAddrs(i, v6)
		if !tcp {
			return cttest.UDP(c, s, 18), cttest.UDP(s, c, 18)
		}
		return cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: packet.TCPAck, Seq: 101, Ack: 5001, Win: 1000}),
			cttest.TCP(cttest.Seg{Src: s, Dst: c, Flags: packet.TCPAck, Seq: 5001, Ack: 101, Win: 1000})
	}
	for i := range n {
		c, s := flowAddrs(i, v6)
		if tcp {
			feed(cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: packet.TCPSyn, Seq: 100, Win: 1000}))
			feed(cttest.TCP(cttest.Seg{Src: s, Dst: c, Flags: packet.TCPSyn | packet.TCPAck, Seq: 5000, Ack: 101, Win: 1000}))
		}
		o, rp := pkts(i)
		feed(o)
		feed(rp)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	bt := &benchTable{ct: ct, ps: make([]packet.Parsed, min(benchSample, 2*n))}
	for i := range bt.ps {
		o, rp := pkts(rng.IntN(n))
		f := o
		if rng.IntN(2) == 0 {
			f = rp
		}
		if err := bt.ps[i].Decode(f); err != nil {
			b.Fatal(err)
		}
	}
	return bt
}

// BenchmarkTrack is the per-packet cost of an established connection:
// Track on a packet of one of flows connections, either way, in tables
// from cache-sized to a million entries (128 MiB of entries).
func BenchmarkTrack(b *testing.B) {
	for _, proto := range []string{"udp", "tcp"} {
		for _, fam := range []string{"ipv4", "ipv6"} {
			for _, n := range []int{1000, 100_000, 1_000_000} {
				if testing.Short() && n > 100_000 {
					continue
				}
				b.Run(fmt.Sprintf("%s/%s/flows=%d", proto, fam, n), func(b *testing.B) {
					bt := established(b, n, proto == "tcp", fam == "ipv6")
					var r conntrack.Result
					now := int64(time.Hour) + int64(time.Second)
					b.ReportAllocs()
					i := 0
					cpu0 := cttest.CPU()
					for b.Loop() {
						if bt.ct.Track(&bt.ps[i], now, &r) != conntrack.StateEstablished {
							b.Fatalf("packet %d: %v %v", i, r.State, r.Reason)
						}
						if i++; i == len(bt.ps) {
							i = 0
						}
					}
					cttest.ReportPPS(b, b.N, cpu0)
				})
			}
		}
	}
}

// BenchmarkCreate is the cost of a new connection in a full table under
// churn: Track (a miss), Create, and the per-batch Expire share that keeps
// the table from filling (expiry 1 s, 32 packets per batch).
func BenchmarkCreate(b *testing.B) {
	for _, n := range []int{1000, 100_000, 1_000_000} {
		if testing.Short() && n > 100_000 {
			continue
		}
		b.Run(fmt.Sprintf("udp/ipv4/max=%d", n), func(b *testing.B) {
			ct, err := conntrack.New(conntrack.Options{Max: n, Seed: 1, Timeouts: conntrack.Timeouts{UDP: time.Second}})
			if err != nil {
				b.Fatal(err)
			}
			var p packet.Parsed
			c, srv := flowAddrs(0, false)
			if err := p.Decode(cttest.UDP(c, srv, 18)); err != nil {
				b.Fatal(err)
			}
			var r conntrack.Result
			now := int64(time.Hour)
			// Each packet is 1 s / (n/2) later: flows expire when the
			// table is about half full.
			step := int64(time.Second) / int64(n/2)
			b.ReportAllocs()
			i, failed := uint32(0), 0
			cpu0 := cttest.CPU()
			for b.Loop() {
				now += step
				// A new flow each time: the source changes (Track reads
				// the parsed fields, not the bytes, for UDP).
				i++
				p.Src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				p.SrcPort = uint16(i>>24) + 1024
				if ct.Track(&p, now, &r) == conntrack.StateNew && r.Entry == nil {
					if _, err := ct.Create(&r, nil, now); err != nil {
						failed++
					}
				}
				if i&31 == 0 {
					ct.Expire(now, 64)
				}
			}
			cttest.ReportPPS(b, b.N, cpu0)
			if failed > 0 {
				b.Logf("%d creates failed", failed)
			}
		})
	}
}

// BenchmarkTrackBurst is Track over bursts of 32 packets, with and without
// Prefetch first, on IPv4 TCP connections.
func BenchmarkTrackBurst(b *testing.B) {
	for _, n := range []int{1000, 100_000, 1_000_000} {
		if testing.Short() && n > 100_000 {
			continue
		}
		for _, pf := range []bool{false, true} {
			b.Run(fmt.Sprintf("flows=%d/prefetch=%v", n, pf), func(b *testing.B) {
				bt := established(b, n, true, false)
				var r conntrack.Result
				now := int64(time.Hour) + int64(time.Second)
				const burst = 32
				b.ReportAllocs()
				i, pkts := 0, 0
				cpu0 := cttest.CPU()
				for b.Loop() {
					ps := bt.ps[i : i+burst]
					if pf {
						bt.ct.Prefetch(ps, nil)
					}
					for j := range ps {
						if bt.ct.Track(&ps[j], now, &r) != conntrack.StateEstablished {
							b.Fatal(r.State, r.Reason)
						}
					}
					if i += burst; i+burst > len(bt.ps) {
						i = 0
					}
					pkts += burst
				}
				cttest.ReportPPS(b, pkts, cpu0)
			})
		}
	}
}
