package afxdp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// bridge is the test topology of a two-port appliance: hosts in namespaces
// h1 and h2, each joined by a veth pair to the appliance's namespace fwd,
// where an AF_XDP port on each appliance-side end (and so the XDP program)
// feeds a dataplane.Loop running the pass-through stage:
//
//	h1: host1 ══ veth ══ app1 ─┐ fwd: Loop(pass-through) ┌─ app2 ══ veth ══ host2 :h2
type bridge struct {
	fwd, h1, h2  string
	app1, app2   veth
	host1, host2 veth
	pool         *dataplane.Pool
	p1, p2       *Port
	loop         *dataplane.Loop
	stats        *dataplane.Stats
	stop         func()
	err          atomic.Pointer[error] // what Run returned, once it has
}

// loopErr is what the loop's Run returned, nil while it runs.
func (br *bridge) loopErr() error {
	if p := br.err.Load(); p != nil {
		return *p
	}
	return nil
}

func newBridge(t *testing.T, mode XDPMode) *bridge {
	t.Helper()
	br := &bridge{fwd: newNetns(t), h1: newNetns(t), h2: newNetns(t)}
	br.app1, br.host1 = newVeth(t, br.fwd, br.h1)
	br.app2, br.host2 = newVeth(t, br.fwd, br.h2)
	// The hosts' stacks must hand the veth whole frames with finished
	// checksums (see the package doc); the appliance's ends must not
	// merge packets (GRO) before generic XDP sees them.
	br.host1.hostOffloadsOff(t)
	br.host2.hostOffloadsOff(t)
	br.app1.setOffload(t, ethtoolGRO, false)
	br.app2.setOffload(t, ethtoolGRO, false)

	br.pool = nettest.NewPool(t, 8192)
	br.p1 = openIn(t, br.app1, Config{Name: "lan", Pool: br.pool, XDP: mode})
	br.p2 = openIn(t, br.app2, Config{Name: "wan", Pool: br.pool, XDP: mode})
	stage, err := appliance.PassThrough(nil, &appliance.Env{Ports: 2})
	if err != nil {
		t.Fatal(err)
	}
	br.stats = dataplane.NewStats("lan", "wan")
	br.loop = &dataplane.Loop{Ports: []dataplane.Port{br.p1, br.p2}, Stage: stage, Pool: br.pool, Stats: br.stats}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		err := br.loop.Run(ctx)
		br.err.Store(&err)
		close(done)
	}()
	stopped := false
	br.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
			if err := br.loopErr(); err != nil && !errors.Is(err, ErrUnbound) {
				t.Errorf("loop: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("loop did not stop")
		}
	}
	t.Cleanup(br.stop) // before the ports' Close: cleanups run last first
	return br
}

// finish stops the loop, closes the ports and checks that the interfaces
// are as they were found and every frame is back.
func (br *bridge) finish(t *testing.T) {
	t.Helper()
	br.stop()
	t.Logf("lan kernel: %+v", kstats(br.p1))
	t.Logf("wan kernel: %+v", kstats(br.p2))
	t.Logf("lan: %+v", br.p1.Counters())
	t.Logf("wan: %+v", br.p2.Counters())
	t.Logf("drops: %v", br.stats.Drops())
	for _, p := range []*Port{br.p1, br.p2} {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}
	for _, v := range []veth{br.app1, br.app2} {
		if v.xdpAttached(t) {
			t.Errorf("%s: XDP program still attached after Close", v.name)
		}
	}
	if err := br.pool.CheckAllReturned(); err != nil {
		t.Error(err)
	}
}

// TestEndToEnd bridges two Linux hosts through the appliance: ping, then a
// TCP transfer whose checksum must arrive intact.
func TestEndToEnd(t *testing.T) {
	needPing(t)
	for _, mode := range []XDPMode{XDPNative, XDPGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			br := newBridge(t, mode)
			t.Logf("modes: lan %v, wan %v", br.p1.Mode(), br.p2.Mode())
			nettest.IP(t, "-n", br.h1, "addr", "add", "10.77.0.1/24", "dev", br.host1.name)
			nettest.IP(t, "-n", br.h2, "addr", "add", "10.77.0.2/24", "dev", br.host2.name)
			to := netip.MustParseAddr("10.77.0.2")
			nettest.Ping(t, br.h1, to, 3)
			nettest.TCPTransfer(t, br.h1, br.h2, to, 4<<20, 60*time.Second)
			br.finish(t)
		})
	}
}

