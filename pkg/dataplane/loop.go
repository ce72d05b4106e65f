package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"time"
)

// Loop defaults.
const (
	DefaultBurst     = 64
	DefaultSpinFor   = 50 * time.Microsecond
	DefaultTickEvery = 100 * time.Millisecond
	// idlePoll is how often an idle loop polls ports that cannot wake it.
	idlePoll = time.Millisecond
	// yieldEvery: one empty poll in this many lets the appliance's other
	// goroutines run; the others yield the CPU to other threads.
	yieldEvery = 8
)

// Loop is one worker: it receives from its ports, runs the stage, and
// transmits, run to completion, one burst at a time. Set the exported fields,
// then call Run once. A Loop is not safe for concurrent use; run one per
// receive queue.
type Loop struct {
	Ports []Port
	Stage Stage
	Pool  *Pool
	// Stats, when nil, is made with one entry per port named "port<i>".
	Stats *Stats
	// Local receives punted packets; without it they are dropped as
	// ReasonNoLocal.
	Local LocalStack
	// Burst is the most packets taken from one port at once (default 64).
	Burst int
	// SpinFor is how long the loop keeps polling after the last packet
	// before it sleeps (default 50µs). Between polls it yields the CPU to
	// any other thread waiting for it, so a loop that shares a CPU does
	// not spin while the thread that would feed it waits.
	SpinFor time.Duration
	// TickEvery is the period of Ticker.Tick (default 100ms).
	TickEvery time.Duration
	// Clock returns the current time in nanoseconds (default MonoClock).
	// It is not used in replay, where capture timestamps are the clock.
	Clock func() int64

	rxStore []Packet
	rx      *Batch
	source  Source
	tx      []*Batch
	punt    *Batch
	free    *Batch
	done    []bool
	bell    *Bell
	timer   *time.Timer
	stop    atomic.Bool
	wakes   atomic.Uint64
}

var clockBase = time.Now()

// MonoClock is wall-clock time in Unix nanoseconds that never steps back: the
// process start time plus the monotonic time since.
func MonoClock() int64 { return clockBase.UnixNano() + int64(time.Since(clockBase)) }

func (l *Loop) init() error {
	if len(l.Ports) == 0 || len(l.Ports) > 1<<16 {
		return fmt.Errorf("loop: %d ports (want 1..65536)", len(l.Ports))
	}
	if l.Stage == nil || l.Pool == nil {
		return errors.New("loop: Stage and Pool are required")
	}
	if l.Burst <= 0 {
		l.Burst = DefaultBurst
	}
	if l.SpinFor <= 0 {
		l.SpinFor = DefaultSpinFor
	}
	if l.TickEvery <= 0 {
		l.TickEvery = DefaultTickEvery
	}
	if l.Clock == nil {
		l.Clock = MonoClock
	}
	if l.Stats == nil {
		names := make([]string, len(l.Ports))
		for i := range names {
			names[i] = fmt.Sprintf("port%d", i)
		}
		l.Stats = NewStats(names...)
	}
	if len(l.Stats.Ports) != len(l.Ports) {
		return fmt.Errorf("loop: %d port counters for %d ports", len(l.Stats.Ports), len(l.Ports))
	}
	// The receive batch has room behind the burst for what the stage
	// generates while handling it (ICMP errors, ARP requests).
	l.rxStore = make([]Packet, 2*l.Burst)
	l.rx = &Batch{Pkts: l.rxStore[:0]}
	l.tx = make([]*Batch, len(l.Ports))
	for i := range l.tx {
		l.tx[i] = NewBatch(l.Burst)
	}
	l.punt = NewBatch(2 * l.Burst)
	l.free = NewBatch(2 * l.Burst)
	l.done = make([]bool, len(l.Ports))
	l.bell = NewBell()
	l.source, _ = l.Stage.(Source)
	l.timer = time.NewTimer(time.Hour)
	l.timer.Stop()
	return nil
}

// Stop asks a running loop to return. It may be called from any goroutine.
func (l *Loop) Stop() {
	l.stop.Store(true)
	if l.bell != nil {
		l.bell.Ring()
	}
}

// Wakeups is how many times the loop has woken from an idle sleep: a test of
// idle behaviour reads it.
func (l *Loop) Wakeups() uint64 { return l.wakes.Load() }

// Run runs the loop until ctx is done, Stop is called, every port has reached
// the end of its input, or a port fails. When every port is Timed it runs in
// capture time (see Timed). Before returning it transmits what is pending and
// lets the stage release what it holds; the caller closes the ports.
func (l *Loop) Run(ctx context.Context) error {
	if err := l.init(); err != nil {
		return err
	}
	stopWatch := context.AfterFunc(ctx, l.Stop)
	defer stopWatch()

	var err error
	if l.allTimed() {
		err = l.runReplay()
	} else {
		err = l.runLive()
		if err == nil {
			l.drain()
		}
	}
	l.flush()
	if r, ok := l.Stage.(Releaser); ok {
		r.Release()
	}
	return err
}

