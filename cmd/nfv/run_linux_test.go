package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
)

// TestRunSignals runs `nfv run` on two TAP ports in a namespace: it logs
// that it is ready, reloads a changed policy on SIGHUP, refuses a broken
// one and keeps running, and on SIGTERM stops with status 0 and removes the
// TAPs it made.
func TestRunSignals(t *testing.T) {
	ns := nettest.Netns(t, "run")
	dir := t.TempDir()
	policy := filepath.Join(dir, "router.yaml")
	tapA, tapB := fmt.Sprintf("nrun%d", os.Getpid()%10000), fmt.Sprintf("nrun%db", os.Getpid()%10000)
	base := fmt.Sprintf(`appliance: router
interfaces:
  - {name: lan, port: "tap:%s", address: [192.0.2.1/24]}
  - {name: wan, port: "tap:%s", address: [198.51.100.2/30]}
`, tapA, tapB)
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(policy, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(base)

	cmd := exec.Command("ip", "netns", "exec", ns, nfvBin, "run", policy)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(what string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("nfv run ended before logging %q", what)
				}
				t.Log(l)
				if strings.Contains(l, what) {
					return
				}
			case <-deadline:
				t.Fatalf("nfv run did not log %q within 20s", what)
			}
		}
	}
	expect("msg=ready")
	nettest.IP(t, "-n", ns, "link", "show", tapA)

	write(base + "routes:\n  - {to: 10.0.0.0/8, via: 192.0.2.254}\n")
	cmd.Process.Signal(syscall.SIGHUP)
	expect("msg=reloaded")

	write(base + "routes:\n  - {to: 10.0.0.0/33, via: 192.0.2.254}\n")
	cmd.Process.Signal(syscall.SIGHUP)
	expect("reload refused")

	cmd.Process.Signal(syscall.SIGTERM)
	expect("msg=stopped")
	go io.Copy(io.Discard, stderr)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("nfv run after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nfv run did not exit within 20s of SIGTERM")
	}
	if out, err := nettest.IPErr("-n", ns, "link", "show", tapA); err == nil {
		t.Errorf("TAP %s still exists after stop:\n%s", tapA, out)
	}
}