// TestIdleSleeps: a loop over idle AF_XDP ports sleeps in the kernel — it
// neither wakes nor burns CPU — and a packet wakes it.
func TestIdleSleeps(t *testing.T) {
	br := newBridge(t, XDPAuto)
	raw1 := nettest.OpenRaw(t, br.host1.ns, br.host1.name)
	raw2 := nettest.OpenRaw(t, br.host2.ns, br.host2.name)
	time.Sleep(200 * time.Millisecond) // past the loop's start-up spin

	w0, cpu0 := br.loop.Wakeups(), nettest.CPUTime()
	time.Sleep(time.Second)
	w1, cpu1 := br.loop.Wakeups(), nettest.CPUTime()
	t.Logf("idle second: %d wakeups, %v CPU", w1-w0, cpu1-cpu0)
	if w1-w0 > 2 {
		t.Errorf("idle loop woke %d times in a second", w1-w0)
	}
	if cpu1-cpu0 > 100*time.Millisecond {
		t.Errorf("idle loop used %v of CPU in a second", cpu1-cpu0)
	}

	// A packet wakes it, and crosses.
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f := testFrame(bcast, br.host1.mac(t), 1, 100)
	start := time.Now()
	if err := raw1.Send(f); err != nil {
		t.Fatal(err)
	}
	if got := expectTestFrame(raw2, 3*time.Second); !bytes.Equal(got, f) {
		t.Fatalf("frame did not cross the sleeping loop: got %x", got)
	}
	t.Logf("a frame woke the loop and crossed in %v", time.Since(start))
	if w := br.loop.Wakeups(); w == w1 {
		t.Error("the frame crossed without the loop waking")
	}
	br.finish(t)
}

// TestZeroAllocs: sending and receiving a burst, and arming the port
// between bursts, allocates nothing.
func TestZeroAllocs(t *testing.T) {
	ns := newNetns(t)
	a, z := newVeth(t, ns, ns)
	pool := nettest.NewPool(t, 4096)
	pa := openIn(t, a, Config{Pool: pool, RingSize: 512})
	pz := openIn(t, z, Config{Pool: pool, RingSize: 512})
	const burst = 32
	hdr := testFrame(z.mac(t), a.mac(t), 0, 14)
	tx, rx := dataplane.NewBatch(burst), dataplane.NewBatch(64)
	bell := dataplane.NewBell()
	lost := 0
	step := func() {
		pool.GetN(tx, burst)
		for i := range tx.Pkts {
			tx.Pkts[i].SetLen(64)
			copy(tx.Pkts[i].Data(), hdr)
		}
		pa.Send(tx)
		got := 0
		for try := 0; got < burst && try < 100000; try++ {
			n, _ := pz.Recv(rx)
			got += n
			pool.PutBatch(rx)
		}
		lost += burst - got
		// An idle port arms and disarms between bursts.
		if pz.Arm(bell) {
			pz.Disarm()
		}
	}
	for range 100 {
		step()
	}
	if allocs := testing.AllocsPerRun(500, step); allocs != 0 {
		t.Errorf("%v allocations per burst of %d", allocs, burst)
	}
	if lost != 0 {
		t.Errorf("%d packets lost", lost)
	}
}

// TestInterfaceRemoved: when the interface of a port goes away under a
// sleeping loop, the loop stops with ErrUnbound once it wakes (here on
// traffic through the other port), and Close still returns every frame.
func TestInterfaceRemoved(t *testing.T) {
	br := newBridge(t, XDPAuto)
	raw2 := nettest.OpenRaw(t, br.host2.ns, br.host2.name)
	time.Sleep(100 * time.Millisecond) // let the loop fall asleep
	nettest.IP(t, "-n", br.h1, "link", "del", br.host1.name)
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if err := raw2.Send(testFrame(bcast, br.host2.mac(t), 1, 100)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for br.loopErr() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := br.loopErr(); !errors.Is(err, ErrUnbound) {
		t.Fatalf("loop returned %v, want ErrUnbound", err)
	}
	br.finish(t)
}
