package pktgen

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
)

// Main is the generator program: it parses args, sends, and prints the
// Result as one JSON line on stdout. SIGINT or SIGTERM stop it early, and
// it still prints what it sent. It returns the exit status.
func Main(args []string) int { return mainIO(args, os.Stdout, os.Stderr) }

func mainIO(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pktgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: pktgen -i IF -dst-mac MAC [options]\n\n"+
			"Sends IPv4/UDP frames of one size on IF from an AF_PACKET socket, as fast as\n"+
			"the kernel takes them or at -rate, for -duration or -count packets, and prints\n"+
			"what it sent as JSON. Run it in the generator's namespace, pinned with taskset.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	iface := fs.String("i", "", "interface to send on (required)")
	dstMAC := fs.String("dst-mac", "", "destination MAC: the next hop's (required)")
	srcMAC := fs.String("src-mac", "", "source MAC (default: the interface's)")
	src := fs.String("src", "198.18.0.2", "source IPv4 address")
	dst := fs.String("dst", "198.19.0.1", "destination IPv4 address")
	sport := fs.Uint("sport", 1024, "first UDP source port; flow i uses sport+i")
	dport := fs.Uint("dport", 9, "UDP destination port")
	flows := fs.Int("flows", 16, "number of flows (source ports)")
	size := fs.Int("size", 64, fmt.Sprintf("Ethernet frame size without FCS, %d..%d", MinSize, MaxSize))
	ttl := fs.Uint("ttl", 64, "IPv4 TTL")
	rate := fs.Float64("rate", 0, "packets per second to offer; 0 = as fast as possible")
	dur := fs.Duration("duration", 0, "how long to send")
	count := fs.Uint64("count", 0, "stop after this many packets (0: no limit)")
	ring := fs.Int("ring", 4096, "TX ring slots (with -tx ring)")
	tx := fs.String("tx", "mmsg", "how to send: mmsg (sendmmsg(2), linear packets) or ring (TPACKET_V2 TX ring)")
	batch := fs.Int("batch", 64, "most packets queued per send(2)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *tx != "mmsg" && *tx != "ring" {
		fmt.Fprintln(stderr, "pktgen: -tx is mmsg or ring")
		return 2
	}
	if fs.NArg() != 0 || *iface == "" || *dstMAC == "" {
		fmt.Fprintln(stderr, "pktgen: -i and -dst-mac are required, and nothing else")
		return 2
	}
	spec := Spec{
		SrcPort: uint16(*sport), DstPort: uint16(*dport),
		Flows: *flows, Size: *size, TTL: uint8(*ttl),
	}
	var err error
	if spec.DstMAC, err = net.ParseMAC(*dstMAC); err != nil {
		fmt.Fprintln(stderr, "pktgen: -dst-mac:", err)
		return 2
	}
	if *srcMAC != "" {
		if spec.SrcMAC, err = net.ParseMAC(*srcMAC); err != nil {
			fmt.Fprintln(stderr, "pktgen: -src-mac:", err)
			return 2
		}
	}
	if spec.Src, err = netip.ParseAddr(*src); err != nil {
		fmt.Fprintln(stderr, "pktgen: -src:", err)
		return 2
	}
	if spec.Dst, err = netip.ParseAddr(*dst); err != nil {
		fmt.Fprintln(stderr, "pktgen: -dst:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, Config{
		Iface: *iface, Spec: spec, Rate: *rate, Duration: *dur, Count: *count,
		RingFrames: *ring, Batch: *batch, Ring: *tx == "ring",
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		fmt.Fprintln(stderr, "pktgen:", err)
		return 1
	}
	return 0
}

// RoleEnv, set to "pktgen" in a program's environment, makes RunIfChild
// turn the program into the generator. The e2e harness starts itself that
// way in gen's namespace (ip netns exec ... taskset ... SELF), so it needs
// no second binary, and its tests do the same with the test binary.
const RoleEnv = "NFVBENCH_ROLE"

// RunIfChild runs Main and exits if the environment asks for the
// generator; otherwise it returns at once. Call it first thing in main (or
// TestMain).
func RunIfChild() {
	if os.Getenv(RoleEnv) == "pktgen" {
		os.Exit(Main(os.Args[1:]))
	}
}
