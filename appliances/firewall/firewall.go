package firewall

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"

	"github.com/nfvkit/nfvkit/appliances/firewall/classify"
	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack"
	"github.com/nfvkit/nfvkit/appliances/firewall/nat"
	"github.com/nfvkit/nfvkit/appliances/router"
	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

func init() {
	appliance.Register(string(config.Firewall), func(p *config.Policy, env *appliance.Env) (dataplane.Stage, error) {
		return New(p, env, Options{})
	})
}

// Options tune a Firewall; the zero value of a field takes its default.
type Options struct {
	// Router tunes the forwarding engine; its Appliance and Filter are
	// the firewall's.
	Router router.Options
	// Seed keys conntrack's hash (see conntrack.Options.Seed); zero takes
	// a random one.
	Seed uint64
	// LogRate and LogBurst limit the log lines of rules with log: true,
	// per second (defaults 10 and 10).
	LogRate, LogBurst int
}

// Firewall is the firewall appliance's stage: the router, with every packet
// it routes judged by Filter. Process, Tick and Release are called by one
// worker goroutine; Reload may be called from any.
type Firewall struct {
	rt    *router.Router
	log   *slog.Logger
	stats *dataplane.Stats
	opt   Options

	cur atomic.Pointer[rules]
	gen atomic.Uint32

	// What follows belongs to the worker.

	rs   *rules // adopted
	ct   *conntrack.Table
	nat  *nat.NAT
	p    packet.Parsed
	r    conntrack.Result
	now  int64
	logs limiter

	// The burst's decodes (see prefetch): pre[i] is packet i's, good for
	// Filter while preOK[i].
	pre   []packet.Parsed
	preOK []bool
	preN  int
	// seen[i] is whether conntrack found packet i's connection, when
	// the burst's prefetch looked (seenOK).
	seen   []bool
	seenOK bool
	unseen int // packets not found
	// The first packets' verdicts, classified together (see Prepare):
	// packet i's key and verdict are keys[hint[i]] and ms[hint[i]] when
	// hintN[i] is the burst's number; nk are taken.
	hint   []int32
	hintN  []uint64
	bursts uint64
	keys   []classify.Key
	ms     []classify.Match
	nk     int
}

var (
	_ dataplane.Stage    = (*Firewall)(nil)
	_ dataplane.Ticker   = (*Firewall)(nil)
	_ dataplane.Releaser = (*Firewall)(nil)
	_ router.BurstFilter = (*Firewall)(nil)
)

// rules is a compiled policy's filter and NAT: immutable, swapped on reload.
type rules struct {
	gen  uint32 // low genBits of the generation, for Entry.Mark
	cl   *classify.Classifier
	nat  *nat.Rules
	hits *classify.Counters
	src  []classify.Rule // for the log
}

// New builds a firewall for policy p over the ports of env.
func New(p *config.Policy, env *appliance.Env, o Options) (*Firewall, error) {
	f := &Firewall{log: env.Log, stats: env.Stats, opt: o}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	rs, err := f.compile(p)
	if err != nil {
		return nil, err
	}
	co := conntrack.OptionsFrom(p.Conntrack)
	co.Seed = o.Seed
	if f.ct, err = conntrack.New(co); err != nil {
		return nil, err
	}
	f.nat = nat.New(f.ct, rs.nat, nat.Options{})
	ro := o.Router
	ro.Appliance, ro.Filter = config.Firewall, f
	if f.rt, err = router.New(p, env, ro); err != nil {
		return nil, err
	}
	f.cur.Store(rs)
	f.rs = rs
	f.logs = newLimiter(o.LogRate, o.LogBurst)
	return f, nil
}

// compile builds the filter and NAT of policy p.
func (f *Firewall) compile(p *config.Policy) (*rules, error) {
	if p.Appliance != config.Firewall {
		return nil, fmt.Errorf("policy is for %s, not firewall", p.Appliance)
	}
	if len(p.Interfaces) >= ifSelf {
		return nil, fmt.Errorf("%d interfaces: the firewall handles at most %d", len(p.Interfaces), ifSelf-1)
	}
	crs, err := classify.FromPolicy(p)
	if err != nil {
		return nil, err
	}
	cl, err := classify.Compile(crs)
	if err != nil {
		return nil, err
	}
	nr, err := nat.FromPolicy(p)
	if err != nil {
		return nil, err
	}
	return &rules{gen: f.gen.Add(1) & genMask, cl: cl, nat: nr, hits: classify.NewCounters(len(crs)), src: crs}, nil
}

