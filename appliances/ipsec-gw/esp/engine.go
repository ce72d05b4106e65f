package esp

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp/spd"
)

// EventKind says what happened to an SA or policy.
type EventKind uint8

// The events the data path signals to the control plane.
const (
	// EventSoftExpire: a soft limit was reached (bytes, packets, time or
	// sequence numbers): rekey now. Sent once per SA.
	EventSoftExpire EventKind = iota + 1
	// EventHardExpire: a hard limit was reached; the SA carries no more
	// traffic. Sent once per SA.
	EventHardExpire
	// EventAcquire: outbound traffic matched a policy that has no usable
	// SA (RFC 4301's ACQUIRE). Repeated at most once per AcquireInterval
	// per policy while traffic keeps coming.
	EventAcquire
	// EventPeerMoved: an authenticated UDP-encapsulated packet came from a
	// new address or port; the outbound SA now sends there.
	EventPeerMoved
)

var eventNames = [...]string{EventSoftExpire: "soft-expire", EventHardExpire: "hard-expire", EventAcquire: "acquire", EventPeerMoved: "peer-moved"}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "event?"
}

// Cause says which limit an expire event is about.
type Cause uint8

// The limits.
const (
	CauseBytes Cause = iota + 1
	CausePackets
	CauseTime
	CauseSeq // sequence numbers running out
)

var causeNames = [...]string{CauseBytes: "bytes", CausePackets: "packets", CauseTime: "time", CauseSeq: "sequence-numbers"}

func (c Cause) String() string {
	if c > 0 && int(c) < len(causeNames) {
		return causeNames[c]
	}
	return ""
}

// Event is one signal to the control plane.
type Event struct {
	Kind   EventKind
	Cause  Cause          // for expire events
	SA     *SA            // expire and peer-moved events
	Policy *Policy        // acquire events
	Peer   netip.AddrPort // peer-moved: the new endpoint
	Time   int64          // dataplane clock
}

func (e Event) String() string {
	switch e.Kind {
	case EventAcquire:
		return fmt.Sprintf("%v policy %s", e.Kind, e.Policy.Name)
	case EventPeerMoved:
		return fmt.Sprintf("%v SA %s to %v", e.Kind, e.SA.name, e.Peer)
	}
	return fmt.Sprintf("%v SA %s (%v)", e.Kind, e.SA.name, e.Cause)
}

// Policy is an outbound SPD entry: its selector and the SA that protects
// the traffic it matches. The SA is swapped atomically when IKE rekeys; a
// policy without one drops its traffic and asks for an SA (EventAcquire).
type Policy struct {
	Name     string
	Selector spd.Selector
	out      atomic.Pointer[SA]
	acquired atomic.Int64
}

// NewPolicy makes a policy protecting sel with out (which may be nil).
func NewPolicy(name string, sel spd.Selector, out *SA) *Policy {
	p := &Policy{Name: name, Selector: sel}
	p.SetSA(out)
	return p
}

// SA returns the policy's outbound SA, or nil.
func (p *Policy) SA() *SA { return p.out.Load() }

// SetSA sets the policy's outbound SA; nil leaves the policy without one.
func (p *Policy) SetSA(sa *SA) {
	if sa != nil && sa.dir != Outbound {
		panic("esp: policy given an inbound SA")
	}
	p.out.Store(sa)
}

// Options tune an Engine; the zero value of a field takes its default.
type Options struct {
	// EventQueue is the number of events buffered for the control plane
	// (default 1024). Events that do not fit are counted (EventsLost), and
	// those about limits are sent again later.
	EventQueue int
	// KeepaliveInterval is how long an outbound UDP-encapsulated SA may be
	// quiet before Keepalives sends a NAT keepalive (RFC 3948 section
	// 2.3; default 20s).
	KeepaliveInterval time.Duration
	// AcquireInterval spaces acquire events for one policy (default 1s).
	AcquireInterval time.Duration
}

