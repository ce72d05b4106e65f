package wgtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	_ "github.com/nfvkit/nfvkit/appliances/ipsec-gw" // the ipsec-gw stage RunGateway runs
	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/runner"
)

// logBuffer collects a gateway's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testLog is the gateway's log, at debug level (wireguard-go's verbose
// lines included): kept in buf, and copied to stderr with NFV_TEST_LOG=1.
func testLog(buf *logBuffer) *slog.Logger {
	var w io.Writer = buf
	if os.Getenv("NFV_TEST_LOG") == "1" {
		w = io.MultiWriter(buf, os.Stderr)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// CheckNoSecrets fails t if log shows any of the secrets, as given
// (base64) or in hex.
func CheckNoSecrets(t testing.TB, log string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		forms := []string{s}
		if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
			forms = append(forms, hex.EncodeToString(raw))
		}
		for _, f := range forms {
			if strings.Contains(log, f) {
				t.Errorf("the gateway's log shows a secret")
			}
		}
	}
}

// RunGateway runs policy p as nfv run does, in namespace ns, until the
// returned stop is called (or the test ends); stop checks it ended cleanly
// with every frame back in the pool, and logs its drops.
//
// The log is kept at debug level and checked for secrets: stop fails the
// test if it shows any of them.
func RunGateway(t testing.TB, ns string, p *config.Policy, secrets ...string) (stop func()) {
	t.Helper()
	stop, _ = RunGatewayLog(t, ns, p, secrets...)
	return stop
}

// RunGatewayLog is RunGateway that also returns the gateway's log so far,
// for a test to look for events in.
func RunGatewayLog(t testing.TB, ns string, p *config.Policy, secrets ...string) (stop func(), log func() string) {
	t.Helper()
	logs := new(logBuffer)
	var stats *dataplane.Stats
	serving := nettest.Serve(t, ns, "gateway", func(ctx context.Context, ready func()) error {
		return runner.Run(ctx, p, runner.Options{
			Log:   testLog(logs),
			Ready: ready,
			Stats: func(s *dataplane.Stats) { stats = s },
		})
	})
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		serving()
		if stats != nil {
			for _, d := range stats.Drops() {
				t.Logf("gateway dropped %d: %s", d.Count, d.Name)
			}
		}
		CheckNoSecrets(t, logs.String(), secrets)
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs)
		}
	}
	t.Cleanup(stop)
	return stop, logs.String
}
