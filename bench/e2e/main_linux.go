package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfvkit/nfvkit/bench/topo"
)

const mainHelp = `Usage: %s [options]

Measures whole appliances forwarding between network namespaces, gen -> fwd ->
sink over veth, with Linux kernel forwarding measured on the same topology in
the same run as the baseline. For every repetition, frame size and core count
it runs every case once, the kernel first, and reports medians and the ratio
to the kernel. Needs root. Appliance cases whose port backend or appliance is
not built into nfv yet are reported as n/a.

Options:
`

// Report is the JSON document a run writes.
type Report struct {
	Started      time.Time     `json:"started"`
	Host         Host          `json:"host"`
	Options      ReportOptions `json:"options"`
	Measurements []Measurement `json:"measurements"`
	Summary      []Row         `json:"summary"`
	// Ceilings is what the generator alone makes, per frame size (see
	// Ceiling): the most any case can deliver.
	Ceilings []CeilingPPS `json:"ceilings,omitempty"`
}

// CeilingPPS is the generator's ceiling at one frame size.
type CeilingPPS struct {
	Size int     `json:"size"`
	PPS  float64 `json:"pps"`
}

// Host describes the machine.
type Host struct {
	Kernel  string `json:"kernel"`
	CPUs    []int  `json:"cpus"`
	Model   string `json:"cpu_model,omitempty"`
	LoadAvg string `json:"loadavg_at_start,omitempty"`
}

// ReportOptions are the run's settings as reported.
type ReportOptions struct {
	Cases   []string `json:"cases"`
	Sizes   []int    `json:"sizes"`
	Cores   []int    `json:"cores"`
	Reps    int      `json:"reps"`
	Warmup  string   `json:"warmup"`
	Window  string   `json:"window"`
	RatePPS float64  `json:"rate_pps"`
	Search  bool     `json:"search"`
	Flows   int      `json:"flows"`
}

// Main is the e2e harness program; it returns the exit status: 0 when
// every case ran or was n/a, 1 when a measurement failed, 2 for usage.
func Main(args []string) int { return MainFor(args, Program{Name: "e2e"}) }

// MainFor is Main for a front end that brings its own generator or nfv
// program (nfv bench).
func MainFor(args []string, p Program) int { return mainIO(args, p, os.Stdout, os.Stderr) }

