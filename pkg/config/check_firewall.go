package config

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// Checks of the firewall sections: zones, sets, rules and NAT.

func (c *checker) checkZones() {
	c.zones, c.zoneOf = map[string]*Zone{}, map[string]string{}
	for i := range c.p.Zones {
		z := &c.p.Zones[i]
		if z.Name == SelfZone {
			c.errorf(c.at(&z.Name), "zone name self is reserved for the appliance itself (expected another name)")
		} else {
			c.name(&z.Name, maxName, "zone")
		}
		c.zones[z.Name] = z // duplicate keys were reported by the decoder
		for j := range z.Interfaces {
			name := &z.Interfaces[j]
			switch prev, dup := c.zoneOf[*name]; {
			case !c.ok(name):
			case c.ifaces[*name] == nil:
				c.errorf(c.at(name), "unknown interface %s (%s)", quote(*name), c.known("interface"))
			case dup && prev == z.Name:
				c.errorf(c.at(name), "interface %s is listed twice (expected each interface once)", *name)
			case dup:
				c.errorf(c.at(name), "interface %s is already in zone %s at line %d (expected each interface in one zone)", *name, prev, c.line(&c.zones[prev].Name))
			default:
				c.zoneOf[*name] = z.Name
			}
		}
	}
}

func (c *checker) checkSets() {
	c.sets, c.setFam = map[string]*Set{}, map[string]int{}
	for i := range c.p.Sets {
		s := &c.p.Sets[i]
		c.name(&s.Name, maxName, "set")
		c.sets[s.Name] = s
		seen := map[netip.Prefix]bool{}
		fam := 0
		for j, m := range s.Members {
			if !m.IsValid() {
				fam = 3 // reported; assume either family
				continue
			}
			fam |= famBit(m.Addr())
			if seen[m] {
				c.errorf(c.at(&s.Members[j]), "%s is listed twice (expected each member once)", m)
			}
			seen[m] = true
		}
		c.setFam[s.Name] = cmp.Or(fam, 3)
	}
}

// families says which address families a match can hold: bit 0 IPv4, bit 1
// IPv6; 3 (both) for an empty match, or one whose sets or values are broken
// and reported elsewhere.
func (c *checker) families(ms AddrMatches) int {
	f := 0
	for _, m := range ms {
		switch {
		case m.Set != "" && c.sets[m.Set] == nil, m.Set == "" && !m.Prefix.IsValid():
			return 3
		case m.Set != "":
			f |= c.setFam[m.Set]
		default:
			f |= famBit(m.Prefix.Addr())
		}
	}
	return cmp.Or(f, 3)
}

func famBit(a netip.Addr) int {
	if a.Is4() {
		return 1
	}
	return 2
}

func (c *checker) zoneRef(name string, ptr *string) bool {
	if name == "" || name == SelfZone || c.zones[name] != nil {
		return true
	}
	c.errorf(c.at(ptr), "unknown zone %s (%s)", quote(name), c.known("zone"))
	return false
}

