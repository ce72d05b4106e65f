package topo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// The addressing plan (RFC 2544's benchmarking range).
var (
	GenAddr    = netip.MustParsePrefix("198.18.0.2/24")
	FwdInAddr  = netip.MustParsePrefix("198.18.0.1/24")
	FwdOutAddr = netip.MustParsePrefix("198.18.1.1/24")
	SinkAddr   = netip.MustParsePrefix("198.18.1.2/24")
	// Behind is the network fwd routes via sink: the traffic's
	// destinations. Sink has no address in it and does not forward.
	Behind = netip.MustParsePrefix("198.19.0.0/16")
	// Dst is the destination the generator uses by default.
	Dst = netip.MustParseAddr("198.19.0.1")
)

// Interface names. They are the same in every run: each lives in a
// namespace of its own run.
const (
	GenIf  = "gen0"
	FwdIn  = "fwd-in"
	FwdOut = "fwd-out"
	SinkIf = "sink0"
)

// Fixed, locally administered MAC addresses, so captures read the same in
// every run.
var (
	GenMAC    = net.HardwareAddr{0x02, 0x6e, 0x66, 0x00, 0x00, 0x01}
	FwdInMAC  = net.HardwareAddr{0x02, 0x6e, 0x66, 0x00, 0x00, 0x02}
	FwdOutMAC = net.HardwareAddr{0x02, 0x6e, 0x66, 0x00, 0x00, 0x03}
	SinkMAC   = net.HardwareAddr{0x02, 0x6e, 0x66, 0x00, 0x00, 0x04}
)

// Topology is one gen -- fwd -- sink set of namespaces.
type Topology struct {
	// Prefix starts every namespace name: PREFIX-gen, PREFIX-fwd, PREFIX-sink.
	Prefix         string
	Gen, Fwd, Sink *NS
}

// prefixBase starts every prefix this package makes; Sweep relies on it.
const prefixBase = "nfvb"

var prefixSeq atomic.Uint32

// NewPrefix returns a namespace prefix unique to this process and call:
// nfvb<pid>-<n>.
func NewPrefix() string {
	return fmt.Sprintf("%s%d-%d", prefixBase, os.Getpid(), prefixSeq.Add(1))
}

// Up builds a topology under prefix (see NewPrefix). On error it removes
// what it made.
func Up(ctx context.Context, prefix string) (t *Topology, err error) {
	t = &Topology{
		Prefix: prefix,
		Gen:    &NS{Name: prefix + "-gen"},
		Fwd:    &NS{Name: prefix + "-fwd"},
		Sink:   &NS{Name: prefix + "-sink"},
	}
	defer func() {
		if err != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if derr := t.Down(dctx); derr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up: %w", derr))
			}
			t = nil
		}
	}()
	for _, ns := range t.namespaces() {
		if err := run(ctx, "ip", "netns", "add", ns.Name); err != nil {
			return t, err
		}
		for _, kv := range [][2]string{
			{"net.ipv6.conf.all.disable_ipv6", "1"},
			{"net.ipv6.conf.default.disable_ipv6", "1"},
		} {
			if err := ns.Sysctl(kv[0], kv[1]); err != nil {
				return t, err
			}
		}
		if err := ns.IP(ctx, "link", "set", "lo", "up"); err != nil {
			return t, err
		}
	}
	steps := []struct {
		ns   *NS
		args []string
	}{
		{t.Gen, []string{"link", "add", GenIf, "address", GenMAC.String(), "type", "veth",
			"peer", "name", FwdIn, "address", FwdInMAC.String(), "netns", t.Fwd.Name}},
		{t.Fwd, []string{"link", "add", FwdOut, "address", FwdOutMAC.String(), "type", "veth",
			"peer", "name", SinkIf, "address", SinkMAC.String(), "netns", t.Sink.Name}},
		{t.Gen, []string{"addr", "add", GenAddr.String(), "dev", GenIf}},
		{t.Sink, []string{"addr", "add", SinkAddr.String(), "dev", SinkIf}},
		{t.Gen, []string{"link", "set", GenIf, "up"}},
		{t.Fwd, []string{"link", "set", FwdIn, "up"}},
		{t.Fwd, []string{"link", "set", FwdOut, "up"}},
		{t.Sink, []string{"link", "set", SinkIf, "up"}},
		{t.Gen, []string{"neigh", "replace", FwdInAddr.Addr().String(), "lladdr", FwdInMAC.String(), "dev", GenIf, "nud", "permanent"}},
		{t.Gen, []string{"route", "add", Behind.String(), "via", FwdInAddr.Addr().String(), "dev", GenIf}},
		{t.Sink, []string{"neigh", "replace", FwdOutAddr.Addr().String(), "lladdr", FwdOutMAC.String(), "dev", SinkIf, "nud", "permanent"}},
		{t.Sink, []string{"route", "add", "default", "via", FwdOutAddr.Addr().String(), "dev", SinkIf}},
	}
	for _, s := range steps {
		if err := s.ns.IP(ctx, s.args...); err != nil {
			return t, err
		}
	}
	return t, nil
}

