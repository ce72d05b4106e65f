package firewall

import (
	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// Drop reasons of the firewall, besides the router's and conntrack's (whose
// names start with ct-: invalid packets, by what made them invalid).
var (
	ReasonRuleDrop   = dataplane.NewReason("rule-drop")      // a rule dropped the connection's first packet (or none matched)
	ReasonRuleReject = dataplane.NewReason("rule-reject")    // a rule rejected it: answered with a reset or an ICMP error
	ReasonReloadCut  = dataplane.NewReason("reload-cut")     // a connection the reloaded rules no longer accept
	ReasonTableFull  = dataplane.NewReason("conntrack-full") // no room for a new connection
	ReasonNAT        = dataplane.NewReason("nat-failed")     // no port to translate to, or a protocol NAT cannot rewrite
	ReasonNoTarget   = dataplane.NewReason("dnat-no-route")  // a port forward's target has no route
	ReasonMalformed  = dataplane.NewReason("fw-malformed")   // not decodable as IP
)

// ctReasons are conntrack's reasons as drop reasons.
var ctReasons = func() []dataplane.Reason {
	rs := make([]dataplane.Reason, len(conntrack.Reasons())+1)
	for _, r := range conntrack.Reasons() {
		rs[r] = dataplane.NewReason(r.String())
	}
	rs[conntrack.ReasonNone] = ReasonMalformed
	return rs
}()
