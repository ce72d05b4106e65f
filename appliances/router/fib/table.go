package fib

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
)

// NextHop is where a routed packet goes.
type NextHop struct {
	// Iface is the output interface: the appliance's port index.
	Iface int
	// Gateway is the neighbour to hand the packet to; the zero Addr for a
	// connected route, where the destination itself is the neighbour.
	Gateway netip.Addr
	// Local marks an address of the appliance itself (on Iface): the packet
	// is delivered to the local stack, not forwarded.
	Local bool
}

// group is an ECMP group: hops[first:first+n], n ≥ 1.
type group struct{ first, n uint32 }

// Table is one compiled forwarding table: IPv4 and IPv6 longest-prefix match
// to a next-hop group, and the groups. It is immutable once built, so any
// number of workers read it without locks; a reload builds a new Table and
// swaps it in (see FIB).
//
// A lookup returns the group's index (or NoRoute); NextHop picks the hop
// of a group for a flow. Route4 and Route6 do both.
type Table struct {
	v4     LPM4
	v6     LPM6
	groups []group
	hops   []NextHop
}

// Lookup4 returns the next-hop group of the longest prefix containing dst,
// or NoRoute.
func (t *Table) Lookup4(dst [4]byte) uint32 { return t.v4.Lookup(dst) }

// Lookup6 returns the next-hop group of the longest prefix containing dst,
// or NoRoute.
func (t *Table) Lookup6(dst [16]byte) uint32 { return t.v6.Lookup(dst) }

// LookupAddr is Lookup4 or Lookup6 by the family of a. An IPv4-mapped IPv6
// address is looked up as IPv6, as the header carrying it is.
func (t *Table) LookupAddr(a netip.Addr) uint32 {
	if a.Is4() {
		return t.v4.Lookup(a.As4())
	}
	return t.v6.LookupAddr(a)
}

// LookupBatch4 looks up every dst[i] into out[i] (len(out) ≥ len(dst)),
// overlapping the memory accesses of the burst; see LPM4.LookupBatch.
func (t *Table) LookupBatch4(dst [][4]byte, out []uint32) { t.v4.LookupBatch(dst, out) }

// LookupBatch6 looks up every dst[i] into out[i] (len(out) ≥ len(dst)).
func (t *Table) LookupBatch6(dst [][16]byte, out []uint32) { t.v6.LookupBatch(dst, out) }

// NextHop returns the hop of group g for a flow, or nil when g is NoRoute.
// flow is the caller's hash of the flow (5-tuple or IPv6 flow label, hashed
// well): the same flow always gets the same hop of a group, and flows
// spread evenly over its hops. The result points into the Table: read it,
// don't keep it past the Table.
func (t *Table) NextHop(g, flow uint32) *NextHop {
	if g >= uint32(len(t.groups)) {
		return nil
	}
	gr := t.groups[g]
	// Multiply-shift maps flow onto [0, n) without a division.
	return &t.hops[gr.first+uint32(uint64(flow)*uint64(gr.n)>>32)]
}

// Route4 returns the next hop for dst and flow, or nil when no route covers
// dst.
func (t *Table) Route4(dst [4]byte, flow uint32) *NextHop {
	return t.NextHop(t.v4.Lookup(dst), flow)
}

// Route6 returns the next hop for dst and flow, or nil when no route covers
// dst.
func (t *Table) Route6(dst [16]byte, flow uint32) *NextHop {
	return t.NextHop(t.v6.Lookup(dst), flow)
}

// RouteAddr is Route4 or Route6 by the family of dst.
func (t *Table) RouteAddr(dst netip.Addr, flow uint32) *NextHop {
	return t.NextHop(t.LookupAddr(dst), flow)
}

// Group returns the hops of group g (nil for NoRoute), for inspection; the
// slice belongs to the Table: read it, don't change it.
func (t *Table) Group(g uint32) []NextHop {
	if g >= uint32(len(t.groups)) {
		return nil
	}
	gr := t.groups[g]
	return t.hops[gr.first : gr.first+gr.n : gr.first+gr.n]
}

// IPv4 returns the table's IPv4 LPM, for its other lookup forms
// (LookupUint32, LookupBatchUint32); its results are group indices.
func (t *Table) IPv4() *LPM4 { return &t.v4 }

// IPv6 returns the table's IPv6 LPM; its results are group indices.
func (t *Table) IPv6() *LPM6 { return &t.v6 }

// Groups returns the number of next-hop groups.
func (t *Table) Groups() int { return len(t.groups) }

// Len4 returns the number of IPv4 prefixes.
func (t *Table) Len4() int { return t.v4.Len() }

// Len6 returns the number of IPv6 prefixes.
func (t *Table) Len6() int { return t.v6.Len() }

