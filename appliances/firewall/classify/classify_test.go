package classify_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/firewall/classify"
	"github.com/nfvkit/nfvkit/appliances/firewall/classify/classifytest"
	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

func key(src, dst string, proto uint8, sport, dport uint16) classify.Key {
	return classify.Key{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: proto,
		SrcPort: sport, DstPort: dport, State: config.StateNew}
}

// TestTable checks each field with hand-made rules and packets.
func TestTable(t *testing.T) {
	rules := []classify.Rule{
		0: {Src: pfx("10.0.0.0/8"), Dst: pfx("192.0.2.0/24"), Proto: 6, DstPorts: []classify.PortRange{{22, 22}}, Action: classify.Accept},
		1: {Src: pfx("10.1.0.0/16"), Action: classify.Drop, Log: true},
		2: {Proto: 17, DstPorts: []classify.PortRange{{53, 53}, {5353, 5353}}, Action: classify.Accept},
		3: {In: []uint16{0, 1}, Out: []uint16{2}, Proto: 6, DstPorts: []classify.PortRange{{1000, 2000}}, Action: classify.Accept},
		4: {Out: []uint16{classify.Self}, Proto: 1, ICMPTypes: []uint8{8}, Action: classify.Accept},
		5: {Dst: pfx("2001:db8::/32"), Proto: 58, ICMPTypes: []uint8{128, 129}, Action: classify.Accept},
		6: {Src: pfx("2001:db8:1::/48", "10.9.0.0/16"), Action: classify.Reject},
		7: {State: config.StateInvalid, Action: classify.Drop, Log: true},
		8: {Proto: 6, SrcPorts: []classify.PortRange{{0, 1023}}, Action: classify.Drop},
		9: {In: []uint16{3}, Action: classify.Accept},
	}
	c, err := classify.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	with := func(k classify.Key, f func(*classify.Key)) classify.Key { f(&k); return k }
	for _, tc := range []struct {
		k    classify.Key
		rule int32
	}{
		{key("10.2.3.4", "192.0.2.9", 6, 40000, 22), 0},
		{key("10.1.3.4", "192.0.2.9", 6, 40000, 22), 0}, // 0 before 1
		{key("10.1.3.4", "192.0.2.9", 6, 40000, 23), 1},
		{key("10.1.3.4", "198.51.100.1", 17, 40000, 53), 1},
		{key("172.16.0.1", "198.51.100.1", 17, 40000, 53), 2},
		{key("172.16.0.1", "198.51.100.1", 17, 40000, 5353), 2},
		{key("172.16.0.1", "198.51.100.1", 17, 40000, 5354), -1},
		{with(key("172.16.0.1", "198.51.100.1", 6, 40000, 1500), func(k *classify.Key) { k.In, k.Out = 1, 2 }), 3},
		{with(key("172.16.0.1", "198.51.100.1", 6, 40000, 1500), func(k *classify.Key) { k.In, k.Out = 2, 2 }), -1},
		{with(key("172.16.0.1", "192.0.2.1", 1, 0, 0), func(k *classify.Key) { k.Out, k.ICMPType = classify.Self, 8 }), 4},
		{with(key("172.16.0.1", "192.0.2.1", 1, 0, 0), func(k *classify.Key) { k.Out, k.ICMPType = classify.Self, 0 }), -1},
		{with(key("2001:db8:5::1", "2001:db8::1", 58, 0, 0), func(k *classify.Key) { k.ICMPType = 129 }), 5},
		{with(key("2001:db8:1::1", "2001:db9::1", 58, 0, 0), func(k *classify.Key) { k.ICMPType = 129 }), 6},
		{key("10.9.1.1", "203.0.113.1", 47, 0, 0), 6},
		{with(key("203.0.113.1", "203.0.113.2", 17, 1, 1), func(k *classify.Key) { k.State = config.StateInvalid }), 7},
		{key("203.0.113.1", "203.0.113.2", 6, 80, 40000), 8},
		{key("203.0.113.1", "203.0.113.2", 6, 8080, 40000), -1},
		{with(key("203.0.113.1", "203.0.113.2", 132, 0, 0), func(k *classify.Key) { k.In = 3 }), 9},
		{with(key("2001:db8:9::1", "2001:db9::2", 17, 0, 0), func(k *classify.Key) { k.In = 3 }), 9},
	} {
		got := c.Classify(&tc.k)
		if want := classifytest.Linear(rules, &tc.k); got != want || got.Rule != tc.rule {
			t.Errorf("%+v: got rule %d, want %d (linear %d)", tc.k, got.Rule, tc.rule, want.Rule)
		}
	}
}