func (c *checker) rules() {
	for i := range c.p.Rules {
		r := &c.p.Rules[i]
		fromOK := c.zoneRef(r.From, &r.From)
		toOK := c.zoneRef(r.To, &r.To)
		c.ruleIface(r.In, &r.In, r.From, fromOK, "from", "in")
		c.ruleIface(r.Out, &r.Out, r.To, toOK, "to", "out")
		for _, ms := range []AddrMatches{r.Src, r.Dst} {
			for j := range ms {
				if ms[j].Set != "" && c.sets[ms[j].Set] == nil {
					c.errorf(c.at(&ms[j]), "unknown set %s (%s)", quote(ms[j].Set), c.known("set"))
				}
			}
		}
		fam := c.families(r.Src) & c.families(r.Dst)
		if fam == 0 {
			c.errorf(c.at(&r.Dst, r), "dst has no address family in common with src (expected both to hold IPv4, or both IPv6)")
		}
		switch {
		case r.Proto == ProtoICMP && fam == 2:
			c.errorf(c.at(&r.Proto), "proto icmp with IPv6 addresses only (expected icmpv6 for IPv6)")
		case r.Proto == ProtoICMPv6 && fam == 1:
			c.errorf(c.at(&r.Proto), "proto icmpv6 with IPv4 addresses only (expected icmp for IPv4)")
		}
		protoOK := !c.d.failed[&r.Proto]
		for _, ports := range []*PortRanges{&r.Sport, &r.Dport} {
			if protoOK && len(*ports) > 0 && !r.Proto.HasPorts() {
				key := "sport"
				if ports == &r.Dport {
					key = "dport"
				}
				c.errorf(c.at(ports), "%s with %s (expected proto: tcp or udp)", key, protoText(r.Proto))
			}
		}
		if len(r.ICMPType) > 0 && protoOK {
			if r.Proto != ProtoICMP && r.Proto != ProtoICMPv6 {
				c.errorf(c.at(&r.ICMPType), "icmp_type with %s (expected proto: icmp or icmpv6)", protoText(r.Proto))
			} else {
				for j := range r.ICMPType {
					t := &r.ICMPType[j]
					if !t.resolve(r.Proto == ProtoICMPv6) {
						c.errorf(c.at(t), "ICMP type %s does not exist in %s (expected a %s type)", t.Name, r.Proto, r.Proto)
					}
				}
			}
		}
	}
	c.shadowed()
}

func protoText(p Proto) string {
	if p == 0 {
		return "no proto"
	}
	return "proto " + p.String()
}

// ruleIface checks a rule's in/out interface against its from/to zone.
func (c *checker) ruleIface(name string, ptr *string, zone string, zoneOK bool, zkey, key string) {
	switch {
	case name == "" || !c.ok(ptr):
	case c.ifaces[name] == nil:
		c.errorf(c.at(ptr), "unknown interface %s (%s)", quote(name), c.known("interface"))
	case zone == SelfZone:
		c.errorf(c.at(ptr), "%s %s with %s: self (expected no %s: packets of the appliance itself have none)", key, name, zkey, key)
	case zone != "" && zoneOK && c.zoneOf[name] != zone:
		c.errorf(c.at(ptr), "%s %s is not in zone %s (contradicts %s: %s; expected one of its interfaces: %s)", key, name, zone, zkey, zone, strings.Join(c.zones[zone].Interfaces, ", "))
	}
}

// ruleMatch is a rule's match prepared for the shadowing check: sets
// resolved (not copied), ports merged, ICMP types as a bit set.
type ruleMatch struct {
	src, dst     prefixSet
	sport, dport []PortRange
	icmp         [4]uint64
	ok           bool // false when a value is broken: skip the rule
}

// prefixSet is the prefixes of an address match: the literal ones, then
// each set's members.
type prefixSet [][]netip.Prefix

func (ps prefixSet) len() int {
	n := 0
	for _, p := range ps {
		n += len(p)
	}
	return n
}

// shadowed reports rules that can never match because an earlier rule
// matches every packet they would. The check is sound but not complete:
// it compares the rules field by field, so it never reports a reachable
// rule, and may miss a rule hidden by several earlier ones together.
//
// Only a rule whose from, to, in, out and proto are each unset or equal to
// the later rule's can cover it, so rules are bucketed by those five and
// each rule is compared with the 32 buckets that generalise its own.
func (c *checker) shadowed() {
	rs := c.p.Rules
	ms := make([]ruleMatch, len(rs))
	buckets := map[ruleKey][]int{}
	for i := range rs {
		ms[i] = c.matchOf(&rs[i])
		if ms[i].ok {
			k := keyOf(&rs[i])
			buckets[k] = append(buckets[k], i)
		}
	}
	for j := range rs {
		if !ms[j].ok {
			continue
		}
		first := -1
		k := keyOf(&rs[j])
		set := k.setMask()
		for mask := range 32 {
			if mask&^set != 0 {
				continue // blanks a field that is blank already: seen
			}
			for _, i := range buckets[k.general(mask)] {
				if i >= j || first >= 0 && i >= first {
					break
				}
				// Same bucket: from, to, in, out and proto agree already.
				if c.covers(&rs[i], &ms[i], &rs[j], &ms[j]) {
					first = i
					break
				}
				if c.work > maxWork {
					c.errorf(c.at(&c.p.Rules), "too many rules to check for shadowing: more than %d comparisons (expected fewer rules that share zones, interfaces and proto)", maxWork)
					return
				}
			}
		}
		if first >= 0 {
			c.errorf(c.at(&rs[j]), "rule never matches: rule at line %d (action %s) matches every packet it would (expected rules ordered from specific to general)", rs[first].Pos.Line, rs[first].Action)
		}
	}
}

