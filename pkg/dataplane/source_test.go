package dataplane

import (
	"context"
	"sync"
	"testing"
	"time"
)

// sourceStage is crossStage plus packets of its own that another goroutine
// makes: they go out of port 1.
type sourceStage struct {
	mu    sync.Mutex
	ready []Packet
	bell  *Bell
	polls int
}

func (s *sourceStage) Process(b *Batch) { crossStage(b) }

func (s *sourceStage) inject(p Packet) {
	s.mu.Lock()
	s.ready = append(s.ready, p)
	bell := s.bell
	s.mu.Unlock()
	if bell != nil {
		bell.Ring()
	}
}

func (s *sourceStage) Poll(b *Batch) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	n := 0
	for len(s.ready) > 0 && b.Room() > 0 {
		p := s.ready[0]
		s.ready = s.ready[1:]
		p.Forward(1)
		b.Add(p)
		n++
	}
	return n
}

func (s *sourceStage) Arm(b *Bell) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ready) > 0 {
		return false
	}
	s.bell = b
	return true
}

func (s *sourceStage) Disarm() {
	s.mu.Lock()
	s.bell = nil
	s.mu.Unlock()
}

// TestLoopSource: a Source stage's own packets wake a sleeping loop and are
// sent with the verdicts Poll gave them.
func TestLoopSource(t *testing.T) {
	pool := newTestPool(t, 16)
	a := &chanPort{pool: pool}
	b := &chanPort{pool: pool}
	s := &sourceStage{}
	l := &Loop{Ports: []Port{a, b}, Stage: s, Pool: pool}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	time.Sleep(100 * time.Millisecond) // asleep by now
	woke := l.Wakeups()
	s.inject(packetWith(t, pool, 6, 60))
	deadline := time.Now().Add(5 * time.Second)
	for b.sent() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if b.sent() != 1 {
		t.Fatal("the stage's packet did not wake the idle loop")
	}
	if l.Wakeups() == woke {
		t.Error("no wakeup counted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

// drainStage says goodbye: Drain readies packets (later, from another
// goroutine, as a control plane would) that the stopping loop must still
// send.
type drainStage struct {
	sourceStage
	pool *Pool
	t    *testing.T
}

func (s *drainStage) Drain() {
	go func() {
		for range 3 {
			time.Sleep(time.Millisecond)
			s.inject(packetWith(s.t, s.pool, 6, 60))
		}
	}()
}

// TestLoopDrain: a stopping loop sends what a Drainer's source gives after
// Drain, then returns.
func TestLoopDrain(t *testing.T) {
	pool := newTestPool(t, 16)
	a := &chanPort{pool: pool}
	b := &chanPort{pool: pool}
	s := &drainStage{pool: pool, t: t}
	l := &Loop{Ports: []Port{a, b}, Stage: s, Pool: pool}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	stopped := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %v (DrainFor %v)", time.Since(stopped).Round(time.Millisecond), DrainFor)
	if b.sent() != 3 {
		t.Errorf("%d of the 3 last packets sent", b.sent())
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}
