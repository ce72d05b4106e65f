package afxdp

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// The benchmarks move 64-byte frames over veth pairs in a namespace of
// their own; one op is one packet, and Mpps is the headline. All run the
// kernel's side of AF_XDP (XDP, the copy into or out of the frame, veth)
// as well as the port's, so they measure what an appliance on veth gets.
//
//	tx:     port A sends; the kernel behind the peer drops the frames.
//	rx+tx:  port A sends to port Z on the peer, one goroutine doing both.
//	fwd:    a generator port sends through a Loop running the pass-through
//	        stage between two ports, to a sink port; the loop on its own
//	        goroutine, generator and sink on the benchmark's.
func BenchmarkVeth(b *testing.B) {
	for _, mode := range []XDPMode{XDPNative, XDPGeneric} {
		b.Run("tx/64B/"+mode.String(), func(b *testing.B) { benchTx(b, mode) })
		b.Run("rx+tx/64B/"+mode.String(), func(b *testing.B) { benchRxTx(b, mode) })
		b.Run("fwd/64B/"+mode.String(), func(b *testing.B) { benchForward(b, mode) })
	}
}

const benchBurst = 64

// reportMpps reports packets per second of wall time, and per second of
// the process's CPU time (kernel work done in its syscalls and softirqs
// included) since cpu0: on a shared machine the wall clock measures the
// neighbours too.
func reportMpps(b *testing.B, packets uint64, cpu0 time.Duration) {
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds()/1e6, "Mpps")
	if cpu := nettest.CPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(packets)/cpu.Seconds()/1e6, "Mpps/cpu")
	}
}

// sendBurst sends a burst of 64-byte frames with header hdr from p, and
// returns how many the port took.
func sendBurst(pool *dataplane.Pool, p *Port, tx *dataplane.Batch, hdr []byte) int {
	pool.GetN(tx, benchBurst)
	for i := range tx.Pkts {
		tx.Pkts[i].SetLen(64)
		copy(tx.Pkts[i].Data(), hdr)
	}
	n, _ := p.Send(tx)
	return n
}

func benchTx(b *testing.B, mode XDPMode) {
	ns := newNetns(b)
	a, z := newVeth(b, ns, ns)
	pool := nettest.NewPool(b, 8192)
	pa := openIn(b, a, Config{Pool: pool, XDP: mode})
	hdr := testFrame(z.mac(b), a.mac(b), 0, 14)
	tx := dataplane.NewBatch(benchBurst)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := nettest.CPUTime()
	for sent := 0; sent < b.N; {
		sent += sendBurst(pool, pa, tx, hdr)
	}
	b.StopTimer()
	reportMpps(b, pa.Counters().Sent, cpu0)
	b.ReportMetric(float64(pa.Counters().TxFull)/float64(b.N), "txfull/op")
}

func benchRxTx(b *testing.B, mode XDPMode) {
	ns := newNetns(b)
	a, z := newVeth(b, ns, ns)
	pool := nettest.NewPool(b, 8192)
	pa := openIn(b, a, Config{Pool: pool, XDP: mode})
	pz := openIn(b, z, Config{Pool: pool, XDP: mode})
	hdr := testFrame(z.mac(b), a.mac(b), 0, 14)
	tx, rx := dataplane.NewBatch(benchBurst), dataplane.NewBatch(benchBurst)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := nettest.CPUTime()
	got := 0
	for idle := 0; got < b.N && idle < 1000; {
		sendBurst(pool, pa, tx, hdr)
		n, _ := pz.Recv(rx)
		pool.PutBatch(rx)
		got += n
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	b.StopTimer()
	reportMpps(b, uint64(got), cpu0)
	b.ReportMetric(float64(pa.Counters().Sent-uint64(got))/float64(max(got, 1)), "lost/op")
}

func benchForward(b *testing.B, mode XDPMode) {
	fwd, ends := newNetns(b), newNetns(b)
	app1, gen := newVeth(b, fwd, ends)
	app2, sink := newVeth(b, fwd, ends)
	pool := nettest.NewPool(b, 16384)
	p1 := openIn(b, app1, Config{Pool: pool, XDP: mode})
	p2 := openIn(b, app2, Config{Pool: pool, XDP: mode})
	pg := openIn(b, gen, Config{Pool: pool, XDP: mode})
	ps := openIn(b, sink, Config{Pool: pool, XDP: mode})
	stage, err := appliance.PassThrough(nil, &appliance.Env{Ports: 2})
	if err != nil {
		b.Fatal(err)
	}
	loop := &dataplane.Loop{Ports: []dataplane.Port{p1, p2}, Stage: stage, Pool: pool}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- loop.Run(ctx)
	}()
	b.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			b.Error("loop did not stop")
		}
	})
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	hdr := testFrame(bcast, gen.mac(b), 0, 14)
	tx, rx := dataplane.NewBatch(benchBurst), dataplane.NewBatch(benchBurst)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := nettest.CPUTime()
	got, written := 0, 0 // written: packets given up as lost
	last := time.Now()   // when the sink last received
	for i := 0; got < b.N; i++ {
		// Keep a window of packets in flight, so the generator offers
		// what the appliance forwards rather than flooding it; a window
		// that stalls for 20ms (its packets were lost) is
		// written off.
		sent := int(pg.Counters().Sent)
		if sent-got-written < 4*benchBurst {
			sendBurst(pool, pg, tx, hdr)
		} else if i%256 == 0 {
			if d := time.Since(last); d > 2*time.Second {
				break
			} else if d > 20*time.Millisecond {
				written = sent - got
			}
		}
		n, _ := ps.Recv(rx)
		pool.PutBatch(rx)
		if n > 0 {
			got += n
			last = time.Now()
		}
	}
	if got < b.N {
		for _, p := range []*Port{pg, p1, p2, ps} {
			b.Logf("%s: %+v, %d frames in the kernel, kernel %+v", p.Interface(), p.Counters(), p.FramesInKernel(), kstats(p))
		}
		b.Logf("pool in use %d of %d; loop wakeups %d", pool.InUse(), pool.Size(), loop.Wakeups())
		b.Fatalf("the sink stopped receiving after %d of %d packets", got, b.N)
	}
	b.StopTimer()
	reportMpps(b, uint64(got), cpu0)
	b.ReportMetric(float64(pg.Counters().Sent-uint64(got))/float64(max(got, 1)), "lost/op")
	b.ReportMetric(float64(loop.Wakeups())/float64(max(got, 1)), "sleeps/op")
}