// Memory returns the bytes held by the compiled lookup structures.
func (t *Table) Memory() int { return t.v4.Memory() + t.v6.Memory() }

// FIB is the router's current forwarding table. Workers Load it once per
// burst and use that Table for the whole burst; a reload Stores a new one.
// Readers never lock and never see a half-built table; a reader still
// holding the old Table finishes its burst on it.
type FIB struct{ cur atomic.Pointer[Table] }

// emptyTable routes nothing; a FIB holds it until the first Store.
var emptyTable = func() *Table {
	t, err := new(Builder).Build()
	if err != nil {
		panic(err)
	}
	return t
}()

// Load returns the current table, never nil.
func (f *FIB) Load() *Table {
	if t := f.cur.Load(); t != nil {
		return t
	}
	return emptyTable
}

// Store makes t the current table. t must not be nil.
func (f *FIB) Store(t *Table) { f.cur.Store(t) }

// Swap makes t the current table and returns the previous one (nil if none).
func (f *FIB) Swap(t *Table) *Table { return f.cur.Swap(t) }

// ---- building ----

// Builder collects the routes of a table: connected routes from interface
// addresses, static routes from the policy. Build compiles them into a
// Table. A Builder is not safe for concurrent use; it can Build again after
// more changes.
//
// When several kinds of route have the same prefix, the appliance's own
// address wins over a connected network, and that over a static route.
//
// Static routes are kept as a log of additions and deletions, about 40
// bytes each, which Build sorts and compacts: a full Internet table costs
// tens of MiB to build, not hundreds as a map per prefix would.
type Builder struct {
	// Options tune compilation.
	Options Options

	local, conn map[netip.Prefix]NextHop
	log         []routeOp
	seq         uint32
	sets        hopSets
}

// routeOp adds (or, with set == deleted, deletes) the static route to dst.
type routeOp struct {
	dst netip.Prefix
	seq uint32 // order of the operation: the last one on a prefix wins
	set uint32 // the hops: an index into Builder.sets.list
}

const deleted = ^uint32(0)

// staticHop is a hop of a static route; a gateway-only hop has Iface -1
// until Build finds the connected network the gateway is on.
type staticHop struct {
	NextHop
	resolve bool
}

// hopSets interns the hop lists of static routes: a table of a million
// routes has a handful of distinct ones.
type hopSets struct {
	single map[staticHop]uint32
	multi  map[string]uint32
	list   [][]staticHop
}

func (s *hopSets) intern(hs []staticHop) uint32 {
	if len(hs) == 1 {
		id, ok := s.single[hs[0]]
		if !ok {
			id = uint32(len(s.list))
			s.single[hs[0]] = id
			s.list = append(s.list, slices.Clone(hs))
		}
		return id
	}
	var key []byte
	for _, h := range hs {
		key = hopsKey(key, []NextHop{h.NextHop})
		if h.resolve {
			key = append(key, 1)
		} else {
			key = append(key, 0)
		}
	}
	id, ok := s.multi[string(key)]
	if !ok {
		id = uint32(len(s.list))
		s.multi[string(key)] = id
		s.list = append(s.list, slices.Clone(hs))
	}
	return id
}

func (b *Builder) init() {
	if b.conn == nil {
		b.local = make(map[netip.Prefix]NextHop)
		b.conn = make(map[netip.Prefix]NextHop)
		b.sets.single = make(map[staticHop]uint32)
		b.sets.multi = make(map[string]uint32)
	}
}

func (b *Builder) record(dst netip.Prefix, set uint32) {
	b.log = append(b.log, routeOp{dst: dst.Masked(), seq: b.seq, set: set})
	b.seq++
}

// AddInterface adds the routes an interface address brings: 192.0.2.1/24 on
// iface gives the connected route 192.0.2.0/24 via iface, and the local route
// 192.0.2.1/32. The same network on two interfaces (fe80::/64, typically)
// routes through the one added last; reach a link-local gateway with
// AddRoute, which names the interface.
func (b *Builder) AddInterface(iface int, addr netip.Prefix) error {
	b.init()
	if iface < 0 {
		return fmt.Errorf("interface address %v: interface index %d is negative", addr, iface)
	}
	if !addr.IsValid() || addr.Addr().Zone() != "" {
		return fmt.Errorf("interface address %v is not a valid address/length", addr)
	}
	host := netip.PrefixFrom(addr.Addr(), addr.Addr().BitLen())
	b.local[host] = NextHop{Iface: iface, Local: true}
	b.conn[addr.Masked()] = NextHop{Iface: iface}
	return nil
}