func mainIO(args []string, p Program, stdout, stderr io.Writer) int {
	name := p.Name
	if name == "" {
		name = "e2e"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, mainHelp, name); fs.PrintDefaults() }
	window := fs.Duration("duration", 5*time.Second, "measured window per run")
	warmup := fs.Duration("warmup", time.Second, "traffic before the window opens")
	reps := fs.Int("reps", 3, "repetitions (the report gives medians)")
	sizesF := fs.String("sizes", "64,1400", "frame sizes in bytes (Ethernet, without FCS)")
	coresF := fs.String("cores", "1,2", "core counts: 1 = generator and forwarding on one CPU, 2 = forwarding on a second")
	casesF := fs.String("cases", "", "cases to run, comma-separated (default all: "+strings.Join(caseNames(Cases()), ",")+"); the kernel always runs")
	cpusF := fs.String("cpus", "", "CPUs to use, generator's first (default: the first two this process may use)")
	rate := fs.Float64("rate", 0, "packets per second to offer (0: as fast as the generator can)")
	ceiling := fs.Bool("ceiling", true, "first measure what the generator alone makes at each size (see Ceiling)")
	genRing := fs.Bool("gen-ring", false, "have the generator send from a TX ring (packets of ring pages) rather than with sendmmsg (linear packets); see pktgen.Run")
	sinkIP := fs.Bool("sink-ip", false, "let sink's IP layer take and drop every packet instead of dropping it at sink0's ingress hook")
	search := fs.Bool("search", true, "with -rate 0: when full speed loses packets, measure at the offered load that delivers most")
	flows := fs.Int("flows", 16, "UDP flows (source ports)")
	jsonOut := fs.String("json", "out/bench-e2e.json", "write the report as JSON to this file (empty: don't)")
	nfvHelp := "nfv program for the appliance cases (default: build ./cmd/nfv of this module)"
	if p.NFV != "" {
		nfvHelp = "nfv program for the appliance cases"
	}
	nfv := fs.String("nfv", p.NFV, nfvHelp)
	settle := fs.Duration("settle", 5*time.Second, "wait at most this long for an idle machine before each run")
	maxNoise := fs.Float64("max-noise", 0.15, "measure again when other processes used more than this many cores during the window")
	retries := fs.Int("retries", 2, "how many times to measure again a noisy run (the quietest attempt is kept)")
	timeout := fs.Duration("timeout", 60*time.Minute, "give up the whole run after this long")
	keep := fs.Bool("keep", false, "keep the scratch directory (policies, appliance logs)")
	verbose := fs.Bool("v", false, "log each step")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, name+": "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	sizes, err := intList(*sizesF)
	if err != nil {
		return usage("-sizes: %v", err)
	}
	cores, err := intList(*coresF)
	if err != nil {
		return usage("-cores: %v", err)
	}
	cases, err := selectCases(*casesF)
	if err != nil {
		return usage("-cases: %v", err)
	}
	if *reps < 1 || *window <= 0 || *warmup < 200*time.Millisecond || *flows < 1 {
		return usage("-reps must be >= 1, -duration > 0, -warmup >= 200ms, -flows >= 1")
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, name+": needs root (network namespaces, veth, AF_PACKET); run it as root, e.g. sudo make bench")
		return 2
	}
	cpus, err := usableCPUs(*cpusF)
	if err != nil {
		return usage("-cpus: %v", err)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, *timeout)
	defer cancelT()

	unlock, err := lockRun(ctx, stderr)
	if err != nil {
		fmt.Fprintln(stderr, name+":", err)
		return 1
	}
	defer unlock()
	if removed, err := topo.Sweep(ctx); err != nil {
		fmt.Fprintln(stderr, name+": removing namespaces of dead runs:", err)
	} else if len(removed) > 0 {
		fmt.Fprintf(stderr, name+": removed namespaces left by dead runs: %s\n", strings.Join(removed, " "))
	}

	dir, err := os.MkdirTemp("", "nfvbench-")
	if err != nil {
		fmt.Fprintln(stderr, name+":", err)
		return 1
	}
	gen := p.Generator
	if len(gen.Argv) == 0 {
		if gen, err = SelfGenerator(); err != nil {
			fmt.Fprintln(stderr, name+": finding this program to run as the generator:", err)
			return 1
		}
	}
	o := Options{
		Warmup: *warmup, Window: *window, Rate: *rate, Flows: *flows, CPUs: cpus,
		Generator: gen, Dir: dir, Settle: *settle, Log: log, Search: *search, SinkIPLayer: *sinkIP, GenRing: *genRing,
	}
	if needsNFV(cases) {
		if *nfv != "" {
			o.NFV = *nfv
		} else {
			fmt.Fprintln(stderr, name+": building nfv ...")
			o.NFV, o.NFVErr = buildNFV(ctx, dir)
			if o.NFVErr != nil {
				fmt.Fprintf(stderr, name+": nfv does not build; the appliance cases are n/a: %v\n", o.NFVErr)
			}
		}
	}

	rep := Report{
		Started: time.Now(),
		Host:    hostInfo(cpus),
		Options: ReportOptions{
			Cases: caseNames(cases), Sizes: sizes, Cores: cores, Reps: *reps,
			Warmup: warmup.String(), Window: window.String(), RatePPS: *rate, Search: *search, Flows: *flows,
		},
	}
	total := 0
	for _, size := range sizes {
		for _, c := range cases {
			if c.runsAt(size) {
				total += *reps * len(cores)
			}
		}
	}
	if *ceiling {
		// What the generator alone makes bounds every row: measured
		// first, once a size.
		for _, size := range sizes {
			pps, err := Ceiling(ctx, size, o)
			if err != nil {
				fmt.Fprintf(stderr, "generator alone, %d B: %v\n", size, err)
				continue
			}
			rep.Ceilings = append(rep.Ceilings, CeilingPPS{Size: size, PPS: pps})
			fmt.Fprintf(stderr, "generator alone, %d B: %.3f Mpps (dropped at fwd-in's ingress)\n", size, pps/1e6)
		}
	}
	n := 0
	failed := false
loop:
	for r := 1; r <= *reps; r++ {
		for _, size := range sizes {
			for _, nc := range cores {
				for _, c := range cases {
					if ctx.Err() != nil {
						break loop
					}
					if !c.runsAt(size) {
						continue
					}
					n++
					m := Measure(ctx, c, Scenario{Size: size, Cores: nc}, r, o)
					m.Attempts = 1
					// A window others crowded is taken again; the quietest
					// attempt counts.
					for m.Status == StatusOK && m.ForeignCores > *maxNoise && m.Attempts <= *retries && ctx.Err() == nil {
						again := Measure(ctx, c, Scenario{Size: size, Cores: nc}, r, o)
						fmt.Fprintf(stderr, "        others used %.2f cores during the window; attempt %d: %s\n",
							m.ForeignCores, m.Attempts+1, progress(again))
						again.Attempts = m.Attempts + 1
						if again.Status == StatusOK && again.ForeignCores < m.ForeignCores {
							m = again
						} else {
							m.Attempts = again.Attempts
						}
					}
					rep.Measurements = append(rep.Measurements, m)
					failed = failed || m.Status == StatusError
					fmt.Fprintf(stderr, "[%2d/%d] rep %d %4d B %d core(s) %-20s %s\n", n, total, r, size, nc, c.Name, progress(m))
				}
			}
		}
	}
	baseline := cases[0].Name
	rep.Summary = Summarize(rep.Measurements, baseline)

	fmt.Fprintf(stdout, "nfvkit end-to-end benchmark, %s, kernel %s, CPUs %s, load at start %s\n",
		rep.Started.Format(time.RFC3339), rep.Host.Kernel, cpuList(cpus), rep.Host.LoadAvg)
	fmt.Fprintf(stdout, "window %s after %s warm-up, %d repetition(s), %d flows, offered: %s\n\n",
		window, warmup, *reps, *flows, offeredText(*rate, *search))
	if err := WriteTable(stdout, rep.Summary, baseline); err != nil {
		fmt.Fprintln(stderr, name+":", err)
	}
	if len(rep.Ceilings) > 0 {
		var cs []string
		for _, c := range rep.Ceilings {
			cs = append(cs, fmt.Sprintf("%.3f Mpps at %d B", c.PPS/1e6, c.Size))
		}
		fmt.Fprintf(stdout, "generator alone: %s, every packet dropped at fwd-in's ingress on the generator's CPU: the most\n"+
			"  any case can deliver, since over veth fwd's receive runs on the sender's CPU.\n", strings.Join(cs, ", "))
	}
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, rep); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			failed = true
		} else {
			fmt.Fprintf(stdout, "\nJSON: %s\n", *jsonOut)
		}
	}
	if *keep || failed {
		fmt.Fprintf(stdout, "policies and appliance logs: %s\n", dir)
	} else {
		os.RemoveAll(dir)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, name+": stopped early:", context.Cause(ctx))
		return 1
	case failed:
		return 1
	}
	return 0
}

