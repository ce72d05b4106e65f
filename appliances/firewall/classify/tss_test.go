package classify_test

import (
	"cmp"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/firewall/classify"
	"github.com/nfvkit/nfvkit/appliances/firewall/classify/classifytest"
	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
)

// tss is tuple space search as Open vSwitch's classifier does it (Srinivasan,
// Suri and Varghese, 1999), written for the comparison in the package doc:
// every rule is expanded into entries whose fields are either exact or
// prefixes (port ranges into prefixes, lists and sets into one entry per
// member), entries with the same field masks share a hash table (a tuple),
// and a lookup probes the tuples in the order of their best rule until no
// tuple can beat the match in hand.
type tss struct {
	tuples []*tuple
}

type tssMask struct {
	src, dst     uint8 // prefix lengths (IPv4)
	sport, dport uint8 // prefix lengths of the 16-bit ports
	proto, in    bool  // exact or any
	out, state   bool
}

type tssKey struct {
	src, dst     uint32
	sport, dport uint16
	proto        uint8
	state        uint8
	in, out      uint16
}

type tuple struct {
	m     tssMask
	best  int32
	table map[tssKey]int32
}

func mask32(a uint32, n uint8) uint32 {
	if n == 0 {
		return 0
	}
	return a &^ (1<<(32-n) - 1)
}

func mask16(a uint16, n uint8) uint16 {
	if n == 0 {
		return 0
	}
	return a &^ uint16(1<<(16-n)-1)
}

func (m *tssMask) apply(k *tssKey) tssKey {
	o := tssKey{src: mask32(k.src, m.src), dst: mask32(k.dst, m.dst), sport: mask16(k.sport, m.sport), dport: mask16(k.dport, m.dport)}
	if m.proto {
		o.proto = k.proto
	}
	if m.in {
		o.in = k.in
	}
	if m.out {
		o.out = k.out
	}
	if m.state {
		o.state = k.state
	}
	return o
}

// rangePrefixes splits [lo, hi] into prefixes (value, length).
func rangePrefixes(lo, hi uint16) [][2]int {
	var out [][2]int
	for l, h := int(lo), int(hi); l <= h; {
		size := 1 << bits.TrailingZeros(uint(l)|1<<16)
		for l+size-1 > h {
			size >>= 1
		}
		out = append(out, [2]int{l, 16 - bits.TrailingZeros(uint(size))})
		l += size
	}
	return out
}

