package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/replay"
)

const replayHelp = `Runs the policy's appliance over packet captures, offline, and shows what
would leave each interface and why each drop happened. Each --in capture is
replayed as arriving on that interface; the captures' timestamps are the
clock, so the run is deterministic. For every interface, DIR/IFACE.pcap gets
the frames that left it, in order, each stamped with the time of the input
frame that caused it (an empty capture when nothing left). The summary of
packets per interface and drops per reason is printed and written to
DIR/summary.json. Captures are classic pcap (tcpdump -w), Ethernet.

Exit status: 0 replayed, 1 invalid policy or failed run, 2 usage.

Example:
  nfv replay examples/router.yaml --in lan=examples/captures/router-lan.pcap --out out/replay
  tcpdump -nn -e -r out/replay/wan.pcap`

// cmdReplay is `nfv replay`.
func cmdReplay(args []string) int { return replayMain(args, os.Stdout, os.Stderr) }

func replayMain(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("replay", "POLICY --in IFACE=FILE.pcap [--in ...] --out DIR", replayHelp)
	fs.SetOutput(stderr)
	inputs := inputFlag{}
	fs.Var(inputs, "in", "replay capture `IFACE=FILE.pcap` as arriving on interface IFACE (repeat for more interfaces)")
	outDir := fs.String("out", "", "`DIR` for the output captures and summary.json (created if missing)")
	verbose := fs.Bool("v", false, "log what the appliance does, in detail")

	pos, code := parseInterspersed(fs, args)
	if code >= 0 {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "nfv replay: "+format+"\nRun 'nfv replay -h' for help.\n", a...)
		return exitUsage
	}
	switch {
	case len(pos) == 0:
		return usageErr("no policy given")
	case len(pos) > 1:
		return usageErr("one policy at a time (got %s)", strings.Join(pos, " "))
	case len(inputs) == 0:
		return usageErr("no --in IFACE=FILE.pcap given: nothing to replay")
	case *outDir == "":
		return usageErr("no --out DIR given")
	}

	p, err := config.Load(pos[0])
	if err != nil {
		printPolicyErrors(stderr, err)
		return exitFailed
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{} // replay time is capture time; wall time is noise
			}
			return a
		},
	}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum, err := replay.Run(ctx, p, replay.Options{Inputs: inputs, OutDir: *outDir, Log: log})
	var ue *replay.UsageError
	switch {
	case errors.As(err, &ue):
		return usageErr("%s", ue.Msg)
	case err != nil:
		fmt.Fprintf(stderr, "nfv replay: %v\n", err)
		return exitFailed
	}
	if err := sum.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "nfv replay: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "\nsummary: %s\n", filepath.Join(*outDir, replay.SummaryFile))
	return exitOK
}

// inputFlag collects --in IFACE=FILE.pcap.
type inputFlag map[string]string

func (f inputFlag) String() string { return "" }

func (f inputFlag) Set(s string) error {
	name, file, ok := strings.Cut(s, "=")
	switch {
	case !ok || name == "" || file == "":
		return fmt.Errorf("%q is not IFACE=FILE.pcap", s)
	case f[name] != "":
		return fmt.Errorf("two captures for interface %s (%s and %s)", name, f[name], file)
	}
	f[name] = file
	return nil
}
