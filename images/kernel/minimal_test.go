package kernel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, s string) Config {
	t.Helper()
	c, err := ParseConfig("test.config", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseConfig(t *testing.T) {
	c := mustParse(t, `# a comment
CONFIG_A=y

# CONFIG_B is not set
CONFIG_C="a string"
CONFIG_D=0x200000
`)
	want := "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"a string\"\nCONFIG_D=0x200000\n"
	if got := string(c.Bytes()); got != want {
		t.Errorf("round trip:\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []struct{ text, wantErr string }{
		{"CONFIG_A=y\nCONFIG_A=n\n", "test.config:2: CONFIG_A is set again (first on line 1)"},
		{"CONFIG_A=y\nPACKET=y\n", "test.config:2:"},
		{"CONFIG_A=\n", "has no value"},
	} {
		_, err := ParseConfig("test.config", []byte(bad.text))
		if err == nil || !strings.Contains(err.Error(), bad.wantErr) {
			t.Errorf("ParseConfig(%q): %v, want an error with %q", bad.text, err, bad.wantErr)
		}
	}
}

// TestMerge: a fragment's options replace what came before and go last, so
// that the member of a choice a fragment sets is the one Kconfig keeps.
func TestMerge(t *testing.T) {
	tiny := mustParse(t, "CONFIG_HZ_100=n\nCONFIG_HZ_250=y\nCONFIG_PRINTK=n\nCONFIG_KERNEL_XZ=y\n")
	base := mustParse(t, "CONFIG_PRINTK=y\nCONFIG_HZ_100=y\n")
	router := mustParse(t, "CONFIG_PACKET=y\nCONFIG_PRINTK=n\n")
	got := string(Merge(tiny, base, router).Bytes())
	want := "CONFIG_HZ_250=y\nCONFIG_KERNEL_XZ=y\nCONFIG_HZ_100=y\nCONFIG_PACKET=y\n# CONFIG_PRINTK is not set\n"
	if got != want {
		t.Errorf("Merge:\n%s\nwant\n%s", got, want)
	}
	if got, want := string(Requested(base, router).Bytes()), "CONFIG_HZ_100=y\nCONFIG_PACKET=y\n# CONFIG_PRINTK is not set\n"; got != want {
		t.Errorf("Requested:\n%s\nwant\n%s", got, want)
	}
	if string(tiny.Bytes()) != "# CONFIG_HZ_100 is not set\nCONFIG_HZ_250=y\n# CONFIG_PRINTK is not set\nCONFIG_KERNEL_XZ=y\n" {
		t.Error("Merge changed its base")
	}
}

// TestVerify: an option Kconfig dropped is named, with what it depends
// on; an option asked off may be absent.
func TestVerify(t *testing.T) {
	requested := mustParse(t, "CONFIG_VIRTIO_NET=y\nCONFIG_PACKET=y\nCONFIG_MODULES=n\nCONFIG_LOCALVERSION=\"-nfvkit\"\nCONFIG_NR_CPUS=64\n")
	final := mustParse(t, "CONFIG_PACKET=y\nCONFIG_LOCALVERSION=\"-nfvkit\"\nCONFIG_NR_CPUS=8\n")
	err := Verify(final, requested)
	var unmet UnmetError
	if !errors.As(err, &unmet) || len(unmet) != 2 {
		t.Fatalf("Verify: %v", err)
	}
	if unmet[0].Name != "CONFIG_VIRTIO_NET" || unmet[0].Got != "n" || unmet[1].Name != "CONFIG_NR_CPUS" || unmet[1].Got != "8" {
		t.Errorf("unmet: %+v", unmet)
	}

	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "drivers/net"), 0o755)
	os.WriteFile(filepath.Join(src, "drivers/net/Kconfig"), []byte(`
config VIRTIO_NET
	tristate "Virtio network driver"
	depends on VIRTIO
	depends on NET_CORE
	select NET_FAILOVER
	help
	  depends on nothing, this is help text.

config OTHER
	bool
`), 0o644)
	unmet.explain(src)
	msg := unmet.Error()
	for _, want := range []string{"CONFIG_VIRTIO_NET: asked y, got n (depends on VIRTIO && NET_CORE)", "CONFIG_NR_CPUS: asked 64, got 8"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
	if err := Verify(mustParse(t, "CONFIG_VIRTIO_NET=y\nCONFIG_PACKET=y\nCONFIG_LOCALVERSION=\"-nfvkit\"\nCONFIG_NR_CPUS=64\n"), requested); err != nil {
		t.Errorf("Verify of a configuration that has it all: %v", err)
	}
}

// TestFragments: every appliance has a fragment, each parses, and none
// asks for modules.
func TestFragments(t *testing.T) {
	for _, a := range []string{"router", "firewall", "ipsec-gw"} {
		frags, err := Fragments(a)
		if err != nil {
			t.Fatal(err)
		}
		var cs []Config
		for _, f := range frags {
			cs = append(cs, f.Config)
		}
		req := Requested(cs...).Map()
		for _, o := range []string{"CONFIG_VIRTIO_NET", "CONFIG_VIRTIO_PCI", "CONFIG_VIRTIO_MMIO", "CONFIG_PACKET", "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_BLK_DEV_INITRD", "CONFIG_EVENTFD"} {
			if req[o] != "y" {
				t.Errorf("%s: %s is not y", a, o)
			}
		}
		for name, v := range req {
			if v == "m" {
				t.Errorf("%s: %s=m (everything is built in)", a, name)
			}
		}
		if req["CONFIG_MODULES"] != "n" {
			t.Errorf("%s: CONFIG_MODULES is not asked off", a)
		}
	}
	if _, err := Fragments("no-such-appliance"); err == nil {
		t.Error("a fragment for an unknown appliance")
	}
}

// TestMissingToolchain: a machine without the tools says which packages
// to install, and the error is ErrToolchain.
func TestMissingToolchain(t *testing.T) {
	src := filepath.Join(t.TempDir(), "linux-source-6.1.tar.xz")
	os.WriteFile(src, []byte("not really"), 0o644)
	t.Setenv("PATH", t.TempDir())
	_, err := BuildMinimal(context.Background(), MinimalOptions{Appliance: "router", Source: src, CacheDir: t.TempDir()})
	if !errors.Is(err, ErrToolchain) {
		t.Fatalf("err = %v, want ErrToolchain", err)
	}
	for _, want := range []string{"make", "gcc", "bison", "make deps", "--kernel=debian"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	// The source, asked for by path, missing.
	if _, err := findSource(context.Background(), filepath.Join(t.TempDir(), "linux-source-6.1.tar.xz")); !errors.Is(err, ErrToolchain) {
		t.Errorf("missing source: %v", err)
	}
}

func TestVersionLess(t *testing.T) {
	if !versionLess("/usr/src/linux-source-6.1.tar.xz", "/usr/src/linux-source-6.12.tar.xz") ||
		versionLess("/usr/src/linux-source-6.12.tar.xz", "/usr/src/linux-source-6.9.tar.xz") {
		t.Error("linux-source versions misordered")
	}
}

// TestBuiltinNeeds: a kernel without modules that has an option built in
// needs nothing loaded for it.
func TestBuiltinNeeds(t *testing.T) {
	dir := t.TempDir()
	const rel = "6.1.192-nfvkit"
	os.MkdirAll(filepath.Join(dir, "boot"), 0o755)
	os.WriteFile(filepath.Join(dir, "boot", "vmlinuz-"+rel), []byte("kernel"), 0o644)
	os.WriteFile(filepath.Join(dir, "boot", "config-"+rel), []byte("CONFIG_VIRTIO_NET=y\nCONFIG_PACKET=y\n"), 0o644)
	os.WriteFile(filepath.Join(dir, metaFile), []byte("package=linux-source-6.1\nversion=6.1.192-2\nconfig=base,router\nconfig-sha256=abc\n"), 0o644)
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k.Release != rel || k.ModulesDir != "" || strings.Join(k.Fragments, "+") != "base+router" || k.ConfigSHA256 != "abc" || k.Version != "6.1.192-2" {
		t.Errorf("Open: %+v", k)
	}
	mods, missing, err := k.Modules([]Need{
		{Name: "virtio_net", Config: "CONFIG_VIRTIO_NET"},
		{Name: "af_packet", Config: "CONFIG_PACKET"},
		{Name: "evdev", Config: "CONFIG_INPUT_EVDEV", Optional: true},
	})
	if err != nil || len(mods) != 0 || len(missing) != 1 || missing[0] != "evdev" {
		t.Errorf("Modules: %v, missing %v, %v", mods, missing, err)
	}
	if _, _, err := k.Modules([]Need{{Name: "virtio_pci", Config: "CONFIG_VIRTIO_PCI"}}); err == nil {
		t.Error("a required option the kernel lacks: no error")
	}
}

// TestDebPackages: make deps installs what building the kernel takes.
func TestDebPackages(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Skip("no Makefile here:", err)
	}
	var pkgs []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "DEB_PKGS"); ok {
			_, list, _ := strings.Cut(rest, "=")
			pkgs = append(pkgs, strings.Fields(list)...)
		}
	}
	for _, p := range append([]string{SourcePackage}, ToolchainPackages...) {
		if !slices.Contains(pkgs, p) {
			t.Errorf("the Makefile's DEB_PKGS (%s) lacks %s", strings.Join(pkgs, " "), p)
		}
	}
}

// TestLock: a second taker of the cache lock waits, says so, and gets it
// once the first lets go.
func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.lock")
	unlock, err := lock(context.Background(), path, func() { t.Error("the first taker waited") })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	waited := false
	if _, err := lock(ctx, path, func() { waited = true }); err == nil || !waited {
		t.Fatalf("a held lock: err %v, waited %v", err, waited)
	}
	done := make(chan error, 1)
	go func() {
		u, err := lock(context.Background(), path, func() {})
		if err == nil {
			u()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lock was not handed on")
	}
}
