package classify_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/firewall/classify"
	"github.com/nfvkit/nfvkit/appliances/firewall/classify/classifytest"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// randRules makes n rules over small value spaces, so that they overlap
// and nest: prefixes of every length of both families (in a few /8s and
// /32s), lists of them and shared sets (some of both families), zones and
// interfaces, protocols, port ranges and lists, ICMP types, states.
func randRules(r *rand.Rand, n int) []classify.Rule {
	var sets [][]netip.Prefix
	for range 8 {
		s := make([]netip.Prefix, 1+r.IntN(40))
		for i := range s {
			s[i] = randPrefix(r, r.IntN(4) == 0)
		}
		sets = append(sets, s)
	}
	addrs := func(v6 bool) []netip.Prefix {
		switch r.IntN(6) {
		case 0, 1:
			return nil
		case 2:
			return sets[r.IntN(len(sets))]
		case 3:
			l := make([]netip.Prefix, 1+r.IntN(4))
			for i := range l {
				l[i] = randPrefix(r, v6 != (r.IntN(8) == 0))
			}
			return l
		}
		return []netip.Prefix{randPrefix(r, v6)}
	}
	ports := func() []classify.PortRange {
		if r.IntN(3) == 0 {
			return nil
		}
		l := make([]classify.PortRange, 1+r.IntN(3))
		for i := range l {
			lo := uint16(r.IntN(70))
			if r.IntN(4) == 0 {
				lo = uint16(r.IntN(65536))
			}
			hi := lo
			if r.IntN(2) == 0 {
				hi = uint16(min(65535, int(lo)+r.IntN(3000)))
			}
			l[i] = classify.PortRange{Lo: lo, Hi: hi}
		}
		return l
	}
	ifaces := func() []uint16 {
		switch r.IntN(5) {
		case 0, 1:
			return nil
		case 2:
			return []uint16{uint16(r.IntN(5)), classify.Self}
		}
		return []uint16{uint16(r.IntN(5))}
	}
	rs := make([]classify.Rule, n)
	for i := range rs {
		x := &rs[i]
		v6 := r.IntN(3) == 0
		x.In, x.Out = ifaces(), ifaces()
		x.Src, x.Dst = addrs(v6), addrs(v6)
		x.Proto = []uint8{0, 0, 1, 6, 6, 17, 17, 47, 58}[r.IntN(9)]
		switch x.Proto {
		case 6, 17:
			x.SrcPorts, x.DstPorts = ports(), ports()
			if r.IntN(2) == 0 {
				x.SrcPorts = nil
			}
		case 1, 58:
			for range r.IntN(3) {
				x.ICMPTypes = append(x.ICMPTypes, uint8(r.IntN(6)))
			}
		}
		if r.IntN(6) == 0 {
			x.State = config.ConnState(1 + r.IntN(15))
		}
		x.Action = classify.Action(r.IntN(3))
		x.Log = r.IntN(7) == 0
		x.Never = r.IntN(100) == 0
	}
	return rs
}

func randPrefix(r *rand.Rand, v6 bool) netip.Prefix {
	if v6 {
		var a [16]byte
		a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, byte(0xb8+r.IntN(2))
		for i := 4; i < 16; i++ {
			a[i] = byte(r.IntN(4))
		}
		return netip.PrefixFrom(netip.AddrFrom16(a), r.IntN(129)).Masked()
	}
	a := [4]byte{byte(10 + r.IntN(2)), byte(r.IntN(4)), byte(r.IntN(4)), byte(r.IntN(8))}
	return netip.PrefixFrom(netip.AddrFrom4(a), r.IntN(33)).Masked()
}

