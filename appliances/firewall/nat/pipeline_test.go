package nat_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/firewall/classify"
	"github.com/nfvkit/nfvkit/appliances/firewall/classify/classifytest"
	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack"
	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
	"github.com/nfvkit/nfvkit/appliances/firewall/nat"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// BenchmarkPipeline previews the firewall stage's per-packet path with the
// three engines together, for the rule-count headline: decode, Track, and
// then NAT Apply for a packet of a known connection, or, for a new one,
// classify against n rules and (if accepted) NAT Create and Apply. Traffic
// is 1,000 masqueraded UDP connections, both ways, and a share of packets
// that open new connections (new=0% is the steady state of long flows,
// new=1% a busy edge). It leaves out what the stage adds (ports, routing,
// the batch loop).
func BenchmarkPipeline(b *testing.B) {
	for _, newPct := range []int{0, 1} {
		for _, n := range []int{10, 100, 1000, 10000} {
			b.Run(fmt.Sprintf("new=%d%%/rules=%d", newPct, n), func(b *testing.B) {
				benchPipeline(b, n, newPct)
			})
		}
	}
}

func benchPipeline(b *testing.B, rules, newPct int) {
	g := classifytest.New(uint64(rules))
	rs := g.Rules(rules)
	cl, err := classify.Compile(rs)
	if err != nil {
		b.Fatal(err)
	}
	ct, err := conntrack.New(conntrack.Options{Max: 1 << 17, Seed: 1, Timeouts: conntrack.Timeouts{UDP: 200 * time.Millisecond}})
	if err != nil {
		b.Fatal(err)
	}
	nrs, _ := nat.Compile(masq())
	nt := nat.New(ct, nrs, nat.Options{})
	now := int64(time.Hour)
	var p packet.Parsed
	var r conntrack.Result
	const flows = 1000
	srv := cttest.AP("198.51.100.80:443")
	type pkt struct {
		f     []byte
		in    uint16
		out   uint16
		isNew bool
	}
	var sample []pkt
	pubs := make([]netip.AddrPort, flows)
	for i := range flows {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 40000)
		f := cttest.UDP(c, srv, 18)
		_ = p.Decode(f)
		ct.Track(&p, now, &r)
		if _, err := nt.Create(&r, lan, wan, now); err != nil {
			b.Fatal(err)
		}
		_ = nat.Apply(&p, r.Entry, r.Dir)
		pubs[i], _ = addrs(b, f)
		rf := cttest.UDP(srv, pubs[i], 18)
		_ = p.Decode(rf)
		ct.Track(&p, now, &r) // answered: established
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for range 1 << 14 {
		i := rng.IntN(flows)
		switch {
		case rng.IntN(100) < newPct:
			k := g.Keys(rs, 1)[0]
			if !k.Src.Is4() || k.Proto != 17 {
				k.Proto = 17
			}
			if !k.Src.Is4() {
				k.Src, k.Dst = netip.AddrFrom4([4]byte{10, 9, 9, 9}), netip.AddrFrom4([4]byte{198, 51, 100, 1})
			}
			sample = append(sample, pkt{f: cttest.UDP(netip.AddrPortFrom(k.Src, k.SrcPort), netip.AddrPortFrom(k.Dst, k.DstPort), 18), in: k.In, out: k.Out, isNew: true})
		case rng.IntN(2) == 0:
			c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 40000)
			sample = append(sample, pkt{f: cttest.UDP(c, srv, 18), in: lan, out: wan})
		default:
			sample = append(sample, pkt{f: cttest.UDP(srv, pubs[i], 18), in: wan, out: lan})
		}
	}
	buf := make([]byte, 128)
	var newFlows, accepted, dropped int
	port := uint16(0)
	b.ReportAllocs()
	cpu0 := cttest.CPU()
	i := 0
	for b.Loop() {
		s := &sample[i]
		if i++; i == len(sample) {
			i = 0
		}
		now += 100 // 10 Mpps of time
		fb := buf[:len(s.f)]
		copy(fb, s.f)
		if err := p.Decode(fb); err != nil {
			b.Fatal(err)
		}
		if s.isNew {
			port++
			p.SrcPort = 1024 + port%60000 // a new connection each time
		}
		switch st := ct.Track(&p, now, &r); {
		case st == conntrack.StateInvalid:
			dropped++
		case st == conntrack.StateRelated:
			_ = nat.ApplyRelated(&p, &r)
		case r.Entry == nil:
			newFlows++
			k := classify.KeyOf(&p, s.in, s.out, config.StateNew)
			if m := cl.Classify(&k); m.Action != classify.Accept {
				dropped++
				break
			}
			if _, err := nt.Create(&r, s.in, s.out, now); err != nil {
				dropped++
				break
			}
			accepted++
			_ = nat.Apply(&p, r.Entry, r.Dir)
		default:
			_ = nat.Apply(&p, r.Entry, r.Dir)
		}
		if i&31 == 0 {
			ct.Expire(now, 64)
		}
	}
	cttest.ReportPPS(b, b.N, cpu0)
	if newPct > 0 && newFlows == 0 {
		b.Fatal("no new connections")
	}
}
