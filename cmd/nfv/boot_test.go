package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMiB(t *testing.T) {
	for in, want := range map[string]int{"128": 128, "96M": 96, "96MiB": 96, "1G": 1024, "1.5g": 1536, "131072K": 128} {
		if got, err := parseMiB(in); err != nil || got != want {
			t.Errorf("parseMiB(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-5", "8", "0M"} {
		if _, err := parseMiB(bad); err == nil {
			t.Errorf("parseMiB(%q): no error", bad)
		}
	}
}

// TestBootRefuses checks the errors nfv boot gives before starting QEMU.
func TestBootRefuses(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := nfv(t, "boot", dir)
	if code != 1 || !strings.Contains(stderr, "is not an image directory") {
		t.Errorf("not an image: exit %d\n%s", code, stderr)
	}
	manifest := `{"appliance":"router","nics":[{"index":0,"interface":"lan"},{"index":1,"interface":"wan"}],"boot":{"memory_mib":128}}`
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nic", "tap:a"}, "the image has 2 NICs (virtio:0 lan, virtio:1 wan); 1 --nic given"},
		{[]string{"--nic", "tap:a", "--nic", "vde:x"}, `unknown kind "vde"`},
		{[]string{"--memory", "lots"}, "is not a size"},
		{[]string{"--accel", "hvf"}, "expected auto, kvm or tcg"},
	} {
		code, _, stderr := nfv(t, append([]string{"boot", dir}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", tc.args, code, tc.want, stderr)
		}
	}
	if code, _, _ := nfv(t, "boot"); code != 2 {
		t.Errorf("no image: exit %d", code)
	}
}

// TestBuildRefuses checks the policy checks nfv build makes before it
// fetches a kernel or compiles anything.
func TestBuildRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	host := write("host.yaml", "appliance: router\ninterfaces:\n  - {name: lan, port: afpacket:eth1, address: [192.0.2.1/24]}\n")
	code, _, stderr := nfv(t, "build", host, "-o", filepath.Join(dir, "out"))
	if code != 1 || !strings.Contains(stderr, "host.yaml:3:5: interface lan: port afpacket:eth1 cannot be in an image") {
		t.Errorf("host port: exit %d\n%s", code, stderr)
	}
	env := write("env.yaml", `appliance: ipsec-gw
interfaces:
  - {name: wan, port: virtio:0, address: [203.0.113.2/24]}
wireguard:
  - name: wg0
    private_key: env:WG_KEY
    address: [10.9.0.1/24]
    peers:
      - {public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", allowed_ips: [10.9.0.0/24]}
`)
	code, _, stderr = nfv(t, "build", env, "-o", filepath.Join(dir, "out"))
	if code != 1 || !strings.Contains(stderr, "env:WG_KEY: variable is not set") {
		t.Errorf("env: secret: exit %d\n%s", code, stderr)
	}
	if code, _, _ := nfv(t, "build", host); code != 2 {
		t.Errorf("no -o: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("a refused build wrote its output directory")
	}
}
