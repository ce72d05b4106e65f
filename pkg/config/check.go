package config

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// check fills in defaults and runs every check that needs more than one
// value: references, duplicates, reachability and contradictions. Problems
// go to d's list at the place of the value at fault.
func check(d *decoder, p *Policy) {
	c := &checker{d: d, p: p, devs: map[string]any{}, ifaces: map[string]*Interface{},
		own: map[netip.Addr]bool{}, msgs: map[string]string{}}
	c.defaults()
	c.interfaces()
	c.wireguardNames()
	c.addresses()
	c.management()
	c.checkRoutes()
	c.neighbors()
	switch p.Appliance {
	case Firewall:
		c.checkZones()
		c.checkSets()
		c.rules()
		c.nat()
	case IPsecGW:
		c.ike()
		c.staticSAs()
		c.selectorOverlaps()
		c.wireguard()
	}
}

// checker holds what the checks look up, indexed so that no check costs
// more than about linear time in the policy's size (any input must finish
// quickly); the checks that are quadratic by nature draw on a work budget.
type checker struct {
	d      *decoder
	p      *Policy
	devs   map[string]any        // interface and tunnel names -> *Interface or *WireGuard
	ifaces map[string]*Interface // interface names -> the first with that name
	devIDs []string              // device names by index, for nets
	own    map[netip.Addr]bool   // the appliance's own addresses
	nets   prefixIndex           // connected subnets -> device indices
	routes prefixIndex           // destinations of routes that are not blackholes
	msgs   map[string]string     // lists of names for messages, built once
	work   int                   // comparisons made by the quadratic checks

	// Firewall lookups, built by zones and sets.
	zones  map[string]*Zone
	zoneOf map[string]string
	sets   map[string]*Set
	setFam map[string]int
}

// maxWork bounds the comparisons the quadratic checks (shadowed rules,
// overlapping traffic selectors) make: some seconds of work at most. A
// firewall with 10,000 rules that share zones and protocol needs 5e7.
var maxWork = 400_000_000 // a variable for tests

// spend charges n comparisons to the budget and reports whether it holds.
func (c *checker) spend(n int) bool {
	c.work += n
	return c.work <= maxWork
}

// prefixIndex finds the prefixes of a set that contain an address, with
// one map lookup per distinct prefix length.
type prefixIndex struct {
	lens [2][]int // distinct lengths of IPv4 [0] and IPv6 [1] prefixes, longest first
	m    map[netip.Prefix][]int
}

// maxPerPrefix bounds the values kept per prefix: more than one device on
// one subnet is an error already, reported once.
const maxPerPrefix = 4

