package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"

	"github.com/nfvkit/nfvkit/bench/topo"
)

// Case is one thing under test: what fwd is while gen's packets cross it.
// A measurement brings up a fresh Topology, calls Start, measures, calls
// the stop function Start returned, and takes the topology down, so
// nothing of one case is left for the next.
//
// Start may do anything a case needs beyond the common topology (load
// nftables rules, start a peer program in sink, add tunnel interfaces) and
// may change where the generator sends (Env.NextHop, Env.Dst). It returns
// an *Unavailable error when this program or machine cannot run the case
// (a port backend or appliance not built in, a peer program missing): the
// report shows it as n/a and the run goes on.
type Case struct {
	// Name is the case as reports show it: "kernel",
	// "nfv-router/afpacket".
	Name string
	// Hops is the number of IPv4 routers between gen and sink, for
	// checking a sample of what arrives (its TTL).
	Hops int
	// Start sets fwd up for env's scenario and returns how to stop it;
	// stop reports what went wrong while running or stopping (an
	// appliance that does not exit cleanly).
	Start func(ctx context.Context, env *Env) (stop func(context.Context) error, err error)
	// Baseline marks the reference every other case's ratio is taken
	// against (the kernel).
	Baseline bool
	// Against, when set, names the case this one's ratio is taken against
	// instead of the baseline (the firewall against nftables with the
	// same rules); the harness runs it before this one.
	Against string
	// Sizes, when set, are the only frame sizes the case runs at.
	Sizes []int
}

// runsAt reports whether the case runs at frame size size.
func (c *Case) runsAt(size int) bool {
	return len(c.Sizes) == 0 || slices.Contains(c.Sizes, size)
}

// Env is what a case starts with.
type Env struct {
	Scenario
	Topo *topo.Topology
	// GenCPU is the CPU the generator is pinned to; FwdCPUs are the CPUs
	// the thing under test may use (for the kernel: where RPS steers).
	GenCPU  int
	FwdCPUs []int
	// Dir is a scratch directory of this measurement (policies, logs).
	Dir string
	// NFV is the nfv program; NFVErr says why there is none.
	NFV    string
	NFVErr error
	Log    *slog.Logger

	// NextHop is the MAC gen sends to (default fwd-in's), Dst the
	// destination address (default topo.Dst). Start may change them.
	NextHop net.HardwareAddr
	Dst     string
	// Notes are remarks the case wants in the report (modes obtained, ...).
	Notes []string
	// Pids are the processes the case started (an appliance): their CPU
	// time is the measurement's, not noise.
	Pids []int
}

// Cases are the cases this harness knows, in report order; the first is
// the baseline.
func Cases() []Case {
	return []Case{
		KernelCase(),
		RouterCase("afpacket"),
		RouterCase("afxdp"),
		NftablesCase(10),
		FirewallCase("afpacket", 10),
		FirewallCase("afxdp", 10),
		NftablesCase(1000),
		FirewallCase("afpacket", 1000),
		FirewallCase("afxdp", 1000),
	}
}

// KernelCase is Linux forwarding in fwd: ip_forward=1, the route and
// static neighbours of topo.KernelForwarding. With one core everything runs
// where the generator runs: veth hands each packet to the receiving side in
// the sender's context, so the generator's send(2) carries the packet
// through fwd's forwarding and into sink. With two cores, receive packet
// steering on fwd-in moves fwd's receive processing, forwarding and the
// hand-over to sink to the second CPU.
func KernelCase() Case {
	return Case{
		Name:     "kernel",
		Hops:     1,
		Baseline: true,
		Start: func(ctx context.Context, env *Env) (func(context.Context) error, error) {
			if err := env.Topo.KernelForwarding(ctx); err != nil {
				return nil, err
			}
			if env.Cores > 1 {
				mask := cpuMask(env.FwdCPUs)
				if err := env.Topo.Fwd.SetRPS(ctx, topo.FwdIn, mask); err != nil {
					return nil, fmt.Errorf("RPS on %s: %w", topo.FwdIn, err)
				}
				env.Notes = append(env.Notes, "RPS fwd-in -> cpu "+cpuList(env.FwdCPUs))
			}
			return func(context.Context) error { return nil }, nil
		},
	}
}

func cpuMask(cpus []int) uint64 {
	var m uint64
	for _, c := range cpus {
		m |= 1 << c
	}
	return m
}

func cpuList(cpus []int) string {
	s := ""
	for i, c := range cpus {
		if i > 0 {
			s += ","
		}
		s += strconv.Itoa(c)
	}
	return s
}