// Engine is the ipsec-gw's ESP state shared by its workers: the SAD
// (inbound SAs by SPI, outbound SAs) and the SPD (policies). Writers
// (Install, Remove, SetPolicies) serialise on a lock and publish new
// immutable tables atomically; workers read them without locking.
type Engine struct {
	opt Options

	mu       sync.Mutex
	sas      []*SA // every installed SA, under mu
	policies []*Policy

	in  atomic.Pointer[spiTable]
	out atomic.Pointer[[]*SA] // installed outbound SAs, for keepalives
	spd atomic.Pointer[spdState]

	events chan Event
	lost   atomic.Uint64
}

type spdState struct {
	table    *spd.Table
	policies []*Policy
}

// NewEngine makes an Engine with no SA and no policy.
func NewEngine(o Options) *Engine {
	o.EventQueue = cmp.Or(o.EventQueue, 1024)
	o.KeepaliveInterval = cmp.Or(o.KeepaliveInterval, 20*time.Second)
	o.AcquireInterval = cmp.Or(o.AcquireInterval, time.Second)
	e := &Engine{opt: o, events: make(chan Event, o.EventQueue)}
	e.in.Store(newSPITable(nil))
	e.out.Store(new([]*SA))
	t, _ := spd.Compile(nil)
	e.spd.Store(&spdState{table: t})
	return e
}

// Events is where the control plane reads events.
func (e *Engine) Events() <-chan Event { return e.events }

// EventsLost counts events that found the queue full.
func (e *Engine) EventsLost() uint64 { return e.lost.Load() }

// Install adds SAs; now (the dataplane clock) starts their lifetimes. An
// inbound SA whose SPI is taken, or an SA installed before, is an error,
// and then nothing is installed.
func (e *Engine) Install(now int64, sas ...*SA) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in := e.in.Load()
	for i, sa := range sas {
		if sa.installed.Load() || slices.Contains(sas[:i], sa) {
			return fmt.Errorf("esp: SA %s installed twice", sa.name)
		}
		if sa.dir == Inbound {
			if in.lookup(sa.spi) != nil || slices.ContainsFunc(sas[:i], func(o *SA) bool { return o.dir == Inbound && o.spi == sa.spi }) {
				return fmt.Errorf("esp: SA %s: inbound SPI %#08x is in use", sa.name, sa.spi)
			}
		}
	}
	for _, sa := range sas {
		sa.installed.Store(true)
		if sa.limits.SoftTime > 0 {
			sa.softAt.Store(now + int64(sa.limits.SoftTime))
		}
		if sa.limits.HardTime > 0 {
			sa.hardAt.Store(now + int64(sa.limits.HardTime))
		}
		sa.lastTx.Store(now)
		e.sas = append(e.sas, sa)
	}
	e.publish()
	return nil
}

// Remove takes SAs out of the SAD: inbound packets for their SPIs are
// dropped as unknown from now on, and workers stop using them once their
// current burst ends. An outbound SA still set in a policy keeps being
// used by that policy until it is replaced there.
func (e *Engine) Remove(sas ...*SA) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sas = slices.DeleteFunc(e.sas, func(s *SA) bool { return slices.Contains(sas, s) })
	e.publish()
}

// publish rebuilds the lookup tables from e.sas; e.mu is held.
func (e *Engine) publish() {
	var in, out []*SA
	for _, sa := range e.sas {
		if sa.dir == Inbound {
			in = append(in, sa)
		} else {
			out = append(out, sa)
		}
	}
	e.in.Store(newSPITable(in))
	e.out.Store(&out)
}

// SAs returns the installed SAs.
func (e *Engine) SAs() []*SA {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.sas)
}

// Lookup returns the inbound SA with spi, or nil.
func (e *Engine) Lookup(spi uint32) *SA { return e.in.Load().lookup(spi) }

