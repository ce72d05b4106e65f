package ike

import (
	"bytes"
	"cmp"
	"container/heap"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/suite"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// How the daemon runs: one goroutine (run) takes received messages from a
// bounded queue, the ESP engine's events and its own timers (one heap,
// one time.Timer) and does all the work under d.mu. The API methods
// (Initiate, Status, Close) take the same lock for the moment they need,
// and poke the goroutine when they set a timer. Nothing the goroutine
// calls blocks: Send hands a datagram to the transport, and the ESP
// engine's Install and Remove are short critical sections.

// Defaults of Config's timing.
const (
	defaultRetransmitBase  = time.Second
	defaultRetransmitTries = 6
	defaultHalfOpenCookies = 64
	// halfOpenTimeout is how long a responder keeps an IKE SA that got
	// no IKE_AUTH.
	defaultHalfOpenTimeout = 30 * time.Second
	// queueLen bounds the received messages waiting for the goroutine.
	queueLen = 256
	// nonceLen is the length of our nonces.
	nonceLen = 32
)

// Daemon is an IKEv2 daemon serving a policy's ike: connections.
type Daemon struct {
	c     Config
	log   *slog.Logger
	conns []*conn

	in    chan inbound
	wake  chan struct{}
	quit  chan struct{}
	done  chan struct{}
	start sync.Once
	stop  sync.Once
	run   atomic.Bool

	received, sent, retransmits  atomic.Uint64
	ikeEstablished, childEstab   atomic.Uint64
	ikeRekeys, childRekeys       atomic.Uint64
	dropMu                       sync.Mutex
	drops                        map[string]uint64
	closed                       bool // under mu
	mu                           sync.Mutex
	sas                          map[uint64]*ikeSA // by our SPI
	initIdx                      map[initKey]*ikeSA
	halfOpen                     int
	cookies                      *suite.Cookies
	byESP                        map[*esp.SA]*child
	contacted                    map[netip.Addr]bool
	timers                       timerHeap
	timer                        *time.Timer
	halfOpenTimeout, expireEvery time.Duration
	maxHalfOpen                  int
	serial                       uint64 // IKE SAs made, for stable listings
}

// conn is one configured connection and its resolved key.
type conn struct {
	idx     int
	cfg     *config.IKEConn
	psk     []byte
	backoff time.Duration
	retry   *timer
}

type inbound struct {
	local, remote netip.AddrPort
	msg           []byte
}

type initKey struct {
	peer netip.Addr
	spi  uint64
}

// New checks c and resolves the conns' pre-shared keys.
func New(c Config) (*Daemon, error) {
	if c.Engine == nil {
		return nil, errors.New("ike: no ESP engine")
	}
	if c.Send == nil {
		return nil, errors.New("ike: no Send")
	}
	if c.Clock == nil {
		c.Clock = dataplane.MonoClock
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.RetransmitBase <= 0 {
		c.RetransmitBase = defaultRetransmitBase
	}
	if c.RetransmitTries <= 0 {
		c.RetransmitTries = defaultRetransmitTries
	}
	if c.HalfOpenCookies <= 0 {
		c.HalfOpenCookies = defaultHalfOpenCookies
	}
	c.Window = max(c.Window, 1)
	d := &Daemon{
		c:               c,
		log:             c.Log,
		in:              make(chan inbound, queueLen),
		wake:            make(chan struct{}, 1),
		quit:            make(chan struct{}),
		done:            make(chan struct{}),
		drops:           map[string]uint64{},
		sas:             map[uint64]*ikeSA{},
		initIdx:         map[initKey]*ikeSA{},
		cookies:         suite.NewCookies(),
		byESP:           map[*esp.SA]*child{},
		contacted:       map[netip.Addr]bool{},
		halfOpenTimeout: defaultHalfOpenTimeout,
		expireEvery:     time.Second,
		maxHalfOpen:     max(1024, 8*c.HalfOpenCookies),
	}
	var errs []error
	names := map[string]bool{}
	for i := range c.Conns {
		k := &c.Conns[i]
		if err := checkConn(k); err != nil {
			errs = append(errs, fmt.Errorf("ike: conn %s: %w", k.Name, err))
			continue
		}
		if names[k.Name] {
			errs = append(errs, fmt.Errorf("ike: conn %s: name used twice", k.Name))
		}
		names[k.Name] = true
		psk, err := k.Auth.PSK.Resolve()
		if err != nil {
			errs = append(errs, fmt.Errorf("ike: conn %s: psk: %w", k.Name, err))
			continue
		}
		d.conns = append(d.conns, &conn{idx: i, cfg: k, psk: psk})
	}
	if len(errs) > 0 {
		for _, cn := range d.conns {
			clear(cn.psk)
		}
		return nil, errors.Join(errs...)
	}
	d.timer = time.NewTimer(time.Hour)
	d.timer.Stop()
	return d, nil
}

func checkConn(k *config.IKEConn) error {
	if !k.Peer.IsValid() {
		return errors.New("no peer address")
	}
	if len(k.Proposals) == 0 {
		return errors.New("no IKE proposal")
	}
	for _, p := range k.Proposals {
		if len(p.Encr) == 0 || len(p.PRF) == 0 || len(p.DH) == 0 {
			return errors.New("an IKE proposal needs a cipher, a PRF and a DH group")
		}
		for _, e := range p.Encr {
			if id, _ := suite.EncrOf(e); id == 0 {
				return fmt.Errorf("unknown cipher %s", e)
			}
		}
		for _, f := range p.PRF {
			if suite.PRFOf(f) == 0 {
				return fmt.Errorf("unknown PRF %s", f)
			}
		}
		for _, g := range p.DH {
			if suite.DHOf(g) == 0 {
				return fmt.Errorf("unknown DH group %s", g)
			}
		}
	}
	if len(k.Children) == 0 {
		return errors.New("no child SA")
	}
	for _, ch := range k.Children {
		if len(ch.ESP) == 0 || len(ch.Local) == 0 || len(ch.Remote) == 0 {
			return fmt.Errorf("child %s needs ESP proposals and local and remote networks", ch.Name)
		}
		for _, p := range ch.ESP {
			for _, e := range p.Encr {
				if _, err := esp.CipherOf(e); err != nil {
					return fmt.Errorf("child %s: %w", ch.Name, err)
				}
			}
			for _, g := range p.DH {
				if suite.DHOf(g) == 0 {
					return fmt.Errorf("child %s: unknown DH group %s", ch.Name, g)
				}
			}
		}
	}
	return nil
}

// Start runs the daemon's goroutine and initiates the start: start conns.
func (d *Daemon) Start() {
	d.start.Do(func() {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return
		}
		d.run.Store(true)
		d.after(d.expireEvery, d.sweep)
		d.after(2*time.Minute, d.rotateCookies)
		for _, cn := range d.conns {
			if cn.cfg.Start == config.StartNow {
				if err := d.initiate(cn, "start"); err != nil {
					d.log.Warn("ike: initiate failed", "conn", cn.cfg.Name, "err", err)
					d.scheduleRetry(cn)
				}
			}
		}
		d.arm()
		d.mu.Unlock()
		go d.loop()
	})
}

// Receive queues one received IKE message for the daemon's goroutine; it
// copies msg and never blocks.
func (d *Daemon) Receive(local, remote netip.AddrPort, msg []byte) {
	if len(msg) > wire.MaxMessage {
		d.drop("too-long")
		return
	}
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	select {
	case d.in <- inbound{local, remote, bytes.Clone(msg)}:
	default:
		d.drop("queue-full")
	}
}

// Initiate brings a conn up now: a new IKE SA with all its children (or,
// when one is established, the children it lacks).
func (d *Daemon) Initiate(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("ike: daemon closed")
	}
	i := slices.IndexFunc(d.conns, func(c *conn) bool { return c.cfg.Name == name })
	if i < 0 {
		return fmt.Errorf("ike: no conn %q", name)
	}
	cn := d.conns[i]
	if sa := d.connSA(cn); sa != nil {
		if sa.state == stEstablished {
			d.completeChildren(sa, -1)
		}
		return nil
	}
	err := d.initiate(cn, "initiate")
	d.poke()
	return err
}

