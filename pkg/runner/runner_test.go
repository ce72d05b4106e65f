package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

func policyFor(t *testing.T, dir string, extra string) *config.Policy {
	t.Helper()
	src, err := os.ReadFile("../../examples/captures/router-lan.pcap")
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "lan.pcap")
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	y := "appliance: router\ninterfaces:\n" +
		"  - {name: lan, port: \"pcap:" + in + "\", address: [192.0.2.1/24]}\n" +
		"  - {name: wan, port: \"pcap:" + filepath.Join(dir, "wan.pcap") + "\", address: [198.51.100.2/30]}\n" + extra
	p, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunOverCaptures(t *testing.T) {
	dir := t.TempDir()
	p := policyFor(t, dir, "")
	// A pcap port reads its file: keep lan, whose capture exists.
	p.Interfaces = p.Interfaces[:1]
	var stats *dataplane.Stats
	ready := false
	err := Run(context.Background(), p, Options{
		Ready: func() { ready = true },
		Stats: func(s *dataplane.Stats) { stats = s },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ready || stats == nil {
		t.Fatal("Ready or Stats not called")
	}
	if got := stats.Ports[0].RxPackets.Load(); got != 4 {
		t.Errorf("lan received %d packets, want 4", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "lan.pcap.out.pcap")); err != nil {
		t.Error(err)
	}
}

func TestRunUnknownBackend(t *testing.T) {
	p, err := config.Parse("test.yaml", []byte("appliance: router\ninterfaces:\n  - {name: lan, port: \"mem:x\", address: [192.0.2.1/24]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), p, Options{})
	if err == nil || !strings.Contains(err.Error(), "no mem backend") {
		t.Fatalf("err = %v", err)
	}
}

func TestReloadChecks(t *testing.T) {
	dir := t.TempDir()
	cur := policyFor(t, dir, "")
	same := policyFor(t, dir, "routes:\n  - {to: 10.0.0.0/8, via: 192.0.2.254}\n")
	moved := policyFor(t, t.TempDir(), "")
	fw, err := config.Parse("fw.yaml", []byte("appliance: firewall\ninterfaces:\n  - {name: lan, port: \"pcap:x\", address: [192.0.2.1/24]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	stage := dataplane.StageFunc(func(*dataplane.Batch) {})
	if err := reload(stage, cur, moved); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("changed ports: %v", err)
	}
	if err := reload(stage, cur, fw); err == nil || !strings.Contains(err.Error(), "firewall") {
		t.Errorf("changed appliance: %v", err)
	}
	if err := reload(stage, cur, same); err == nil || !strings.Contains(err.Error(), "cannot reload") {
		t.Errorf("stage without Reload: %v", err)
	}
	r := &reloadStage{}
	if err := reload(r, cur, same); err != nil || r.got != same {
		t.Errorf("reload: %v", err)
	}
}

type reloadStage struct {
	dataplane.StageFunc
	got *config.Policy
}

func (r *reloadStage) Reload(p *config.Policy) error { r.got = p; return nil }

func TestRunStopsOnCancel(t *testing.T) {
	// A live port that never receives: Run must return when ctx ends.
	RegisterPortForTest(t, "mem", func(c PortConfig) (dataplane.Port, error) { return idlePort{}, nil })
	p, err := config.Parse("test.yaml", []byte("appliance: router\ninterfaces:\n  - {name: lan, port: \"mem:x\", address: [192.0.2.1/24]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := Run(ctx, p, Options{}); err != nil {
		t.Fatal(err)
	}
}

type idlePort struct{}

func (idlePort) Recv(*dataplane.Batch) (int, error)   { return 0, nil }
func (idlePort) Send(b *dataplane.Batch) (int, error) { b.Reset(); return 0, nil }
func (idlePort) BatchSize() int                       { return 32 }
func (idlePort) MTU() int                             { return 1500 }
func (idlePort) Close() error                         { return nil }

// RegisterPortForTest registers f for kind k for the duration of t.
func RegisterPortForTest(t *testing.T, k config.PortKind, f Opener) {
	openers.Lock()
	old, had := openers.m[k]
	openers.m[k] = f
	openers.Unlock()
	t.Cleanup(func() {
		openers.Lock()
		defer openers.Unlock()
		if had {
			openers.m[k] = old
		} else {
			delete(openers.m, k)
		}
	})
}