// specificRules makes n rules of the kind a big policy holds: one subnet
// to one service (a /24 to a /16-/32 prefix, one protocol, a port or a
// small range) of either family, with a hundredth of randRules' mixed in
// and some with a state; a tree over these is mostly cut nodes.
func specificRules(r *rand.Rand, n int) []classify.Rule {
	var rs []classify.Rule
	for len(rs) < n {
		if r.IntN(100) == 0 {
			rs = append(rs, randRules(r, 1)...)
			continue
		}
		var src, dst netip.Prefix
		if r.IntN(4) == 0 {
			s := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))}
			d := [16]byte{0x20, 0x01, 0x0d, 0xb9, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}
			d[15] = byte(r.IntN(256))
			src = netip.PrefixFrom(netip.AddrFrom16(s), 56)
			dst = netip.PrefixFrom(netip.AddrFrom16(d), 48+r.IntN(81)).Masked()
		} else {
			src = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), 0}), 24)
			dst = netip.PrefixFrom(netip.AddrFrom4([4]byte{11, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))}), 16+r.IntN(17)).Masked()
		}
		lo := uint16(r.IntN(3000))
		ru := classify.Rule{Src: []netip.Prefix{src}, Dst: []netip.Prefix{dst}, Proto: []uint8{6, 17}[r.IntN(2)],
			DstPorts: []classify.PortRange{{Lo: lo, Hi: lo + uint16(r.IntN(3))*uint16(r.IntN(8))}},
			In:       []uint16{uint16(r.IntN(6))}, Action: classify.Action(r.IntN(3))}
		if r.IntN(8) == 0 {
			ru.State = config.ConnState(1 << r.IntN(4))
		}
		rs = append(rs, ru)
	}
	return rs
}

// randKeys makes n keys, most inside some rule's fields, so that many
// match a rule and many match several.
func randKeys(r *rand.Rand, rs []classify.Rule, n int) []classify.Key {
	ks := make([]classify.Key, n)
	host := func(p netip.Prefix) netip.Addr {
		a := p.Addr().As16()
		off := 0
		if p.Addr().Is4() {
			off = 12
		}
		for b := p.Bits(); b < p.Addr().BitLen(); b++ {
			if r.IntN(2) == 0 {
				a[off+b/8] |= 0x80 >> (b % 8)
			}
		}
		if p.Addr().Is4() {
			return netip.AddrFrom4([4]byte(a[12:]))
		}
		return netip.AddrFrom16(a)
	}
	for i := range ks {
		k := &ks[i]
		v6 := r.IntN(3) == 0
		k.Src, k.Dst = host(randPrefix(r, v6)), host(randPrefix(r, v6))
		k.In, k.Out = uint16(r.IntN(6)), uint16(r.IntN(6))
		if r.IntN(6) == 0 {
			k.Out = classify.Self
		}
		k.Proto = []uint8{1, 6, 17, 47, 58, 132}[r.IntN(6)]
		k.SrcPort, k.DstPort = uint16(r.IntN(80)), uint16(r.IntN(3100))
		if r.IntN(5) == 0 {
			k.SrcPort, k.DstPort = uint16(r.Uint32()), uint16(r.Uint32())
		}
		k.ICMPType = uint8(r.IntN(7))
		k.State = config.ConnState(1 << r.IntN(4))
		if len(rs) == 0 || r.IntN(4) == 0 {
			continue
		}
		// Take fields from a rule (each field from some rule, sometimes
		// from different ones).
		x := &rs[r.IntN(len(rs))]
		pick := func(ps []netip.Prefix, a *netip.Addr) {
			if len(ps) > 0 {
				if p := ps[r.IntN(len(ps))]; p.Addr().Is6() == a.Is6() {
					*a = host(p)
				}
			}
		}
		pick(x.Src, &k.Src)
		pick(x.Dst, &k.Dst)
		if r.IntN(4) != 0 {
			x = &rs[r.IntN(len(rs))]
		}
		if len(x.In) > 0 {
			k.In = x.In[r.IntN(len(x.In))]
		}
		if len(x.Out) > 0 {
			k.Out = x.Out[r.IntN(len(x.Out))]
		}
		if x.Proto != 0 {
			k.Proto = x.Proto
		}
		if l := x.DstPorts; len(l) > 0 {
			pr := l[r.IntN(len(l))]
			k.DstPort = pr.Lo + uint16(r.IntN(int(pr.Hi-pr.Lo)+1))
		}
		if l := x.SrcPorts; len(l) > 0 {
			k.SrcPort = l[r.IntN(len(l))].Hi
		}
		if l := x.ICMPTypes; len(l) > 0 {
			k.ICMPType = l[r.IntN(len(l))]
		}
	}
	return ks
}