func progress(m Measurement) string {
	switch m.Status {
	case StatusOK:
		s := fmt.Sprintf("%.3f Mpps delivered, %.3f offered, loss %.1f%%", m.DeliveredPPS/1e6, m.OfferedPPS/1e6, max(m.LossPct, 0))
		if len(m.CPUBusy) > 0 {
			var b []string
			for _, f := range m.CPUBusy {
				b = append(b, fmt.Sprintf("%.0f%%", f*100))
			}
			s += fmt.Sprintf(" (cpu busy %s, others %.2f cores)", strings.Join(b, "/"), m.ForeignCores)
		}
		if m.Rate > 0 && len(m.Probes) > 0 {
			s += fmt.Sprintf(" [searched: full speed delivered %.3f of %.3f]", m.Probes[0].Delivered/1e6, m.Probes[0].Offered/1e6)
		}
		return s
	case StatusUnavailable:
		return "n/a (" + m.Reason + ")"
	}
	return "ERROR: " + m.Reason
}

func offeredText(rate float64, search bool) string {
	if rate <= 0 && search {
		return "the load that delivers most (full speed, or lower when full speed loses packets)"
	}
	if rate <= 0 {
		return "as fast as the generator can"
	}
	return fmt.Sprintf("%.0f pps", rate)
}

func caseNames(cs []Case) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// selectCases picks the named cases, the baseline always first.
func selectCases(list string) ([]Case, error) {
	all := Cases()
	if strings.TrimSpace(list) == "" {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(caseNames(all), n) {
			return nil, fmt.Errorf("no case %q (cases: %s)", n, strings.Join(caseNames(all), ", "))
		}
		want[n] = true
	}
	// A case measured against another brings it along.
	for _, c := range all {
		if want[c.Name] && c.Against != "" {
			want[c.Against] = true
		}
	}
	var out []Case
	for _, c := range all {
		if c.Baseline || want[c.Name] {
			out = append(out, c)
		}
	}
	return out, nil
}

func needsNFV(cs []Case) bool {
	for _, c := range cs {
		if strings.HasPrefix(c.Name, "nfv-") {
			return true
		}
	}
	return false
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// usableCPUs is the -cpus list, or the first two CPUs of this process's
// affinity mask.
func usableCPUs(flagVal string) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	if flagVal != "" {
		cpus, err := intListZero(flagVal)
		if err != nil {
			return nil, err
		}
		for _, c := range cpus {
			if !set.IsSet(c) {
				return nil, fmt.Errorf("cpu %d is not usable here", c)
			}
		}
		return cpus, nil
	}
	var cpus []int
	for c := 0; c < runtime.NumCPU()*4 && len(cpus) < 2; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

func intListZero(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a CPU number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// buildNFV builds ./cmd/nfv of the module the harness runs in into dir.
func buildNFV(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	out := filepath.Join(dir, "nfv")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "./cmd/nfv")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/nfv: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// moduleRoot finds the nfvkit module from the working directory up.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if f, err := os.Open(filepath.Join(d, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			sc.Scan()
			f.Close()
			if strings.TrimSpace(sc.Text()) == "module github.com/nfvkit/nfvkit" {
				return d, nil
			}
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("not inside the nfvkit module (run from the repository, or pass -nfv)")
		}
		d = up
	}
}

func hostInfo(cpus []int) Host {
	h := Host{CPUs: cpus}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			h.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}

func writeJSON(path string, rep Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// lockPath serializes benchmark runs on a machine: two at once would
// measure each other.
const lockPath = "/run/nfvkit-bench.lock"

func lockRun(ctx context.Context, stderr io.Writer) (func(), error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	said := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", lockPath, err)
		}
		if !said {
			fmt.Fprintf(stderr, "another benchmark run holds %s; waiting\n", lockPath)
			said = true
		}
		if !sleep(ctx, 500*time.Millisecond) {
			f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", lockPath, ctx.Err())
		}
	}
	return func() { f.Close() }, nil
}
