package router

import (
	"cmp"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

func init() {
	appliance.Register(string(config.Router), func(p *config.Policy, env *appliance.Env) (dataplane.Stage, error) {
		return New(p, env, Options{})
	})
}

// Options tune a Router; the zero value of a field takes its default.
type Options struct {
	// ICMPRate is how many ICMP errors per second the router sends at
	// most, with bursts of ICMPBurst (defaults 100 and 10), RFC 1812
	// 4.3.2.8 and RFC 4443 2.4(f). Echo replies are not limited.
	ICMPRate  int
	ICMPBurst int
	// Neighbors is the neighbour table's capacity (default 4096).
	Neighbors int
	// QueuePerNeighbor and QueueTotal bound the packets held while their
	// next hop is resolved (defaults 8 and 256).
	QueuePerNeighbor int
	QueueTotal       int
	// Neighbour timers, RFC 4861 section 10's names and defaults.
	RetransTime     time.Duration // between probes: 1s
	ReachableTime   time.Duration // reachable -> stale: 30s
	DelayFirstProbe time.Duration // delay -> probe: 5s
	MaxProbes       int           // probes before giving up: 3
	// GCTime is how long an unused stale or failed entry stays (60s).
	GCTime time.Duration

	// Appliance is the kind of policy the router accepts besides router
	// ones: an appliance that uses the router as its forwarding engine
	// (ipsec-gw) names itself here.
	Appliance config.Appliance
	// Virtual, when set, gives for each policy compiled the interfaces
	// that have no port of their own (tunnels); see Virtual.
	Virtual func(p *config.Policy) ([]Virtual, error)
	// Filter, when set, judges every packet routed (see Filter).
	Filter Filter
}

// Virtual is an interface without a link layer or a port of its own: a
// tunnel whose far side is an engine of the appliance (WireGuard, an ESP
// SA). The router routes to it like to any interface (its addresses are
// connected and local, Routes point at it, and a policy route's dev may
// name it), but packets cross it as bare IP packets, with no neighbour to
// resolve:
//
//   - A packet routed to virtual interface k leaves Process with verdict
//     Forward to port VirtualPort(k), which is beyond the dataplane's
//     ports: TTL decremented, fragmented or refused for MTU as on any
//     interface, link header pulled off, the IP packet at its data start.
//     The appliance's stage takes it from there (the loop would drop it as
//     bad-out-port).
//   - A bare IP packet with InPort VirtualPort(k) is taken as received on
//     virtual interface k.
//   - A bare IP packet with InPort LocalPort is one the appliance itself
//     sends (a tunnel's outer packet): it is routed without a TTL decrement
//     and never causes an ICMP error.
type Virtual struct {
	Name    string
	MTU     int
	Address []netip.Prefix // the interface's own addresses, with length
	Routes  []netip.Prefix // networks reached through it
}

// LocalPort is the port number of the packets the appliance sends itself
// (see Virtual).
func (r *Router) LocalPort() int { return r.env.Ports }

// VirtualPort is the port number of virtual interface k (see Virtual).
func (r *Router) VirtualPort(k int) int { return r.env.Ports + 1 + k }

// SourceFor is the address the router would send from to reach dst: the
// address of the egress interface on dst's network, else its first one of
// dst's family. ok is false without a route or an address. It reads the
// current compiled state and may be called from any goroutine.
func (r *Router) SourceFor(dst netip.Addr) (src netip.Addr, ok bool) {
	st := r.cur.Load()
	dst = dst.Unmap()
	g := st.table.LookupAddr(dst)
	if g >= uint32(len(st.groups)) {
		return netip.Addr{}, false
	}
	a := &st.adjs[st.hopAdj[st.groups[g].first]]
	if a.kind > adjLocal || a.ifx < 0 {
		return netip.Addr{}, false
	}
	ifc := &st.ifaces[a.ifx]
	ps := ifc.v4
	if dst.Is6() {
		ps = ifc.v6
	}
	for _, p := range ps {
		if p.Contains(dst) {
			return p.Addr(), true
		}
	}
	if len(ps) > 0 {
		return ps[0].Addr(), true
	}
	return netip.Addr{}, false
}

func (o *Options) defaults() {
	o.ICMPRate = cmp.Or(o.ICMPRate, 100)
	o.ICMPBurst = cmp.Or(o.ICMPBurst, 10)
	o.Neighbors = cmp.Or(o.Neighbors, 4096)
	o.QueuePerNeighbor = cmp.Or(o.QueuePerNeighbor, 8)
	o.QueueTotal = cmp.Or(o.QueueTotal, 256)
	o.RetransTime = cmp.Or(o.RetransTime, time.Second)
	o.ReachableTime = cmp.Or(o.ReachableTime, 30*time.Second)
	o.DelayFirstProbe = cmp.Or(o.DelayFirstProbe, 5*time.Second)
	o.MaxProbes = cmp.Or(o.MaxProbes, 3)
	o.GCTime = cmp.Or(o.GCTime, 60*time.Second)
}

// Router is the router appliance's stage. Process, Tick and Release are
// called by one worker goroutine (the Loop); Reload and Counters may be
// called from any goroutine.
type Router struct {
	pool  *dataplane.Pool
	stats *dataplane.Stats
	log   *slog.Logger
	env   *appliance.Env
	opt   Options

	cur atomic.Pointer[state]
	gen atomic.Uint64
	cnt counters

	// What follows belongs to the worker.

	st      *state  // the state this worker has adopted
	adjSlot []int32 // per adjacency of st: its neighbour's slot, -1 if none
	neigh   neighTable
	ready   []int32 // neighbour slots with packets ready to go
	now     int64

	// Per-burst scratch, indexed by position in the batch; the fast path's
	// n4 IPv4 and n6 IPv6 packets wait for their lookups in idx and dst.
	meta []meta
	n4   int
	n6   int
	idx4 []int32
	dst4 [][4]byte
	g4   []uint32
	idx6 []int32
	dst6 [][16]byte
	g6   []uint32
	p    packet.Parsed
	// pending is the packets a BurstFilter is told of (see prepare).
	pending []Pending

	icmpCredit int64 // token bucket, in nanoseconds of credit
	icmpLast   int64
	ipID       uint16
}

var (
	_ dataplane.Stage    = (*Router)(nil)
	_ dataplane.Ticker   = (*Router)(nil)
	_ dataplane.Releaser = (*Router)(nil)
)

// meta is what the router knows about a packet of the burst beyond its
// bytes.
type meta struct {
	in    int32 // ingress interface; -1 when the router made the packet
	l2    uint8 // link header length: the IP header starts here
	flags uint8
}

const (
	mL2Cast      uint8 = 1 << iota // arrived in a link broadcast or multicast frame
	mLinkLocal                     // link-local source or destination: local delivery only
	mNoTTL                         // TTL already handled (fragments, packets the router made)
	mLocalOrigin                   // made by the router: no ICMP error about it
)

// New builds a router for policy p over the ports of env.
func New(p *config.Policy, env *appliance.Env, o Options) (*Router, error) {
	o.defaults()
	r := &Router{
		pool:  env.Pool,
		stats: env.Stats,
		log:   env.Log,
		env:   env,
		opt:   o,
		neigh: newNeighTable(o.Neighbors, o.QueuePerNeighbor, o.QueueTotal),
		ready: make([]int32, 0, o.Neighbors),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if err := r.Reload(p); err != nil {
		return nil, err
	}
	r.grow(2 * dataplane.DefaultBurst)
	return r, nil
}

// Reload compiles policy p and swaps it in: the next burst is routed by
// it. Learnt neighbours and queued packets are kept. On error the running
// policy stays.
func (r *Router) Reload(p *config.Policy) error {
	st, err := compile(p, r.env, r.gen.Add(1), &r.opt)
	if err != nil {
		return err
	}
	r.cur.Store(st)
	r.log.Info("router policy loaded", "generation", st.gen, "interfaces", len(st.ifaces),
		"ipv4_prefixes", st.table.Len4(), "ipv6_prefixes", st.table.Len6())
	return nil
}

// grow makes the per-burst scratch hold n packets.
func (r *Router) grow(n int) {
	if len(r.meta) >= n {
		return
	}
	r.meta = make([]meta, n)
	r.idx4, r.dst4, r.g4 = make([]int32, n), make([][4]byte, n), make([]uint32, n)
	r.idx6, r.dst6, r.g6 = make([]int32, n), make([][16]byte, n), make([]uint32, n)
	r.pending = make([]Pending, 0, n)
}

// Process routes a burst. See the package documentation for the path a
// packet takes.
func (r *Router) Process(b *dataplane.Batch) {
	r.now = b.Now
	st := r.adopt()
	r.grow(cap(b.Pkts))
	n := len(b.Pkts)
	r.n4, r.n6 = 0, 0
	for i := 0; i < n; i++ {
		r.classify(b, i, st)
	}
	n4, n6 := r.n4, r.n6
	bf, _ := r.opt.Filter.(BurstFilter)
	if bf != nil && !bf.Prepares() {
		bf = nil
	}
	if n4 > 0 {
		st.table.LookupBatch4(r.dst4[:n4], r.g4[:n4])
		if bf != nil {
			r.prepare(b, bf, r.idx4[:n4], r.g4[:n4], false)
		}
		for k, i := range r.idx4[:n4] {
			r.forward(b, int(i), r.g4[k], false)
		}
	}
	if n6 > 0 {
		st.table.LookupBatch6(r.dst6[:n6], r.g6[:n6])
		if bf != nil {
			r.prepare(b, bf, r.idx6[:n6], r.g6[:n6], true)
		}
		for k, i := range r.idx6[:n6] {
			r.forward(b, int(i), r.g6[k], true)
		}
	}
	r.flushReady(b)
}

// Tick runs the neighbour timers: probes, retransmissions, timeouts and
// failures (ICMP unreachable for what was queued), and collects idle
// entries.
func (r *Router) Tick(b *dataplane.Batch) {
	r.now = b.Now
	r.adopt()
	r.grow(cap(b.Pkts))
	r.timers(b)
	r.flushReady(b)
}

// Release frees the packets still queued for neighbours; the loop calls it
// when it stops.
func (r *Router) Release() {
	t := &r.neigh
	for s := range t.ents {
		e := &t.ents[s]
		for e.used && e.qlen > 0 {
			q := t.pop(e)
			r.stats.Drop(ReasonPendingAtStop)
			r.pool.Put(q.pkt)
		}
		e.ready = false
	}
	r.ready = r.ready[:0]
}

// adopt makes the worker use the current state, reconciling the neighbour
// table with it when it changed: static entries installed or demoted,
// gateway entries pinned, entries re-keyed if interfaces moved.
func (r *Router) adopt() *state {
	st := r.cur.Load()
	if st == r.st {
		return st
	}
	old := r.st
	r.st = st
	t := &r.neigh
	if old != nil {
		r.rekey(old, st)
	}
	for s := range t.ents {
		if e := &t.ents[s]; e.used && e.static {
			e.static, e.state, e.deadline = false, nStale, r.now+int64(r.opt.GCTime)
		}
	}
	for _, sn := range st.statics {
		e := r.entry(sn.key)
		if e == nil {
			r.log.Warn("neighbour table full: static neighbour not installed", "neighbor", sn.key.addr())
			continue
		}
		e.static, e.state, e.mac = true, nPermanent, sn.mac
		r.markReady(e)
	}
	if cap(r.adjSlot) < len(st.adjs) {
		r.adjSlot = make([]int32, len(st.adjs))
	}
	r.adjSlot = r.adjSlot[:len(st.adjs)]
	for ai := range st.adjs {
		a := &st.adjs[ai]
		r.adjSlot[ai] = -1
		if a.kind != adjGateway {
			continue
		}
		if e := r.entry(a.gw); e != nil {
			e.pin = st.gen
			r.adjSlot[ai] = t.slot(e)
		}
	}
	return st
}

// entry returns k's entry, creating it (state none) if need be; nil when
// the table is full.
func (r *Router) entry(k nkey) *neighbor {
	if e := r.neigh.get(k); e != nil {
		return e
	}
	e := r.neigh.create(k)
	if e != nil {
		e.deadline = r.now + int64(r.opt.GCTime)
	}
	return e
}

// rekey moves neighbours to their interface's new index when a reload
// reordered the interfaces, and forgets those of interfaces that are gone.
func (r *Router) rekey(old, st *state) {
	moved := false
	newIdx := make([]int32, len(old.ifaces))
	for i := range old.ifaces {
		newIdx[i] = -1
		for j := range st.ifaces {
			if st.ifaces[j].name == old.ifaces[i].name {
				newIdx[i] = int32(j)
			}
		}
		moved = moved || newIdx[i] != int32(i)
	}
	if !moved {
		return
	}
	t := &r.neigh
	var keep []neighbor
	var qs [][]queued
	for s := range t.ents {
		e := &t.ents[s]
		if !e.used {
			continue
		}
		var q []queued
		for e.qlen > 0 {
			q = append(q, t.pop(e))
		}
		if int(e.key.ifx) < len(newIdx) && newIdx[e.key.ifx] >= 0 {
			c := *e
			c.key.ifx = newIdx[e.key.ifx]
			c.ready = false
			keep, qs = append(keep, c), append(qs, q)
		} else {
			for _, p := range q {
				r.stats.Drop(ReasonNeighFailed)
				r.pool.Put(p.pkt)
			}
		}
		t.remove(e)
	}
	r.ready = r.ready[:0]
	for i, c := range keep {
		e := t.create(c.key)
		c.qhead, c.qtail, c.qlen = -1, -1, 0
		*e = c
		for _, p := range qs[i] {
			t.push(e, p)
		}
		r.markReady(e)
	}
}

// Counters are the router's own counts, besides the drops per reason that
// the dataplane keeps.
type Counters struct {
	ICMPErrors      uint64 // ICMP and ICMPv6 errors sent
	ICMPRateLimited uint64 // ICMP errors the rate limit suppressed
	EchoReplies     uint64
	ARPRequests     uint64 // ARP requests sent
	ARPReplies      uint64 // ARP replies sent
	NeighborSolicit uint64 // neighbour solicitations sent
	NeighborAdvert  uint64 // neighbour advertisements sent
	NeighborFailed  uint64 // resolutions that failed
	Fragments       uint64 // IPv4 fragments made
}

type counters struct {
	icmpErrors, icmpLimited, echoReplies, arpReq, arpRep, ns, na, failed, frags atomic.Uint64
}

// Counters returns the router's counts so far.
func (r *Router) Counters() Counters {
	c := &r.cnt
	return Counters{
		ICMPErrors: c.icmpErrors.Load(), ICMPRateLimited: c.icmpLimited.Load(),
		EchoReplies: c.echoReplies.Load(), ARPRequests: c.arpReq.Load(), ARPReplies: c.arpRep.Load(),
		NeighborSolicit: c.ns.Load(), NeighborAdvert: c.na.Load(), NeighborFailed: c.failed.Load(),
		Fragments: c.frags.Load(),
	}
}