// Close deletes the established IKE SAs (one Delete each, sent once and
// not waited for), removes every SA the daemon installed and stops it.
func (d *Daemon) Close() {
	d.stop.Do(func() {
		d.mu.Lock()
		d.closed = true
		for _, sa := range d.allSAs() {
			if sa.state == stEstablished || sa.state == stRekeyed || sa.state == stDeleting {
				d.sendOnce(sa, wire.Informational, []wire.Payload{&wire.Delete{Protocol: wire.ProtoIKE}})
			}
		}
		for _, sa := range d.allSAs() {
			d.teardown(sa, "closed", true)
		}
		for _, cn := range d.conns {
			clear(cn.psk)
			d.cancel(cn.retry)
		}
		d.timers = nil
		d.mu.Unlock()
		close(d.quit)
		if d.run.Load() {
			<-d.done
		}
	})
}

// Status returns a snapshot of the IKE SAs and their children.
func (d *Daemon) Status() []SAStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []SAStatus
	for _, sa := range d.allSAs() {
		st := SAStatus{
			State: sa.state.String(), Initiator: sa.initiator, SPIi: sa.spiI, SPIr: sa.spiR,
			Local: sa.local, Remote: sa.remote, NATT: sa.natt, Established: sa.established,
		}
		if sa.conn != nil {
			st.Conn = sa.conn.cfg.Name
		}
		if sa.algs.Encr != 0 {
			st.Algs = sa.algs.String()
		}
		for _, c := range sa.children {
			st.Children = append(st.Children, ChildStatus{
				Name: c.cfg.Name, SPIIn: c.spiIn, SPIOut: c.spiOut, Cipher: c.cipher.String(),
				Local: c.sel.Local, Remote: c.sel.Remote, Installed: c.installed,
			})
		}
		out = append(out, st)
	}
	return out
}

