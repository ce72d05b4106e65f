package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfvkit/nfvkit/bench/pktgen"
	"github.com/nfvkit/nfvkit/bench/topo"
)

// Traffic the generator sends (see pktgen.Spec); the destination comes
// from Env.Dst.
const (
	genSrcPort = 1024
	genDstPort = 9 // discard
	genTTL     = 64
)

// Options are the conditions every measurement of a run shares.
type Options struct {
	// Warmup runs traffic before the window opens; a capture of a few
	// packets at sink checks the forwarding during it. Window is the
	// measured interval.
	Warmup, Window time.Duration
	// Rate is the packets per second to offer; 0 offers as many as the
	// generator can send.
	Rate float64
	// Flows is the number of UDP flows (source ports).
	Flows int
	// CPUs are the CPUs to use: the generator on CPUs[0]; the forwarding
	// on CPUs[0] with one core, on CPUs[1] with two.
	CPUs []int
	// Generator is how to start the traffic generator; GenRing has it
	// send from its TX ring rather than with sendmmsg (see pktgen.Run:
	// the ring's packets handicap Linux's forwarding on two cores).
	Generator Generator
	GenRing   bool
	// NFV is the nfv program for the appliance cases; NFVErr says why
	// there is none.
	NFV    string
	NFVErr error
	// Dir holds a directory per measurement (policies, logs).
	Dir string
	// Settle is how long to wait, at most, for the machine to go idle
	// before each measurement (0: do not wait).
	Settle time.Duration
	// SinkIPLayer leaves sink's kernel to take every packet up its IP
	// layer (and drop it there) rather than drop it at sink0's ingress
	// hook (topo.SinkDropsAtIngress), which costs the forwarder less.
	SinkIPLayer bool
	// Search, with Rate 0, measures each case at the offered load that
	// delivers most rather than at the generator's full speed, when full
	// speed loses packets (see searchRate).
	Search bool
	Log    *slog.Logger
}