// TestCrossCheck compares the compiled classifier with the linear
// reference on random rule sets of many sizes and thousands of packets
// each.
func TestCrossCheck(t *testing.T) {
	sizes := []int{0, 1, 2, 5, 10, 63, 64, 65, 100, 300, 1000, 4000}
	keys := 3000
	if testing.Short() {
		sizes, keys = sizes[:9], 1000
	}
	cases := 0
	for _, n := range sizes {
		for seed := range uint64(4) {
			g := classifytest.New(seed*1000 + uint64(n))
			rules := g.Rules(n)
			c, err := classify.Compile(rules)
			if err != nil {
				t.Fatal(err)
			}
			hits := 0
			for _, k := range g.Keys(rules, keys) {
				got, want := c.Classify(&k), classifytest.Linear(rules, &k)
				if got != want {
					t.Fatalf("%d rules, seed %d: key %+v: got %+v, want %+v (rule %+v)", n, seed, k, got, want, ruleOf(rules, want.Rule))
				}
				if got.Rule >= 0 {
					hits++
				}
				cases++
			}
			if n >= 10 && hits < keys/3 {
				t.Errorf("%d rules: only %d of %d keys match a rule: the generator is off", n, hits, keys)
			}
		}
	}
	t.Logf("%d cases agree", cases)
}

func ruleOf(rs []classify.Rule, i int32) any {
	if i < 0 {
		return nil
	}
	return rs[i]
}

