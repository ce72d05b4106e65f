package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/bench/pktgen"
	"github.com/nfvkit/nfvkit/bench/topo"
	"github.com/nfvkit/nfvkit/internal/testenv"
)

// The test binary is also the generator the tests start in gen's
// namespace, as the e2e program is.
func TestMain(m *testing.M) {
	pktgen.RunIfChild()
	os.Exit(m.Run())
}

func needHost(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "iproute2")
	testenv.NeedCommand(t, "taskset", "util-linux")
}

func nsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// TestSmoke is the harness checked end to end on the kernel: the topology
// comes up, the generator sends exactly N packets through fwd's kernel
// forwarding, a sample at sink is forwarded correctly, sink counts exactly
// N (through rtnetlink, and /sys agrees), and the topology is gone after.
func TestSmoke(t *testing.T) {
	needHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prog, cpus := selfAndCPUs(t)
	tp, err := topo.Up(ctx, topo.NewPrefix())
	if err != nil {
		t.Fatal(err)
	}
	names := []string{tp.Gen.Name, tp.Fwd.Name, tp.Sink.Name}
	t.Cleanup(func() {
		if err := tp.Down(context.Background()); err != nil {
			t.Errorf("Down: %v", err)
		}
		for _, n := range names {
			if nsExists(n) {
				t.Errorf("namespace %s still exists after Down", n)
			}
		}
	})
	if err := tp.KernelForwarding(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		ns   *topo.NS
		name string
		mac  string
	}{{tp.Gen, topo.GenIf, topo.GenMAC.String()}, {tp.Sink, topo.SinkIf, topo.SinkMAC.String()}} {
		info, err := l.ns.Link(l.name)
		if err != nil {
			t.Fatal(err)
		}
		if info.MAC.String() != l.mac || info.MTU != 1500 {
			t.Errorf("%s: MAC %s MTU %d, want %s 1500", l.name, info.MAC, info.MTU, l.mac)
		}
	}

	const n = 20000
	spec := pktgen.Spec{
		SrcMAC: topo.GenMAC, DstMAC: topo.FwdInMAC, Src: topo.GenAddr.Addr(), Dst: topo.Dst,
		SrcPort: genSrcPort, DstPort: genDstPort, Flows: 4, Size: 64, TTL: genTTL,
	}
	before, err := tp.Sink.Link(topo.SinkIf)
	if err != nil {
		t.Fatal(err)
	}
	type sampled struct {
		text string
		err  error
	}
	sc := make(chan sampled, 1)
	go func() {
		text, err := sampleSink(tp, spec, 1, 8, 3*time.Second)
		sc <- sampled{text, err}
	}()
	time.Sleep(100 * time.Millisecond) // the capture socket is open
	// A modest rate, so nothing is lost on a busy machine: the count must
	// be exact.
	gen, err := startGenerator(ctx, tp, genRun{cpu: cpus[0], spec: spec, rate: 50000, duration: 20 * time.Second, count: n, prog: prog})
	if err != nil {
		t.Fatal(err)
	}
	if msg := gen.wait(); msg != "" {
		t.Fatalf("generator: %s", msg)
	}
	if gen.result.Sent != n {
		t.Errorf("generator sent %d, want %d", gen.result.Sent, n)
	}
	s := <-sc
	if s.err != nil {
		t.Errorf("sample at sink: %s: %v", s.text, s.err)
	}
	t.Logf("sample: %s", s.text)

	// Counters settle as soon as the last packet is through.
	var after topo.LinkInfo
	for deadline := time.Now().Add(2 * time.Second); ; {
		after, err = tp.Sink.Link(topo.SinkIf)
		if err != nil {
			t.Fatal(err)
		}
		if after.Stats.RxPackets-before.Stats.RxPackets >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := after.Stats.RxPackets - before.Stats.RxPackets; got != n {
		t.Errorf("sink0 counted %d packets, want %d", got, n)
	}
	if got := after.Stats.RxBytes - before.Stats.RxBytes; got != n*64 {
		t.Errorf("sink0 counted %d bytes, want %d", got, n*64)
	}
	g, err := tp.Gen.Link(topo.GenIf)
	if err != nil {
		t.Fatal(err)
	}
	if g.Stats.TxPackets != n || g.Stats.TxDropped != 0 {
		t.Errorf("gen0 sent %d, dropped %d; want %d, 0", g.Stats.TxPackets, g.Stats.TxDropped, n)
	}
	// rtnetlink and /sys/class/net/IF/statistics are the same counters.
	out, err := tp.Sink.Command(ctx, "cat", "/sys/class/net/"+topo.SinkIf+"/statistics/rx_packets").Output()
	if err != nil {
		t.Fatal(err)
	}
	sys, _ := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	now, err := tp.Sink.Link(topo.SinkIf)
	if err != nil {
		t.Fatal(err)
	}
	if sys != now.Stats.RxPackets {
		t.Errorf("/sys says sink0 rx_packets=%d, rtnetlink %d", sys, now.Stats.RxPackets)
	}
}

// TestMeasureKernel runs the harness's own measurement of the kernel case,
// briefly, and checks it produces a sane measurement.
func TestMeasureKernel(t *testing.T) {
	needHost(t)
	testenv.Long(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prog, cpus := selfAndCPUs(t)
	for _, ring := range []bool{false, true} {
		t.Run(map[bool]string{false: "mmsg", true: "ring"}[ring], func(t *testing.T) {
			m := Measure(ctx, KernelCase(), Scenario{Size: 64, Cores: 1}, 1, Options{
				Warmup: 400 * time.Millisecond, Window: time.Second, Flows: 16, CPUs: cpus,
				Generator: prog, GenRing: ring, Dir: t.TempDir(),
			})
			t.Logf("%+v", m)
			if m.Status != StatusOK {
				t.Fatalf("status %s: %s", m.Status, m.Reason)
			}
			if m.Delivered == 0 || m.Offered < m.Delivered/2 || m.Generator == nil || m.Generator.Sent < m.Offered/2 {
				t.Errorf("implausible: offered %d, delivered %d, generator %+v", m.Offered, m.Delivered, m.Generator)
			}
			if !strings.Contains(m.Sample, "forwarded correctly") {
				t.Errorf("sample: %q", m.Sample)
			}
			if m.WindowSeconds < 0.99 || m.WindowSeconds > 3 {
				t.Errorf("window of %.2fs, want about 1s", m.WindowSeconds)
			}
		})
	}
}

// TestUnavailableApplianceIsNA: an appliance case without an nfv program
// is n/a, not a failure, and leaves nothing behind.
func TestUnavailableApplianceIsNA(t *testing.T) {
	needHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := Measure(ctx, RouterCase("afpacket"), Scenario{Size: 64, Cores: 1}, 1, Options{
		Warmup: 300 * time.Millisecond, Window: 300 * time.Millisecond, Flows: 1, CPUs: []int{0},
		Dir: t.TempDir(), NFVErr: os.ErrNotExist,
	})
	if m.Status != StatusUnavailable || !strings.Contains(m.Reason, "no nfv program") {
		t.Errorf("measurement = %s (%s), want n/a", m.Status, m.Reason)
	}
}

// TestSweepRemovesLeftovers: namespaces named for a dead process go; live
// ones stay.
func TestSweepRemovesLeftovers(t *testing.T) {
	needHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dead := "nfvb999999999-1-gen" // beyond any pid_max
	mine := topo.NewPrefix() + "-gen"
	for _, n := range []string{dead, mine} {
		if nsExists(n) {
			t.Fatalf("namespace %s exists already", n)
		}
		if err := runIP(ctx, "netns", "add", n); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { runIP(context.Background(), "netns", "del", mine) })
	removed, err := topo.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !nsExists(mine) || nsExists(dead) {
		t.Errorf("after Sweep (removed %v): %s exists %v (want true), %s exists %v (want false)",
			removed, mine, nsExists(mine), dead, nsExists(dead))
	}
}

func runIP(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// TestCeiling: the generator-alone measurement runs, counts packets at
// fwd-in, and leaves no namespace behind.
func TestCeiling(t *testing.T) {
	needHost(t)
	testenv.Long(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prog, cpus := selfAndCPUs(t)
	pps, err := Ceiling(ctx, 64, Options{Warmup: 300 * time.Millisecond, Window: 500 * time.Millisecond, Flows: 4, CPUs: cpus, Generator: prog})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generator alone: %.3f Mpps", pps/1e6)
	if pps <= 0 {
		t.Errorf("no packet reached fwd-in: %v pps", pps)
	}
	if left, err := topo.Sweep(ctx); err != nil || len(left) > 0 {
		t.Errorf("left behind: %v (%v)", left, err)
	}
}

// selfAndCPUs is this test binary as the generator, and the CPUs to use.
func selfAndCPUs(t *testing.T) (Generator, []int) {
	t.Helper()
	prog, err := SelfGenerator()
	if err != nil {
		t.Fatal(err)
	}
	cpus, err := usableCPUs("")
	if err != nil {
		t.Fatal(err)
	}
	return prog, cpus
}
