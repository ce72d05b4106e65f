package nettest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"golang.org/x/sys/unix"
)

// NewPool makes a pool of n default frames that must have every frame
// back when the test ends (after the cleanups registered later, such as
// the ports' Close, have run).
func NewPool(t testing.TB, n int) *dataplane.Pool {
	t.Helper()
	pool, err := dataplane.NewMemPool(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pool.CheckAllReturned(); err != nil {
			t.Error(err)
		}
		pool.Region().Close()
	})
	return pool
}

// RecvFrames receives from p until n packets have arrived or timeout
// passes, and returns copies of them; it frees the frames.
func RecvFrames(t testing.TB, p dataplane.Port, pool *dataplane.Pool, n int, timeout time.Duration) [][]byte {
	t.Helper()
	b := dataplane.NewBatch(64)
	var frames [][]byte
	deadline := time.Now().Add(timeout)
	for len(frames) < n && time.Now().Before(deadline) {
		if _, err := p.Recv(b); err != nil {
			t.Fatal(err)
		}
		if b.Len() == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		for i := range b.Pkts {
			frames = append(frames, append([]byte(nil), b.Pkts[i].Data()...))
		}
		pool.PutBatch(b)
	}
	return frames
}

// SendFrames sends frames through p in one batch, each copied into a
// frame of the pool, and fails t unless all are sent.
func SendFrames(t testing.TB, p dataplane.Port, pool *dataplane.Pool, frames ...[]byte) {
	t.Helper()
	b := dataplane.NewBatch(len(frames))
	for _, f := range frames {
		pk, ok := pool.Get()
		if !ok {
			t.Fatal("pool empty")
		}
		pk.SetLen(len(f))
		copy(pk.Data(), f)
		b.Add(pk)
	}
	n, err := p.Send(b)
	if err != nil || n != len(frames) {
		t.Fatalf("Send: %d of %d, %v", n, len(frames), err)
	}
	if b.Len() != 0 {
		t.Fatal("Send left packets in the batch")
	}
}

// CPUTime is the CPU time (user and system) the process has used so far.
// Benchmarks report packets per CPU-second beside packets per second: on a
// shared machine the wall clock measures the neighbours too.
func CPUTime() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RunLoop runs a loop with the pass-through stage (port 0 <-> port 1)
// until the test ends, then stops it and closes the ports.
func RunLoop(t testing.TB, pool *dataplane.Pool, ports ...dataplane.Port) *dataplane.Loop {
	t.Helper()
	stage, err := appliance.PassThrough(nil, &appliance.Env{Ports: len(ports)})
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(ports))
	for i := range names {
		names[i] = "port" + string(rune('0'+i))
	}
	l := &dataplane.Loop{Ports: ports, Stage: stage, Pool: pool, Stats: dataplane.NewStats(names...)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := l.Run(ctx); err != nil {
			t.Errorf("loop: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, p := range ports {
			if err := p.Close(); err != nil {
				t.Error(err)
			}
		}
		for i, ps := range l.Stats.Ports {
			t.Logf("port %d: rx %d tx %d tx-dropped %d", i, ps.RxPackets.Load(), ps.TxPackets.Load(), ps.TxDropped.Load())
		}
		for _, d := range l.Stats.Drops() {
			t.Logf("loop drops: %s %d", d.Name, d.Count)
		}
	})
	return l
}