// SetPolicies replaces the SPD with ps, in priority order.
func (e *Engine) SetPolicies(ps []*Policy) error {
	sels := make([]spd.Selector, len(ps))
	for i, p := range ps {
		sels[i] = p.Selector
	}
	t, err := spd.Compile(sels)
	if err != nil {
		return fmt.Errorf("esp: policies: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.policies = slices.Clone(ps)
	e.spd.Store(&spdState{table: t, policies: e.policies})
	return nil
}

// Policies returns the SPD's policies.
func (e *Engine) Policies() []*Policy {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.policies)
}

// Expire checks every installed SA's limits at clock time now, sending the
// events due. The data path checks limits as traffic flows; this catches
// time limits of SAs that carry none, and resends events that found the
// queue full. The control plane calls it periodically (once a second).
func (e *Engine) Expire(now int64) {
	e.mu.Lock()
	sas := slices.Clone(e.sas)
	e.mu.Unlock()
	for _, sa := range sas {
		e.checkLimits(sa, now)
	}
}

// checkLimits sends the events sa's counters and now call for.
func (e *Engine) checkLimits(sa *SA, now int64) {
	st := sa.state.Load()
	if st&stateHardSent != 0 {
		return
	}
	l := &sa.limits
	var hard, soft Cause
	if !l.zero() {
		pk, by := sa.c.packets.Load(), sa.c.bytes.Load()
		switch {
		case l.HardBytes > 0 && by >= l.HardBytes:
			hard = CauseBytes
		case l.HardPackets > 0 && pk >= l.HardPackets:
			hard = CausePackets
		case sa.expiresBy(now):
			hard = CauseTime
		}
		switch {
		case l.SoftBytes > 0 && by >= l.SoftBytes:
			soft = CauseBytes
		case l.SoftPackets > 0 && pk >= l.SoftPackets:
			soft = CausePackets
		case sa.softAt.Load() != 0 && now >= sa.softAt.Load():
			soft = CauseTime
		}
	}
	if sa.dir == Outbound {
		switch s := sa.seq.Load(); {
		case s >= sa.seqMax && hard == 0:
			hard = CauseSeq
		case s >= sa.seqSoft && soft == 0:
			soft = CauseSeq
		}
	}
	if hard != 0 {
		e.expire(sa, true, hard, now)
	} else if soft != 0 {
		e.expire(sa, false, soft, now)
	}
}

// expire marks sa soft- or hard-expired and sends the event once. A hard
// expiry kills the SA at once, even if its event does not fit the queue
// (it is then sent by a later check).
func (e *Engine) expire(sa *SA, hard bool, c Cause, now int64) {
	bit, kind := stateSoftSent, EventSoftExpire
	if hard {
		bit, kind = stateHardSent, EventHardExpire
		sa.state.Or(stateDead)
	}
	if sa.state.Or(bit)&bit != 0 {
		return // another worker sent it
	}
	if !e.send(Event{Kind: kind, Cause: c, SA: sa, Time: now}) {
		sa.state.And(^bit)
	}
}

func (e *Engine) send(ev Event) bool {
	select {
	case e.events <- ev:
		return true
	default:
		e.lost.Add(1)
		return false
	}
}

// acquire asks for an SA for p, at most once per AcquireInterval.
func (e *Engine) acquire(p *Policy, now int64) {
	last := p.acquired.Load()
	if last != 0 && now-last < int64(e.opt.AcquireInterval) {
		return
	}
	if p.acquired.CompareAndSwap(last, now) {
		e.send(Event{Kind: EventAcquire, Policy: p, Time: now})
	}
}

// spiTable maps inbound SPIs to SAs: open addressing with linear probing,
// at most half full, built once and never changed (a change builds a new
// one). SPI 0, which is never valid, marks an empty slot.
type spiTable struct {
	shift uint8
	mask  uint32
	slots []spiSlot
}

type spiSlot struct {
	spi uint32
	sa  *SA
}

func newSPITable(sas []*SA) *spiTable {
	n := 16
	for n < 2*len(sas) {
		n *= 2
	}
	t := &spiTable{mask: uint32(n - 1), slots: make([]spiSlot, n)}
	for n > 1 {
		n >>= 1
		t.shift++
	}
	t.shift = 32 - t.shift
	for _, sa := range sas {
		i := t.home(sa.spi)
		for t.slots[i].spi != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = spiSlot{sa.spi, sa}
	}
	return t
}

// home is the slot an SPI hashes to: Fibonacci hashing, as SPIs chosen by
// peers may share their low bits.
func (t *spiTable) home(spi uint32) uint32 { return (spi * 0x9e3779b1) >> t.shift }

func (t *spiTable) lookup(spi uint32) *SA {
	for i := t.home(spi); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.spi == spi {
			return s.sa
		}
		if s.spi == 0 {
			return nil
		}
	}
}
