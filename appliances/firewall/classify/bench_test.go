package classify_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/firewall/classify"
	"github.com/nfvkit/nfvkit/appliances/firewall/classify/classifytest"
	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
)

var benchSizes = []int{10, 100, 1000, 10000}

// BenchmarkClassify is the classifier alone on realistic random rule sets
// (classifytest.Rules) and 64k packets, seven in ten made to match a random
// rule: ns per lookup and Mpps, by the wall clock and by CPU time, and the
// memory of the compiled structures.
func BenchmarkClassify(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			g := classifytest.New(uint64(n))
			rules := g.Rules(n)
			t0 := time.Now()
			c, err := classify.Compile(rules)
			if err != nil {
				b.Fatal(err)
			}
			compile := time.Since(t0)
			keys := g.Keys(rules, 1<<16)
			b.ReportAllocs()
			i, hits := 0, 0
			cpu0 := cttest.CPU()
			for b.Loop() {
				if c.Classify(&keys[i]).Rule >= 0 {
					hits++
				}
				i = (i + 1) & (len(keys) - 1)
			}
			cttest.ReportPPS(b, b.N, cpu0)
			b.ReportMetric(float64(c.Memory())/(1<<20), "MiB")
			b.ReportMetric(compile.Seconds()*1e3, "compile-ms")
		})
	}
}

// BenchmarkLinear is the naive first-match loop on the same rules and
// packets, for scale.
func BenchmarkLinear(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			g := classifytest.New(uint64(n))
			rules := g.Rules(n)
			keys := g.Keys(rules, 1<<16)
			i := 0
			cpu0 := cttest.CPU()
			for b.Loop() {
				classifytest.Linear(rules, &keys[i])
				i = (i + 1) & (len(keys) - 1)
			}
			cttest.ReportPPS(b, b.N, cpu0)
		})
	}
}

// BenchmarkStrategy compares the ways of grouping rules that the package
// doc discusses, on the BenchmarkClassify rule sets.
func BenchmarkStrategy(b *testing.B) {
	for _, st := range []struct {
		name  string
		group int
		comb  bool
	}{
		{"abv", classify.GroupNone, false},
		{"abv+combo", classify.GroupNone, true},
		{"driver+combo", classify.GroupDriver, true},
		{"pattern+combo", classify.GroupPattern, true},
	} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/rules=%d", st.name, n), func(b *testing.B) {
				defer classify.SetStrategy(st.group, st.comb)()
				g := classifytest.New(uint64(n))
				rules := g.Rules(n)
				c, err := classify.Compile(rules)
				if err != nil {
					b.Fatal(err)
				}
				keys := g.Keys(rules, 1<<16)
				i := 0
				cpu0 := cttest.CPU()
				for b.Loop() {
					c.Classify(&keys[i])
					i = (i + 1) & (len(keys) - 1)
				}
				cttest.ReportPPS(b, b.N, cpu0)
				b.ReportMetric(float64(c.Memory())/(1<<20), "MiB")
			})
		}
	}
}

// BenchmarkBurst compares Classify a key at a time with ClassifyBurst on
// bursts of 32, on specificRules (subnet-to-service rules, whose trees are
// mostly cut nodes) and 64k keys. Here everything stays in the caches, so
// the two should cost the same: what a burst buys, overlapped misses
// beside a busy connection table, shows in the firewall's
// BenchmarkClassify.
func BenchmarkBurst(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		r := rand.New(rand.NewPCG(7, uint64(n)))
		rules := specificRules(r, n)
		c, err := classify.Compile(rules)
		if err != nil {
			b.Fatal(err)
		}
		keys := randKeys(r, rules, 1<<16)
		ms := make([]classify.Match, 32)
		b.Run(fmt.Sprintf("one/rules=%d", n), func(b *testing.B) {
			i := 0
			cpu0 := cttest.CPU()
			for b.Loop() {
				ms[0] = c.Classify(&keys[i])
				i = (i + 1) & (len(keys) - 1)
			}
			cttest.ReportPPS(b, b.N, cpu0)
		})
		b.Run(fmt.Sprintf("burst/rules=%d", n), func(b *testing.B) {
			i := 0
			cpu0 := cttest.CPU()
			for b.Loop() {
				if i&31 == 0 {
					c.ClassifyBurst(keys[i:i+32], ms)
				}
				i = (i + 1) & (len(keys) - 1)
			}
			cttest.ReportPPS(b, b.N, cpu0)
		})
	}
}
