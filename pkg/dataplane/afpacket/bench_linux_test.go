package afpacket

import (
	"fmt"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// BenchmarkSendRecv sends frames out of a port on one end of a veth pair
// and receives them with a port on the other, both on this goroutine, as
// one worker that forwards would. 64B is a minimum frame (60 bytes and
// the FCS a wire would add). Mpps counts what arrived, per second and per
// second of CPU the process used (the kernel's work in its system calls
// included, what it defers to ksoftirqd not: on a shared machine the wall
// clock measures the neighbours too); loss is the share the kernel
// dropped or that was still in flight at the end.
func BenchmarkSendRecv(b *testing.B) {
	for _, bypass := range []bool{false, true} {
		b.Run(fmt.Sprint("64B/qdisc-bypass=", bypass), func(b *testing.B) {
			benchSendRecv(b, Config{QdiscBypass: bypass}, 60)
		})
	}
	b.Run("1500B", func(b *testing.B) { benchSendRecv(b, Config{}, 1500) })
}

func benchSendRecv(b *testing.B, c Config, size int) {
	ns := vethNS(b)
	pool := nettest.NewPool(b, 4096)
	c.Pool = pool
	c.Interface = "a"
	tx := open(b, ns, c)
	rx := open(b, ns, Config{Interface: "b", Pool: pool})
	frame := testFrame(1, 0, size)
	out, in := dataplane.NewBatch(64), dataplane.NewBatch(64)
	sent, got := 0, 0
	drain := func() {
		for {
			rx.Recv(in)
			n := in.Len()
			got += n
			pool.PutBatch(in)
			if n == 0 {
				return
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := nettest.CPUTime()
	for sent < b.N {
		pool.GetN(out, min(64, b.N-sent))
		for i := range out.Pkts {
			out.Pkts[i].SetLen(len(frame))
			copy(out.Pkts[i].Data(), frame)
		}
		n, _ := tx.Send(out)
		sent += n
		drain()
	}
	// What is in a block the kernel has not handed over yet arrives within
	// the retire timeout.
	for end := time.Now().Add(20 * time.Millisecond); got < sent && time.Now().Before(end); {
		drain()
	}
	b.StopTimer()
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(got)/s/1e6, "Mpps")
	b.ReportMetric(float64(got)/(nettest.CPUTime()-cpu0).Seconds()/1e6, "Mpps/cpu")
	b.ReportMetric(float64(got)*float64(size+4)*8/s/1e9, "Gbit/s")
	b.ReportMetric(100*float64(b.N-got)/float64(b.N), "%loss")
}

// BenchmarkSend sends 64-byte frames into a veth pair whose other end
// nobody reads: the transmit path alone, kernel included (the peer's stack
// drops them early: they are not addressed to it).
func BenchmarkSend(b *testing.B) {
	for _, bypass := range []bool{false, true} {
		b.Run(fmt.Sprint("64B/qdisc-bypass=", bypass), func(b *testing.B) {
			ns := vethNS(b)
			pool := nettest.NewPool(b, 4096)
			tx := open(b, ns, Config{Interface: "a", Pool: pool, QdiscBypass: bypass})
			frame := testFrame(1, 0, 60)
			out := dataplane.NewBatch(64)
			sent := 0
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := nettest.CPUTime()
			for sent < b.N {
				pool.GetN(out, min(64, b.N-sent))
				for i := range out.Pkts {
					out.Pkts[i].SetLen(len(frame))
					copy(out.Pkts[i].Data(), frame)
				}
				n, _ := tx.Send(out)
				sent += n
				if n == 0 {
					time.Sleep(10 * time.Microsecond) // the queue is full: let the kernel drain it
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds()/1e6, "Mpps")
			b.ReportMetric(float64(sent)/(nettest.CPUTime()-cpu0).Seconds()/1e6, "Mpps/cpu")
		})
	}
}