// drain gives a Drainer stage its last words: after Drain, its source is
// polled (and what it gives sent) until it stays empty for a few
// milliseconds, or DrainFor has passed.
func (l *Loop) drain() {
	d, ok := l.Stage.(Drainer)
	if !ok {
		return
	}
	d.Drain()
	start := time.Now()
	quiet := time.Time{}
	for time.Since(start) < DrainFor {
		l.rx.Pkts = l.rxStore[:0]
		l.rx.Now = l.Clock()
		if n := d.Poll(l.rx); n > 0 {
			quiet = time.Time{}
		} else if quiet.IsZero() {
			quiet = time.Now()
		} else if time.Since(quiet) > 5*time.Millisecond {
			l.dispatch(l.rx)
			return
		}
		l.dispatch(l.rx)
		l.flush()
		time.Sleep(100 * time.Microsecond)
	}
}

func (l *Loop) allTimed() bool {
	for _, p := range l.Ports {
		if _, ok := p.(Timed); !ok {
			return false
		}
	}
	return true
}

func (l *Loop) runLive() error {
	ticker, _ := l.Stage.(Ticker)
	now := l.Clock()
	lastBusy, nextTick := now, now+int64(l.TickEvery)
	spins := 0
	for !l.stop.Load() {
		got, live, err := l.pollAll(now)
		if err != nil {
			return err
		}
		if live == 0 {
			return nil
		}
		now = l.Clock()
		if ticker != nil && now >= nextTick {
			l.tick(ticker, now)
			nextTick = now + int64(l.TickEvery)
		}
		if got > 0 {
			lastBusy = now
			continue
		}
		if now-lastBusy < int64(l.SpinFor) {
			// Busy-poll, but give the CPU away between polls to whoever
			// waits for it: another thread on a CPU the appliance shares
			// (the sender of the very packets it waits for, say), and now
			// and then the appliance's own goroutines. On a CPU of its own
			// the yield returns at once and this is a plain spin.
			if spins++; spins%yieldEvery == 0 {
				runtime.Gosched()
			} else {
				osYield()
			}
			continue
		}
		wait := time.Duration(nextTick - now)
		if ticker == nil {
			wait = time.Hour
		}
		l.sleep(wait)
		now = l.Clock()
		lastBusy = now
	}
	return nil
}

// pollAll receives one burst from every live port and handles it. It
// returns the packets received and the number of ports still live.
func (l *Loop) pollAll(now int64) (got, live int, err error) {
	for i, p := range l.Ports {
		if l.done[i] {
			continue
		}
		live++
		n, err := l.recv(i, p, now)
		if err != nil {
			return got, live, err
		}
		got += n
	}
	if l.source != nil {
		l.rx.Pkts = l.rxStore[:0]
		l.rx.Now = now
		got += l.source.Poll(l.rx)
		l.dispatch(l.rx)
	}
	l.flush()
	return got, live, nil
}

// recv takes one burst from port i and handles it.
func (l *Loop) recv(i int, p Port, now int64) (int, error) {
	l.rx.Pkts = l.rxStore[:0:l.Burst]
	l.rx.Now = now
	_, err := p.Recv(l.rx)
	n := len(l.rx.Pkts)
	l.rx.Pkts = l.rxStore[:n]
	if err != nil {
		if errors.Is(err, io.EOF) {
			l.done[i] = true
			err = nil
		} else {
			err = fmt.Errorf("port %s: receive: %w", l.Stats.Ports[i].Name, err)
		}
	}
	if n == 0 {
		return 0, err
	}
	var bytes uint64
	for k := range l.rx.Pkts {
		pk := &l.rx.Pkts[k]
		pk.InPort = uint16(i)
		pk.Verdict, pk.Reason = Drop, 0
		bytes += uint64(pk.len)
	}
	ps := l.Stats.Ports[i]
	ps.RxPackets.Add(uint64(n))
	ps.RxBytes.Add(bytes)
	l.Stage.Process(l.rx)
	l.dispatch(l.rx)
	return n, err
}

func (l *Loop) tick(t Ticker, now int64) {
	l.rx.Pkts = l.rxStore[:0]
	l.rx.Now = now
	t.Tick(l.rx)
	l.dispatch(l.rx)
	l.flush()
}

