package ipsec

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/internal/swantest"
)

// Per round of BenchmarkIKESetup: IKE SAs set up, and how many at once.
const (
	perRound = 64
	inFlight = 8
)

// ikePSK is the key of every IKE SA the benchmark sets up.
const ikePSK = "ike-setup-benchmark-key"

// BenchmarkIKESetup measures how fast an IKE responder sets up IKE SAs
// (IKE_SA_INIT with X25519, then IKE_AUTH with a pre-shared key;
// childless, RFC 6023) initiated by charon: per round, 64 connections of
// GwA, each with its own identity, are initiated through swanctl, 8 at a
// time, until all are established, then torn down outside the timer. The
// responders, in GwB of sites of their own:
//   - responder=nfv: our ipsec-gw, `nfv run` as a process of its own (so
//     that its CPU time is its alone) on AF_PACKET ports, one ike: conn
//     for GwA's address with start: none;
//   - responder=strongswan: charon, with one conn accepting any identity
//     of GwA.
//
// Both responders are set up once. Every iteration of either
// sub-benchmark runs a round with each, its own timed and the other's
// with the timer stopped, so that the ratio compares rounds that
// alternated on the same machine.
//
// Each sub-benchmark reports its responder's figures, which measure
// different things:
//   - setups/s: IKE SAs per second of wall time for the pair. Both ends
//     and the swanctl clients (a process per initiation, a few ms of CPU
//     each) share the machine, so this is a lower bound on what the
//     responder sustains;
//   - resp-setups/cpu-s: IKE SAs per CPU-second the responder used (its
//     /proc times over the rounds): its capacity with a core to itself.
//     Our gateway's includes its dataplane loop, which polls for a while
//     after every packet;
//   - ini-cpu-ms/setup: the initiating charon's CPU per IKE SA;
//   - resp-MB: the responder's resident memory after the rounds;
//   - nfv/strongswan: our responder's resp-setups/cpu-s over charon's,
//     over all the rounds of both in this sub-benchmark.
//
// ns/op is wall time per IKE SA set up.
func BenchmarkIKESetup(b *testing.B) {
	swantest.Need(b)
	nfv := nfvResponder(b)
	swan := strongSwanResponder(b)
	for _, c := range []struct {
		own, other *responder
	}{{nfv, swan}, {swan, nfv}} {
		b.Run("responder="+c.own.name, func(b *testing.B) {
			own, other := &round{}, &round{}
			b.ResetTimer()
			for range b.N {
				own.add(c.own.setUp(b))
				b.StopTimer()
				c.own.tearDown(b)
				other.add(c.other.setUp(b))
				c.other.tearDown(b)
				b.StartTimer()
			}
			b.StopTimer()
			own.report(b)
			if rss, err := c.own.rss(); err == nil {
				b.ReportMetric(float64(rss)/(1<<20), "resp-MB")
			}
			byName := map[string]*round{c.own.name: own, c.other.name: other}
			if n, s := byName["nfv"], byName["strongswan"]; n.respCPU > 0 && s.respCPU > 0 {
				b.ReportMetric(n.perCPU()/s.perCPU(), "nfv/strongswan")
			}
		})
	}
}

// responder is an IKE responder in GwB of its sites, with the charon in
// GwA that initiates to it.
type responder struct {
	name  string
	ini   *swantest.Charon
	conns []swantest.Conn // ini's, one identity each
	cpu   func() (time.Duration, error)
	rss   func() (int64, error)
	// established counts the responder's established IKE SAs.
	established func() (int, error)
}

// round is what rounds of set-ups took.
type round struct {
	n                     int // IKE SAs set up
	wall, respCPU, iniCPU time.Duration
}

func (r *round) add(o round) {
	r.n += o.n
	r.wall += o.wall
	r.respCPU += o.respCPU
	r.iniCPU += o.iniCPU
}

func (r *round) perCPU() float64 { return float64(r.n) / r.respCPU.Seconds() }

func (r *round) report(b *testing.B) {
	n := float64(r.n)
	b.ReportMetric(n/r.wall.Seconds(), "setups/s")
	if r.respCPU > 0 {
		b.ReportMetric(r.perCPU(), "resp-setups/cpu-s")
	}
	b.ReportMetric(float64(r.iniCPU.Microseconds())/1e3/n, "ini-cpu-ms/setup")
	b.ReportMetric(float64(r.wall.Nanoseconds())/n, "ns/op")
}

// setUp initiates every conn, inFlight at once, and returns what it took;
// it fails b unless the responder then has them all.
func (r *responder) setUp(b *testing.B) round {
	b.Helper()
	r0, err := r.cpu()
	if err != nil {
		b.Fatal(err)
	}
	i0, _ := r.ini.CPUTime()
	start := time.Now()
	each(b, r.conns, inFlight, func(c swantest.Conn) error { return r.ini.InitiateIKE(c.Name) })
	wall := time.Since(start)
	r1, _ := r.cpu()
	i1, _ := r.ini.CPUTime()
	if n, err := r.established(); err != nil || n != len(r.conns) {
		b.Fatalf("%s: the responder has %d established IKE SAs (%v), want %d", r.name, n, err, len(r.conns))
	}
	return round{n: len(r.conns), wall: wall, respCPU: r1 - r0, iniCPU: i1 - i0}
}