// Reload compiles policy p and swaps it in: the router's state, the rules
// and the NAT rules. Connections and their translations survive; a
// connection the new rules would not accept is cut at its next packet
// (see Filter). On error the running policy stays.
func (f *Firewall) Reload(p *config.Policy) error {
	rs, err := f.compile(p)
	if err != nil {
		return err
	}
	if err := f.rt.Reload(p); err != nil {
		return err
	}
	f.cur.Store(rs)
	f.log.Info("firewall rules loaded", "rules", len(rs.src), "nat", len(p.NAT))
	return nil
}

// Router is the forwarding engine under the firewall.
func (f *Firewall) Router() *router.Router { return f.rt }

// RuleHits returns how many connections rule i of the running policy
// accepted, dropped or rejected.
func (f *Firewall) RuleHits(i int) uint64 { return f.cur.Load().hits.Hits(i) }

// ConntrackStats are the connection table's counters (any goroutine).
func (f *Firewall) ConntrackStats() conntrack.Stats { return f.ct.LoadStats() }

// NATStats are the translation's counters (any goroutine).
func (f *Firewall) NATStats() nat.Stats { return f.nat.LoadStats() }

func (f *Firewall) adopt() {
	if rs := f.cur.Load(); rs != f.rs {
		f.rs = rs
		f.nat.SetRules(rs.nat)
	}
}

// Process routes and filters a burst, then lets conntrack expire a few
// idle connections.
func (f *Firewall) Process(b *dataplane.Batch) {
	f.now = b.Now
	f.adopt()
	f.prefetch(b)
	f.rt.Process(b)
	f.preN = 0
	f.bursts++ // the hints were for this pass only
	f.ct.Expire(b.Now, 2*len(b.Pkts))
}

// Tick runs the router's timers and expires idle connections.
func (f *Firewall) Tick(b *dataplane.Batch) {
	f.now = b.Now
	f.adopt()
	f.rt.Tick(b)
	f.ct.Expire(b.Now, 2*dataplane.DefaultBurst)
}

// Release frees what the router holds when the loop stops.
func (f *Firewall) Release() { f.rt.Release() }

// Entry.Mark holds the generation of the rules that accepted the
// connection and its ingress and egress interfaces, so that a reload's
// rules can be applied to it again.
const (
	genBits  = 12
	genMask  = 1<<genBits - 1
	ifBits   = 10
	ifSelf   = 1<<ifBits - 1 // the appliance itself in a Mark
	ifMask   = 1<<ifBits - 1
	inShift  = genBits
	outShift = genBits + ifBits
)

func mark(gen uint32, in, out uint16) uint32 {
	return gen | uint32(markIf(in))<<inShift | uint32(markIf(out))<<outShift
}

func markIf(i uint16) uint16 {
	if i == classify.Self {
		return ifSelf
	}
	return i
}

func unmarkIf(m uint32) uint16 {
	if i := uint16(m & ifMask); i != ifSelf {
		return i
	}
	return classify.Self
}

// ifNum maps the router's interface numbers to the rules' and NAT's.
func ifNum(i int) uint16 {
	if i < 0 {
		return classify.Self
	}
	return uint16(i)
}

// Filter judges packet i of b for the router (see router.Filter). A
// packet of a known connection is translated (nat.Apply, or ApplyRelated
// for an ICMP error about one) and passes, unless a reload came since the
// connection was accepted and the new rules refuse it: then the connection
// is deleted and the packet dropped. A first packet is judged by the rules
// (after destination NAT, with the egress interface of its new
// destination) and, if accepted, makes a connection with its translation;
// dropped, it leaves no trace; rejected, it is answered with a TCP reset
// or an ICMP destination unreachable.
func (f *Firewall) Filter(b *dataplane.Batch, i, l3, in, out int) (router.FilterVerdict, dataplane.Reason) {
	pp := f.parsed(b, i, l3)
	if pp == nil {
		return router.FilterDrop, ReasonMalformed
	}
	r := &f.r
	switch st := f.ct.Track(pp, b.Now, r); {
	case st == conntrack.StateInvalid:
		return router.FilterDrop, ctReasons[r.Reason]
	case st == conntrack.StateRelated:
		if r.Entry.NAT.Flags == 0 {
			return router.FilterPass, 0
		}
		d := dstOf(pp)
		if err := nat.ApplyRelated(pp, r); err != nil {
			return router.FilterDrop, ReasonNAT
		}
		return f.moved(pp, d), 0
	case r.Entry == nil:
		return f.first(b, i, pp, ifNum(in), ifNum(out))
	}
	e := r.Entry
	if e.Mark&genMask != f.rs.gen && !f.recheck(e) {
		f.ct.Delete(e)
		return router.FilterDrop, ReasonReloadCut
	}
	if e.NAT.Flags == 0 {
		return router.FilterPass, 0
	}
	d := dstOf(pp)
	if err := nat.Apply(pp, e, r.Dir); err != nil {
		return router.FilterDrop, ReasonNAT
	}
	return f.moved(pp, d), 0
}