func v4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func newTSS(rules []classify.Rule) *tss {
	byMask := map[tssMask]*tuple{}
	for i, r := range rules {
		type pfx struct {
			a uint32
			n uint8
		}
		addrs := func(ps []netip.Prefix) ([]pfx, bool) {
			if len(ps) == 0 {
				return []pfx{{0, 0}}, true
			}
			var out []pfx
			for _, p := range ps {
				if p.Addr().Is4() {
					out = append(out, pfx{v4(p.Masked().Addr()), uint8(p.Bits())})
				}
			}
			return out, len(out) > 0
		}
		ports := func(rs []classify.PortRange) [][2]int {
			if len(rs) == 0 {
				return [][2]int{{0, 0}}
			}
			var out [][2]int
			for _, x := range rs {
				out = append(out, rangePrefixes(x.Lo, x.Hi)...)
			}
			return out
		}
		srcs, ok1 := addrs(r.Src)
		dsts, ok2 := addrs(r.Dst)
		if !ok1 || !ok2 || len(r.ICMPTypes) > 0 {
			continue // IPv4 TCP/UDP only in this comparison
		}
		ins, outs := r.In, r.Out
		if len(ins) == 0 {
			ins = []uint16{0}
		}
		if len(outs) == 0 {
			outs = []uint16{0}
		}
		states := []uint8{0}
		if r.State != 0 {
			states = nil
			for s := uint8(1); s <= 8; s <<= 1 {
				if uint8(r.State)&s != 0 {
					states = append(states, s)
				}
			}
		}
		for _, s := range srcs {
			for _, d := range dsts {
				for _, sp := range ports(r.SrcPorts) {
					for _, dp := range ports(r.DstPorts) {
						for _, in := range ins {
							for _, out := range outs {
								for _, st := range states {
									m := tssMask{src: s.n, dst: d.n, sport: uint8(sp[1]), dport: uint8(dp[1]), proto: r.Proto != 0,
										in: len(r.In) > 0, out: len(r.Out) > 0, state: r.State != 0}
									t := byMask[m]
									if t == nil {
										t = &tuple{m: m, best: int32(i), table: map[tssKey]int32{}}
										byMask[m] = t
									}
									k := tssKey{src: s.a, dst: d.a, sport: uint16(sp[0]), dport: uint16(dp[0]), proto: r.Proto, in: in, out: out, state: st}
									if _, dup := t.table[k]; !dup {
										t.table[k] = int32(i)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	x := &tss{}
	for _, t := range byMask {
		x.tuples = append(x.tuples, t)
	}
	slices.SortFunc(x.tuples, func(a, b *tuple) int { return cmp.Compare(a.best, b.best) })
	return x
}

func (x *tss) lookup(k *classify.Key) int32 {
	key := tssKey{src: v4(k.Src), dst: v4(k.Dst), sport: k.SrcPort, dport: k.DstPort, proto: k.Proto, in: k.In, out: k.Out, state: uint8(k.State)}
	best := int32(-1)
	for _, t := range x.tuples {
		if best >= 0 && t.best >= best {
			break
		}
		if r, ok := t.table[t.m.apply(&key)]; ok && (best < 0 || r < best) {
			best = r
		}
	}
	return best
}

// tssRules keeps the IPv4 TCP and UDP rules without ICMP types, the part
// of the rule sets the TSS above handles.
func tssRules(rs []classify.Rule) []classify.Rule {
	var out []classify.Rule
	for _, r := range rs {
		ok := r.Proto == 6 || r.Proto == 17
		for _, p := range append(append([]netip.Prefix(nil), r.Src...), r.Dst...) {
			ok = ok && p.Addr().Is4()
		}
		if ok && !slices.Contains(r.In, classify.Self) && !slices.Contains(r.Out, classify.Self) {
			out = append(out, r)
		}
	}
	return out
}

func tssKeys(g *classifytest.Gen, rs []classify.Rule, n int) []classify.Key {
	var out []classify.Key
	for len(out) < n {
		for _, k := range g.Keys(rs, n) {
			if k.Src.Is4() && (k.Proto == 6 || k.Proto == 17) && k.In != classify.Self && k.Out != classify.Self {
				out = append(out, k)
			}
		}
	}
	return out[:n]
}

func TestTSSAgrees(t *testing.T) {
	g := classifytest.New(3)
	rs := tssRules(g.Rules(1500))
	x := newTSS(rs)
	for _, k := range tssKeys(g, rs, 3000) {
		if got, want := x.lookup(&k), classifytest.Linear(rs, &k).Rule; got != want {
			t.Fatalf("key %+v: tss %d, linear %d", k, got, want)
		}
	}
	t.Logf("%d rules, %d tuples", len(rs), len(x.tuples))
}

// BenchmarkTSS compares tuple space search with the bit vectors on the
// same IPv4 TCP/UDP rules (the classifytest sets, restricted) and packets.
func BenchmarkTSS(b *testing.B) {
	for _, n := range benchSizes {
		g := classifytest.New(uint64(n))
		rs := tssRules(g.Rules(n))
		keys := tssKeys(g, rs, 1<<14)
		b.Run(fmt.Sprintf("tss/rules=%d", n), func(b *testing.B) {
			x := newTSS(rs)
			i := 0
			cpu0 := cttest.CPU()
			for b.Loop() {
				x.lookup(&keys[i])
				i = (i + 1) & (len(keys) - 1)
			}
			cttest.ReportPPS(b, b.N, cpu0)
			b.ReportMetric(float64(len(x.tuples)), "tuples")
		})
		b.Run(fmt.Sprintf("bv/rules=%d", n), func(b *testing.B) {
			c, _ := classify.Compile(rs)
			i := 0
			cpu0 := cttest.CPU()
			for b.Loop() {
				c.Classify(&keys[i])
				i = (i + 1) & (len(keys) - 1)
			}
			cttest.ReportPPS(b, b.N, cpu0)
		})
	}
}
