package tap

import (
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// BenchmarkSendRecv writes 64-byte frames (60 bytes and the FCS a wire
// would add) to one TAP device, which Linux routes out of another, and
// reads them there, on this goroutine: the host's forwarding is in the
// figure (the TAP write runs it). Mpps counts what came back, per second
// and per CPU-second of the process.
func BenchmarkSendRecv(b *testing.B) {
	pool := nettest.NewPool(b, 4096)
	in, out, frame := forwarder(b, pool, Config{})
	f := frame(1, 60)
	tx, rx := dataplane.NewBatch(64), dataplane.NewBatch(64)
	sent, got := 0, 0
	drain := func() {
		for {
			out.Recv(rx)
			n := rx.Len()
			got += n
			pool.PutBatch(rx)
			if n == 0 {
				return
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := nettest.CPUTime()
	for sent < b.N {
		pool.GetN(tx, min(64, b.N-sent))
		for i := range tx.Pkts {
			tx.Pkts[i].SetLen(len(f))
			copy(tx.Pkts[i].Data(), f)
		}
		n, _ := in.Send(tx)
		sent += n
		drain()
	}
	for end := time.Now().Add(20 * time.Millisecond); got < sent && time.Now().Before(end); {
		drain()
	}
	b.StopTimer()
	b.ReportMetric(float64(got)/b.Elapsed().Seconds()/1e6, "Mpps")
	b.ReportMetric(float64(got)/(nettest.CPUTime()-cpu0).Seconds()/1e6, "Mpps/cpu")
	b.ReportMetric(100*float64(b.N-got)/float64(b.N), "%loss")
}

// BenchmarkSend writes 64-byte frames to a TAP device whose host side
// drops them at once (they are not addressed to it): the write path alone.
func BenchmarkSend(b *testing.B) {
	ns := nettest.Netns(b, "nfv-tap")
	pool := nettest.NewPool(b, 4096)
	p := open1(b, ns, Config{Name: "t0", Pool: pool, Up: true})
	f := testFrame(1, 0, 60)
	tx := dataplane.NewBatch(64)
	sent := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := nettest.CPUTime()
	for sent < b.N {
		pool.GetN(tx, min(64, b.N-sent))
		for i := range tx.Pkts {
			tx.Pkts[i].SetLen(len(f))
			copy(tx.Pkts[i].Data(), f)
		}
		n, err := p.Send(tx)
		if err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	b.StopTimer()
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds()/1e6, "Mpps")
	b.ReportMetric(float64(sent)/(nettest.CPUTime()-cpu0).Seconds()/1e6, "Mpps/cpu")
}