// parsed is packet i of b decoded, its IP packet at data offset l3: the
// burst's decode (prefetch) when it is still the packet's, else a decode
// now; nil for a packet too malformed to judge.
func (f *Firewall) parsed(b *dataplane.Batch, i, l3 int) *packet.Parsed {
	d := b.Pkts[i].Data()
	if i < f.preN && f.preOK[i] {
		// Used once: the router may turn packet i into another (an ICMP
		// error) and judge that too.
		f.preOK[i] = false
		pp := &f.pre[i]
		if fb := pp.Bytes(); pp.L3Off == l3 && len(fb) == len(d) && len(d) > 0 && &fb[0] == &d[0] {
			return pp
		}
	}
	pp := &f.p
	if err := pp.DecodeIP(d[l3:]); err != nil && (pp.IPVersion == 0 || pp.L4Off == 0) {
		return nil
	}
	return pp
}

// dstOf is the destination address field's bytes of a decoded packet.
func dstOf(pp *packet.Parsed) [16]byte {
	return pp.Dst.As16()
}

// moved says whether translation changed the destination: then the packet
// is routed again.
func (f *Firewall) moved(pp *packet.Parsed, before [16]byte) router.FilterVerdict {
	ip := pp.Bytes()[pp.L3Off:]
	var now [16]byte
	if pp.IPVersion == 4 {
		now = netip.AddrFrom4([4]byte(ip[16:20])).As16()
	} else {
		now = [16]byte(ip[24:40])
	}
	if now != before {
		return router.FilterReroute
	}
	return router.FilterPass
}

// first judges the first packet of a connection, pp.
func (f *Firewall) first(b *dataplane.Batch, i int, pp *packet.Parsed, in, out uint16) (router.FilterVerdict, dataplane.Reason) {
	r, rs := &f.r, f.rs
	if r.Untracked() && out == classify.Self {
		// Neighbour discovery and router advertisements addressed to
		// the appliance: its own link-layer business, not the rules'.
		return router.FilterPass, 0
	}
	k := classify.KeyOf(pp, in, out, config.StateNew)
	dnat := false
	if !r.Untracked() {
		if dst, port, ok := f.nat.Target(r, in); ok {
			eg, ok := f.rt.Egress(dst)
			if !ok {
				return router.FilterDrop, ReasonNoTarget
			}
			k.Dst, k.Out = dst, ifNum(eg)
			if k.SrcPort != 0 || k.DstPort != 0 {
				k.DstPort = port
			}
			out, dnat = k.Out, true
		}
	}
	m, ok := f.hinted(i, &k)
	if !ok {
		m = rs.cl.Classify(&k)
	}
	rs.hits.Count(m)
	if m.Log {
		f.logVerdict(&k, m)
	}
	switch m.Action {
	case classify.Accept:
	case classify.Reject:
		return f.reject(b, i, pp)
	default:
		return router.FilterDrop, ReasonRuleDrop
	}
	if r.Untracked() {
		return router.FilterPass, 0
	}
	e, err := f.nat.Create(r, in, out, f.now)
	if err != nil {
		if err == conntrack.ErrFull {
			return router.FilterDrop, ReasonTableFull
		}
		return router.FilterDrop, ReasonNAT
	}
	e.Mark = mark(rs.gen, in, out)
	if e.NAT.Flags == 0 {
		return router.FilterPass, 0
	}
	if err := nat.Apply(pp, e, conntrack.Original); err != nil {
		return router.FilterDrop, ReasonNAT
	}
	if dnat {
		return router.FilterReroute, 0
	}
	return router.FilterPass, 0
}