// Measure measures case c once in scenario sc: a fresh topology, the case
// started, the generator run through warm-up and window, then everything
// stopped and removed. It never panics on a failing case: the returned
// Measurement says what happened.
func Measure(ctx context.Context, c Case, sc Scenario, rep int, o Options) (m Measurement) {
	m = Measurement{Case: c.Name, Against: c.Against, Scenario: sc, Rep: rep, Started: time.Now(), Status: StatusOK}
	fail := func(err error) Measurement {
		if ctx.Err() != nil {
			m.Status, m.Reason = StatusError, "interrupted: "+context.Cause(ctx).Error()
			return m
		}
		if u, ok := IsUnavailable(err); ok {
			m.Status, m.Reason = StatusUnavailable, u.Reason
		} else if err != nil {
			m.Status, m.Reason = StatusError, err.Error()
		}
		return m
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if sc.Cores > len(o.CPUs) {
		return fail(&Unavailable{Reason: fmt.Sprintf("%d cores wanted, %d usable", sc.Cores, len(o.CPUs))})
	}
	dir := filepath.Join(o.Dir, fmt.Sprintf("%s-%dB-%dc-%d", strings.ReplaceAll(c.Name, "/", "_"), sc.Size, sc.Cores, rep))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}

	t, err := topo.Up(ctx, topo.NewPrefix())
	if err != nil {
		return fail(fmt.Errorf("topology: %w", err))
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := t.Down(dctx); err != nil && m.Status == StatusOK {
			m.Status, m.Reason = StatusError, "removing the topology: "+err.Error()
		}
	}()

	env := &Env{
		Scenario: sc, Topo: t, GenCPU: o.CPUs[0], FwdCPUs: o.CPUs[:1],
		Dir: dir, NFV: o.NFV, NFVErr: o.NFVErr, Log: log,
		NextHop: topo.FwdInMAC, Dst: topo.Dst.String(),
	}
	if sc.Cores > 1 {
		env.FwdCPUs = o.CPUs[1:sc.Cores]
	}
	if o.SinkIPLayer {
		m.Notes = append(m.Notes, "sink takes packets up its IP layer (-sink-ip)")
	} else if err := t.SinkDropsAtIngress(ctx); err != nil {
		m.Notes = append(m.Notes, "sink takes packets up its IP layer: "+err.Error())
	}
	m.IdleBefore = waitIdle(ctx, o.Settle)
	stop, err := c.Start(ctx, env)
	if err != nil {
		m.Notes = append(m.Notes, env.Notes...)
		return fail(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := stop(sctx); err != nil && m.Status == StatusOK {
			m.Status, m.Reason = StatusError, err.Error()
		}
	}()

	dst, err := netip.ParseAddr(env.Dst)
	if err != nil {
		return fail(fmt.Errorf("destination %q: %w", env.Dst, err))
	}
	spec := pktgen.Spec{
		SrcMAC: topo.GenMAC, DstMAC: env.NextHop, Src: topo.GenAddr.Addr(), Dst: dst,
		SrcPort: genSrcPort, DstPort: genDstPort, Flows: o.Flows, Size: sc.Size, TTL: genTTL,
	}
	// The generator's own time limit is a backstop: it is stopped (SIGINT)
	// as soon as the window closes.
	run := genRun{
		cpu: env.GenCPU, spec: spec, rate: o.Rate, prog: o.Generator, ring: o.GenRing,
		duration: o.Warmup + o.Window + searchTime + 20*time.Second,
	}
	gen, err := startGenerator(ctx, t, run)
	if err != nil {
		return fail(err)
	}
	defer func() { gen.close() }()

	// Warm-up, from the moment packets flow, with a look at what arrives
	// at sink. On a busy machine the generator may take a while to start.
	if err := waitSending(ctx, t, gen, 10*time.Second); err != nil {
		return fail(err)
	}
	warmEnd := time.Now().Add(o.Warmup)
	if !sleep(ctx, min(o.Warmup/4, 100*time.Millisecond)) {
		return fail(ctx.Err())
	}
	sample, err := sampleSink(t, spec, c.Hops, 16, 2*time.Second)
	m.Sample = sample
	if err != nil {
		return fail(fmt.Errorf("packets at sink are wrong: %w", err))
	}
	// The capture socket is closed; let the path settle before the window.
	if !sleep(ctx, max(time.Until(warmEnd), 100*time.Millisecond)) {
		return fail(ctx.Err())
	}
	if gen.exited() {
		return fail(fmt.Errorf("generator stopped during warm-up: %s", gen.wait()))
	}

	// Throughput is the most the case delivers at any offered load: when
	// the generator at full speed loses packets, look for a lower load
	// that delivers more (one that wastes less of a shared CPU on packets
	// dropped at the door).
	if o.Search && o.Rate == 0 {
		best, probes, err := searchRate(ctx, t, &gen, run)
		m.Probes = probes
		if err != nil {
			return fail(err)
		}
		m.Rate = best
	}

	// The window.
	links := []struct {
		ns   *topo.NS
		name string
	}{{t.Gen, topo.GenIf}, {t.Fwd, topo.FwdIn}, {t.Fwd, topo.FwdOut}, {t.Sink, topo.SinkIf}}
	pids := append([]int{os.Getpid(), gen.cmd.Process.Pid}, env.Pids...)
	pids = append(pids, softirqThreads()...)
	read := func() ([]topo.LinkStats, cpuSnap, time.Time, error) {
		cpu := snapCPU(pids)
		st := make([]topo.LinkStats, len(links))
		for i, l := range links {
			info, err := l.ns.Link(l.name)
			if err != nil {
				return nil, cpuSnap{}, time.Time{}, err
			}
			st[i] = info.Stats
		}
		return st, cpu, time.Now(), nil
	}
	s0, c0, t0, err := read()
	if err != nil {
		return fail(err)
	}
	if !sleep(ctx, o.Window) {
		return fail(ctx.Err())
	}
	s1, c1, t1, err := read()
	if err != nil {
		return fail(err)
	}
	if gen.exited() {
		return fail(fmt.Errorf("generator stopped during the window: %s", gen.wait()))
	}
	gen.stop()
	if msg := gen.wait(); msg != "" {
		return fail(fmt.Errorf("generator: %s", msg))
	}
	m.Generator = gen.result
	m.Notes = append(m.Notes, env.Notes...)

	m.Links = map[string]LinkDelta{}
	for i, l := range links {
		d := s1[i].Sub(s0[i])
		m.Links[l.name] = LinkDelta{
			RxPackets: d.RxPackets, TxPackets: d.TxPackets, RxBytes: d.RxBytes, TxBytes: d.TxBytes,
			RxDropped: d.RxDropped, TxDropped: d.TxDropped,
		}
	}
	g, s := m.Links[topo.GenIf], m.Links[topo.SinkIf]
	m.WindowSeconds = t1.Sub(t0).Seconds()
	m.Offered = g.TxPackets + g.TxDropped
	m.RefusedAtIngress = g.TxDropped
	m.Delivered = s.RxPackets
	m.OfferedPPS = float64(m.Offered) / m.WindowSeconds
	m.DeliveredPPS = float64(m.Delivered) / m.WindowSeconds
	m.Gbps = m.DeliveredPPS * float64(sc.Size) * 8 / 1e9
	if m.Offered > 0 {
		m.LossPct = (float64(m.Offered) - float64(m.Delivered)) / float64(m.Offered) * 100
	}
	m.CPUBusy = busy(c0, c1)
	m.ForeignCores = foreignCores(c0, c1, m.WindowSeconds)
	if s.RxPackets > 0 && s.RxBytes/s.RxPackets != uint64(sc.Size) {
		m.Notes = append(m.Notes, fmt.Sprintf("sink0 received %.1f bytes per packet on average, not %d: other traffic on the link",
			float64(s.RxBytes)/float64(s.RxPackets), sc.Size))
	}
	return m
}

// The rate search's bounds: probes of probeWindow after probeSettle at a
// new rate, at most maxProbes of them, stepping the offered load up by
// probeStep from just above what full speed delivered while the step
// still delivers more; a load that loses at most lossOK percent is
// taken as lossless. searchTime bounds it all.
const (
	probeWindow = time.Second
	probeSettle = 300 * time.Millisecond
	maxProbes   = 5
	probeStep   = 1.08
	lossOK      = 1.0
	searchTime  = 2*probeWindow + maxProbes*(probeWindow+probeSettle+time.Second)
)

// searchRate looks for the offered load that delivers most, the
// generator running; it returns that load (0: full speed) with the
// generator sending at it, and the probes it took. Delivered can never
// exceed offered, so the search runs upwards from what full speed
// delivered, and only when full speed loses packets.
func searchRate(ctx context.Context, t *topo.Topology, gen **generator, run genRun) (float64, []Probe, error) {
	probe := func(rate float64) (Probe, error) {
		p := Probe{Rate: rate}
		o0, d0, t0, err := genSinkCounts(t)
		if err != nil {
			return p, err
		}
		if !sleep(ctx, probeWindow) {
			return p, ctx.Err()
		}
		o1, d1, t1, err := genSinkCounts(t)
		if err != nil {
			return p, err
		}
		sec := t1.Sub(t0).Seconds()
		p.Offered, p.Delivered = float64(o1-o0)/sec, float64(d1-d0)/sec
		return p, nil
	}
	restart := func(rate float64) error {
		(*gen).close()
		run.rate = rate
		g, err := startGenerator(ctx, t, run)
		if err != nil {
			return err
		}
		*gen = g
		if err := waitSending(ctx, t, g, 10*time.Second); err != nil {
			return err
		}
		if !sleep(ctx, probeSettle) {
			return ctx.Err()
		}
		return nil
	}
	full, err := probe(0)
	probes := []Probe{full}
	if err != nil || full.loss() <= lossOK || full.Delivered <= 0 {
		return 0, probes, err
	}
	best := full
	for rate := full.Delivered * 1.03; rate < full.Offered && len(probes) <= maxProbes; rate *= probeStep {
		if err := restart(rate); err != nil {
			return 0, probes, err
		}
		p, err := probe(rate)
		probes = append(probes, p)
		if err != nil {
			return 0, probes, err
		}
		if p.Delivered <= best.Delivered {
			break
		}
		best = p
		if p.loss() > lossOK {
			break // past the knee: higher loads lose more
		}
	}
	if best.Rate != probes[len(probes)-1].Rate {
		if err := restart(best.Rate); err != nil {
			return 0, probes, err
		}
	}
	return best.Rate, probes, nil
}

// genSinkCounts reads what gen0 has put on the wire (tx_packets +
// tx_dropped) and what sink0 has received.
func genSinkCounts(t *topo.Topology) (offered, delivered uint64, at time.Time, err error) {
	g, err := t.Gen.Link(topo.GenIf)
	if err != nil {
		return 0, 0, at, err
	}
	k, err := t.Sink.Link(topo.SinkIf)
	if err != nil {
		return 0, 0, at, err
	}
	return g.Stats.TxPackets + g.Stats.TxDropped, k.Stats.RxPackets, time.Now(), nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// generator is a running pktgen process.
type generator struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	errb   bytes.Buffer
	done   chan struct{}
	err    error
	result *pktgen.Result
}

// waitSending waits until gen0 counts packets going out, or the generator
// exits, or d passes.
func waitSending(ctx context.Context, t *topo.Topology, gen *generator, d time.Duration) error {
	first, err := t.Gen.Link(topo.GenIf)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(d)
	for {
		if !sleep(ctx, 10*time.Millisecond) {
			return ctx.Err()
		}
		now, err := t.Gen.Link(topo.GenIf)
		if err != nil {
			return err
		}
		if now.Stats.TxPackets+now.Stats.TxDropped > first.Stats.TxPackets+first.Stats.TxDropped {
			return nil
		}
		if gen.exited() {
			return fmt.Errorf("generator exited before sending: %s", gen.wait())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("generator sent nothing within %s", d)
		}
	}
}

// genRun is one run of the generator: spec's packets at rate (0: as fast
// as possible) for duration or count packets, pinned to cpu, started as
// prog says.
type genRun struct {
	cpu      int
	spec     pktgen.Spec
	rate     float64
	duration time.Duration
	count    uint64
	prog     Generator
	ring     bool // -tx ring
}

// startGenerator runs the generator in gen's namespace.
func startGenerator(ctx context.Context, t *topo.Topology, r genRun) (*generator, error) {
	spec := r.spec
	if len(r.prog.Argv) == 0 {
		return nil, errors.New("no generator program")
	}
	args := append([]string{"-c", strconv.Itoa(r.cpu)}, r.prog.Argv...)
	args = append(args,
		"-i", topo.GenIf, "-dst-mac", spec.DstMAC.String(), "-src-mac", spec.SrcMAC.String(),
		"-src", spec.Src.String(), "-dst", spec.Dst.String(),
		"-sport", strconv.Itoa(int(spec.SrcPort)), "-dport", strconv.Itoa(int(spec.DstPort)),
		"-flows", strconv.Itoa(spec.Flows), "-size", strconv.Itoa(spec.Size), "-ttl", strconv.Itoa(int(spec.TTL)),
		"-duration", r.duration.String(), "-count", strconv.FormatUint(r.count, 10),
	)
	if r.rate > 0 {
		args = append(args, "-rate", strconv.FormatFloat(r.rate, 'f', -1, 64))
	}
	if r.ring {
		args = append(args, "-tx", "ring")
	}
	g := &generator{done: make(chan struct{})}
	g.cmd = t.Gen.Command(ctx, "taskset", args...)
	g.cmd.Env = append(os.Environ(), r.prog.Env...)
	g.cmd.Stdout, g.cmd.Stderr = &g.out, &g.errb
	g.cmd.Cancel = func() error { return g.cmd.Process.Signal(syscall.SIGINT) }
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the generator: %w", err)
	}
	go func() {
		g.err = g.cmd.Wait()
		close(g.done)
	}()
	return g, nil
}

