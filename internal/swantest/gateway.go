package swantest

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Gateway is an ipsec-gw that runs a Conn against charon, for
// Conn.GatewayPolicy: where it runs, and what of its ike: entry a Conn
// does not say.
type Gateway struct {
	// LANPort and WANPort are the policy's ports (e.g. afpacket:IF); LAN
	// and WAN their interfaces' addresses. Sites.Gateway fills them.
	LANPort, WANPort string
	LAN, WAN         netip.Prefix
	// PSK is the entry's psk: as the policy gives it, env:NAME or
	// file:PATH, naming the Conn's key: the key itself is never written
	// into the policy. It must be text, at least 16 bytes (SiteConn's
	// random keys are not: set Conn.PSK to one that is).
	PSK string
	// Start is start: (trap, start or none); empty leaves the default.
	Start string
	// The IKE SA's lifetime, rekey, dpd and dpd_timeout, and the
	// children's lifetime; zero leaves the defaults.
	Lifetime, Rekey, DPD, DPDTimeout, ChildLifetime time.Duration
}

// GatewayPolicy is the policy of an ipsec-gw (nfv run's YAML) with one
// ike: connection matching c as the gateway sees it, so that charon runs
// c.Mirror(): named c.Name, peer c.Remote, c's IKE proposals, and c's
// children with their names, traffic selectors and ESP proposals (both
// strongSwan syntax, which the policy takes as is).
func (c Conn) GatewayPolicy(g Gateway) string {
	var b strings.Builder
	fmt.Fprintf(&b, `appliance: ipsec-gw
interfaces:
  - {name: lan, port: %q, address: [%s]}
  - {name: wan, port: %q, address: [%s]}
ike:
  - name: %s
    peer: %s
    auth: {psk: %s}
    proposals: [%s]
`, g.LANPort, g.LAN, g.WANPort, g.WAN, c.Name, c.Remote, g.PSK, orDefault(c.Proposals, DefaultIKEProposal))
	if g.Start != "" {
		fmt.Fprintf(&b, "    start: %s\n", g.Start)
	}
	for _, o := range []struct {
		k string
		v time.Duration
	}{{"lifetime", g.Lifetime}, {"rekey", g.Rekey}, {"dpd", g.DPD}, {"dpd_timeout", g.DPDTimeout}} {
		if o.v > 0 {
			fmt.Fprintf(&b, "    %s: %s\n", o.k, o.v)
		}
	}
	b.WriteString("    children:\n")
	for _, ch := range c.Children {
		life := ""
		if g.ChildLifetime > 0 {
			life = fmt.Sprintf(", lifetime: %s", g.ChildLifetime)
		}
		fmt.Fprintf(&b, "      - {name: %s, local: [%s], remote: [%s], esp: [%s]%s}\n", ch.Name,
			prefixes(ch.LocalTS), prefixes(ch.RemoteTS), orDefault(ch.ESPProposals, DefaultESPProposal), life)
	}
	return b.String()
}
