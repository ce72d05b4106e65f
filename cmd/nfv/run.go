package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/runner"
)

const runHelp = `Runs the policy's appliance as a process on this host's interfaces, with the
ports its policy names (afpacket:IF, afxdp:IF[/Q], tap:IF, pcap:FILE). Logs
are structured lines on standard error. SIGHUP reloads the policy file (a
policy that does not validate, or that changes interfaces, is refused and the
running one stays); SIGINT or SIGTERM stops the appliance cleanly: ports
closed, XDP programs detached, interfaces as they were.

Exit status: 0 stopped cleanly, 1 invalid policy or failed run, 2 usage.

Example:
  nfv run examples/router.yaml     # with its ports changed to afpacket:eth1 ...`

func cmdRun(args []string) int { return runMain(args, os.Stderr) }

func runMain(args []string, stderr io.Writer) int {
	fs := newFlags("run", "POLICY", runHelp)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "debug logging")
	jsonLog := fs.Bool("log-json", false, "log JSON lines instead of key=value lines")
	frames := fs.Int("frames", 0, "frames in the packet pool (default 4096, 8 MiB)")
	pos, code := parseInterspersed(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "nfv run: give exactly one policy\nRun 'nfv run -h' for help.")
		return exitUsage
	}
	path := pos[0]
	p, err := config.Load(path)
	if err != nil {
		printPolicyErrors(stderr, err)
		return exitFailed
	}
	log := newLogger(stderr, *verbose, *jsonLog)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan *config.Policy)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			log.Info("SIGHUP: reloading", "policy", path)
			np, err := config.Load(path)
			if err != nil {
				log.Error("reload refused: the policy does not validate", "err", err)
				continue
			}
			select {
			case reload <- np:
			case <-ctx.Done():
				return
			}
		}
	}()

	err = runner.Run(ctx, p, runner.Options{
		Log:    log,
		Frames: *frames,
		Reload: reload,
		Ready:  func() { log.Info("ready", "policy", path) },
	})
	if err != nil {
		log.Error("appliance failed", "err", err)
		return exitFailed
	}
	return exitOK
}

func newLogger(w io.Writer, verbose, asJSON bool) *slog.Logger {
	o := &slog.HandlerOptions{Level: slog.LevelInfo}
	if verbose {
		o.Level = slog.LevelDebug
	}
	if asJSON {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