// ruleKey is the part of a rule that the shadowing check buckets by.
type ruleKey struct {
	from, to, in, out string
	proto             Proto
}

func keyOf(r *Rule) ruleKey { return ruleKey{r.From, r.To, r.In, r.Out, r.Proto} }

// setMask has a bit for each field that is set.
func (k ruleKey) setMask() int {
	m := 0
	for i, set := range []bool{k.from != "", k.to != "", k.in != "", k.out != "", k.proto != 0} {
		if set {
			m |= 1 << i
		}
	}
	return m
}

// general blanks the fields whose bit is set in mask.
func (k ruleKey) general(mask int) ruleKey {
	if mask&1 != 0 {
		k.from = ""
	}
	if mask&2 != 0 {
		k.to = ""
	}
	if mask&4 != 0 {
		k.in = ""
	}
	if mask&8 != 0 {
		k.out = ""
	}
	if mask&16 != 0 {
		k.proto = 0
	}
	return k
}

func (c *checker) matchOf(r *Rule) ruleMatch {
	m := ruleMatch{ok: !c.d.failed[r]}
	for _, t := range r.ICMPType {
		m.icmp[t.Type/64] |= 1 << (t.Type % 64)
	}
	m.src, m.ok = c.prefixSet(r.Src, m.ok)
	m.dst, m.ok = c.prefixSet(r.Dst, m.ok)
	m.sport, m.dport = mergeRanges(r.Sport), mergeRanges(r.Dport)
	return m
}

func (c *checker) prefixSet(ms AddrMatches, ok bool) (prefixSet, bool) {
	var lit []netip.Prefix
	var ps prefixSet
	for _, m := range ms {
		switch s := c.sets[m.Set]; {
		case m.Set == "" && m.Prefix.IsValid():
			lit = append(lit, m.Prefix)
		case s != nil:
			ps = append(ps, s.Members)
		default:
			ok = false
		}
	}
	return append(ps, lit), ok
}