// AddRoute adds a route to dst through hops, each naming its interface (and
// its gateway, unless dst is directly reachable through it). Several hops
// make an ECMP group. It replaces any earlier AddRoute or AddStatic of dst.
func (b *Builder) AddRoute(dst netip.Prefix, hops ...NextHop) error {
	b.init()
	if err := checkDst(dst); err != nil {
		return err
	}
	if len(hops) == 0 {
		return fmt.Errorf("route %v: no next hop", dst)
	}
	var one [1]staticHop
	hs := one[:0]
	for _, h := range hops {
		if h.Iface < 0 {
			return fmt.Errorf("route %v: interface index %d is negative", dst, h.Iface)
		}
		if err := checkGateway(dst, h.Gateway, true); err != nil {
			return err
		}
		h.Local = false
		hs = append(hs, staticHop{NextHop: h})
	}
	b.record(dst, b.sets.intern(hs))
	return nil
}

// AddStatic adds a route to dst via gateways, whose interfaces Build finds
// from the connected routes; several gateways make an ECMP group. It
// replaces any earlier AddRoute or AddStatic of dst.
func (b *Builder) AddStatic(dst netip.Prefix, via ...netip.Addr) error {
	b.init()
	if err := checkDst(dst); err != nil {
		return err
	}
	if len(via) == 0 {
		return fmt.Errorf("route %v: no gateway", dst)
	}
	var one [1]staticHop
	hs := one[:0]
	for _, g := range via {
		if err := checkGateway(dst, g, false); err != nil {
			return err
		}
		hs = append(hs, staticHop{NextHop: NextHop{Iface: -1, Gateway: g}, resolve: true})
	}
	b.record(dst, b.sets.intern(hs))
	return nil
}

// Delete removes the route to dst added by AddRoute or AddStatic, if any.
func (b *Builder) Delete(dst netip.Prefix) {
	b.init()
	if dst.IsValid() {
		b.record(dst, deleted)
	}
}

func checkDst(dst netip.Prefix) error {
	if !dst.IsValid() || dst.Addr().Zone() != "" {
		return fmt.Errorf("route %v: destination is not a valid prefix", dst)
	}
	return nil
}

func checkGateway(dst netip.Prefix, g netip.Addr, optional bool) error {
	if !g.IsValid() {
		if optional {
			return nil
		}
		return fmt.Errorf("route %v: invalid gateway", dst)
	}
	if g.Is4() != dst.Addr().Is4() || g.Is4In6() {
		return fmt.Errorf("route %v: gateway %v is not of the destination's family", dst, g)
	}
	if g.IsUnspecified() || g.IsMulticast() {
		return fmt.Errorf("route %v: gateway %v is not a unicast address", dst, g)
	}
	return nil
}

// ErrNoConnected is wrapped by Build when a gateway is on no connected
// network.
var ErrNoConnected = errors.New("gateway is on no connected network")

// groupSet interns next-hop groups while a Table is built.
type groupSet struct {
	single map[NextHop]uint32
	multi  map[string]uint32
	groups [][]NextHop
	key    []byte
}

func (s *groupSet) intern(hops []NextHop) uint32 {
	if len(hops) > 1 {
		hops = canonical(hops)
	}
	if len(hops) == 1 {
		id, ok := s.single[hops[0]]
		if !ok {
			id = uint32(len(s.groups))
			s.single[hops[0]] = id
			s.groups = append(s.groups, []NextHop{hops[0]})
		}
		return id
	}
	s.key = hopsKey(s.key[:0], hops)
	id, ok := s.multi[string(s.key)]
	if !ok {
		id = uint32(len(s.groups))
		s.multi[string(s.key)] = id
		s.groups = append(s.groups, hops)
	}
	return id
}

// compact sorts the log by prefix and keeps, of each prefix, its last
// operation, unless that deleted it.
func (b *Builder) compact() {
	slices.SortFunc(b.log, func(x, y routeOp) int {
		if c := x.dst.Addr().Compare(y.dst.Addr()); c != 0 {
			return c
		}
		if c := cmp.Compare(x.dst.Bits(), y.dst.Bits()); c != 0 {
			return c
		}
		return cmp.Compare(x.seq, y.seq)
	})
	live := b.log[:0]
	for i, op := range b.log {
		if i+1 < len(b.log) && b.log[i+1].dst == op.dst {
			continue // a later operation on dst
		}
		if op.set != deleted {
			live = append(live, op)
		}
	}
	clear(b.log[len(live):])
	b.log = slices.Clip(live)
}

