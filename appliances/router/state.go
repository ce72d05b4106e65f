package router

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/nfvkit/nfvkit/appliances/router/fib"
	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// state is one compiled policy: everything the fast path reads, immutable
// once built, swapped whole by Reload. The neighbour table is not part of
// it: neighbours are learnt, and survive a reload.
type state struct {
	gen    uint64
	ifaces []ifaceState
	// ports maps a dataplane port and a VLAN ID to an interface index.
	ports []portIfaces

	table *fib.Table
	// groups[g] is FIB group g's hops as adjacencies: hopAdj[first:first+n].
	groups []group
	hopAdj []uint32
	adjs   []adjacency
	// connAdj[ifx] is a connected adjacency on interface ifx, for replies to
	// link-local addresses, which the FIB does not hold.
	connAdj []uint32

	statics []staticNeighbor
	// bcast4 are the directed-broadcast addresses of the connected IPv4
	// networks: never a source, never a destination of an ICMP error.
	bcast4 []uint32
}

// ifaceState is one interface of the policy as the dataplane uses it.
type ifaceState struct {
	name string
	port uint16
	vlan uint16
	mtu  int
	mac  packet.MAC
	// macHi and macLo are mac as the fast path compares it.
	macHi uint32
	macLo uint16
	// l2len is the egress link header's length: 14, or 18 with a tag; 0
	// on a virtual interface.
	l2len int
	// l3 marks a virtual interface (see Virtual): no link layer, no
	// neighbours; port is its virtual port.
	l3 bool
	// hdr[0] (IPv4) and hdr[1] (IPv6) are the egress link headers with the
	// destination MAC left zero: source MAC, tag, EtherType.
	hdr [2][18]byte

	v4   []netip.Prefix
	v6   []netip.Prefix // link-local ll6 not included
	ll6  netip.Addr
	src4 [4]byte  // the address ICMP errors from this interface come from
	has4 bool     // whether src4 is set
	src6 [16]byte // a global address if any, else ll6
}

type portIfaces struct {
	untagged int32   // -1 for none
	vlans    []int32 // by VLAN ID, nil when the port has no sub-interface
	// l3: the port carries bare IP packets (a virtual interface's, or the
	// appliance's own when local is set too).
	l3, local bool
}

type group struct{ first, n uint32 }

type adjKind uint8

// Adjacency kinds. The fast path handles the first two; the rest divert.
const (
	adjConnected adjKind = iota // the destination is the neighbour
	adjGateway                  // the neighbour is gw
	adjLocal                    // one of the router's own addresses
	adjBlackhole                // dropped on purpose
	adjBroadcast                // the directed broadcast of interface ifx
)

// adjacency is where a next hop sends: an interface and, for a gateway,
// the neighbour's key. The neighbour's slot in the neighbour table, which
// holds its MAC, is kept per worker (Router.adjSlot).
type adjacency struct {
	kind adjKind
	ifx  int32
	gw   nkey
}

type staticNeighbor struct {
	key nkey
	mac packet.MAC
}

// FIB interface numbers above the real ones mark routes that lead nowhere
// real: the fib package carries an interface index through untouched.
const (
	blackholeIface = 1 << 24
	bcastIface     = 1 << 25 // + the interface index
)

