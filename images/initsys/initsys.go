// Package initsys is the program an image boots into: the appliance's own
// binary, started by the kernel as PID 1 (/init), with no shell and no
// other program beside it.
//
// # Two processes, one binary
//
// PID 1 readies the machine: it mounts /proc, /sys and /dev, loads the
// kernel modules the image carries, if any (in the order listed in
// ModulesList; the minimal kernel has everything built in), finds the
// virtio NICs in bus order (PCI address, or virtio-mmio device order),
// turns off what the guest kernel would otherwise do with them (IPv6
// autoconfiguration, GRO) and brings them up. It then starts itself again
// as the appliance process, which loads the policy, sizes its packet pool
// and receive rings to the memory the guest has, maps each virtio:N port
// to the Nth NIC (a PortNIC port: AF_PACKET on ethX), runs the appliance
// and prints one line "READY <ms> ms after boot" to the serial console
// when packets flow. Logs go to the console.
//
// PID 1 stays behind as the supervisor: on SIGTERM, on ctrl-alt-del
// (SIGINT, as reboot(CAD_OFF) asks) or on the ACPI power button (QEMU's
// system_powerdown) it stops the appliance and powers the machine off.
// When the appliance process ends by itself, for whatever reason (an
// error, a Go panic, a fatal runtime error, the OOM killer), PID 1 logs
// how it ended and powers off. PID 1 itself never exits: an init that
// exits panics the kernel.
//
// # On a host
//
// Not PID 1, the same binary runs a policy on the host's interfaces as
// `nfv run` does: `router POLICY`. That is how the image's program is
// tested without booting it.
package initsys

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/runner"
)

// Paths inside an image.
const (
	// PolicyPath is the policy an image runs.
	PolicyPath = "/etc/nfvkit/policy.yaml"
	// ModulesList lists the kernel modules to load, one path per line,
	// dependencies first.
	ModulesList = "/etc/nfvkit/modules"
	// EnvDir holds the policy's env: secrets, one file per variable,
	// which PID 1 puts in the appliance's environment.
	EnvDir = "/etc/nfvkit/env"
)

// ReadyPrefix starts the line an image prints when it forwards; the
// milliseconds since the kernel started follow, then " ms after boot".
const ReadyPrefix = "READY "

// Environment of the appliance process PID 1 starts.
const (
	envRole = "NFV_INIT_ROLE" // "appliance" in the process PID 1 starts
	envNICs = "NFV_INIT_NICS" // the NICs in bus order, space-separated
)

// Main is the main function of an appliance's program: PID 1 in an image,
// the appliance process PID 1 starts, or on a host a process running a
// policy. appliance is what the binary is built for; a policy for another
// is refused.
func Main(appliance config.Appliance) {
	switch {
	case os.Getenv(envRole) == "appliance":
		os.Exit(applianceMain(appliance))
	case os.Getpid() == 1:
		pid1(appliance) // never returns
	default:
		os.Exit(hostMain(appliance, os.Args[1:], os.Stderr))
	}
}

// applianceMain runs the image's policy on the NICs PID 1 found.
func applianceMain(appliance config.Appliance) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	p, err := load(PolicyPath, appliance)
	if err != nil {
		log.Error("policy", "err", err)
		return 1
	}
	nics := strings.Fields(os.Getenv(envNICs))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if _, avail, ok := memInfo(); ok {
		mem = sizeFor(avail)
	}
	err = runner.Run(ctx, p, runner.Options{
		Log:    log,
		Frames: mem.frames,
		Resolve: func(_ *config.Interface, spec config.PortSpec) (config.PortSpec, error) {
			return ResolveVirtio(spec, nics)
		},
		Ready: func() {
			// One line, whole, so nothing interleaves with it.
			fmt.Fprintf(os.Stdout, "%s%d ms after boot\n", ReadyPrefix, sinceBoot().Milliseconds())
			if total, avail, ok := memInfo(); ok {
				log.Info("memory", "total_kib", total, "available_kib", avail)
			}
		},
	})
	if err != nil {
		log.Error("appliance failed", "err", err)
		return 1
	}
	log.Info("appliance stopped")
	return 0
}

