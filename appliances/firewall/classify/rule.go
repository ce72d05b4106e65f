package classify

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Action is what a rule does with the packets it matches.
type Action uint8

// The actions. Drop is the zero value: a packet no rule matches is dropped.
const (
	Drop Action = iota
	Accept
	Reject // drop, and answer with a TCP RST or an ICMP unreachable
)

func (a Action) String() string {
	switch a {
	case Drop:
		return "drop"
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Self is the interface number of the appliance itself: the ingress of the
// packets it sends, the egress of the packets addressed to it (zone self).
const Self uint16 = 0xffff

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

// Rule is one compiled filter rule. Every field left empty (or zero)
// matches anything; a packet matches the rule when it matches every field.
type Rule struct {
	// In and Out are the interfaces the packet arrives on and leaves by:
	// policy interface numbers, or Self. A zone is the list of its
	// interfaces.
	In, Out []uint16
	// Src and Dst are prefixes of either family (named sets expanded). A
	// rule whose Src holds only IPv4 prefixes never matches IPv6.
	Src, Dst []netip.Prefix
	// Proto is the IP protocol number.
	Proto uint8
	// SrcPorts and DstPorts need Proto TCP or UDP.
	SrcPorts, DstPorts []PortRange
	// ICMPTypes needs Proto ICMP or ICMPv6.
	ICMPTypes []uint8
	// State is a set of connection states (config.StateNew, ...).
	State config.ConnState
	// Action and Log are the rule's verdict.
	Action Action
	Log    bool
	// Never marks a rule that matches no packet: one naming a zone without
	// interfaces or an empty set. It stays in the list so that rule
	// numbers are the policy's.
	Never bool
}

// Key is what the classifier looks at in a packet.
type Key struct {
	// Src and Dst are the packet's addresses, of one family (a key with
	// none, or mixing families, matches no rule); their family picks the
	// rules.
	Src, Dst netip.Addr
	// In and Out are the interfaces it arrives on and leaves by (Self for
	// the appliance).
	In, Out uint16
	// Proto is the IP protocol.
	Proto uint8
	// SrcPort and DstPort are the TCP or UDP ports.
	SrcPort, DstPort uint16
	// ICMPType is the ICMP or ICMPv6 type.
	ICMPType uint8
	// State is the packet's connection state: one of config.StateNew,
	// StateEstablished, StateRelated, StateInvalid (the same bits as
	// conntrack.State).
	State config.ConnState
}

// KeyOf returns the key of a decoded IP packet that arrived on in and
// leaves by out, in connection state state. For a connection that
// destination NAT redirects, set Dst and DstPort to the target before
// classifying: rules see the translated destination, as in Linux's
// forward chain.
func KeyOf(p *packet.Parsed, in, out uint16, state config.ConnState) Key {
	k := Key{Src: p.Src, Dst: p.Dst, In: in, Out: out, Proto: uint8(p.IPProto), State: state}
	if p.HasL4 {
		switch p.IPProto {
		case packet.IPProtoTCP, packet.IPProtoUDP, packet.IPProtoSCTP:
			k.SrcPort, k.DstPort = p.SrcPort, p.DstPort
		case packet.IPProtoICMPv4, packet.IPProtoICMPv6:
			k.ICMPType = p.L4()[0]
		}
	}
	return k
}

// Match is the classifier's answer: the first rule that matches the packet.
type Match struct {
	// Rule is the rule's index in the list compiled, or NoRule.
	Rule int32
	// Action and Log are that rule's (Drop and false for NoRule).
	Action Action
	Log    bool
}

// NoRule is Match.Rule when no rule matches: the packet is dropped.
const NoRule = -1

// Matches reports whether the rule matches k: the definition the compiled
// classifier is tested against.
func (r *Rule) Matches(k *Key) bool {
	if r.Never || !k.Src.IsValid() || k.Src.BitLen() != k.Dst.BitLen() {
		return false
	}
	if len(r.In) > 0 && !containsIface(r.In, k.In) || len(r.Out) > 0 && !containsIface(r.Out, k.Out) {
		return false
	}
	if len(r.Src) > 0 && !containsAddr(r.Src, k.Src) || len(r.Dst) > 0 && !containsAddr(r.Dst, k.Dst) {
		return false
	}
	if r.Proto != 0 && r.Proto != k.Proto {
		return false
	}
	if len(r.SrcPorts) > 0 && !containsPort(r.SrcPorts, k.SrcPort) || len(r.DstPorts) > 0 && !containsPort(r.DstPorts, k.DstPort) {
		return false
	}
	if len(r.ICMPTypes) > 0 && !containsType(r.ICMPTypes, k.ICMPType) {
		return false
	}
	return r.State == 0 || r.State&k.State != 0
}

func containsIface(l []uint16, v uint16) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func containsPort(rs []PortRange, p uint16) bool {
	for _, r := range rs {
		if r.Lo <= p && p <= r.Hi {
			return true
		}
	}
	return false
}

func containsType(ts []uint8, t uint8) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// check reports a rule that could not come from a valid policy.
func (r *Rule) check() error {
	for _, ps := range [][]netip.Prefix{r.Src, r.Dst} {
		for _, p := range ps {
			if !p.IsValid() {
				return fmt.Errorf("invalid prefix %v", p)
			}
		}
	}
	for _, rs := range [][]PortRange{r.SrcPorts, r.DstPorts} {
		for _, pr := range rs {
			if pr.Lo > pr.Hi {
				return fmt.Errorf("port range %d-%d is backwards", pr.Lo, pr.Hi)
			}
		}
	}
	if (len(r.SrcPorts) > 0 || len(r.DstPorts) > 0) && r.Proto != protoTCP && r.Proto != protoUDP {
		return fmt.Errorf("ports with protocol %d (expected tcp or udp)", r.Proto)
	}
	if len(r.ICMPTypes) > 0 && r.Proto != protoICMP && r.Proto != protoICMPv6 {
		return fmt.Errorf("ICMP types with protocol %d (expected icmp or icmpv6)", r.Proto)
	}
	if r.Action > Reject {
		return fmt.Errorf("unknown action %d", r.Action)
	}
	return nil
}

const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// FromPolicy turns a valid firewall policy's rules into Rules: zones become
// the numbers of their interfaces (an interface's number is its position in
// the policy's interface list), zone self becomes Self, sets are expanded.
func FromPolicy(p *config.Policy) ([]Rule, error) {
	ifIndex := map[string]uint16{}
	for i, ifc := range p.Interfaces {
		ifIndex[ifc.Name] = uint16(i)
	}
	zones := map[string][]uint16{config.SelfZone: {Self}}
	for _, z := range p.Zones {
		var l []uint16
		for _, n := range z.Interfaces {
			i, ok := ifIndex[n]
			if !ok {
				return nil, fmt.Errorf("zone %s: unknown interface %s", z.Name, n)
			}
			l = append(l, i)
		}
		zones[z.Name] = l
	}
	sets := map[string][]netip.Prefix{}
	for _, s := range p.Sets {
		sets[s.Name] = s.Members
	}
	never := false
	side := func(zone, iface string, what string, n int) ([]uint16, error) {
		switch {
		case iface != "":
			i, ok := ifIndex[iface]
			if !ok {
				return nil, fmt.Errorf("rule %d: unknown %s interface %s", n, what, iface)
			}
			return []uint16{i}, nil
		case zone != "":
			l, ok := zones[zone]
			if !ok {
				return nil, fmt.Errorf("rule %d: unknown zone %s", n, zone)
			}
			if len(l) == 0 {
				never = true // no packet crosses an empty zone
			}
			return l, nil
		}
		return nil, nil
	}
	addrs := func(ms config.AddrMatches, n int) ([]netip.Prefix, error) {
		var out []netip.Prefix
		for _, m := range ms {
			if m.Set == "" {
				out = append(out, m.Prefix)
				continue
			}
			s, ok := sets[m.Set]
			if !ok {
				return nil, fmt.Errorf("rule %d: unknown set %s", n, m.Set)
			}
			out = append(out, s...)
		}
		if len(ms) > 0 && len(out) == 0 {
			never = true // empty sets match nothing, not everything
		}
		return out, nil
	}
	rules := make([]Rule, len(p.Rules))
	for n := range p.Rules {
		pr, r := &p.Rules[n], &rules[n]
		never = false
		var err error
		if r.In, err = side(pr.From, pr.In, "in", n); err != nil {
			return nil, err
		}
		if r.Out, err = side(pr.To, pr.Out, "out", n); err != nil {
			return nil, err
		}
		if r.Src, err = addrs(pr.Src, n); err != nil {
			return nil, err
		}
		if r.Dst, err = addrs(pr.Dst, n); err != nil {
			return nil, err
		}
		r.Proto = uint8(pr.Proto)
		for _, x := range pr.Sport {
			r.SrcPorts = append(r.SrcPorts, PortRange(x))
		}
		for _, x := range pr.Dport {
			r.DstPorts = append(r.DstPorts, PortRange(x))
		}
		for _, t := range pr.ICMPType {
			r.ICMPTypes = append(r.ICMPTypes, t.Type)
		}
		r.State = pr.State
		switch pr.Action {
		case config.Accept:
			r.Action = Accept
		case config.Drop:
			r.Action = Drop
		case config.Reject:
			r.Action = Reject
		default:
			return nil, fmt.Errorf("rule %d: unknown action %q", n, pr.Action)
		}
		r.Log = pr.Log
		r.Never = never
	}
	return rules, nil
}
