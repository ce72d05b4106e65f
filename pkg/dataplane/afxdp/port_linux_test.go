package afxdp

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// portSizes are frame lengths exercised in both directions: the Ethernet
// minimum, odd sizes, and a full 1500-byte MTU frame.
var portSizes = []int{60, 64, 65, 127, 500, 1024, 1514}

// recvN receives until n packets arrived or the deadline passed.
func recvN(t testing.TB, p *Port, b *dataplane.Batch, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for b.Len() < n && time.Now().Before(deadline) {
		if _, err := p.Recv(b); err != nil {
			t.Fatal(err)
		}
		if b.Len() < n {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

func TestRecvFromLinux(t *testing.T) {
	for _, mode := range []XDPMode{XDPNative, XDPGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			app, host := newVeth(t, newNetns(t), newNetns(t))
			pool := nettest.NewPool(t, 4096)
			port := openIn(t, app, Config{Pool: pool, XDP: mode, RingSize: 256})
			t.Logf("mode: %v", port.Mode())
			if got := port.Mode().XDP; got != mode {
				t.Fatalf("XDP mode %v, asked %v", got, mode)
			}
			if !app.xdpAttached(t) {
				t.Fatal("ip link shows no XDP program on the port's interface")
			}
			raw := nettest.OpenRaw(t, host.ns, host.name)
			dst, src := app.mac(t), host.mac(t)
			var sent [][]byte
			for i, n := range portSizes {
				f := testFrame(dst, src, i, n)
				if err := raw.Send(f); err != nil {
					t.Fatal(err)
				}
				sent = append(sent, f)
			}
			b := dataplane.NewBatch(64)
			recvN(t, port, b, len(sent), 5*time.Second)
			if b.Len() != len(sent) {
				t.Fatalf("received %d frames, sent %d; kernel stats %+v", b.Len(), len(sent), kstats(port))
			}
			for i := range b.Pkts {
				pk := &b.Pkts[i]
				if !bytes.Equal(pk.Data(), sent[i]) {
					t.Errorf("frame %d: got %d bytes %x..., sent %d bytes %x...", i, pk.Len(), head(pk.Data()), len(sent[i]), head(sent[i]))
				}
				if pk.Headroom() < pool.Region().Headroom() {
					t.Errorf("frame %d: headroom %d, region promises %d", i, pk.Headroom(), pool.Region().Headroom())
				}
			}
			pool.PutBatch(b)
			if err := port.Close(); err != nil {
				t.Fatal(err)
			}
			if app.xdpAttached(t) {
				t.Error("XDP program still attached after Close")
			}
			if err := pool.CheckAllReturned(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSendToLinux(t *testing.T) {
	app, host := newVeth(t, newNetns(t), newNetns(t))
	pool := nettest.NewPool(t, 4096)
	port := openIn(t, app, Config{Pool: pool, RingSize: 256})
	raw := nettest.OpenRaw(t, host.ns, host.name)
	dst, src := host.mac(t), app.mac(t)
	var sent [][]byte
	for i, n := range portSizes {
		sent = append(sent, testFrame(dst, src, i, n))
	}
	nettest.SendFrames(t, port, pool, sent...)
	for i, want := range sent {
		got := expectTestFrame(raw, 5*time.Second)
		if got == nil {
			t.Fatalf("frame %d did not arrive; counters %+v", i, port.Counters())
		}
		if !bytes.Equal(got, want) {
			t.Errorf("frame %d: got %d bytes %x..., sent %d bytes %x...", i, len(got), head(got), len(want), head(want))
		}
	}
	// The completions come back to the pool on the next call.
	b := dataplane.NewBatch(64)
	deadline := time.Now().Add(2 * time.Second)
	for port.Counters().Completed < uint64(len(sent)) && time.Now().Before(deadline) {
		port.Recv(b)
		pool.PutBatch(b)
		time.Sleep(time.Millisecond)
	}
	if c := port.Counters(); c.Completed != uint64(len(sent)) || c.Sent != uint64(len(sent)) {
		t.Errorf("counters %+v, want %d sent and completed", c, len(sent))
	}
}

// TestSendFreesWhatDoesNotFit: the port owns what Send is given, placed or
// not; a zero-length packet (the kernel would keep its frame) and what
// follows it are freed, and so is what finds the ring full.
func TestSendFreesWhatDoesNotFit(t *testing.T) {
	app, host := newVeth(t, newNetns(t), newNetns(t))
	pool := nettest.NewPool(t, 1024)
	port := openIn(t, app, Config{Pool: pool, RingSize: 64})
	dst, src := host.mac(t), app.mac(t)
	fill := func(b *dataplane.Batch, n int) {
		for range n {
			pk, _ := pool.Get()
			pk.SetLen(60)
			copy(pk.Data(), testFrame(dst, src, 0, 60))
			b.Add(pk)
		}
	}
	inUse := pool.InUse() // the fill ring's frames
	b := dataplane.NewBatch(256)
	fill(b, 3)
	b.Pkts[1].SetLen(0)
	if n, _ := port.Send(b); n != 1 {
		t.Errorf("Send with an empty packet second = %d, want 1", n)
	}
	fill(b, 200) // more than the ring holds
	n, _ := port.Send(b)
	if n == 0 || n > 64 {
		t.Errorf("Send of 200 on a 64-entry ring = %d", n)
	}
	c := port.Counters()
	if c.TxEmpty != 2 || c.TxFull != uint64(200-n) {
		t.Errorf("counters %+v; want TxEmpty 2, TxFull %d", c, 200-n)
	}
	// Everything sent comes back.
	deadline := time.Now().Add(2 * time.Second)
	for pool.InUse() > inUse && time.Now().Before(deadline) {
		port.Recv(b)
		pool.PutBatch(b)
		time.Sleep(time.Millisecond)
	}
	if pool.InUse() != inUse {
		t.Errorf("%d frames in use, want %d (the fill ring's)", pool.InUse(), inUse)
	}
}

// TestCloseReturnsEveryFrame closes a port while the kernel holds frames
// of every kind: on the fill ring, received but not taken, and sent.
func TestCloseReturnsEveryFrame(t *testing.T) {
	app, host := newVeth(t, newNetns(t), newNetns(t))
	pool := nettest.NewPool(t, 2048)
	port, err := openErr(app, Config{Pool: pool, RingSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	raw := nettest.OpenRaw(t, host.ns, host.name)
	dst, src := app.mac(t), host.mac(t)
	for i := range 20 {
		if err := raw.Send(testFrame(dst, src, i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	b := dataplane.NewBatch(64)
	for range 20 {
		pk, _ := pool.Get()
		pk.SetLen(100)
		copy(pk.Data(), testFrame(src, dst, 0, 100))
		b.Add(pk)
	}
	port.Send(b)
	// Let the received frames land on the RX ring, untaken.
	deadline := time.Now().Add(2 * time.Second)
	for port.sock.rx.available(64) < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	t.Logf("frames in the kernel at Close: %d", port.FramesInKernel())
	if err := port.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Error(err)
	}
	if _, err := port.Recv(b); err != dataplane.ErrClosed {
		t.Errorf("Recv after Close: %v, want ErrClosed", err)
	}
	if err := port.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestReopen: Close leaves the interface as it found it — no program — and
// the queue free for the next Open.
func TestReopen(t *testing.T) {
	app, _ := newVeth(t, newNetns(t), newNetns(t))
	pool := nettest.NewPool(t, 1024)
	for i := range 3 {
		p, err := openErr(app, Config{Pool: pool, RingSize: 128})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if !app.xdpAttached(t) {
			t.Fatalf("open %d: no XDP program attached", i)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
		if app.xdpAttached(t) {
			t.Fatalf("close %d: XDP program left attached", i)
		}
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Error(err)
	}
}

// TestModes opens a port in each mode asked explicitly. veth has native
// XDP and no zero-copy.
func TestModes(t *testing.T) {
	app, _ := newVeth(t, newNetns(t), newNetns(t))
	pool := nettest.NewPool(t, 1024)
	for _, c := range []Config{
		{XDP: XDPAuto, Bind: BindAuto},
		{XDP: XDPNative, Bind: BindCopy},
		{XDP: XDPGeneric, Bind: BindCopy},
		{XDP: XDPAuto, Bind: BindZeroCopy},
	} {
		c.Pool, c.RingSize = pool, 128
		p, err := openErr(app, c)
		if err != nil {
			t.Logf("xdp %v, bind %v: %v", c.XDP, c.Bind, err)
			if c.Bind != BindZeroCopy {
				t.Errorf("xdp %v, bind %v: %v", c.XDP, c.Bind, err)
			}
			continue
		}
		t.Logf("xdp %v, bind %v: %v", c.XDP, c.Bind, p.Mode())
		if c.XDP != XDPAuto && p.Mode().XDP != c.XDP {
			t.Errorf("asked xdp %v, got %v", c.XDP, p.Mode())
		}
		if c.Bind == BindCopy && p.Mode().ZeroCopy || c.Bind == BindZeroCopy && !p.Mode().ZeroCopy {
			t.Errorf("asked bind %v, got %v", c.Bind, p.Mode())
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if app.xdpAttached(t) {
		t.Error("XDP program left attached")
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Error(err)
	}
}

// TestSharedUMEM: the second port on a Region shares the first one's
// kernel UMEM, and the same queue cannot be opened twice.
func TestSharedUMEM(t *testing.T) {
	ns := newNetns(t)
	a1, _ := newVeth(t, ns, newNetns(t))
	a2, _ := newVeth(t, ns, newNetns(t))
	pool := nettest.NewPool(t, 2048)
	p1 := openIn(t, a1, Config{Pool: pool, RingSize: 128})
	p2 := openIn(t, a2, Config{Pool: pool, RingSize: 128})
	t.Logf("%s: %v; %s: %v", a1.name, p1.Mode(), a2.name, p2.Mode())
	if p1.Mode().SharedUMEM || !p2.Mode().SharedUMEM {
		t.Errorf("shared umem: first %v, second %v; want false, true", p1.Mode().SharedUMEM, p2.Mode().SharedUMEM)
	}
	_, err := openErr(a1, Config{Pool: pool, RingSize: 128})
	if err == nil || !strings.Contains(err.Error(), "already open") {
		t.Errorf("opening a queue twice: %v", err)
	}
}

func TestOpenRefusesAnotherProgram(t *testing.T) {
	app, _ := newVeth(t, newNetns(t), newNetns(t))
	pool := nettest.NewPool(t, 1024)
	other := attachOther(t, app)
	_, err := openErr(app, Config{Pool: pool, RingSize: 128})
	if err == nil || !strings.Contains(err.Error(), "already has an XDP program") {
		t.Errorf("Open over another program: %v", err)
	}
	other()
	if app.xdpAttached(t) {
		t.Error("the other program was not detached")
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Error(err)
	}
}

func TestConfigErrors(t *testing.T) {
	small, err := dataplane.NewRegion(16, 1024, 128)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	pool, err := dataplane.NewMemPool(16)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Region().Close()
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no interface", Config{Pool: pool}, "Interface is required"},
		{"no pool", Config{Interface: "lo"}, "Pool is required"},
		{"small frames", Config{Interface: "lo", Pool: dataplane.NewPool(small)}, "frames of 1024 bytes"},
		{"ring size", Config{Interface: "lo", Pool: pool, RingSize: 100}, "ring size 100"},
		{"queue", Config{Interface: "lo", Pool: pool, Queue: -1}, "queue -1"},
	} {
		if _, err := Open(tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// attachOther attaches a program of someone else's (XDP_PASS) to v and
// returns the function that detaches it.
func attachOther(t testing.TB, v veth) func() {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()},
		License:      "MIT",
	})
	if err != nil {
		t.Fatal(err)
	}
	var l link.Link
	nettest.MustDo(t, v.ns, func() error {
		ifi, err := net.InterfaceByName(v.name)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index, Flags: link.XDPGenericMode})
		return err
	})
	return func() { l.Close(); prog.Close() }
}

func kstats(p *Port) any {
	s, err := p.KernelStats()
	if err != nil {
		return err
	}
	return s
}

func head(b []byte) []byte { return b[:min(len(b), 20)] }

// TestEdgeDrops: what the kernel drops because the port did not keep up —
// the RX ring full, then the fill ring empty — is counted under the port's
// drop reasons.
func TestEdgeDrops(t *testing.T) {
	app, host := newVeth(t, newNetns(t), newNetns(t))
	pool := nettest.NewPool(t, 1024)
	stats := dataplane.NewStats("lan")
	port := openIn(t, app, Config{Pool: pool, Stats: stats, RingSize: 64})
	if got, want := port.HardwareAddr(), app.mac(t); !bytes.Equal(got[:], want) {
		t.Errorf("HardwareAddr %x, want %x", got, want)
	}
	var queues int
	nettest.MustDo(t, app.ns, func() (err error) { queues, err = Queues(app.name); return err })
	if queues < 1 {
		t.Errorf("Queues = %d", queues)
	}
	raw := nettest.OpenRaw(t, host.ns, host.name)
	dst, src := app.mac(t), host.mac(t)
	const sent = 300
	for i := range sent {
		if err := raw.Send(testFrame(dst, src, i, 60)); err != nil {
			t.Fatal(err)
		}
	}
	got := len(nettest.RecvFrames(t, port, pool, sent, time.Second))
	ks, err := port.KernelStats()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]uint64{}
	for _, d := range stats.Drops() {
		counted[d.Name] = d.Count
	}
	t.Logf("received %d of %d; kernel %+v; counted %v", got, sent, ks, counted)
	dropped := counted[ReasonXSKNoFrame.String()] + counted[ReasonXSKRingFull.String()]
	if got == sent || dropped == 0 || uint64(got)+dropped != sent {
		t.Errorf("received %d + counted drops %d, want fewer than %d received and the rest counted", got, dropped, sent)
	}
}