// TestCrossCheckDense uses few values per field, so that rules overlap a
// lot and first-match order matters everywhere.
func TestCrossCheckDense(t *testing.T) {
	g := classifytest.New(99)
	_ = g
	rnd := func(i, n int) int { return (i*7919 + n*104729) % n }
	var rules []classify.Rule
	ps := pfx("10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "0.0.0.0/0", "2001:db8::/32", "2001:db8::1/128")
	for i := range 500 {
		r := classify.Rule{Action: classify.Action(i % 3), Log: i%5 == 0}
		if i%3 != 0 {
			r.Src = ps[rnd(i, len(ps)) : rnd(i, len(ps))+1]
		}
		if i%4 != 0 {
			r.Dst = ps[rnd(i+1, len(ps)) : rnd(i+1, len(ps))+1]
		}
		switch i % 5 {
		case 0:
			r.Proto = 6
			r.DstPorts = []classify.PortRange{{uint16(i % 7), uint16(i%7 + i%3)}}
		case 1:
			r.Proto = 17
			r.SrcPorts = []classify.PortRange{{uint16(i % 4), uint16(i % 4)}, {65535, 65535}}
		case 2:
			r.Proto = 1
			r.ICMPTypes = []uint8{uint8(i % 3)}
		}
		if i%6 == 0 {
			r.In = []uint16{uint16(i % 3), classify.Self}
		}
		if i%7 == 0 {
			r.Out = []uint16{uint16(i % 2)}
		}
		if i%8 == 0 {
			r.State = config.ConnState(1 + i%15)
		}
		rules = append(rules, r)
	}
	c, err := classify.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{"10.1.2.3", "10.1.2.4", "10.1.3.1", "10.2.0.0", "11.0.0.1", "2001:db8::1", "2001:db8::2", "2001:db9::1"}
	n := 0
	for _, s := range addrs {
		for _, d := range addrs {
			if netip.MustParseAddr(s).Is4() != netip.MustParseAddr(d).Is4() {
				continue
			}
			for _, proto := range []uint8{1, 6, 17, 47, 58} {
				for port := range 10 {
					for _, in := range []uint16{0, 1, 2, classify.Self, 77} {
						for st := range 5 {
							k := key(s, d, proto, uint16(port), uint16(port*3%8))
							k.In, k.Out, k.ICMPType, k.State = in, in%2, uint8(port%4), config.ConnState(st)
							if got, want := c.Classify(&k), classifytest.Linear(rules, &k); got != want {
								t.Fatalf("key %+v: got %+v, want %+v", k, got, want)
							}
							n++
						}
					}
				}
			}
		}
	}
	t.Logf("%d cases agree", n)
}

func TestCompileErrors(t *testing.T) {
	for _, r := range []classify.Rule{
		{Proto: 47, DstPorts: []classify.PortRange{{1, 2}}},
		{Proto: 6, ICMPTypes: []uint8{8}},
		{Proto: 6, DstPorts: []classify.PortRange{{5, 2}}},
		{Src: []netip.Prefix{{}}},
		{Action: 9},
	} {
		if _, err := classify.Compile([]classify.Rule{r}); err == nil {
			t.Errorf("rule %+v compiled", r)
		}
	}
}

func TestFromPolicy(t *testing.T) {
	const y = `appliance: firewall
interfaces:
  - {name: lan, port: "mem:lan", address: [192.0.2.1/24]}
  - {name: dmz, port: "mem:dmz", address: [198.51.100.1/24]}
  - {name: wan, port: "mem:wan", address: [203.0.113.2/30]}
zones: {inside: [lan, dmz], outside: [wan]}
sets: {admins: [192.0.2.10/32, 192.0.2.11/32, 2001:db8::10/128]}
rules:
  - {from: outside, to: inside, proto: tcp, dport: 22, src: "@admins", action: accept}
  - {from: inside, to: outside, action: accept}
  - {in: wan, to: self, proto: icmp, icmp_type: echo-request, action: accept}
  - {from: outside, state: [established, related], action: accept}
  - {from: outside, action: reject, log: true}
`
	p, err := config.Parse("fw.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := classify.FromPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := classify.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	const lan, dmz, wan = 0, 1, 2
	for _, tc := range []struct {
		k    classify.Key
		rule int32
	}{
		{classify.Key{Src: netip.MustParseAddr("192.0.2.10"), Dst: netip.MustParseAddr("198.51.100.5"), In: wan, Out: dmz, Proto: 6, DstPort: 22, State: config.StateNew}, 0},
		{classify.Key{Src: netip.MustParseAddr("192.0.2.12"), Dst: netip.MustParseAddr("198.51.100.5"), In: wan, Out: dmz, Proto: 6, DstPort: 22, State: config.StateNew}, 4},
		{classify.Key{Src: netip.MustParseAddr("192.0.2.5"), Dst: netip.MustParseAddr("8.8.8.8"), In: lan, Out: wan, Proto: 17, DstPort: 53, State: config.StateNew}, 1},
		{classify.Key{Src: netip.MustParseAddr("8.8.8.8"), Dst: netip.MustParseAddr("203.0.113.2"), In: wan, Out: classify.Self, Proto: 1, ICMPType: 8, State: config.StateNew}, 2},
		{classify.Key{Src: netip.MustParseAddr("8.8.8.8"), Dst: netip.MustParseAddr("192.0.2.5"), In: wan, Out: lan, Proto: 17, State: config.StateEstablished}, 3},
		{classify.Key{Src: netip.MustParseAddr("192.0.2.5"), Dst: netip.MustParseAddr("198.51.100.5"), In: lan, Out: dmz, Proto: 6, State: config.StateNew}, -1},
	} {
		if got := c.Classify(&tc.k); got.Rule != tc.rule {
			t.Errorf("%+v: rule %d, want %d", tc.k, got.Rule, tc.rule)
		}
	}
	if rules[4].Action != classify.Reject || !rules[4].Log {
		t.Errorf("rule 4: %+v", rules[4])
	}
}

func TestZeroAllocs(t *testing.T) {
	g := classifytest.New(5)
	rules := g.Rules(2000)
	c, err := classify.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	keys := g.Keys(rules, 256)
	hits := classify.NewCounters(len(rules))
	allocs := testing.AllocsPerRun(50, func() {
		for i := range keys {
			hits.Count(c.Classify(&keys[i]))
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 256 lookups, want 0", allocs)
	}
	var total uint64
	for i := range rules {
		total += hits.Hits(i)
	}
	if total+hits.Misses() != 51*256 {
		t.Errorf("counted %d hits + %d misses, want %d", total, hits.Misses(), 51*256)
	}
}

func ExampleCompile() {
	rules := []classify.Rule{
		{Proto: 6, DstPorts: []classify.PortRange{{Lo: 443, Hi: 443}}, Action: classify.Accept},
		{Src: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Action: classify.Reject, Log: true},
	}
	c, _ := classify.Compile(rules)
	k := classify.Key{Src: netip.MustParseAddr("10.1.2.3"), Dst: netip.MustParseAddr("192.0.2.1"), Proto: 17, DstPort: 53, State: config.StateNew}
	m := c.Classify(&k)
	fmt.Println(m.Rule, m.Action, m.Log)
	// Output: 1 reject true
}

// TestStrategies cross-checks every grouping strategy.
func TestStrategies(t *testing.T) {
	for _, st := range []struct {
		group int
		comb  bool
	}{{classify.GroupNone, false}, {classify.GroupNone, true}, {classify.GroupDriver, true}, {classify.GroupDriver, false}, {classify.GroupPattern, true}} {
		restore := classify.SetStrategy(st.group, st.comb)
		for _, n := range []int{1, 70, 700} {
			g := classifytest.New(uint64(n) + 7)
			rules := g.Rules(n)
			c, err := classify.Compile(rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range g.Keys(rules, 2000) {
				if got, want := c.Classify(&k), classifytest.Linear(rules, &k); got != want {
					t.Fatalf("strategy %+v, %d rules: key %+v: got %+v, want %+v", st, n, k, got, want)
				}
			}
		}
		restore()
	}
}

func TestKeyOf(t *testing.T) {
	f := cttest.UDP(netip.MustParseAddrPort("10.0.0.1:5353"), netip.MustParseAddrPort("192.0.2.1:53"), 4)
	var p packet.Parsed
	if err := p.Decode(f); err != nil {
		t.Fatal(err)
	}
	k := classify.KeyOf(&p, 1, 2, config.StateNew)
	want := classify.Key{Src: p.Src, Dst: p.Dst, In: 1, Out: 2, Proto: 17, SrcPort: 5353, DstPort: 53, State: config.StateNew}
	if k != want {
		t.Errorf("%+v, want %+v", k, want)
	}
	_ = p.Decode(cttest.Echo(netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), false, 1, 1))
	if k := classify.KeyOf(&p, 0, 0, config.StateNew); k.ICMPType != 128 || k.Proto != 58 {
		t.Errorf("echo: %+v", k)
	}
}
