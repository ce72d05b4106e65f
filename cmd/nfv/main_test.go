package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// nfvBin is the nfv binary built once for the tests that run it as a user
// would.
var nfvBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nfv-test-")
	if err != nil {
		panic(err)
	}
	nfvBin = filepath.Join(dir, "nfv")
	if out, err := exec.Command("go", "build", "-o", nfvBin, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("building nfv: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func nfv(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(nfvBin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

func TestValidateExamples(t *testing.T) {
	examples, _ := filepath.Glob("../../examples/*.yaml")
	if len(examples) < 3 {
		t.Fatalf("found %d example policies", len(examples))
	}
	code, stdout, stderr := nfv(t, append([]string{"validate"}, examples...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if n := strings.Count(stdout, "valid"); n != len(examples) {
		t.Errorf("%d valid lines for %d policies:\n%s", n, len(examples), stdout)
	}
}

func TestValidateFiveMistakes(t *testing.T) {
	const policy = "../../pkg/config/testdata/five-mistakes.yaml"
	code, stdout, stderr := nfv(t, "validate", policy)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	pos := regexp.MustCompile(`^` + regexp.QuoteMeta(policy) + `:\d+:\d+: \S`)
	for _, l := range lines {
		if !pos.MatchString(l) {
			t.Errorf("not a file:line:col: error: %q", l)
		}
	}
	if len(lines) != 5 {
		t.Errorf("%d errors, want 5:\n%s", len(lines), stderr)
	}
}

func TestUsageAndExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{nil, 2, "Commands:"},
		{[]string{"-h"}, 0, "validate"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"validate"}, 2, "no policy given"},
		{[]string{"validate", "-h"}, 0, "file:line:col"},
		{[]string{"validate", "/nonexistent.yaml"}, 1, "nonexistent.yaml"},
		{[]string{"validate", "--bogus"}, 2, "bogus"},
		{[]string{"replay", "-h"}, 0, "--in"},
		{[]string{"version"}, 0, "nfv "},
	} {
		code, stdout, stderr := nfv(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.out) {
			t.Errorf("nfv %q: exit %d, output lacks %q?\n%s%s", tc.args, code, tc.out, stdout, stderr)
		}
	}
}

func TestSchemaMatchesDocs(t *testing.T) {
	code, stdout, stderr := nfv(t, "schema")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want, err := os.ReadFile("../../docs/policy.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(want) {
		t.Error("nfv schema differs from docs/policy.schema.json; run 'make schema'")
	}
}

func TestRunRefusesBadPorts(t *testing.T) {
	code, _, stderr := nfv(t, "run", "../../examples/router.yaml")
	if code != 1 || !strings.Contains(stderr, "virtio ports exist inside an image") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	code, _, stderr = nfv(t, "run")
	if code != 2 {
		t.Errorf("no policy: exit %d\n%s", code, stderr)
	}
}
