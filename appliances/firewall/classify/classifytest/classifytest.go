// Package classifytest makes realistic random firewall rule sets and the
// packets to classify against them, deterministically from a seed, and holds
// Linear, the naive first-match reference the classifier is checked against.
//
// It is test support: nothing in a shipped binary imports it.
package classifytest

import (
	"math/rand/v2"
	"net/netip"

	"github.com/nfvkit/nfvkit/appliances/firewall/classify"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// Linear returns the first rule of rs that matches k: the definition of
// first match, one rule after the other.
func Linear(rs []classify.Rule, k *classify.Key) classify.Match {
	for i := range rs {
		if rs[i].Matches(k) {
			return classify.Match{Rule: int32(i), Action: rs[i].Action, Log: rs[i].Log}
		}
	}
	return classify.Match{Rule: classify.NoRule, Action: classify.Drop}
}

// Topology of the generated rule sets: interfaces 0..3 in three zones, and
// the appliance itself.
var zones = [][]uint16{{0, 1}, {2}, {3}, {classify.Self}}

// commonPorts are the ports rules name most.
var commonPorts = []uint16{22, 25, 53, 80, 110, 123, 143, 161, 389, 443, 445, 465, 514, 587, 636, 993,
	995, 1194, 1433, 1521, 1812, 2049, 3128, 3306, 3389, 5060, 5432, 5900, 6379, 6443, 8080, 8443, 9090,
	9100, 9200, 11211, 27017, 51820}

var icmpTypes = []uint8{0, 3, 8, 11, 12}
var icmp6Types = []uint8{1, 2, 3, 4, 128, 129, 135, 136}

// Gen generates rule sets and keys.
type Gen struct {
	r    *rand.Rand
	sets [][]netip.Prefix // named sets rules share
}

// New returns a generator seeded with seed.
func New(seed uint64) *Gen {
	g := &Gen{r: rand.New(rand.NewPCG(seed, seed^0x5bd1e995))}
	for range 20 {
		n := 5 + g.r.IntN(60)
		s := make([]netip.Prefix, n)
		v6 := g.r.IntN(5) == 0
		for i := range s {
			s[i] = g.prefix(v6)
		}
		g.sets = append(g.sets, s)
	}
	return g
}

func (g *Gen) pct(p int) bool { return g.r.IntN(100) < p }

// prefix returns a random prefix with a realistic length: for IPv4 mostly
// /24 and /32 inside 10/8, 172.16/12, 192.168/16 and public space.
func (g *Gen) prefix(v6 bool) netip.Prefix {
	if v6 {
		var a [16]byte
		a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
		for i := 4; i < 16; i++ {
			a[i] = byte(g.r.IntN(4)) // a small space, so prefixes overlap
			if i > 7 {
				a[i] = byte(g.r.Uint32())
			}
		}
		bits := []int{32, 48, 56, 64, 64, 128, 128}[g.r.IntN(7)]
		return netip.PrefixFrom(netip.AddrFrom16(a), bits).Masked()
	}
	var a [4]byte
	switch g.r.IntN(4) {
	case 0:
		a = [4]byte{10, byte(g.r.IntN(16)), byte(g.r.Uint32()), byte(g.r.Uint32())}
	case 1:
		a = [4]byte{172, byte(16 + g.r.IntN(16)), byte(g.r.Uint32()), byte(g.r.Uint32())}
	case 2:
		a = [4]byte{192, 168, byte(g.r.IntN(32)), byte(g.r.Uint32())}
	default:
		u := g.r.Uint32()
		a = [4]byte{byte(1 + u%223), byte(u >> 8), byte(u >> 16), byte(u >> 24)}
	}
	var bits int
	switch n := g.r.IntN(100); {
	case n < 2:
		bits = 8
	case n < 15:
		bits = 16
	case n < 25:
		bits = 16 + g.r.IntN(8)
	case n < 60:
		bits = 24
	case n < 67:
		bits = 25 + g.r.IntN(7)
	default:
		bits = 32
	}
	return netip.PrefixFrom(netip.AddrFrom4(a), bits).Masked()
}

func (g *Gen) addrs(v6 bool, anyPct int) []netip.Prefix {
	switch n := g.r.IntN(100); {
	case n < anyPct:
		return nil
	case n < anyPct+(100-anyPct)*6/10:
		return []netip.Prefix{g.prefix(v6)}
	case n < anyPct+(100-anyPct)*8/10:
		// A set of the rule's family (sets are mostly one family).
		for range 10 {
			s := g.sets[g.r.IntN(len(g.sets))]
			if s[0].Addr().Is6() == v6 {
				return s
			}
		}
		return []netip.Prefix{g.prefix(v6)}
	default:
		l := make([]netip.Prefix, 2+g.r.IntN(3))
		for i := range l {
			l[i] = g.prefix(v6)
		}
		return l
	}
}

func (g *Gen) port() uint16 {
	if g.pct(60) {
		return commonPorts[g.r.IntN(len(commonPorts))]
	}
	return uint16(1 + g.r.IntN(65535))
}

func (g *Gen) ports(pct int) []classify.PortRange {
	if !g.pct(pct) {
		return nil
	}
	switch n := g.r.IntN(100); {
	case n < 60:
		p := g.port()
		return []classify.PortRange{{Lo: p, Hi: p}}
	case n < 85:
		lo := uint16(1 + g.r.IntN(64000))
		return []classify.PortRange{{Lo: lo, Hi: lo + uint16(g.r.IntN(1000))}}
	default:
		l := make([]classify.PortRange, 2+g.r.IntN(4))
		for i := range l {
			p := g.port()
			l[i] = classify.PortRange{Lo: p, Hi: p}
		}
		return l
	}
}

func (g *Gen) ifaces() []uint16 {
	switch n := g.r.IntN(100); {
	case n < 25:
		return nil
	case n < 85:
		return zones[g.r.IntN(len(zones))]
	default:
		return []uint16{uint16(g.r.IntN(4))}
	}
}

// Rules returns n random rules shaped like an operator's policy: specific
// rules first (nineteen in twenty) — a zone pair, addresses (literal
// prefixes, lists and shared sets; four in five IPv4; at least one side
// given), mostly TCP and UDP with destination ports (common services,
// random ports, ranges, lists), some ICMP with types, a few other
// protocols, some connection-state matches — and broad rules last (zone
// pairs, protocols, a service to anywhere), as a policy that passes the
// shadowing check must order them. A packet not meant for one specific rule
// is therefore compared with most of the list before one matches.
func (g *Gen) Rules(n int) []classify.Rule {
	rs := make([]classify.Rule, n)
	broad := n / 20
	for i := range rs {
		r := &rs[i]
		v6 := g.pct(20)
		r.In, r.Out = g.ifaces(), g.ifaces()
		if i >= n-broad {
			g.broad(r, v6)
			continue
		}
		r.Src = g.addrs(v6, 45)
		r.Dst = g.addrs(v6, 10)
		if len(r.Src) == 0 && len(r.Dst) == 0 {
			r.Dst = []netip.Prefix{g.prefix(v6)}
		}
		switch n := g.r.IntN(100); {
		case n < 50:
			r.Proto = 6
		case n < 82:
			r.Proto = 17
		case n < 92:
			r.Proto = 1
			if v6 {
				r.Proto = 58
			}
			if g.pct(60) {
				ts := icmpTypes
				if v6 {
					ts = icmp6Types
				}
				for range 1 + g.r.IntN(3) {
					r.ICMPTypes = append(r.ICMPTypes, ts[g.r.IntN(len(ts))])
				}
			}
		case n < 96:
			r.Proto = []uint8{47, 50, 132}[g.r.IntN(3)]
		}
		if r.Proto == 6 || r.Proto == 17 {
			r.DstPorts = g.ports(90)
			r.SrcPorts = g.ports(3)
		}
		switch n := g.r.IntN(100); {
		case n < 8:
			r.State = config.StateNew
		case n < 10:
			r.State = config.StateInvalid
		}
		g.verdict(r)
	}
	return rs
}

// broad makes a rule that matches much: a zone pair, maybe a protocol or
// a service, rarely an address.
func (g *Gen) broad(r *classify.Rule, v6 bool) {
	switch n := g.r.IntN(100); {
	case n < 30:
	case n < 60:
		r.Proto = []uint8{6, 17, 1}[g.r.IntN(3)]
	case n < 85:
		r.Proto = []uint8{6, 17}[g.r.IntN(2)]
		r.DstPorts = g.ports(100)
	default:
		r.Src = []netip.Prefix{g.prefix(v6)}
	}
	if g.pct(20) {
		r.State = config.StateEstablished | config.StateRelated
	}
	g.verdict(r)
}

func (g *Gen) verdict(r *classify.Rule) {
	switch n := g.r.IntN(100); {
	case n < 60:
		r.Action = classify.Accept
	case n < 90:
		r.Action = classify.Drop
	default:
		r.Action = classify.Reject
	}
	r.Log = g.pct(10)
}

var states = []config.ConnState{config.StateNew, config.StateNew, config.StateNew, config.StateEstablished, config.StateRelated, config.StateInvalid}

// Keys returns n keys: seven in ten made to match a random rule of rs
// (which an earlier rule may match first), the rest random.
func (g *Gen) Keys(rs []classify.Rule, n int) []classify.Key {
	ks := make([]classify.Key, n)
	for i := range ks {
		k := &ks[i]
		if len(rs) > 0 && g.pct(70) {
			g.matching(&rs[g.r.IntN(len(rs))], k)
		} else {
			g.random(k)
		}
	}
	return ks
}

func (g *Gen) random(k *classify.Key) {
	v6 := g.pct(20)
	k.Src, k.Dst = g.hostIn(g.prefix(v6)), g.hostIn(g.prefix(v6))
	k.In, k.Out = g.anyIface(), g.anyIface()
	k.Proto = []uint8{6, 6, 6, 17, 17, 1, 47}[g.r.IntN(7)]
	if v6 && k.Proto == 1 {
		k.Proto = 58
	}
	k.SrcPort, k.DstPort = uint16(1024+g.r.IntN(64000)), g.port()
	k.ICMPType = uint8(g.r.IntN(20))
	k.State = states[g.r.IntN(len(states))]
}

func (g *Gen) anyIface() uint16 {
	if g.pct(10) {
		return classify.Self
	}
	return uint16(g.r.IntN(4))
}

func (g *Gen) matching(r *classify.Rule, k *classify.Key) {
	g.random(k)
	v6 := k.Src.Is6()
	if len(r.Src) > 0 {
		p := r.Src[g.r.IntN(len(r.Src))]
		v6 = p.Addr().Is6()
		k.Src = g.hostIn(p)
	}
	if len(r.Dst) > 0 {
		p := r.Dst[g.r.IntN(len(r.Dst))]
		v6 = p.Addr().Is6()
		k.Dst = g.hostIn(p)
		if len(r.Src) == 0 {
			k.Src = g.hostIn(g.prefix(v6))
		}
	} else if len(r.Src) > 0 {
		k.Dst = g.hostIn(g.prefix(v6))
	}
	if len(r.In) > 0 {
		k.In = r.In[g.r.IntN(len(r.In))]
	}
	if len(r.Out) > 0 {
		k.Out = r.Out[g.r.IntN(len(r.Out))]
	}
	if r.Proto != 0 {
		k.Proto = r.Proto
	}
	if len(r.SrcPorts) > 0 {
		k.SrcPort = g.portIn(r.SrcPorts)
	}
	if len(r.DstPorts) > 0 {
		k.DstPort = g.portIn(r.DstPorts)
	}
	if len(r.ICMPTypes) > 0 {
		k.ICMPType = r.ICMPTypes[g.r.IntN(len(r.ICMPTypes))]
	}
	if r.State != 0 {
		for {
			s := config.ConnState(1 << g.r.IntN(4))
			if r.State&s != 0 {
				k.State = s
				break
			}
		}
	}
}

func (g *Gen) portIn(rs []classify.PortRange) uint16 {
	r := rs[g.r.IntN(len(rs))]
	return r.Lo + uint16(g.r.IntN(int(r.Hi-r.Lo)+1))
}

// hostIn returns a random address inside p.
func (g *Gen) hostIn(p netip.Prefix) netip.Addr {
	a := p.Addr().As16()
	base := 0
	if p.Addr().Is4() {
		base = 12
	}
	for bit := p.Bits(); bit < p.Addr().BitLen(); bit++ {
		if g.r.IntN(2) == 1 {
			a[base+bit/8] |= 0x80 >> (bit % 8)
		}
	}
	if p.Addr().Is4() {
		return netip.AddrFrom4([4]byte(a[12:]))
	}
	return netip.AddrFrom16(a)
}