// recheck applies the running rules to connection e, accepted under an
// older policy, as to a new connection: whether it may go on. It marks e
// with the new generation when it may.
func (f *Firewall) recheck(e *conntrack.Entry) bool {
	o, rp := e.Tuple(conntrack.Original), e.Tuple(conntrack.Reply)
	in, out := unmarkIf(e.Mark>>inShift), unmarkIf(e.Mark>>outShift)
	k := classify.Key{In: in, Out: out, Proto: uint8(o.Proto), State: config.StateNew}
	// The rules saw the destination after DNAT: the reply's source.
	k.Src, k.Dst = o.SrcAddr(), rp.SrcAddr()
	switch {
	case o.HasPorts():
		k.SrcPort, k.DstPort = o.SrcPort, rp.SrcPort
	case o.IsICMP():
		k.ICMPType = uint8(o.DstPort) // a query's type
	}
	m := f.rs.cl.Classify(&k)
	if m.Action != classify.Accept {
		return false
	}
	e.Mark = e.Mark&^genMask | f.rs.gen
	return true
}

// prefetchMin is the number of connections from which the table no longer
// fits the caches (184 bytes an entry: 32,768 are 5.75 MiB), so that
// prefetching the burst's entries pays for itself (a variable for the
// tests).
var prefetchMin = 1 << 15

// prefetch decodes the burst, once for the whole stage (Filter takes the
// decodes: see parsed), and, in a big table, has conntrack read for every
// packet the index bucket and the entry that Filter's Track will read, so
// that the burst's cache misses overlap rather than come one after the
// other (see conntrack.Table.Prefetch). It only loads: a packet it
// misreads (a bare IP packet of a virtual interface, one the router will
// drop) costs a wasted load, nothing more.
func (f *Firewall) prefetch(b *dataplane.Batch) {
	n := len(b.Pkts)
	if len(f.pre) < n {
		c := cap(b.Pkts)
		f.pre = make([]packet.Parsed, c)
		f.preOK, f.seen = make([]bool, c), make([]bool, c)
		f.hint, f.hintN = make([]int32, c), make([]uint64, c)
		f.keys, f.ms = make([]classify.Key, c), make([]classify.Match, c)
	}
	f.bursts++
	f.nk = 0
	for i := range b.Pkts {
		pp := &f.pre[i]
		f.preOK[i] = pp.Decode(b.Pkts[i].Data()) == nil && pp.IPVersion != 0
		if !f.preOK[i] {
			pp.IPVersion = 0 // for Prefetch: not a packet to look up
		}
	}
	f.preN = n
	f.seenOK = f.ct.Len() >= prefetchMin
	f.unseen = 0
	if f.seenOK {
		f.ct.Prefetch(f.pre[:n], f.seen)
		for i := range n {
			if f.preOK[i] && !f.seen[i] {
				f.unseen++
			}
		}
	}
}

// hinted returns Prepare's answer for packet i of the burst, when Prepare
// classified it with key k.
func (f *Firewall) hinted(i int, k *classify.Key) (classify.Match, bool) {
	if i >= len(f.hint) || f.hintN[i] != f.bursts {
		return classify.Match{}, false
	}
	j := f.hint[i]
	return f.ms[j], f.keys[j] == *k
}

// burstMin is the classifier size (bytes) from which Prepare classifies a
// burst's first packets together: a smaller one stays in the caches
// however busy the connection table is (a variable for the tests).
var burstMin = 64 << 10

// Prepares reports whether Prepare is worth it for the burst: the table
// was big enough to be prefetched, which tells the first packets, some
// packet is one, and the classifier is big enough to miss the caches.
func (f *Firewall) Prepares() bool {
	return f.seenOK && f.unseen > 0 && f.rs.cl.Memory() >= burstMin
}

// Prepare classifies, together, the packets of the router's next ones
// whose connection the burst's prefetch did not find: the first packets
// (see router.BurstFilter). Beside a big connection table, a big rule set's
// tree is out of the caches, and a walk's cache misses come one after the
// other; classify.ClassifyBurst overlaps them. Filter uses an answer when
// the packet's key is still the one classified (destination NAT changes
// it).
func (f *Firewall) Prepare(b *dataplane.Batch, ps []router.Pending) {
	rs := f.rs
	// The router prepares the IPv4 and the IPv6 packets apart: the keys
	// of a burst follow one another.
	k0 := f.nk
	for _, q := range ps {
		i := q.I
		if i >= f.preN || !f.preOK[i] || f.seen[i] || f.pre[i].L3Off != q.L3 || f.nk == len(f.keys) {
			continue
		}
		f.keys[f.nk] = classify.KeyOf(&f.pre[i], ifNum(q.In), ifNum(q.Out), config.StateNew)
		f.hint[i], f.hintN[i] = int32(f.nk), f.bursts
		f.nk++
	}
	if f.nk > k0 {
		rs.cl.ClassifyBurst(f.keys[k0:f.nk], f.ms[k0:f.nk])
		rs.hits.Warm(f.ms[k0:f.nk])
	}
}