// compile builds the state of policy p for the ports of env.
func compile(p *config.Policy, env *appliance.Env, gen uint64, o *Options) (*state, error) {
	if p.Appliance != config.Router && (o.Appliance == "" || p.Appliance != o.Appliance) {
		want := string(config.Router)
		if o.Appliance != "" {
			want += " or " + string(o.Appliance)
		}
		return nil, fmt.Errorf("policy is for %s, not %s", p.Appliance, want)
	}
	if len(p.Interfaces) == 0 {
		return nil, errors.New("policy has no interfaces")
	}
	st := &state{gen: gen, ports: make([]portIfaces, env.Ports)}
	for i := range st.ports {
		st.ports[i].untagged = -1
	}
	ifxOf := map[string]int{}
	var b fib.Builder
	for i, ifc := range p.Interfaces {
		e := env.Interface(ifc.Name)
		if e == nil {
			return nil, fmt.Errorf("interface %s: no such port in the running appliance", ifc.Name)
		}
		if e.Index < 0 || e.Index >= env.Ports {
			return nil, fmt.Errorf("interface %s: port %d out of range", ifc.Name, e.Index)
		}
		is := ifaceState{
			name: ifc.Name,
			port: uint16(e.Index),
			vlan: uint16(ifc.VLAN),
			mtu:  cmp.Or(ifc.MTU, config.DefaultMTU),
			mac:  e.MAC,
		}
		is.macHi, is.macLo = be32(is.mac[0:4]), be16(is.mac[4:6])
		is.l2len = packet.EthernetLen
		if is.vlan != 0 {
			is.l2len += packet.VLANLen
		}
		for f, et := range [2]packet.EtherType{packet.EtherTypeIPv4, packet.EtherTypeIPv6} {
			h := is.hdr[f][:]
			copy(h[6:12], is.mac[:])
			if is.vlan != 0 {
				put16(h[12:], uint16(packet.EtherTypeVLAN))
				put16(h[14:], is.vlan)
				put16(h[16:], uint16(et))
			} else {
				put16(h[12:], uint16(et))
			}
		}
		for _, a := range ifc.Address {
			if err := b.AddInterface(i, a); err != nil {
				return nil, fmt.Errorf("interface %s: %w", ifc.Name, err)
			}
			switch {
			case a.Addr().Is4():
				is.v4 = append(is.v4, a)
				if a.Bits() <= 30 {
					bc := lastAddr4(a)
					st.bcast4 = append(st.bcast4, bc)
					var bb [4]byte
					put32(bb[:], bc)
					if err := b.AddRoute(netip.PrefixFrom(netip.AddrFrom4(bb), 32), fib.NextHop{Iface: bcastIface + i}); err != nil {
						return nil, err
					}
				}
			case a.Addr().IsLinkLocalUnicast():
				if !is.ll6.IsValid() {
					is.ll6 = a.Addr()
				}
			default:
				is.v6 = append(is.v6, a)
			}
		}
		if !is.ll6.IsValid() {
			is.ll6 = linkLocalFrom(is.mac)
		}
		if len(is.v4) > 0 {
			is.src4, is.has4 = is.v4[0].Addr().As4(), true
		}
		is.src6 = is.ll6.As16()
		if len(is.v6) > 0 {
			is.src6 = is.v6[0].Addr().As16()
		}
		pi := &st.ports[e.Index]
		if is.vlan == 0 {
			if pi.untagged >= 0 {
				return nil, fmt.Errorf("interface %s: port %d already carries untagged interface %s", ifc.Name, e.Index, st.ifaces[pi.untagged].name)
			}
			pi.untagged = int32(i)
		} else {
			if pi.vlans == nil {
				pi.vlans = make([]int32, 4096)
				for v := range pi.vlans {
					pi.vlans[v] = -1
				}
			}
			if pi.vlans[is.vlan] >= 0 {
				return nil, fmt.Errorf("interface %s: VLAN %d already used by %s", ifc.Name, is.vlan, st.ifaces[pi.vlans[is.vlan]].name)
			}
			pi.vlans[is.vlan] = int32(i)
		}
		ifxOf[ifc.Name] = i
		st.ifaces = append(st.ifaces, is)
	}

	if err := st.addVirtual(p, env, o, &b, ifxOf); err != nil {
		return nil, err
	}

	// Static routes, the higher metrics first so that for one prefix the
	// lowest metric is added last and wins.
	routes := slices.Clone(p.Routes)
	slices.SortStableFunc(routes, func(a, b config.Route) int { return cmp.Compare(b.Metric, a.Metric) })
	for _, r := range routes {
		var err error
		dev, hasDev := ifxOf[r.Dev]
		switch {
		case r.Blackhole:
			err = b.AddRoute(r.To, fib.NextHop{Iface: blackholeIface})
		case r.Dev != "" && !hasDev:
			err = fmt.Errorf("route to %s: no interface %s", r.To, r.Dev)
		case len(r.Via) == 0 && hasDev:
			err = b.AddRoute(r.To, fib.NextHop{Iface: dev})
		case hasDev:
			hops := make([]fib.NextHop, len(r.Via))
			for k, v := range r.Via {
				hops[k] = fib.NextHop{Iface: dev, Gateway: v}
			}
			err = b.AddRoute(r.To, hops...)
		default:
			err = b.AddStatic(r.To, r.Via...)
		}
		if err != nil {
			return nil, err
		}
	}
	t, err := b.Build()
	if err != nil {
		return nil, err
	}
	st.table = t

	adjIdx := map[adjacency]uint32{}
	intern := func(a adjacency) uint32 {
		if k, ok := adjIdx[a]; ok {
			return k
		}
		k := uint32(len(st.adjs))
		adjIdx[a] = k
		st.adjs = append(st.adjs, a)
		return k
	}
	st.groups = make([]group, t.Groups())
	for g := range st.groups {
		hops := t.Group(uint32(g))
		st.groups[g] = group{first: uint32(len(st.hopAdj)), n: uint32(len(hops))}
		for _, h := range hops {
			var a adjacency
			switch {
			case h.Local:
				a = adjacency{kind: adjLocal, ifx: int32(h.Iface)}
			case h.Iface == blackholeIface:
				a = adjacency{kind: adjBlackhole, ifx: -1}
			case h.Iface >= bcastIface:
				a = adjacency{kind: adjBroadcast, ifx: int32(h.Iface - bcastIface)}
			case h.Gateway.IsValid():
				a = adjacency{kind: adjGateway, ifx: int32(h.Iface), gw: keyOf(int32(h.Iface), h.Gateway)}
			default:
				a = adjacency{kind: adjConnected, ifx: int32(h.Iface)}
			}
			if a.kind != adjBlackhole && (a.ifx < 0 || int(a.ifx) >= len(st.ifaces)) {
				return nil, fmt.Errorf("FIB hop on interface %d, which does not exist", a.ifx)
			}
			st.hopAdj = append(st.hopAdj, intern(a))
		}
	}
	for i := range st.ifaces {
		st.connAdj = append(st.connAdj, intern(adjacency{kind: adjConnected, ifx: int32(i)}))
	}

	for _, n := range p.Neighbors {
		ifx, ok := ifxOf[n.Interface]
		if !ok {
			return nil, fmt.Errorf("neighbour %s: no interface %s", n.Address, n.Interface)
		}
		st.statics = append(st.statics, staticNeighbor{key: keyOf(int32(ifx), n.Address), mac: packet.MAC(n.MAC)})
	}
	return st, nil
}

