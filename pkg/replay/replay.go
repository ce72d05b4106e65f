// Package replay runs a policy's appliance over captures, offline: the
// engine behind `nfv replay`.
//
// Every interface of the policy that has a port of its own gets a pcap port
// instead: it reads the capture given for it, if any, and writes what leaves
// it to OutDir/IFACE.pcap. The appliance runs in a dataplane.Loop in replay
// mode, so capture timestamps are the clock: the loop always takes the
// interface whose next frame is earliest, hands its frames (all those sharing
// that timestamp) to the stage, and stamps what the stage sends with that
// time. The run is deterministic: the same policy and captures give the same
// bytes out. The Summary says what each interface received and sent and why
// each drop happened.
package replay

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/pcap"
)

// Options say what to replay and where to put the results.
type Options struct {
	// Inputs maps an interface name to the capture replayed as arriving on
	// it. Interfaces without one receive nothing.
	Inputs map[string]string
	// OutDir receives IFACE.pcap for every port-owning interface and
	// summary.json. It is created if missing.
	OutDir string
	// Log is the appliance's log (default: discarded).
	Log *slog.Logger
	// Frames is the pool size (default: enough for any burst the loop
	// makes, about 32 MiB at most).
	Frames int
}

// UsageError is a mistake in what was asked (an input for an interface the
// policy lacks, a missing capture), as opposed to a run that failed.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// Summary is what a replay did. Its JSON form is OutDir/summary.json.
type Summary struct {
	Policy    string `json:"policy"`
	Appliance string `json:"appliance"`
	// Stage is the stage that ran: the appliance's kind, or
	// "pass-through" when no appliance of that kind is registered.
	Stage      string      `json:"stage"`
	Interfaces []Interface `json:"interfaces"`
	// Drops counts dropped packets per reason, the most frequent first.
	Drops   []Drop `json:"drops"`
	Dropped uint64 `json:"dropped"`
}

// Interface is one port-owning interface's part in a replay.
type Interface struct {
	Name      string `json:"name"`
	Input     string `json:"input,omitempty"`
	Output    string `json:"output"`
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
}

// Drop is one line of the drop summary.
type Drop struct {
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

// SummaryFile is the summary's name in OutDir.
const SummaryFile = "summary.json"

// Run replays o.Inputs through the appliance of p, a valid policy, and
// writes the output captures and summary.json to o.OutDir. Mistakes in o
// are *UsageError. A run that loses frames (a stage that neither forwards,
// drops nor releases what it holds) fails: every frame must be back in the
// pool at the end.
func Run(ctx context.Context, p *config.Policy, o Options) (*Summary, error) {
	if err := check(p, &o); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	// A failed run must not leave an earlier run's summary looking current.
	if err := os.Remove(filepath.Join(o.OutDir, SummaryFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}

	names := appliance.PortNames(p)
	frameSize := frameSizeFor(p)
	frames := o.Frames
	if frames <= 0 {
		frames = min(4096, max(512, (32<<20)/frameSize))
	}
	region, err := dataplane.NewRegion(frames, frameSize, dataplane.DefaultHeadroom)
	if err != nil {
		return nil, err
	}
	defer region.Close()
	pool := dataplane.NewPool(region)
	stats := dataplane.NewStats(names...)

	ports := make([]dataplane.Port, 0, len(names))
	sum := &Summary{Policy: p.Source, Appliance: string(p.Appliance), Stage: appliance.StageName(p)}
	closeAll := func() error {
		var errs []error
		for _, pt := range ports {
			errs = append(errs, pt.Close())
		}
		ports = nil
		return errors.Join(errs...)
	}
	defer closeAll()
	for _, name := range names {
		ifc := p.Interface(name)
		out := filepath.Join(o.OutDir, name+".pcap")
		pt, err := pcap.Open(o.Inputs[name], out, pcap.Config{
			Name:  name,
			Pool:  pool,
			Stats: stats,
			MTU:   cmp.Or(ifc.MTU, config.DefaultMTU),
		})
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", name, err)
		}
		ports = append(ports, pt)
		sum.Interfaces = append(sum.Interfaces, Interface{Name: name, Input: o.Inputs[name], Output: out})
	}

	env, err := appliance.NewEnv(p, pool, stats, o.Log)
	if err != nil {
		return nil, err
	}
	stage, err := appliance.New(p, env)
	if err != nil {
		return nil, err
	}
	loop := &dataplane.Loop{Ports: ports, Stage: stage, Pool: pool, Stats: stats}
	if local, ok := stage.(dataplane.LocalStack); ok {
		loop.Local = local
	}
	runErr := loop.Run(ctx)
	// Close flushes the captures; a write error there fails the run even
	// though the loop only counted it.
	if err := errors.Join(runErr, closeAll(), ctx.Err()); err != nil {
		return nil, err
	}
	if err := pool.CheckAllReturned(); err != nil {
		return nil, fmt.Errorf("frames leaked: %s stage did not return every frame it was given: %w", sum.Stage, err)
	}

	for i, ps := range stats.Ports {
		s := &sum.Interfaces[i]
		s.RxPackets, s.RxBytes = ps.RxPackets.Load(), ps.RxBytes.Load()
		s.TxPackets, s.TxBytes = ps.TxPackets.Load(), ps.TxBytes.Load()
	}
	sum.Drops = []Drop{}
	for _, d := range stats.Drops() {
		sum.Drops = append(sum.Drops, Drop{d.Name, d.Count})
	}
	sum.Dropped = stats.TotalDropped()
	js, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.OutDir, SummaryFile), append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	return sum, nil
}

