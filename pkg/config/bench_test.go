package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func BenchmarkParseExamples(b *testing.B) {
	var docs [][]byte
	for _, f := range examples(b) {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, data)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range docs {
			if _, err := Parse("example.yaml", d); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// firewallRules is a firewall policy with n rules that all compare against
// each other in the shadowing check (same zones, different ports): the
// size the benchmarks in bench/ use.
func firewallRules(n int) []byte {
	var s strings.Builder
	s.WriteString(firewallBase + "rules:\n")
	for i := range n {
		fmt.Fprintf(&s, "  - {from: outside, to: inside, proto: tcp, src: 10.%d.%d.0/24, dport: %d, action: accept}\n", i/256%256, i%256, 1+i%60000)
	}
	s.WriteString("  - {from: outside, action: drop}\n")
	return []byte(s.String())
}

func TestManyRules(t *testing.T) {
	if _, err := Parse("rules.yaml", firewallRules(2000)); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkParseFirewall10kRules(b *testing.B) {
	data := firewallRules(10000)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("rules.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLargePolicies feeds policies whose checks would be quadratic if done
// naively; go test's timeout catches a regression.
func TestLargePolicies(t *testing.T) {
	var s strings.Builder
	s.WriteString("appliance: router\ninterfaces:\n  - name: lan\n    port: virtio:0\n    address:\n")
	for i := range 20000 {
		fmt.Fprintf(&s, "      - 10.%d.%d.1/24\n", i/256, i%256)
	}
	s.WriteString("  - {name: wan, port: virtio:1, address: 10.200.0.1/16}\nroutes:\n")
	for i := range 20000 {
		fmt.Fprintf(&s, "  - {to: 100.%d.%d.0/24, via: 10.%d.%d.2}\n", 64+i/256, i%256, i/256, i%256)
	}
	if _, err := Parse("large.yaml", []byte(s.String())); err != nil {
		t.Fatalf("%.500v", err)
	}

	s.Reset()
	s.WriteString(firewallBase + "  big: [")
	for i := range 30000 {
		if i > 0 {
			s.WriteString(", ")
		}
		fmt.Fprintf(&s, "10.%d.%d.0/24", i/256, i%256)
	}
	s.WriteString("]\nrules:\n")
	for i := range 300 {
		fmt.Fprintf(&s, "  - {src: \"@big\", proto: tcp, dport: %d, action: accept}\n", i+1)
	}
	if _, err := Parse("sets.yaml", []byte(strings.Replace(s.String(), "sets: {admins: [192.0.2.10, 192.0.2.11]}\n", "sets:\n  admins: [192.0.2.10, 192.0.2.11]\n", 1))); err != nil {
		t.Fatalf("%.500v", err)
	}
}

func TestWorkBudget(t *testing.T) {
	defer func(w int) { maxWork = w }(maxWork)
	maxWork = 1000
	_, err := Parse("rules.yaml", firewallRules(100))
	if err == nil || !strings.Contains(err.Error(), "too many rules to check for shadowing") {
		t.Errorf("got %v", err)
	}
}