// addVirtual adds the appliance's own port and the virtual interfaces of
// o.Virtual (see Virtual) after the policy's interfaces: their addresses
// and routes go into the FIB under construction.
func (st *state) addVirtual(p *config.Policy, env *appliance.Env, o *Options, b *fib.Builder, ifxOf map[string]int) error {
	if o.Virtual == nil {
		return nil
	}
	vs, err := o.Virtual(p)
	if err != nil {
		return err
	}
	// The appliance's own packets come in on a nameless interface of
	// their own: no address, nothing routed to it.
	local := len(st.ifaces)
	st.ifaces = append(st.ifaces, ifaceState{port: uint16(env.Ports), mtu: 65535, l3: true, ll6: linkLocalFrom(packet.MAC{})})
	st.ports = append(st.ports, portIfaces{untagged: int32(local), l3: true, local: true})
	for k, v := range vs {
		ifx := len(st.ifaces)
		if _, dup := ifxOf[v.Name]; dup || v.Name == "" {
			return fmt.Errorf("virtual interface %q: name empty or taken", v.Name)
		}
		port := env.Ports + 1 + k
		if port > 0xffff {
			return fmt.Errorf("virtual interface %s: too many ports", v.Name)
		}
		is := ifaceState{name: v.Name, port: uint16(port), mtu: cmp.Or(v.MTU, config.DefaultMTU), l3: true}
		for _, a := range v.Address {
			if err := b.AddInterface(ifx, a); err != nil {
				return fmt.Errorf("interface %s: %w", v.Name, err)
			}
			switch {
			case a.Addr().Is4():
				is.v4 = append(is.v4, a)
			case a.Addr().IsLinkLocalUnicast():
				if !is.ll6.IsValid() {
					is.ll6 = a.Addr()
				}
			default:
				is.v6 = append(is.v6, a)
			}
		}
		if !is.ll6.IsValid() {
			is.ll6 = linkLocalFrom(packet.MAC{})
		}
		if len(is.v4) > 0 {
			is.src4, is.has4 = is.v4[0].Addr().As4(), true
		}
		is.src6 = is.ll6.As16()
		if len(is.v6) > 0 {
			is.src6 = is.v6[0].Addr().As16()
		}
		for _, r := range v.Routes {
			if err := b.AddRoute(r.Masked(), fib.NextHop{Iface: ifx}); err != nil {
				return fmt.Errorf("interface %s: %w", v.Name, err)
			}
		}
		ifxOf[v.Name] = ifx
		st.ifaces = append(st.ifaces, is)
		st.ports = append(st.ports, portIfaces{untagged: int32(ifx), l3: true})
	}
	return nil
}

