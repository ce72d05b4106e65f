package e2e

import (
	"strings"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/config"
)

func TestFirewallPolicyValidates(t *testing.T) {
	for _, kind := range []string{"afpacket", "afxdp"} {
		for _, n := range []int{0, 10, 1000} {
			p, err := config.Parse("firewall.yaml", []byte(FirewallPolicy(kind, n)))
			if err != nil {
				t.Fatalf("%s, %d rules: %v", kind, n, err)
			}
			if len(p.Rules) != n+2 {
				t.Errorf("%s, %d rules: the policy has %d rules, want %d", kind, n, len(p.Rules), n+2)
			}
		}
	}
}

func TestNftablesRulesetMatchesThePolicy(t *testing.T) {
	rs := NftablesRuleset(1000)
	if got := strings.Count(rs, " drop\n"); got != 1000 {
		t.Errorf("%d non-matching rules, want 1000", got)
	}
	for _, want := range []string{"policy drop;", "ct state established accept", "ip saddr 10.0.3.231 udp dport 9 drop", "ip daddr 198.19.0.0/16 udp dport 9 accept"} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q", want)
		}
	}
}

func TestFirewallCasesComeWithTheirReference(t *testing.T) {
	cs, err := selectCases("nfv-firewall/afxdp/rules=10")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(caseNames(cs), ","); got != "kernel,nftables/rules=10,nfv-firewall/afxdp/rules=10" {
		t.Errorf("selected %s", got)
	}
}