// dispatch carries out the verdicts of b and empties it.
func (l *Loop) dispatch(b *Batch) {
	for k := range b.Pkts {
		p := &b.Pkts[k]
		switch p.Verdict {
		case Forward:
			if int(p.OutPort) >= len(l.tx) {
				l.drop(p, ReasonBadPort)
				continue
			}
			tx := l.tx[p.OutPort]
			if tx.Room() == 0 {
				l.send(int(p.OutPort))
			}
			tx.Now = b.Now
			tx.Pkts = append(tx.Pkts, *p)
		case Punt:
			if l.Local == nil {
				l.drop(p, ReasonNoLocal)
				continue
			}
			l.punt.Now = b.Now
			l.punt.Pkts = append(l.punt.Pkts, *p)
		case Consumed:
		default:
			r := p.Reason
			if r == 0 {
				r = ReasonNoVerdict
			}
			l.drop(p, r)
		}
	}
	b.Reset()
	if len(l.punt.Pkts) > 0 {
		l.Local.Deliver(l.punt)
		l.punt.Reset()
	}
	if len(l.free.Pkts) > 0 {
		l.Pool.PutBatch(l.free)
	}
}

func (l *Loop) drop(p *Packet, r Reason) {
	l.Stats.Drop(r)
	l.free.Pkts = append(l.free.Pkts, *p)
}

// flush sends every pending transmit batch.
func (l *Loop) flush() {
	for i, tx := range l.tx {
		if len(tx.Pkts) > 0 {
			l.send(i)
		}
	}
}

func (l *Loop) send(i int) {
	tx := l.tx[i]
	total := len(tx.Pkts)
	var bytes uint64
	for k := range tx.Pkts {
		bytes += uint64(tx.Pkts[k].len)
	}
	// Count bytes of what the port will transmit; it reports a prefix.
	lens := tx.Pkts[:total]
	n, err := l.Ports[i].Send(tx)
	if n < 0 || n > total {
		n = 0
	}
	if n < total {
		for k := n; k < total; k++ {
			bytes -= uint64(lens[k].len)
		}
		r := ReasonTxFull
		if err != nil {
			r = ReasonTxError
		}
		l.Stats.DropN(r, uint64(total-n))
		l.Stats.Ports[i].TxDropped.Add(uint64(total - n))
	}
	ps := l.Stats.Ports[i]
	ps.TxPackets.Add(uint64(n))
	ps.TxBytes.Add(bytes)
	tx.Reset()
}

// sleep waits, for at most d, until a port rings or Stop is called.
func (l *Loop) sleep(d time.Duration) {
	armed := 0
	pollOnly := false
	if l.source != nil {
		if !l.source.Arm(l.bell) {
			return
		}
		defer l.source.Disarm()
	}
	for i, p := range l.Ports {
		if l.done[i] {
			continue
		}
		w, ok := p.(Waiter)
		if !ok {
			pollOnly = true
			continue
		}
		if !w.Arm(l.bell) {
			l.disarm(armed)
			return
		}
		armed = i + 1
	}
	if pollOnly && d > idlePoll {
		d = idlePoll
	}
	if !l.stop.Load() {
		l.timer.Reset(d)
		select {
		case <-l.bell.C():
		case <-l.timer.C:
		}
		l.timer.Stop()
		l.wakes.Add(1)
	}
	l.disarm(armed)
}

// disarm disarms the Waiter ports among the first n.
func (l *Loop) disarm(n int) {
	for i, p := range l.Ports[:n] {
		if w, ok := p.(Waiter); ok && !l.done[i] {
			w.Disarm()
		}
	}
}

// runReplay runs in capture time: always the port with the earliest packet.
func (l *Loop) runReplay() error {
	ticker, _ := l.Stage.(Ticker)
	var nextTick int64
	started := false
	for !l.stop.Load() {
		first, t := -1, int64(0)
		for i, p := range l.Ports {
			if l.done[i] {
				continue
			}
			nt, ok := p.(Timed).Next()
			if !ok {
				l.done[i] = true
				continue
			}
			if first < 0 || nt < t {
				first, t = i, nt
			}
		}
		if first < 0 {
			return nil
		}
		if ticker != nil {
			if !started {
				nextTick, started = t+int64(l.TickEvery), true
			}
			// Ticks fall at fixed steps of capture time; after a long gap
			// the clock jumps rather than replaying every step.
			if behind := (t - nextTick) / int64(l.TickEvery); behind > 1000 {
				nextTick += (behind - 1000) * int64(l.TickEvery)
			}
			for nextTick <= t {
				l.tick(ticker, nextTick)
				nextTick += int64(l.TickEvery)
			}
		}
		if _, err := l.recv(first, l.Ports[first], t); err != nil {
			return err
		}
		l.flush()
	}
	return nil
}
