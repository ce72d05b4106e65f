// Package testenv lets tests say what the machine must have (root, a
// command, a kernel feature) and skip with a clear reason when it is
// missing — except where NFV_REQUIRE_ALL=1 (as under CI, as root, after
// `make deps`): there a missing requirement fails the test, so nothing is
// skipped silently where the machine should be able to run it.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Strict reports whether missing requirements fail instead of skipping.
func Strict() bool { return os.Getenv("NFV_REQUIRE_ALL") == "1" }

// Skip skips t with reason, or fails it in strict mode.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if Strict() {
		t.Fatalf("required but unavailable (NFV_REQUIRE_ALL=1): %s", reason)
	}
	t.Skip(reason)
}

// NeedRoot skips unless the test runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (network namespaces, raw sockets); run 'make test' as root")
	}
}

// NeedCommand skips unless name is on PATH, and returns its path.
func NeedCommand(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, name+" not found; 'make deps' installs Debian's "+pkg)
	}
	return p
}

// Long skips tests that take more than a few seconds under -short.
func Long(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow; not run with -short")
	}
}