func (g *generator) exited() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// stop asks the generator to finish (it still reports what it sent).
func (g *generator) stop() {
	if !g.exited() {
		g.cmd.Process.Signal(syscall.SIGINT)
	}
}

// close stops the generator and waits for it, on any return.
func (g *generator) close() {
	g.stop()
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		g.cmd.Process.Kill()
	}
}

// wait waits (bounded) for the generator to exit and reads its result; it
// returns what went wrong, or "".
func (g *generator) wait() string {
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
		return "did not exit within 10s of SIGINT; killed"
	}
	if g.err != nil {
		return fmt.Sprintf("%v: %s", g.err, strings.TrimSpace(g.errb.String()))
	}
	var r pktgen.Result
	if err := json.Unmarshal(g.out.Bytes(), &r); err != nil {
		return fmt.Sprintf("unreadable result %q: %v", g.out.String(), err)
	}
	g.result = &r
	return ""
}

// sampleSink captures up to n generated frames at sink0 (for at most d) and checks
// each generated one arrived forwarded as it should (pktgen.CheckForwarded).
// It returns a one-line account; the error is the first wrong packet, or
// that none arrived. The capture socket is closed before the window opens,
// so it costs nothing there.
func sampleSink(t *topo.Topology, spec pktgen.Spec, hops, n int, d time.Duration) (string, error) {
	var fd int
	err := t.Sink.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		ifc, err := net.InterfaceByName(topo.SinkIf)
		if err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		return "", fmt.Errorf("capture socket at sink: %w", err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 2048)
	var got, ours int
	srcs := map[string]int{}
	deadline := time.Now().Add(d)
	for ours < n && time.Now().Before(deadline) {
		k, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("capture at sink: %w", err)
		}
		got++
		frame := buf[:k]
		if len(frame) < 14+20+8+len(pktgen.Marker) || !bytes.Contains(frame, pktgen.Marker[:]) {
			continue // not the generator's
		}
		ours++
		src, err := spec.CheckForwarded(frame, hops, topo.SinkMAC)
		if err != nil {
			return fmt.Sprintf("%d captured, packet %d wrong", got, ours), err
		}
		srcs[src.String()]++
	}
	if ours == 0 {
		return fmt.Sprintf("%d captured, none from the generator", got), errors.New("no generated packet reached sink during the warm-up")
	}
	var from []string
	for s := range srcs {
		from = append(from, s)
	}
	return fmt.Sprintf("%d/%d generated packets forwarded correctly (TTL %d, MACs rewritten, checksums valid), from %s",
		ours, got, int(spec.TTL)-hops, strings.Join(from, ",")), nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// waitIdle waits up to max for the whole machine to be mostly idle (other