// TestTreeCrossCheck compares the decision trees with the linear reference
// on random rule sets of thousands of rules and many packets each, with a
// budget that lets every tree be built.
func TestTreeCrossCheck(t *testing.T) {
	defer classify.SetTree(true, 1<<30, 1<<30, 1<<40)()
	sizes, keys := []int{1, 7, 60, 400, 3000, 8000}, 20000
	if testing.Short() {
		sizes, keys = sizes[:5], 5000
	}
	cases, matched, mem, cutNodes := 0, 0, 0, 0
	for _, n := range sizes {
		for seed := range uint64(3) {
			r := rand.New(rand.NewPCG(seed, uint64(n)))
			rules := randRules(r, n)
			restore := func() {}
			switch seed {
			case 1:
				// Cut nodes wherever they divide at all, over rules
				// with every kind of field.
				restore = classify.SetCuts(8, 2, 8)
			case 2:
				rules = specificRules(r, n)
				restore = classify.SetCuts(8, 2, 8)
			}
			c, err := classify.Compile(rules)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			mem = max(mem, c.Memory())
			for _, v6 := range []bool{false, true} {
				_, cuts, _, _, ok := c.TreeStats(v6)
				if !ok {
					t.Fatalf("%d rules: no tree (v6 %v)", n, v6)
				}
				cutNodes += cuts
			}
			ks := randKeys(r, rules, keys)
			if a := testing.AllocsPerRun(5, func() { c.Classify(&ks[0]); c.Classify(&ks[len(ks)-1]) }); a != 0 {
				t.Errorf("%d rules: %v allocations a lookup", n, a/2)
			}
			burst := make([]classify.Match, len(ks))
			c.ClassifyBurst(ks, burst)
			if a := testing.AllocsPerRun(5, func() { c.ClassifyBurst(ks[:64], burst[:64]) }); a != 0 {
				t.Errorf("%d rules: %v allocations a burst", n, a)
			}
			for i, k := range ks {
				got, want := c.Classify(&k), classifytest.Linear(rules, &k)
				if got != want {
					t.Fatalf("%d rules, seed %d: key %+v: got %+v, want %+v (rule %+v)", n, seed, k, got, want, ruleOf(rules, want.Rule))
				}
				if burst[i] != want {
					t.Fatalf("%d rules, seed %d: key %+v: in a burst got %+v, want %+v", n, seed, k, burst[i], want)
				}
				if got.Rule >= 0 {
					matched++
				}
				cases++
			}
		}
	}
	if matched < cases/4 {
		t.Errorf("only %d of %d keys match a rule: the generator is off", matched, cases)
	}
	if cutNodes == 0 {
		t.Error("no cut node in any tree: they go untested")
	}
	t.Logf("%d cases agree, %d matching a rule; at most %.1f MiB, %d cut nodes", cases, matched, float64(mem)/(1<<20), cutNodes)
}

// TestTreeFallback checks that a rule set over the tree's budget keeps the
// bit vectors, and that they answer the same.
func TestTreeFallback(t *testing.T) {
	defer classify.SetTree(true, 0, 1<<30, 1<<10)()
	g := classifytest.New(3)
	rules := g.Rules(500)
	c, err := classify.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, ok := c.TreeStats(false); ok {
		t.Fatal("a tree over the budget was kept")
	}
	for _, k := range g.Keys(rules, 3000) {
		if got, want := c.Classify(&k), classifytest.Linear(rules, &k); got != want {
			t.Fatalf("key %+v: got %+v, want %+v", k, got, want)
		}
	}
}

// TestConcurrentBursts: a Classifier is shared by the workers; bursts and
// single lookups from several goroutines at once must not race (run with
// -race) and must agree.
func TestConcurrentBursts(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 2000))
	rules := specificRules(r, 2000)
	c, err := classify.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, ok := c.TreeStats(false); !ok {
		t.Fatal("no IPv4 tree")
	}
	keys := randKeys(r, rules, 512)
	want := make([]classify.Match, len(keys))
	for i := range keys {
		want[i] = c.Classify(&keys[i])
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := make([]classify.Match, len(keys))
			for range 20 {
				c.ClassifyBurst(keys, got)
				for i := range got {
					if got[i] != want[i] {
						errs <- fmt.Sprintf("key %d: %+v, want %+v", i, got[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