// tearDown terminates every conn and waits for the responder to have no
// IKE SA left.
func (r *responder) tearDown(b *testing.B) {
	b.Helper()
	each(b, r.conns, inFlight, func(c swantest.Conn) error { return r.ini.Terminate(c.Name) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := r.established()
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: the responder kept %d IKE SAs after they were deleted", r.name, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// initiators readies GwA of s for charon and starts it with perRound
// conns to GwB, each with its own identity and the same key.
func initiators(b *testing.B, s *swantest.Sites) (*swantest.Charon, []swantest.Conn) {
	b.Helper()
	s.KernelGateway(b, swantest.SiteA)
	conns := make([]swantest.Conn, perRound)
	for i := range conns {
		conns[i] = swantest.Conn{Name: fmt.Sprintf("c%d", i), Local: swantest.GwAWAN, Remote: swantest.GwBWAN,
			LocalID: fmt.Sprintf("c%d.ini.test", i), PSK: ikePSK}
	}
	return swantest.StartOpts(b, s.GwA, swantest.Options{}, conns...), conns
}

// strongSwanResponder is charon in GwB answering charon in GwA.
func strongSwanResponder(b *testing.B) *responder {
	b.Helper()
	s := swantest.NewSites(b)
	ini, conns := initiators(b, s)
	s.KernelGateway(b, swantest.SiteB)
	resp := swantest.Conn{Name: "ini", Local: swantest.GwBWAN, Remote: swantest.GwAWAN, RemoteID: "%any", PSK: ikePSK,
		Options: map[string]string{"unique": "never"}}
	// The defaults would turn a burst from one address away: at most 5
	// half-open SAs per peer (block_threshold), cookies beyond 3 from one
	// address (cookie_threshold_ip) or 30 overall.
	opts := swantest.Options{Conf: "block_threshold = 10000\ncookie_threshold = 10000\ncookie_threshold_ip = 10000\n"}
	z := swantest.StartOpts(b, s.GwB, opts, resp)
	return &responder{name: "strongswan", ini: ini, conns: conns, cpu: z.CPUTime, rss: z.RSS,
		established: func() (int, error) {
			sas, err := z.ListSAs()
			n := 0
			for _, sa := range sas {
				if sa.State == "ESTABLISHED" {
					n++
				}
			}
			return n, err
		}}
}

// nfvResponder is our ipsec-gw in GwB, `nfv run` as a process of its
// own, answering charon in GwA. Its established IKE SAs are counted from
// its log: each one set up logs "IKE SA established" and each one gone
// "IKE SA deleted" (no IKE SA rekeys within a benchmark).
func nfvResponder(b *testing.B) *responder {
	b.Helper()
	s := swantest.NewSites(b)
	ini, conns := initiators(b, s)
	// charon's datagrams reach our AF_PACKET port whole.
	nettest.NoTxOffloads(b, s.GwA, s.AWAN)
	dir := b.TempDir()
	conn := swantest.Conn{Name: "ini", Local: swantest.GwBWAN, Remote: swantest.GwAWAN, PSK: ikePSK,
		Children: []swantest.Child{{Name: "net", LocalTS: []netip.Prefix{swantest.NetB}, RemoteTS: []netip.Prefix{swantest.NetA}}}}
	g := s.Gateway(swantest.SiteB)
	g.PSK, g.Start = "file:"+writeFile(b, dir, "psk", ikePSK), "none"
	policy := writeFile(b, dir, "ipsec-gw.yaml", conn.GatewayPolicy(g))
	logPath := filepath.Join(dir, "nfv.log")
	p := startNFV(b, s.GwB, policy, logPath)
	log := func() string { l, _ := os.ReadFile(logPath); return string(l) }
	if c0, err := swantest.ProcCPUTime(p.Pid); err == nil {
		time.Sleep(time.Second)
		c1, _ := swantest.ProcCPUTime(p.Pid)
		b.Logf("nfv run idle: %.1f%% of a CPU", 100*(c1-c0).Seconds())
	}
	return &responder{name: "nfv", ini: ini, conns: conns,
		cpu: func() (time.Duration, error) { return swantest.ProcCPUTime(p.Pid) },
		rss: func() (int64, error) { return swantest.ProcRSS(p.Pid) },
		established: func() (int, error) {
			l := log()
			return strings.Count(l, "ike: IKE SA established") - strings.Count(l, "ike: IKE SA deleted"), nil
		}}
}

// startNFV runs `nfv run policy` in namespace ns as a process of its own,
// logging to logPath, and waits for it to be ready; it is stopped (SIGTERM,
// then SIGKILL after 10 s) when b ends.
func startNFV(b *testing.B, ns, policy, logPath string) *os.Process {
	b.Helper()
	bin := buildNFV(b)
	out, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "run", policy) // ip netns exec execs: the pid is nfv's
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if b.Failed() {
			l, _ := os.ReadFile(logPath)
			b.Logf("nfv run's log:\n%s", l)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, _ := os.ReadFile(logPath)
		if strings.Contains(string(l), "msg=ready") {
			return cmd.Process
		}
		select {
		case <-exited:
			b.Fatalf("nfv run exited at start: %v\n%s", cmd.ProcessState, l)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("nfv run not ready within 20s:\n%s", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// buildNFV builds cmd/nfv, as bench/e2e does, into a directory removed
// when b ends, and returns its path.
func buildNFV(b *testing.B) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := filepath.Join(b.TempDir(), "nfv")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "github.com/nfvkit/nfvkit/cmd/nfv")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/nfv: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return bin
}

// each runs f for every conn, at most inFlight at once, and fails b on
// the first error.
func each(b *testing.B, conns []swantest.Conn, inFlight int, f func(swantest.Conn) error) {
	b.Helper()
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for _, c := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(c); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}