// Stats returns the daemon's counters.
func (d *Daemon) Stats() Stats {
	d.dropMu.Lock()
	drops := make(map[string]uint64, len(d.drops))
	for k, v := range d.drops {
		drops[k] = v
	}
	d.dropMu.Unlock()
	return Stats{
		Received: d.received.Load(), Sent: d.sent.Load(), Retransmits: d.retransmits.Load(),
		IKESAsEstablished: d.ikeEstablished.Load(), ChildSAsEstablished: d.childEstab.Load(),
		IKERekeys: d.ikeRekeys.Load(), ChildRekeys: d.childRekeys.Load(),
		Drops: drops,
	}
}

// drop counts a message dropped, by reason (Stats.Drops):
//
//	queue-full, too-long         Receive could not take it
//	malformed-header             not an IKEv2 header, or a wrong length
//	malformed, unprotected       undecodable, or clear text where SK was due
//	malformed-inner              authentic, malformed inside (answered with
//	                             INVALID_SYNTAX or UNSUPPORTED_CRITICAL_PAYLOAD)
//	integrity                    the SK payload did not authenticate
//	unknown-spi, not-ready       no such IKE SA (no INVALID_IKE_SPI answer),
//	                             or one without keys yet
//	out-of-window, retransmit-mismatch, unexpected-response,
//	unexpected-exchange          message IDs and exchanges out of place
//	bad-init-header, init-spi-in-use, unknown-peer, bad-ke,
//	cookie-required, half-open-limit, half-open-expired,
//	no-proposal-chosen           IKE_SA_INIT requests refused
//	internal                     a local failure (should not happen)
func (d *Daemon) drop(reason string) {
	d.dropMu.Lock()
	d.drops[reason]++
	d.dropMu.Unlock()
}