// PortNIC is the kind of port virtio:N becomes in an image: AF_PACKET on
// the guest's Nth virtio NIC, as afpacket:ethN would be, but with a receive
// ring sized to the guest's memory (sizeFor) rather than the 2 MiB per port
// that suits a host, which a 24 MiB guest cannot spare twice.
const PortNIC config.PortKind = "nic"

// ResolveVirtio maps virtio:N to the Nth of nics (the guest's virtio NICs
// in bus order) as a PortNIC port; other specs are left alone.
func ResolveVirtio(spec config.PortSpec, nics []string) (config.PortSpec, error) {
	if spec.Kind != config.PortVirtio {
		return spec, nil
	}
	n := spec.Index()
	if n >= len(nics) {
		return spec, fmt.Errorf("%s: the machine has %d virtio NICs (boot it with one NIC per virtio port: nfv boot --nic ...)", spec, len(nics))
	}
	// Checked as an afpacket port is: nics[n] must be an interface name.
	if _, err := config.ParsePortSpec(string(config.PortAFPacket) + ":" + nics[n]); err != nil {
		return spec, err
	}
	return config.PortSpec{Kind: PortNIC, Arg: nics[n]}, nil
}

// load loads a policy and checks it is for appliance.
func load(path string, appliance config.Appliance) (*config.Policy, error) {
	p, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if p.Appliance != appliance {
		return nil, fmt.Errorf("%s is a %s policy; this is the %s program", path, p.Appliance, appliance)
	}
	return p, nil
}

// hostMain runs a policy on this host's interfaces, like nfv run.
func hostMain(appliance config.Appliance, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(string(appliance), flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "debug logging")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: %s [-v] POLICY

The %s appliance. Booted in an image (nfv build, nfv boot) it is the
image's /init. Here, as a process, it runs POLICY on this host's interfaces
(afpacket:IF, afxdp:IF, tap:IF, pcap:FILE ports) until SIGINT or SIGTERM,
as 'nfv run POLICY' does.
`, appliance, appliance)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	p, err := load(fs.Arg(0), appliance)
	if err != nil {
		var list config.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				fmt.Fprintln(stderr, e.Error())
			}
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runner.Run(ctx, p, runner.Options{Log: log, Ready: func() { log.Info("ready", "policy", fs.Arg(0)) }}); err != nil {
		log.Error("appliance failed", "err", err)
		return 1
	}
	return 0
}

// sizing is how the appliance spends the guest's memory on packets.
type sizing struct {
	// frames is the packet pool's size (0: the runner's default).
	frames int
	// ringBlocks is the number of 64 KiB blocks of each NIC's AF_PACKET
	// receive ring (0: the afpacket default, 32).
	ringBlocks int
}

// mem is the appliance process's sizing, set from the memory available
// when it starts.
var mem sizing

// sizeFor sizes the packet pool and the receive rings to the memory
// available (KiB) when the appliance starts. Where memory allows, the
// runner's defaults: 4096 frames (8 MiB) and 2 MiB rings. Else the pool
// gets at most a quarter of it (no fewer than 512 frames, 1 MiB) and each
// ring a sixteenth (no less than 256 KiB: at the line rates a guest under
// TCG reaches, still a few milliseconds of packets).
func sizeFor(availKiB int64) sizing {
	const (
		defFrames, leastFrames, frameKiB = 4096, 512, 2
		defBlocks, leastBlocks, blockKiB = 32, 4, 64
	)
	return sizing{
		frames:     max(leastFrames, min(defFrames, int(availKiB/4/frameKiB))),
		ringBlocks: max(leastBlocks, min(defBlocks, int(availKiB/16/blockKiB))),
	}
}

// memInfo reads the machine's total and available memory in KiB.
func memInfo() (total, avail int64, ok bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		var v int64
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &v); err == nil {
			total = v
		} else if _, err := fmt.Sscanf(line, "MemAvailable: %d kB", &v); err == nil {
			avail = v
		}
	}
	return total, avail, total > 0
}