// people's work on a shared machine) and returns the idle fraction it saw
// last.
func waitIdle(ctx context.Context, max time.Duration) float64 {
	const want, step = 0.85, 250 * time.Millisecond
	deadline := time.Now().Add(max)
	for {
		a := snapCPU(nil)
		if !sleep(ctx, step) {
			return 0
		}
		var busySum, n float64
		for _, f := range busy(a, snapCPU(nil)) {
			busySum += f
			n++
		}
		idle := 1.0
		if n > 0 {
			idle = 1 - busySum/n
		}
		if idle >= want || !time.Now().Before(deadline) {
			return idle
		}
	}
}

// Ceiling measures what the generator alone makes with frames of size
// bytes: the same topology, every packet dropped at fwd-in's ingress hook
// (after veth has counted it; nothing forwards), the generator on its CPU
// through warm-up and window. It is the most any case can deliver: over
// veth, fwd's receive runs on the generator's CPU, so a forwarder adds to
// the generator's work there whatever else it does. The figure is
// fwd-in's received packets a second.
func Ceiling(ctx context.Context, size int, o Options) (pps float64, err error) {
	t, err := topo.Up(ctx, topo.NewPrefix())
	if err != nil {
		return 0, fmt.Errorf("topology: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := t.Down(dctx); derr != nil && err == nil {
			err = fmt.Errorf("removing the topology: %w", derr)
		}
	}()
	if err := t.Fwd.DropAtIngress(ctx, topo.FwdIn); err != nil {
		return 0, err
	}
	waitIdle(ctx, o.Settle)
	spec := pktgen.Spec{
		SrcMAC: topo.GenMAC, DstMAC: topo.FwdInMAC, Src: topo.GenAddr.Addr(), Dst: topo.Dst,
		SrcPort: genSrcPort, DstPort: genDstPort, Flows: o.Flows, Size: size, TTL: genTTL,
	}
	gen, err := startGenerator(ctx, t, genRun{
		cpu: o.CPUs[0], spec: spec, prog: o.Generator, ring: o.GenRing,
		duration: o.Warmup + o.Window + 20*time.Second,
	})
	if err != nil {
		return 0, err
	}
	defer gen.close()
	if err := waitSending(ctx, t, gen, 10*time.Second); err != nil {
		return 0, err
	}
	if !sleep(ctx, o.Warmup) {
		return 0, ctx.Err()
	}
	read := func() (uint64, time.Time, error) {
		info, err := t.Fwd.Link(topo.FwdIn)
		return info.Stats.RxPackets, time.Now(), err
	}
	n0, t0, err := read()
	if err != nil {
		return 0, err
	}
	if !sleep(ctx, o.Window) {
		return 0, ctx.Err()
	}
	n1, t1, err := read()
	if err != nil {
		return 0, err
	}
	if gen.exited() {
		return 0, fmt.Errorf("generator stopped during the window: %s", gen.wait())
	}
	gen.stop()
	if msg := gen.wait(); msg != "" {
		return 0, fmt.Errorf("generator: %s", msg)
	}
	return float64(n1-n0) / t1.Sub(t0).Seconds(), nil
}