// Build compiles the routes into a Table.
func (b *Builder) Build() (*Table, error) {
	b.init()
	b.compact()
	gs := groupSet{single: make(map[NextHop]uint32), multi: make(map[string]uint32)}
	// Resolve each hop set once, on first use.
	const unresolved = ^uint32(0)
	setGroup := make([]uint32, len(b.sets.list))
	for i := range setGroup {
		setGroup[i] = unresolved
	}
	groupOf := func(dst netip.Prefix, set uint32) (uint32, error) {
		if g := setGroup[set]; g != unresolved {
			return g, nil
		}
		hs := b.sets.list[set]
		hops := make([]NextHop, len(hs))
		for i, h := range hs {
			hops[i] = h.NextHop
			if _, own := b.local[netip.PrefixFrom(h.Gateway, h.Gateway.BitLen())]; own {
				return 0, fmt.Errorf("route %v via %v: the gateway is an address of this appliance", dst, h.Gateway)
			}
			if h.resolve {
				iface, ok := b.connectedIface(h.Gateway)
				if !ok {
					return 0, fmt.Errorf("route %v via %v: %w", dst, h.Gateway, ErrNoConnected)
				}
				hops[i].Iface = iface
			}
		}
		setGroup[set] = gs.intern(hops)
		return setGroup[set], nil
	}
	n4 := 0
	for _, op := range b.log {
		if op.dst.Addr().Is4() {
			n4++
		}
	}
	es4 := make([]Entry, 0, n4+len(b.conn)+len(b.local))
	es6 := make([]Entry, 0, len(b.log)-n4+len(b.conn)+len(b.local))
	add := func(dst netip.Prefix, g uint32) {
		if dst.Addr().Is4() {
			es4 = append(es4, Entry{Prefix: dst, NextHop: g})
		} else {
			es6 = append(es6, Entry{Prefix: dst, NextHop: g})
		}
	}
	for _, op := range b.log {
		if _, ok := b.local[op.dst]; ok {
			continue
		}
		if _, ok := b.conn[op.dst]; ok {
			continue
		}
		g, err := groupOf(op.dst, op.set)
		if err != nil {
			return nil, err
		}
		add(op.dst, g)
	}
	for dst, h := range b.conn {
		if _, ok := b.local[dst]; !ok {
			add(dst, gs.intern([]NextHop{h}))
		}
	}
	for dst, h := range b.local {
		add(dst, gs.intern([]NextHop{h}))
	}

	// Number the groups in a canonical order, not the order met, so that the
	// same routes always build the same Table.
	order := make([]int, len(gs.groups))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		return slices.CompareFunc(gs.groups[i], gs.groups[j], compareHops)
	})
	if len(order) > MaxNextHop+1 {
		return nil, fmt.Errorf("more than %d next-hop groups", MaxNextHop+1)
	}
	renum := make([]uint32, len(order))
	t := &Table{groups: make([]group, len(order))}
	for id, old := range order {
		renum[old] = uint32(id)
		hs := gs.groups[old]
		t.groups[id] = group{first: uint32(len(t.hops)), n: uint32(len(hs))}
		t.hops = append(t.hops, hs...)
	}
	for i := range es4 {
		es4[i].NextHop = renum[es4[i].NextHop]
	}
	for i := range es6 {
		es6[i].NextHop = renum[es6[i].NextHop]
	}
	v4, err := Compile4(es4, b.Options)
	if err != nil {
		return nil, err
	}
	v6, err := Compile6(es6, b.Options)
	if err != nil {
		return nil, err
	}
	t.v4, t.v6 = *v4, *v6
	return t, nil
}

// connectedIface returns the interface of the longest connected network
// containing gw.
func (b *Builder) connectedIface(gw netip.Addr) (int, bool) {
	best, iface := -1, 0
	for p, h := range b.conn {
		if p.Contains(gw) && (p.Bits() > best || p.Bits() == best && h.Iface < iface) {
			best, iface = p.Bits(), h.Iface
		}
	}
	return iface, best >= 0
}

func compareHops(a, b NextHop) int {
	if c := cmp.Compare(a.Iface, b.Iface); c != 0 {
		return c
	}
	if c := a.Gateway.Compare(b.Gateway); c != 0 {
		return c
	}
	switch {
	case a.Local == b.Local:
		return 0
	case a.Local:
		return 1
	}
	return -1
}

// canonical sorts and deduplicates a group's hops, so that the same set of
// hops is the same group, in the same order, whatever order the policy
// listed them in: a flow keeps its hop across reloads that keep its group.
func canonical(hops []NextHop) []NextHop {
	hops = slices.Clone(hops)
	slices.SortFunc(hops, compareHops)
	return slices.Compact(hops)
}

func hopsKey(key []byte, hops []NextHop) []byte {
	for _, h := range hops {
		key = binary.AppendVarint(key, int64(h.Iface))
		if h.Local {
			key = append(key, 1)
		} else {
			key = append(key, 0)
		}
		g, _ := h.Gateway.MarshalBinary() // never fails
		key = binary.AppendUvarint(key, uint64(len(g)))
		key = append(key, g...)
	}
	return key
}
