package mem

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// BenchmarkMemPort moves 64-byte packets from A to B: take a burst of
// frames from the pool, Send on A, Recv on B, put them back. One op is one
// packet. The sub-benchmarks vary the burst, the suppression scheme, and
// run the two ends on one goroutine or two.
func BenchmarkMemPort(b *testing.B) {
	for _, burst := range []int{32, 64, 256} {
		b.Run(fmt.Sprintf("burst=%d", burst), func(b *testing.B) {
			benchOneGoroutine(b, Config{Burst: burst})
		})
	}
	b.Run("burst=64/flags", func(b *testing.B) {
		benchOneGoroutine(b, Config{Burst: 64, NoEventIdx: true})
	})
	for _, burst := range []int{64, 256} {
		b.Run(fmt.Sprintf("goroutines=2/burst=%d", burst), func(b *testing.B) {
			benchTwoGoroutines(b, Config{Burst: burst})
		})
	}
}

func benchPair(b *testing.B, cfg Config) (*dataplane.Pool, *Port, *Port) {
	cfg.QueueSize = max(256, 2*cfg.Burst)
	pool := newPool(b, 4*cfg.QueueSize)
	a, z, err := New(pool, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { closeBoth(b, pool, a, z) })
	return pool, a, z
}

func reportMpps(b *testing.B, packets int) {
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds()/1e6, "Mpps")
}

func benchOneGoroutine(b *testing.B, cfg Config) {
	pool, a, z := benchPair(b, cfg)
	tx, rx := dataplane.NewBatch(cfg.Burst), dataplane.NewBatch(cfg.Burst)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPU()
	got := 0
	for got < b.N {
		pool.GetN(tx, cfg.Burst)
		for i := range tx.Pkts {
			tx.Pkts[i].SetLen(64)
		}
		a.Send(tx)
		n, _ := z.Recv(rx)
		got += n
		pool.PutBatch(rx)
	}
	b.StopTimer()
	reportMpps(b, got)
	// On a shared machine the wall clock counts other processes' time
	// too; the thread's own CPU time says what one core would do.
	if cpu := threadCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(got)/cpu.Seconds()/1e6, "Mpps/cpu")
	}
}

// benchTwoGoroutines sends on A from one goroutine and receives on B on
// another, both busy-polling; the sender sends only what the ring takes,
// so nothing is dropped.
func benchTwoGoroutines(b *testing.B, cfg Config) {
	pool, a, z := benchPair(b, cfg)
	tx, rx := dataplane.NewBatch(cfg.Burst), dataplane.NewBatch(cfg.Burst)
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sent := 0; sent < b.N; {
			k := min(cfg.Burst, b.N-sent, a.TxRoom())
			if k == 0 {
				runtime.Gosched()
				continue
			}
			k = pool.GetN(tx, k)
			for i := range tx.Pkts {
				tx.Pkts[i].SetLen(64)
			}
			n, _ := a.Send(tx)
			sent += n
		}
	}()
	got := 0
	for got < b.N {
		n, _ := z.Recv(rx)
		if n == 0 {
			runtime.Gosched()
			continue
		}
		got += n
		pool.PutBatch(rx)
	}
	b.StopTimer()
	<-done
	reportMpps(b, got)
}