// check validates o against p.
func check(p *config.Policy, o *Options) error {
	if o.OutDir == "" {
		return usagef("no output directory given")
	}
	if len(o.Inputs) == 0 {
		return usagef("nothing to replay: no input capture given")
	}
	ins := slices.Sorted(func(yield func(string) bool) {
		for k := range o.Inputs {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range ins {
		path := o.Inputs[name]
		ifc := p.Interface(name)
		switch {
		case ifc == nil:
			return usagef("--in %s=%s: the policy has no interface %s (it has %s)", name, path, name, strings.Join(ifaceNames(p), ", "))
		case ifc.Parent != "":
			return usagef("--in %s=%s: %s is a VLAN on %s; give the capture of %s, with its 802.1Q tags", name, path, name, ifc.Parent, ifc.Parent)
		case path == "":
			return usagef("--in %s=: no capture file given", name)
		}
		st, err := os.Stat(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return usagef("--in %s=%s: no such file", name, path)
		case err != nil:
			return usagef("--in %s=%s: %v", name, path, err)
		case !st.Mode().IsRegular():
			return usagef("--in %s=%s: not a regular file", name, path)
		}
		// The outputs are created first thing; never truncate an input.
		for _, out := range appliance.PortNames(p) {
			ost, err := os.Stat(filepath.Join(o.OutDir, out+".pcap"))
			if err == nil && os.SameFile(st, ost) {
				return usagef("--in %s=%s: the replay would overwrite it with the output of %s; choose another --out", name, path, out)
			}
		}
	}
	return nil
}

func ifaceNames(p *config.Policy) []string {
	var names []string
	for _, ifc := range p.Interfaces {
		names = append(names, ifc.Name)
	}
	return names
}

// frameSizeFor is the smallest frame size (a power of two, at least the
// dataplane's default) whose room behind the headroom holds the largest
// frame any interface of p carries: its MTU, an Ethernet header and two
// VLAN tags.
func frameSizeFor(p *config.Policy) int {
	need := 0
	for _, ifc := range p.Interfaces {
		need = max(need, cmp.Or(ifc.MTU, config.DefaultMTU))
	}
	need += dataplane.DefaultHeadroom + 14 + 2*4
	size := 1 << bits.Len(uint(need-1))
	return min(max(size, dataplane.DefaultFrameSize), 65536)
}

// WriteText prints the summary for people: which stage ran, per interface
// what came in and went out, then the drops per reason.
func (s *Summary) WriteText(w io.Writer) error {
	stage := s.Appliance
	if s.Stage != s.Appliance {
		stage = fmt.Sprintf("%s (%s stage: no %s appliance in this build)", s.Appliance, s.Stage, s.Appliance)
	}
	fmt.Fprintf(w, "%s: %s\n\n", cmp.Or(s.Policy, "policy"), stage)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "interface\tinput\trx packets\trx bytes\ttx packets\ttx bytes\toutput\n")
	for _, ifc := range s.Interfaces {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", ifc.Name, cmp.Or(ifc.Input, "-"),
			ifc.RxPackets, ifc.RxBytes, ifc.TxPackets, ifc.TxBytes, ifc.Output)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.Dropped == 0 {
		_, err := fmt.Fprintf(w, "\ndropped: none\n")
		return err
	}
	fmt.Fprintf(w, "\ndropped: %d\n", s.Dropped)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, d := range s.Drops {
		fmt.Fprintf(tw, "  %s\t%d\n", d.Reason, d.Count)
	}
	return tw.Flush()
}