// mergeRanges sorts and joins overlapping or adjacent port ranges.
func mergeRanges(rs PortRanges) []PortRange {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b PortRange) int { return cmp.Compare(a.Lo, b.Lo) })
	var out []PortRange
	for _, r := range s {
		if n := len(out); n > 0 && int(r.Lo) <= int(out[n-1].Hi)+1 {
			out[n-1].Hi = max(out[n-1].Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// covers reports whether rule a matches every packet rule b matches. The
// caller has checked from, to, in, out and proto (they are a's bucket).
// Each call is charged to the work budget.
func (c *checker) covers(a *Rule, am *ruleMatch, b *Rule, bm *ruleMatch) bool {
	c.spend(1)
	if a.State != 0 && (b.State == 0 || !a.State.Has(b.State)) {
		return false
	}
	if len(a.ICMPType) > 0 && (len(b.ICMPType) == 0 ||
		bm.icmp[0]&^am.icmp[0]|bm.icmp[1]&^am.icmp[1]|bm.icmp[2]&^am.icmp[2]|bm.icmp[3]&^am.icmp[3] != 0) {
		return false
	}
	return rangesCover(am.dport, bm.dport) && rangesCover(am.sport, bm.sport) &&
		c.prefixesCover(am.src, bm.src, len(a.Src) == 0, len(b.Src) == 0) &&
		c.prefixesCover(am.dst, bm.dst, len(a.Dst) == 0, len(b.Dst) == 0)
}

func (c *checker) prefixesCover(a, b prefixSet, aAny, bAny bool) bool {
	switch {
	case aAny:
		return true
	case bAny:
		return false
	}
	if !c.spend(a.len() * b.len()) {
		return false
	}
	for _, bs := range b {
		for _, pb := range bs {
			held := false
			for _, as := range a {
				if slices.ContainsFunc(as, func(pa netip.Prefix) bool { return pa.Bits() <= pb.Bits() && pa.Contains(pb.Addr()) }) {
					held = true
					break
				}
			}
			if !held {
				return false
			}
		}
	}
	return true
}

// rangesCover reports whether the merged, sorted ranges a hold all of b
// (also merged and sorted), in one pass over both.
func rangesCover(a, b []PortRange) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	i := 0
	for _, rb := range b {
		for i < len(a) && a[i].Hi < rb.Lo {
			i++
		}
		if i == len(a) || a[i].Lo > rb.Lo || a[i].Hi < rb.Hi {
			return false
		}
	}
	return true
}

func (c *checker) nat() {
	for i := range c.p.NAT {
		n := &c.p.NAT[i]
		forbid := func(ptr any, key string) {
			if c.placed(ptr) {
				c.errorf(c.at(ptr), "%s takes no %s (contradicts type: %s)", n.Type, key, n.Type)
			}
		}
		need := func(ptr any, key, what string) bool {
			if !c.placed(ptr) {
				c.errorf(c.at(n), "%s needs %s (expected %s)", n.Type, key, what)
			}
			return c.placed(ptr)
		}
		switch n.Type {
		case Masquerade, SNAT:
			forbid(&n.In, "in")
			forbid(&n.Proto, "proto")
			forbid(&n.Dport, "dport")
			if need(&n.Out, "out", "the interface whose traffic is translated") && c.ok(&n.Out) {
				ifc := c.ifaces[n.Out]
				switch {
				case ifc == nil:
					c.errorf(c.at(&n.Out), "unknown interface %s (%s)", quote(n.Out), c.known("interface"))
				case n.Type == Masquerade && len(ifc.Address) == 0:
					c.errorf(c.at(&n.Out), "masquerade on %s, which has no address (expected an interface with an address)", n.Out)
				}
			}
			if n.Type == Masquerade {
				forbid(&n.To, "to")
			} else if need(&n.To, "to", "an address or a range FIRST-LAST") && n.To.Port != 0 {
				c.errorf(c.at(&n.To), "snat to %s has a port (expected an address or a range FIRST-LAST)", n.To)
			}
		case DNAT:
			forbid(&n.Out, "out")
			if need(&n.In, "in", "the interface the traffic arrives on") && c.ok(&n.In) && c.ifaces[n.In] == nil {
				c.errorf(c.at(&n.In), "unknown interface %s (%s)", quote(n.In), c.known("interface"))
			}
			if need(&n.To, "to", "ADDR, ADDR:PORT or [IPV6]:PORT") && n.To.Last.IsValid() {
				c.errorf(c.at(&n.To), "dnat to a range %s (expected one address, with an optional port)", n.To)
			}
			switch {
			case !n.Dport.IsZero() && !n.Proto.HasPorts() && !c.d.failed[&n.Proto]:
				c.errorf(c.at(&n.Dport), "dport with %s (expected proto: tcp or udp)", protoText(n.Proto))
			case n.To.Port != 0 && n.Dport.IsZero():
				c.errorf(c.at(&n.To), "to has a port but no dport is matched (expected dport, with proto tcp or udp)")
			}
		}
	}
}
