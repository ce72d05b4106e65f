package nat

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strconv"

	"github.com/nfvkit/nfvkit/pkg/config"
)

// Type is the kind of a NAT rule.
type Type uint8

// The kinds.
const (
	// Masquerade rewrites the source of connections leaving an interface
	// to that interface's address (of the packet's family).
	Masquerade Type = iota
	// SNAT rewrites the source to an address of a range, chosen by the
	// original source so that a host keeps its public address.
	SNAT
	// DNAT rewrites the destination of connections arriving on an
	// interface (port forwarding).
	DNAT
)

func (t Type) String() string {
	switch t {
	case Masquerade:
		return "masquerade"
	case SNAT:
		return "snat"
	case DNAT:
		return "dnat"
	}
	return "nat-type(" + strconv.Itoa(int(t)) + ")"
}

// Rule is one compiled NAT rule. Interfaces are policy interface numbers,
// as in package classify.
type Rule struct {
	Type Type
	// Iface is the interface: Out for masquerade and snat, In for dnat.
	Iface uint16
	// Addrs are the source addresses of masquerade (the interface's, at
	// most one per family is used: the first).
	Addrs []netip.Addr
	// First and Last bound snat's address range (Last invalid: First only).
	First, Last netip.Addr
	// Proto and Ports match dnat's packets (0 and {0, 0}: any).
	Proto uint8
	Ports PortRange
	// To and ToPort are dnat's target (ToPort 0 keeps the port).
	To     netip.Addr
	ToPort uint16
}

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

func (r PortRange) isZero() bool { return r == PortRange{} }

// Rules is a compiled, immutable NAT rule list: swap a new one in on
// reload (NAT.SetRules); connections keep the translation they were
// created with.
type Rules struct {
	dnat []dnatRule // in order: the first match wins
	snat []snatRule // in order: the first one for the egress and family wins
}

type dnatRule struct {
	idx    uint16
	in     uint16
	proto  uint8
	ports  PortRange
	to     netip.Addr
	toPort uint16
}

type snatRule struct {
	idx   uint16
	out   uint16
	v6    bool
	first [16]byte // the range, addresses as 16 bytes (IPv4 mapped)
	count uint64   // addresses in the range
}

// Compile checks and compiles rules.
func Compile(rules []Rule) (*Rules, error) {
	if len(rules) > 1<<16 {
		return nil, errors.New("nat: too many rules")
	}
	rs := &Rules{}
	for i, r := range rules {
		switch r.Type {
		case DNAT:
			if !r.To.IsValid() {
				return nil, fmt.Errorf("nat rule %d: dnat without a target", i)
			}
			if !r.Ports.isZero() && r.Proto != 6 && r.Proto != 17 {
				return nil, fmt.Errorf("nat rule %d: ports with protocol %d (expected tcp or udp)", i, r.Proto)
			}
			if r.Ports.Lo > r.Ports.Hi {
				return nil, fmt.Errorf("nat rule %d: port range %d-%d is backwards", i, r.Ports.Lo, r.Ports.Hi)
			}
			rs.dnat = append(rs.dnat, dnatRule{uint16(i), r.Iface, r.Proto, r.Ports, r.To.Unmap(), r.ToPort})
		case Masquerade:
			seen := map[bool]bool{}
			for _, a := range r.Addrs {
				a = a.Unmap()
				if !a.IsValid() || seen[a.Is6()] {
					continue
				}
				seen[a.Is6()] = true
				rs.snat = append(rs.snat, snatRule{idx: uint16(i), out: r.Iface, v6: a.Is6(), first: a.As16(), count: 1})
			}
		case SNAT:
			first, last := r.First.Unmap(), r.Last.Unmap()
			if !first.IsValid() {
				return nil, fmt.Errorf("nat rule %d: snat without an address", i)
			}
			if !last.IsValid() {
				last = first
			}
			if first.Is6() != last.Is6() || last.Less(first) {
				return nil, fmt.Errorf("nat rule %d: bad address range %v-%v", i, first, last)
			}
			rs.snat = append(rs.snat, snatRule{idx: uint16(i), out: r.Iface, v6: first.Is6(), first: first.As16(), count: rangeSize(first, last)})
		default:
			return nil, fmt.Errorf("nat rule %d: unknown type %d", i, r.Type)
		}
	}
	return rs, nil
}

// rangeSize is the number of addresses from first to last, capped at 2^63.
func rangeSize(first, last netip.Addr) uint64 {
	a, b := first.As16(), last.As16()
	d := new(big.Int).Sub(new(big.Int).SetBytes(b[:]), new(big.Int).SetBytes(a[:]))
	d.Add(d, big.NewInt(1))
	if !d.IsUint64() || d.Uint64() > 1<<63 {
		return 1 << 63
	}
	return d.Uint64()
}

// FromPolicy compiles a valid firewall policy's nat section: interfaces
// become their position in the policy's list, masquerade takes the
// interface's addresses.
func FromPolicy(p *config.Policy) (*Rules, error) {
	idx := map[string]int{}
	for i, ifc := range p.Interfaces {
		idx[ifc.Name] = i
	}
	rules := make([]Rule, len(p.NAT))
	for i, n := range p.NAT {
		r := &rules[i]
		name := n.Out
		if n.Type == config.DNAT {
			name = n.In
		}
		j, ok := idx[name]
		if !ok {
			return nil, fmt.Errorf("nat rule %d: unknown interface %q", i, name)
		}
		r.Iface = uint16(j)
		switch n.Type {
		case config.Masquerade:
			r.Type = Masquerade
			for _, a := range p.Interfaces[j].Address {
				r.Addrs = append(r.Addrs, a.Addr())
			}
		case config.SNAT:
			r.Type, r.First, r.Last = SNAT, n.To.Addr, n.To.Last
		case config.DNAT:
			r.Type, r.Proto, r.Ports = DNAT, uint8(n.Proto), PortRange(n.Dport)
			r.To, r.ToPort = n.To.Addr, n.To.Port
		default:
			return nil, fmt.Errorf("nat rule %d: unknown type %q", i, n.Type)
		}
	}
	return Compile(rules)
}