// allSAs lists the IKE SAs in a stable order.
func (d *Daemon) allSAs() []*ikeSA {
	out := make([]*ikeSA, 0, len(d.sas))
	for _, sa := range d.sas {
		out = append(out, sa)
	}
	slices.SortFunc(out, func(a, b *ikeSA) int { return cmp.Compare(a.serial, b.serial) })
	return out
}

// connSA returns the conn's live IKE SA (connecting or established), if
// any, the newest first.
func (d *Daemon) connSA(cn *conn) *ikeSA {
	var best *ikeSA
	for _, sa := range d.sas {
		if sa.conn != cn || (sa.state != stInit && sa.state != stAuth && sa.state != stEstablished) {
			continue
		}
		if best == nil || sa.serial > best.serial {
			best = sa
		}
	}
	return best
}

func (d *Daemon) loop() {
	defer close(d.done)
	events := d.c.Engine.Events()
	for {
		select {
		case <-d.quit:
			return
		case m := <-d.in:
			d.mu.Lock()
			if !d.closed {
				d.handle(m)
			}
			d.arm()
			d.mu.Unlock()
		case ev := <-events:
			d.mu.Lock()
			if !d.closed {
				d.event(ev)
			}
			d.arm()
			d.mu.Unlock()
		case <-d.timer.C:
			d.mu.Lock()
			d.fire()
			d.arm()
			d.mu.Unlock()
		case <-d.wake:
			d.mu.Lock()
			d.arm()
			d.mu.Unlock()
		}
	}
}

// poke makes the goroutine re-arm its timer after an API call set one.
func (d *Daemon) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// timer is one scheduled call; i is its index in the heap, -1 when not
// scheduled.
type timer struct {
	at time.Time
	f  func()
	i  int
}

type timerHeap []*timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].i = i; h[j].i = j }
func (h *timerHeap) Push(x any)        { t := x.(*timer); t.i = len(*h); *h = append(*h, t) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.i = -1
	return t
}

// after schedules f in dur.
func (d *Daemon) after(dur time.Duration, f func()) *timer {
	t := &timer{at: time.Now().Add(dur), f: f}
	heap.Push(&d.timers, t)
	return t
}

// cancel unschedules t (nil is fine).
func (d *Daemon) cancel(t *timer) {
	if t != nil && t.i >= 0 && t.i < len(d.timers) && d.timers[t.i] == t {
		heap.Remove(&d.timers, t.i)
	}
}

func (d *Daemon) arm() {
	if len(d.timers) == 0 || d.closed {
		d.timer.Stop()
		return
	}
	d.timer.Reset(max(time.Until(d.timers[0].at), 0))
}

func (d *Daemon) fire() {
	now := time.Now()
	for n := 0; len(d.timers) > 0 && !d.timers[0].at.After(now) && !d.closed && n < 1024; n++ {
		t := heap.Pop(&d.timers).(*timer)
		t.f()
	}
}

// sweep asks the ESP engine for the time limits of idle SAs.
func (d *Daemon) sweep() {
	d.c.Engine.Expire(d.c.Clock())
	d.after(d.expireEvery, d.sweep)
}

func (d *Daemon) rotateCookies() {
	d.cookies.Rotate()
	d.after(2*time.Minute, d.rotateCookies)
}

// jitter returns a random duration in [0, f*dur).
func jitter(dur time.Duration, f float64) time.Duration {
	n := int64(float64(dur) * f)
	if n <= 0 {
		return 0
	}
	return time.Duration(mrand.Int64N(n))
}

// newIKESPI returns a random, non-zero IKE SPI not in use here.
func (d *Daemon) newIKESPI() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		s := binary.BigEndian.Uint64(b[:])
		if s != 0 && d.sas[s] == nil {
			return s
		}
	}
}

