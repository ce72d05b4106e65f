package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	exampleRouter = "../../examples/router.yaml"
	exampleLAN    = "../../examples/captures/router-lan.pcap"
)

func runReplay(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = replayMain(args, &o, &e)
	return code, o.String(), e.String()
}

func TestReplayCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	// Flags after the policy, as the help shows them.
	code, stdout, stderr := runReplay(t, exampleRouter, "--in", "lan="+exampleLAN, "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	// The router answers the ARP request, asks wan for the gateway's MAC,
	// and still holds the three routed packets when the capture ends.
	for _, s := range []string{"router\n", "lan ", "wan ", "dropped: 3", "neighbor-pending-at-stop  3", "summary: " + filepath.Join(out, "summary.json")} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
	if strings.Contains(stderr, "no appliance registered") {
		t.Errorf("the router fell back to the pass-through stage: %q", stderr)
	}
	for _, f := range []string{"lan.pcap", "wan.pcap", "summary.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// Flags before the policy work as well.
	if code, _, stderr := runReplay(t, "-out", out, "-in", "lan="+exampleLAN, exampleRouter); code != exitOK {
		t.Fatalf("flags first: exit %d\n%s", code, stderr)
	}
}

func TestReplayCommandFailures(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	badPolicy := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badPolicy, []byte("appliance: router\ninterfaces:\n  - {name: lan, port: \"virtio:0\", addres: [192.0.2.1/24]}\n"), 0o644)
	cut := filepath.Join(dir, "cut.pcap")
	data, _ := os.ReadFile(exampleLAN)
	os.WriteFile(cut, data[:len(data)-3], 0o644)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // on stderr
	}{
		{"help", []string{"-h"}, exitOK, "Example:\n  nfv replay examples/router.yaml"},
		{"invalid policy", []string{badPolicy, "--in", "lan=" + exampleLAN, "--out", out}, exitFailed, badPolicy + ":3:"},
		{"missing policy", []string{filepath.Join(dir, "none.yaml"), "--in", "lan=" + exampleLAN, "--out", out}, exitFailed, "none.yaml"},
		{"broken capture", []string{exampleRouter, "--in", "lan=" + cut, "--out", out}, exitFailed, "nfv replay: port lan: receive: " + cut + ": pcap: record 4"},
		{"unknown interface", []string{exampleRouter, "--in", "dmz=" + exampleLAN, "--out", out}, exitUsage, "the policy has no interface dmz (it has lan, wan)"},
		{"missing capture", []string{exampleRouter, "--in", "lan=" + filepath.Join(dir, "no.pcap"), "--out", out}, exitUsage, "no.pcap: no such file"},
		{"no policy", []string{"--in", "lan=" + exampleLAN, "--out", out}, exitUsage, "no policy given"},
		{"two policies", []string{exampleRouter, exampleRouter, "--in", "lan=" + exampleLAN, "--out", out}, exitUsage, "one policy at a time"},
		{"no inputs", []string{exampleRouter, "--out", out}, exitUsage, "nothing to replay"},
		{"no output", []string{exampleRouter, "--in", "lan=" + exampleLAN}, exitUsage, "no --out DIR given"},
		{"bad --in", []string{exampleRouter, "--in", "lan", "--out", out}, exitUsage, `"lan" is not IFACE=FILE.pcap`},
		{"twice --in", []string{exampleRouter, "--in", "lan=a", "--in", "lan=b", "--out", out}, exitUsage, "two captures for interface lan"},
		{"unknown flag", []string{exampleRouter, "--bogus"}, exitUsage, "flag provided but not defined: -bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runReplay(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want %d; stderr:\n%s\nwant it to say %q", code, tc.code, stderr, tc.want)
			}
		})
	}
}

// TestCmdReplay runs the entry point main.go dispatches to.
func TestCmdReplay(t *testing.T) {
	if code := cmdReplay([]string{exampleRouter, "--in", "lan=" + exampleLAN, "--out", t.TempDir()}); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if code := cmdReplay([]string{exampleRouter, "--in", "nope=" + exampleLAN, "--out", t.TempDir()}); code != exitUsage {
		t.Fatalf("exit %d", code)
	}
}