func famIdx(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

func (x *prefixIndex) add(p netip.Prefix, v int) {
	if x.m == nil {
		x.m = map[netip.Prefix][]int{}
	}
	p = p.Masked()
	f := famIdx(p.Addr())
	if !slices.Contains(x.lens[f], p.Bits()) {
		x.lens[f] = append(x.lens[f], p.Bits())
		slices.SortFunc(x.lens[f], func(a, b int) int { return b - a })
	}
	if vs := x.m[p]; len(vs) < maxPerPrefix && !slices.Contains(vs, v) {
		x.m[p] = append(vs, v)
	}
}

// find calls fn with the values of the prefixes holding a, longest prefix
// first, until fn returns true; it reports whether one did.
func (x *prefixIndex) find(a netip.Addr, fn func(v int) bool) bool {
	if !a.IsValid() {
		return false
	}
	for _, l := range x.lens[famIdx(a)] {
		p, _ := a.Prefix(l)
		for _, v := range x.m[p] {
			if fn(v) {
				return true
			}
		}
	}
	return false
}

// at returns the place of the first pointer that was decoded.
func (c *checker) at(ptrs ...any) place {
	for _, p := range ptrs {
		if pl, ok := c.d.places[p]; ok {
			return pl
		}
	}
	return place{line: 1, col: 1}
}

func (c *checker) errorf(pl place, format string, args ...any) {
	c.d.errorAt(pl.line, pl.col, pl.path, fmt.Sprintf(format, args...))
}

// placed reports whether ptr was given in the policy (rather than left out
// or filled in by default), even if its value was wrong.
func (c *checker) placed(ptr any) bool {
	_, ok := c.d.places[ptr]
	return ok
}

// ok reports whether ptr was given and decoded without error: only such
// values are checked further, so one mistake is reported once.
func (c *checker) ok(ptr any) bool { return c.placed(ptr) && !c.d.failed[ptr] }

// either returns ptr if it was decoded, else fallback (its parent).
func (c *checker) either(ptr, fallback any) any {
	if c.placed(ptr) {
		return ptr
	}
	return fallback
}

// line is the line ptr was written on.
func (c *checker) line(ptr any) int { return c.at(ptr).line }

// oneOf ends a message about an unknown name with the names there are.
func oneOf(kind string, names []string) string {
	switch n := len(names); {
	case n == 0:
		return "no " + kind + " is defined"
	case n > 12:
		return "expected one of: " + strings.Join(names[:12], ", ") + fmt.Sprintf(" and %d more", n-12)
	}
	return "expected one of: " + strings.Join(names, ", ")
}

// known ends a message about an unknown interface, zone or set: kind is
// "interface", "device" (interfaces and tunnels), "zone" or "set".
func (c *checker) known(kind string) string {
	if s, ok := c.msgs[kind]; ok {
		return s
	}
	var names []string
	seen := map[string]bool{}
	addName := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	switch kind {
	case "interface", "device":
		for _, ifc := range c.p.Interfaces {
			addName(ifc.Name)
		}
		if kind == "device" {
			for _, w := range c.p.WireGuard {
				addName(w.Name)
			}
		}
	case "zone":
		addName(SelfZone)
		for _, z := range c.p.Zones {
			addName(z.Name)
		}
	case "set":
		for _, s := range c.p.Sets {
			addName(s.Name)
		}
	}
	noun := kind
	if kind == "device" {
		noun = "interface"
	}
	s := oneOf(noun, names)
	c.msgs[kind] = s
	return s
}

// Name lengths: interfaces and tunnels are Linux interface names.
const (
	maxIfName = maxIfNameLen
	maxName   = 63
)

// namePattern is the JSON Schema form of isName.
const namePattern = `^[A-Za-z][A-Za-z0-9_.-]*$`

// isName reports whether s is a name for zones, sets, connections and peers:
// a letter, then letters, digits, '_', '-' or '.'.
func isName(s string) bool {
	return s != "" && len(s) <= maxName && isIdent(s, maxName) &&
		('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z')
}

func (c *checker) name(ptr *string, limit int, kind string) bool {
	if !c.ok(ptr) {
		return false // missing or already reported
	}
	if isName(*ptr) && len(*ptr) <= limit {
		return true
	}
	c.errorf(c.at(ptr), "%s name %s is not valid (expected a letter, then letters, digits, '_', '-' or '.', at most %d bytes)", kind, quote(*ptr), limit)
	return false
}

// defaults fills in what the policy left out, before the checks that
// depend on it.
func (c *checker) defaults() {
	p := c.p
	for i := range p.Interfaces {
		if p.Interfaces[i].MTU == 0 {
			p.Interfaces[i].MTU = DefaultMTU
		}
	}
	if p.Appliance == Firewall {
		if p.Conntrack == nil {
			p.Conntrack = &Conntrack{}
		}
		ct, def := p.Conntrack, DefaultConntrack
		ct.Max = cmp.Or(ct.Max, def.Max)
		t, dt := &ct.Timeouts, def.Timeouts
		t.TCPSyn = cmp.Or(t.TCPSyn, dt.TCPSyn)
		t.TCPEstablished = cmp.Or(t.TCPEstablished, dt.TCPEstablished)
		t.TCPFin = cmp.Or(t.TCPFin, dt.TCPFin)
		t.UDP = cmp.Or(t.UDP, dt.UDP)
		t.UDPStream = cmp.Or(t.UDPStream, dt.UDPStream)
		t.ICMP = cmp.Or(t.ICMP, dt.ICMP)
		t.Other = cmp.Or(t.Other, dt.Other)
	}
	for i := range p.IKE {
		k := &p.IKE[i]
		if len(k.Proposals) == 0 {
			k.Proposals = []IKEProposal{cloneIKE(DefaultIKEProposal)}
		}
		k.Lifetime = cmp.Or(k.Lifetime, DefaultIKELifetime)
		k.Rekey = cmp.Or(k.Rekey, k.Lifetime/10*9)
		k.Start = cmp.Or(k.Start, StartTrap)
		for j := range k.Children {
			ch := &k.Children[j]
			if ch.Name == "" {
				ch.Name = fmt.Sprintf("%s-%d", k.Name, j+1)
			}
			if len(ch.ESP) == 0 {
				ch.ESP = []ESPProposal{{Encr: slices.Clone(DefaultESPProposal.Encr), DH: slices.Clone(DefaultESPProposal.DH)}}
			}
			ch.Lifetime = cmp.Or(ch.Lifetime, DefaultChildLifetime)
		}
	}
	for i := range p.WireGuard {
		if p.WireGuard[i].MTU == 0 {
			p.WireGuard[i].MTU = DefaultWireGuardMTU
		}
	}
}

func cloneIKE(p IKEProposal) IKEProposal {
	return IKEProposal{Encr: slices.Clone(p.Encr), PRF: slices.Clone(p.PRF), DH: slices.Clone(p.DH)}
}

// interfaces checks names, ports and VLAN sub-interfaces.
func (c *checker) interfaces() {
	p := c.p
	ports := map[string]*Interface{}
	vlans := map[string]*Interface{}
	for i := range p.Interfaces {
		ifc := &p.Interfaces[i]
		if c.name(&ifc.Name, maxIfName, "interface") {
			if prev, dup := c.devs[ifc.Name]; dup {
				c.errorf(c.at(&ifc.Name), "duplicate interface name %s (first at line %d)", quote(ifc.Name), c.line(&prev.(*Interface).Name))
			} else {
				c.devs[ifc.Name] = ifc
				c.ifaces[ifc.Name] = ifc
			}
		}
		if !ifc.Port.IsZero() {
			key := portKey(ifc.Port)
			if prev, dup := ports[key]; dup {
				c.errorf(c.at(&ifc.Port), "port %s is already used by interface %s at line %d (expected one interface per port; use vlan and parent to share it)", ifc.Port, prev.Name, c.line(&prev.Port))
			} else {
				ports[key] = ifc
			}
		}
	}
	for i := range p.Interfaces {
		ifc := &p.Interfaces[i]
		switch {
		case ifc.Parent == "" && ifc.VLAN != 0:
			c.errorf(c.at(&ifc.VLAN), "vlan without parent (expected parent: the interface whose port carries the VLAN)")
		case ifc.Parent == "" && !c.placed(&ifc.Port):
			c.errorf(c.at(ifc), "missing key \"port\" (expected %s)", PortSpec{}.expected())
		case ifc.Parent != "":
			if c.placed(&ifc.Port) {
				c.errorf(c.at(&ifc.Port), "port on a VLAN sub-interface (expected no port: it shares the port of parent %s)", ifc.Parent)
			}
			if !c.placed(&ifc.VLAN) {
				c.errorf(c.at(&ifc.Parent), "parent without vlan (expected vlan: 1..4094)")
			}
			parent := c.ifaces[ifc.Parent]
			switch {
			case !c.ok(&ifc.Parent):
			case parent == nil:
				c.errorf(c.at(&ifc.Parent), "unknown interface %s (%s)", quote(ifc.Parent), c.known("interface"))
			case parent == ifc:
				c.errorf(c.at(&ifc.Parent), "interface %s is its own parent (expected another interface)", ifc.Name)
			case parent.Parent != "":
				c.errorf(c.at(&ifc.Parent), "parent %s is itself a VLAN sub-interface (expected an interface with a port; stacked VLANs are not supported)", parent.Name)
			default:
				if ifc.MTU > parent.MTU {
					c.errorf(c.at(&ifc.MTU, ifc), "mtu %d is larger than parent %s's mtu %d (expected at most %d)", ifc.MTU, parent.Name, parent.MTU, parent.MTU)
				}
				if ifc.VLAN != 0 {
					key := fmt.Sprintf("%s.%d", parent.Name, ifc.VLAN)
					if prev, dup := vlans[key]; dup {
						c.errorf(c.at(&ifc.VLAN), "vlan %d on %s is already interface %s at line %d (expected one interface per VLAN)", ifc.VLAN, parent.Name, prev.Name, c.line(&prev.VLAN))
					} else {
						vlans[key] = ifc
					}
				}
			}
		}
	}
}

// portKey identifies the device under a port: afpacket:eth1, afxdp:eth1/0
// and tap:eth1 all take eth1.
func portKey(ps PortSpec) string {
	if n := ps.IfName(); n != "" {
		return "linux:" + n
	}
	return ps.String()
}

// wireguardNames puts tunnels in the namespace of interfaces: a route's dev
// may be either.
func (c *checker) wireguardNames() {
	for i := range c.p.WireGuard {
		w := &c.p.WireGuard[i]
		if !c.name(&w.Name, maxIfName, "tunnel") {
			continue
		}
		if prev, dup := c.devs[w.Name]; dup {
			c.errorf(c.at(&w.Name), "duplicate name %s: already an interface or tunnel at line %d (expected a name of its own)", quote(w.Name), c.devLine(prev))
			continue
		}
		c.devs[w.Name] = w
	}
}

func (c *checker) devLine(dev any) int {
	switch d := dev.(type) {
	case *Interface:
		return c.line(&d.Name)
	case *WireGuard:
		return c.line(&d.Name)
	}
	return 0
}

// addresses collects the appliance's own addresses and connected subnets,
// and rejects an address given twice or a subnet on two devices.
func (c *checker) addresses() {
	type entry struct {
		p   *netip.Prefix
		dev int
	}
	var es []entry
	add := func(dev string, addrs Prefixes) {
		for i := range addrs {
			if addrs[i].IsValid() {
				es = append(es, entry{&addrs[i], len(c.devIDs)})
			}
		}
		c.devIDs = append(c.devIDs, dev)
	}
	for i := range c.p.Interfaces {
		add(c.p.Interfaces[i].Name, c.p.Interfaces[i].Address)
	}
	for i := range c.p.WireGuard {
		add(c.p.WireGuard[i].Name, c.p.WireGuard[i].Address)
	}
	first := map[netip.Addr]int{}
	var order []int // entries with addresses of their own
	for i, e := range es {
		a := e.p.Addr()
		if j, dup := first[a]; dup {
			c.errorf(c.at(e.p), "address %s is already on %s at line %d (expected each address once)", a, c.devIDs[es[j].dev], c.line(es[j].p))
			continue
		}
		first[a] = i
		c.own[a] = true
		c.nets.add(*e.p, e.dev)
		order = append(order, i)
	}
	// Two subnets overlap when one holds the other. Sorted by network and
	// then length, each subnet follows those that hold it, kept on a stack
	// (at most one entry per prefix length).
	slices.SortStableFunc(order, func(i, j int) int {
		a, b := es[i].p.Masked(), es[j].p.Masked()
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	var stack []int
	for _, i := range order {
		cur := es[i]
		net := cur.p.Masked()
		for len(stack) > 0 && !es[stack[len(stack)-1]].p.Masked().Contains(net.Addr()) {
			stack = stack[:len(stack)-1]
		}
		for k := len(stack) - 1; k >= 0; k-- {
			if o := stack[k]; es[o].dev != cur.dev {
				later, earlier := es[max(i, o)], es[min(i, o)]
				c.errorf(c.at(later.p), "subnet %s overlaps %s on %s at line %d (expected disjoint subnets on different interfaces)",
					later.p.Masked(), earlier.p.Masked(), c.devIDs[earlier.dev], c.line(earlier.p))
				break
			}
		}
		if len(stack) == 0 || es[stack[len(stack)-1]].p.Masked() != net {
			stack = append(stack, i)
		}
	}
}

// onLink reports whether a is on a connected subnet of dev, or of any
// device when dev is "".
func (c *checker) onLink(a netip.Addr, dev string) bool {
	return c.nets.find(a, func(v int) bool { return dev == "" || c.devIDs[v] == dev })
}

// subnets lists a device's connected subnets (all of them for ""), for
// messages.
func (c *checker) subnets(dev string) string {
	key := "subnets " + dev
	if s, ok := c.msgs[key]; ok {
		return s
	}
	var s []string
	for i, d := range c.devIDs {
		if dev != "" && d != dev {
			continue
		}
		var addrs Prefixes
		if i < len(c.p.Interfaces) {
			addrs = c.p.Interfaces[i].Address
		} else {
			addrs = c.p.WireGuard[i-len(c.p.Interfaces)].Address
		}
		for _, a := range addrs {
			if a.IsValid() && len(s) <= 8 {
				s = append(s, a.Masked().String())
			}
		}
	}
	var msg string
	switch {
	case len(s) == 0 && dev == "":
		msg = "no interface has an address"
	case len(s) == 0:
		msg = dev + " has no address"
	case len(s) > 8:
		msg = "an address in " + strings.Join(s[:8], ", ") + ", ..."
	default:
		msg = "an address in " + strings.Join(s, ", ")
	}
	c.msgs[key] = msg
	return msg
}

// reachable reports whether the appliance can send to a: on a connected
// subnet, or covered by a route that is not a blackhole.
func (c *checker) reachable(a netip.Addr) bool {
	any := func(int) bool { return true }
	return c.nets.find(a, any) || c.routes.find(a, any)
}

// endpoint checks a tunnel peer address: not ours, and reachable.
func (c *checker) endpoint(a netip.Addr, ptr any, what string) {
	switch {
	case c.own[a]:
		c.errorf(c.at(ptr), "%s %s is this appliance's own address (expected the remote end)", what, a)
	case !c.reachable(a):
		c.errorf(c.at(ptr), "%s %s is not reachable: no connected subnet or route covers it (expected a route to it, e.g. a default route)", what, a)
	}
}

// localAddr checks a tunnel's local address: one of ours, in peer's family.
func (c *checker) localAddr(local, peer netip.Addr, ptr any) {
	switch {
	case !local.IsValid():
	case !c.own[local]:
		c.errorf(c.at(ptr), "local %s is not an address of any interface (expected one of the appliance's addresses)", local)
	case peer.IsValid() && local.Is4() != peer.Is4():
		c.errorf(c.at(ptr), "local %s and peer %s are of different address families (expected both IPv4 or both IPv6)", local, peer)
	}
}

func (c *checker) management() {
	m := c.p.Management
	if m == nil {
		return
	}
	ifc := c.ifaces[m.Interface]
	if !c.ok(&m.Interface) {
		return
	}
	if ifc == nil {
		c.errorf(c.at(&m.Interface), "unknown interface %s (%s)", quote(m.Interface), c.known("interface"))
		return
	}
	if len(ifc.Address) == 0 {
		c.errorf(c.at(&m.Interface), "interface %s has no address (expected a management interface with an address)", ifc.Name)
		return
	}
	if m.Metrics.Addr.IsValid() && !slices.ContainsFunc(ifc.Address, func(p netip.Prefix) bool { return p.Addr() == m.Metrics.Addr }) {
		c.errorf(c.at(&m.Metrics), "metrics address %s is not on interface %s (expected one of its addresses, or \":%d\" for all of them)", m.Metrics.Addr, ifc.Name, m.Metrics.Port)
	}
}

func family(a interface{ Is4() bool }) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func (c *checker) checkRoutes() {
	for i := range c.p.Routes {
		if r := &c.p.Routes[i]; r.To.IsValid() && !r.Blackhole {
			c.routes.add(r.To, 0)
		}
	}
	seen := map[string]*Route{}
	for i := range c.p.Routes {
		r := &c.p.Routes[i]
		if !r.To.IsValid() {
			continue
		}
		key := fmt.Sprintf("%s/%d", r.To, r.Metric)
		if prev, dup := seen[key]; dup {
			c.errorf(c.at(&r.To), "duplicate route to %s (first at line %d; expected one route per destination and metric, with a list of via for ECMP)", r.To, c.line(&prev.To))
		} else {
			seen[key] = r
		}
		if r.Blackhole {
			if c.placed(&r.Via) || c.placed(&r.Dev) {
				c.errorf(c.at(&r.Blackhole), "blackhole route with via or dev (expected either blackhole: true or a next hop)")
			}
			continue
		}
		if !c.placed(&r.Via) && !c.placed(&r.Dev) {
			c.errorf(c.at(r), "route to %s goes nowhere (expected via, dev or blackhole: true)", r.To)
			continue
		}
		if !c.ok(&r.Dev) && c.placed(&r.Dev) {
			continue
		}
		if r.Dev != "" {
			if _, ok := c.devs[r.Dev]; !ok {
				c.errorf(c.at(&r.Dev), "unknown interface %s (%s)", quote(r.Dev), c.known("device"))
				continue
			}
		}
		vias := map[netip.Addr]bool{}
		for j := range r.Via {
			via := &r.Via[j]
			seen := vias[*via]
			vias[*via] = true
			switch {
			case !via.IsValid():
			case via.Is4() != r.To.Addr().Is4():
				c.errorf(c.at(via), "next hop %s is %s but %s is %s (expected an %s next hop)", via, family(via), r.To, family(r.To.Addr()), family(r.To.Addr()))
			case seen:
				c.errorf(c.at(via), "next hop %s is listed twice (expected each next hop once)", via)
			case c.own[*via]:
				c.errorf(c.at(via), "next hop %s is this appliance's own address (expected a neighbouring router)", via)
			case via.Is6() && via.IsLinkLocalUnicast():
				if r.Dev == "" {
					c.errorf(c.at(via), "link-local next hop %s needs dev (expected dev: the interface it is on)", via)
				}
			case !c.onLink(*via, r.Dev):
				if r.Dev != "" {
					c.errorf(c.at(via), "next hop %s is not on a connected subnet of %s (expected %s)", via, r.Dev, c.subnets(r.Dev))
				} else {
					c.errorf(c.at(via), "next hop %s is not on a connected subnet (expected %s)", via, c.subnets(""))
				}
			}
		}
	}
}

func (c *checker) neighbors() {
	seen := map[string]*Neighbor{}
	for i := range c.p.Neighbors {
		n := &c.p.Neighbors[i]
		ifc := c.ifaces[n.Interface]
		if !c.ok(&n.Interface) {
			continue
		}
		if ifc == nil {
			c.errorf(c.at(&n.Interface), "unknown interface %s (%s)", quote(n.Interface), c.known("interface"))
			continue
		}
		if !n.Address.IsValid() {
			continue
		}
		key := n.Interface + " " + n.Address.String()
		switch prev, dup := seen[key]; {
		case dup:
			c.errorf(c.at(&n.Address), "duplicate neighbour %s on %s (first at line %d)", n.Address, n.Interface, c.line(&prev.Address))
		case c.own[n.Address]:
			c.errorf(c.at(&n.Address), "neighbour %s is this appliance's own address (expected another host)", n.Address)
		case !(n.Address.Is6() && n.Address.IsLinkLocalUnicast()) && !c.onLink(n.Address, ifc.Name):
			c.errorf(c.at(&n.Address), "neighbour %s is not on a subnet of %s (expected %s)", n.Address, ifc.Name, c.subnets(ifc.Name))
		}
		seen[key] = n
	}
}