// newChildSPI returns a random inbound ESP SPI, not reserved and not
// installed in the engine.
func (d *Daemon) newChildSPI() uint32 {
	for {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<32-256))
		s := uint32(n.Int64()) + 256
		if d.c.Engine.Lookup(s) == nil && !d.spiTaken(s) {
			return s
		}
	}
}

func (d *Daemon) spiTaken(s uint32) bool {
	for _, sa := range d.sas {
		for _, c := range sa.children {
			if c.spiIn == s {
				return true
			}
		}
	}
	return false
}

// event handles one event of the ESP engine.
func (d *Daemon) event(ev esp.Event) {
	switch ev.Kind {
	case esp.EventSoftExpire:
		if c := d.byESP[ev.SA]; c != nil && c.state == childActive {
			d.log.Info("ike: child soft expiry", "conn", c.ike.connName(), "child", c.cfg.Name, "cause", ev.Cause.String())
			d.rekeyChild(c)
		}
	case esp.EventHardExpire:
		if c := d.byESP[ev.SA]; c != nil {
			d.log.Info("ike: child hard expiry", "conn", c.ike.connName(), "child", c.cfg.Name, "cause", ev.Cause.String())
			d.deleteChild(c, "expired")
		}
	case esp.EventAcquire:
		d.acquire(ev.Policy)
	case esp.EventPeerMoved:
		if c := d.byESP[ev.SA]; c != nil && c.ike.natt && ev.Peer.IsValid() && c.ike.remote != ev.Peer {
			d.log.Info("ike: peer moved", "conn", c.ike.connName(), "from", c.ike.remote, "to", ev.Peer)
			c.ike.remote = ev.Peer
		}
	}
}

// acquire brings up the conn (or the child) whose policy saw traffic
// without an SA.
func (d *Daemon) acquire(p *esp.Policy) {
	if p == nil {
		return
	}
	for i, ps := range d.c.Policies {
		for j, q := range ps {
			if q != p || i >= len(d.c.Conns) {
				continue
			}
			cn := d.connByIdx(i)
			if cn == nil || cn.cfg.Start == config.StartNone {
				return
			}
			sa := d.connSA(cn)
			switch {
			case sa == nil:
				if err := d.initiate(cn, "acquire"); err != nil {
					d.log.Warn("ike: initiate failed", "conn", cn.cfg.Name, "err", err)
				}
			case sa.state == stEstablished && j < len(cn.cfg.Children) && sa.childOf(j) == nil:
				d.createChild(sa, j)
			}
			return
		}
	}
}

func (d *Daemon) connByIdx(i int) *conn {
	for _, cn := range d.conns {
		if cn.idx == i {
			return cn
		}
	}
	return nil
}

// policy is the SPD entry of a conn's child, or nil.
func (d *Daemon) policy(connIdx, childIdx int) *esp.Policy {
	if connIdx < len(d.c.Policies) && childIdx < len(d.c.Policies[connIdx]) {
		return d.c.Policies[connIdx][childIdx]
	}
	return nil
}

// scheduleRetry initiates a start: start conn again after a back-off.
func (d *Daemon) scheduleRetry(cn *conn) {
	if d.closed || cn.cfg.Start != config.StartNow || cn.retry != nil && cn.retry.i >= 0 {
		return
	}
	if d.connSA(cn) != nil {
		return
	}
	base := 2 * d.c.RetransmitBase
	cn.backoff = min(max(2*cn.backoff, base), 64*base)
	wait := cn.backoff + jitter(cn.backoff, 0.1)
	d.log.Info("ike: will initiate again", "conn", cn.cfg.Name, "in", wait)
	cn.retry = d.after(wait, func() {
		if d.connSA(cn) == nil {
			if err := d.initiate(cn, "retry"); err != nil {
				d.log.Warn("ike: initiate failed", "conn", cn.cfg.Name, "err", err)
				d.scheduleRetry(cn)
			}
		}
	})
}