// KernelForwarding makes fwd a Linux router between gen and sink: the
// veths get their addresses, static neighbours for gen and sink, a route to
// Behind via sink, and net.ipv4.ip_forward=1.
func (t *Topology) KernelForwarding(ctx context.Context) error {
	for _, args := range [][]string{
		{"addr", "add", FwdInAddr.String(), "dev", FwdIn},
		{"addr", "add", FwdOutAddr.String(), "dev", FwdOut},
		{"neigh", "replace", GenAddr.Addr().String(), "lladdr", GenMAC.String(), "dev", FwdIn, "nud", "permanent"},
		{"neigh", "replace", SinkAddr.Addr().String(), "lladdr", SinkMAC.String(), "dev", FwdOut, "nud", "permanent"},
		{"route", "add", Behind.String(), "via", SinkAddr.Addr().String(), "dev", FwdOut},
	} {
		if err := t.Fwd.IP(ctx, args...); err != nil {
			return err
		}
	}
	return t.Fwd.Sysctl("net.ipv4.ip_forward", "1")
}

// Down kills whatever still runs in the namespaces and deletes them (and
// with them the veths). It tries every step and reports every failure.
func (t *Topology) Down(ctx context.Context) error {
	var errs []error
	for _, ns := range t.namespaces() {
		ns.closeNetlink()
		if _, err := os.Stat(ns.path()); err != nil {
			continue // never made, or already gone
		}
		errs = append(errs, killAll(ctx, ns))
		errs = append(errs, run(ctx, "ip", "netns", "del", ns.Name))
	}
	return errors.Join(errs...)
}

func (t *Topology) namespaces() []*NS { return []*NS{t.Gen, t.Fwd, t.Sink} }

// killAll kills the processes left in ns (only ever ours: nothing else
// enters a namespace this package made) and waits, briefly, until they
// are gone.
func killAll(ctx context.Context, ns *NS) error {
	pids, err := ns.Pids(ctx)
	if err != nil || len(pids) == 0 {
		return err
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if left, err := ns.Pids(ctx); err != nil || len(left) == 0 {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("netns %s: processes still running after SIGKILL", ns.Name)
}

var leftover = regexp.MustCompile(`^` + prefixBase + `([0-9]+)-[0-9]+-(gen|fwd|sink)$`)

// Sweep deletes the namespaces of earlier runs that died without cleaning
// up: those named by NewPrefix whose process no longer exists. Namespaces
// of runs still alive are left alone. It returns the names it removed.
func Sweep(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		m := leftover.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		ns := &NS{Name: e.Name()}
		if err := errors.Join(killAll(ctx, ns), run(ctx, "ip", "netns", "del", ns.Name)); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, ns.Name)
	}
	return removed, errors.Join(errs...)
}

// SinkDropsAtIngress makes sink drop what arrives on sink0 at the
// earliest hook (NS.DropAtIngress) instead of taking it up its IP layer (a
// route lookup that fails, and a route entry made and freed for every
// packet). veth has counted the packet in sink0's rx_packets by then, and
// captures (packet sockets) see it before the hook. Over veth, what a
// receiver does runs on the CPU of the sender: sink's IP layer was ~370 ns
// a packet of Linux's one-core path, charged to whatever forwards into
// sink.
func (t *Topology) SinkDropsAtIngress(ctx context.Context) error {
	return t.Sink.DropAtIngress(ctx, SinkIf)
}

// DropAtIngress drops every packet arriving on dev at the earliest hook
// after packet sockets have had their copy: an nftables netdev ingress
// chain with policy drop (table "nfvbench_DEV"). The kernel's own IP layer
// never sees them. It needs the nft program (Debian's nftables).
func (n *NS) DropAtIngress(ctx context.Context, dev string) error {
	nft, err := exec.LookPath("nft")
	if err != nil {
		return fmt.Errorf("no nft program: %w", err)
	}
	table := "nfvbench_" + strings.ReplaceAll(dev, "-", "_")
	ruleset := "table netdev " + table + " {\n\tchain ingress {\n\t\ttype filter hook ingress device " + dev +
		" priority 0; policy drop;\n\t}\n}\n"
	cmd := n.Command(ctx, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s", n.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