// lastAddr4 is the highest address of an IPv4 prefix: its broadcast.
func lastAddr4(p netip.Prefix) uint32 {
	a := p.Masked().Addr().As4()
	return be32(a[:]) | (1<<(32-p.Bits()) - 1)
}

// own4 reports whether a is one of interface ifc's IPv4 addresses.
func (ifc *ifaceState) own4(a uint32) bool {
	for _, p := range ifc.v4 {
		b := p.Addr().As4()
		if be32(b[:]) == a {
			return true
		}
	}
	return false
}

// own6 reports whether a is one of ifc's IPv6 addresses, link-local included.
func (ifc *ifaceState) own6(a [16]byte) bool {
	if ifc.ll6.As16() == a {
		return true
	}
	for _, p := range ifc.v6 {
		if p.Addr().As16() == a {
			return true
		}
	}
	return false
}

// solicited reports whether a is the solicited-node group of one of ifc's
// addresses.
func (ifc *ifaceState) solicited(a [16]byte) bool {
	if a[0] != 0xff || a[1] != 0x02 || a[11] != 1 || a[12] != 0xff || be64(a[2:10]) != 0 || a[10] != 0 {
		return false
	}
	match := func(o [16]byte) bool { return o[13] == a[13] && o[14] == a[14] && o[15] == a[15] }
	if match(ifc.ll6.As16()) {
		return true
	}
	for _, p := range ifc.v6 {
		if match(p.Addr().As16()) {
			return true
		}
	}
	return false
}

// probeSrc4 is the sender address of an ARP request for target: the
// interface's address on the target's network, else its first one, else
// 0.0.0.0.
func (ifc *ifaceState) probeSrc4(target netip.Addr) [4]byte {
	for _, p := range ifc.v4 {
		if p.Contains(target) {
			return p.Addr().As4()
		}
	}
	return ifc.src4
}

// probeSrc6 is the source of a neighbour solicitation for target: the
// interface's address on the target's network, else its link-local one.
func (ifc *ifaceState) probeSrc6(target netip.Addr) [16]byte {
	if !target.IsLinkLocalUnicast() {
		for _, p := range ifc.v6 {
			if p.Contains(target) {
				return p.Addr().As16()
			}
		}
	}
	return ifc.ll6.As16()
}
