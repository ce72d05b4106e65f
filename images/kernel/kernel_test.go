package kernel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree lays out a kernel tree as a dpkg-installed kernel has it (with
// modules.dep) and returns its root.
func tree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	const rel = "6.1.0-test-amd64"
	files := map[string]string{
		"boot/vmlinuz-" + rel:                               "kernel",
		"boot/config-" + rel:                                "CONFIG_VIRTIO_NET=m\nCONFIG_PACKET=y\nCONFIG_LOCALVERSION=\"-test\"\n",
		"lib/modules/" + rel + "/modules.builtin":           "kernel/net/packet/af_packet.ko\n",
		"lib/modules/" + rel + "/kernel/virtio_ring.ko":     "",
		"lib/modules/" + rel + "/kernel/virtio.ko":          "",
		"lib/modules/" + rel + "/kernel/failover.ko":        "",
		"lib/modules/" + rel + "/kernel/net_failover.ko":    "",
		"lib/modules/" + rel + "/kernel/virtio_net.ko":      "",
		"lib/modules/" + rel + "/kernel/virtio_pci.ko":      "",
		"lib/modules/" + rel + "/kernel/virtio-pci-dev.ko":  "",
		"lib/modules/" + rel + "/kernel/unrelated_thing.ko": "",
		"lib/modules/" + rel + "/modules.dep": strings.Join([]string{
			"kernel/virtio_ring.ko:",
			"kernel/virtio.ko: kernel/virtio_ring.ko",
			"kernel/failover.ko:",
			"kernel/net_failover.ko: kernel/failover.ko",
			// depmod lists every dependency, the last loaded first.
			"kernel/virtio_net.ko: kernel/net_failover.ko kernel/failover.ko kernel/virtio.ko kernel/virtio_ring.ko",
			"kernel/virtio_pci.ko: kernel/virtio-pci-dev.ko kernel/virtio.ko kernel/virtio_ring.ko",
			"kernel/virtio-pci-dev.ko:",
			"kernel/unrelated_thing.ko:",
		}, "\n") + "\n",
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestOpen(t *testing.T) {
	root := tree(t)
	k, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if k.Release != "6.1.0-test-amd64" || filepath.Base(k.Vmlinuz) != "vmlinuz-6.1.0-test-amd64" || !strings.HasSuffix(k.ModulesDir, "lib/modules/6.1.0-test-amd64") {
		t.Errorf("Open: %+v", k)
	}
	if c := k.Config(); c["CONFIG_PACKET"] != "y" || c["CONFIG_LOCALVERSION"] != "-test" {
		t.Errorf("Config: %v", c)
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("Open of an empty directory: no error")
	}
}

func TestModules(t *testing.T) {
	k, err := Open(tree(t))
	if err != nil {
		t.Fatal(err)
	}
	mods, missing, err := k.Modules([]Need{
		{Name: "virtio-net"}, // '-' and '_' are one
		{Name: "virtio_pci"},
		{Name: "af_packet"}, // built in: nothing to load
		{Name: "evdev", Optional: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	want := "virtio_ring virtio failover net_failover virtio_net virtio_pci_dev virtio_pci"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("load order\n got %s\nwant %s", got, want)
	}
	if len(missing) != 1 || missing[0] != "evdev" {
		t.Errorf("missing optional modules: %v", missing)
	}
	if mods[4].Path != "kernel/virtio_net.ko" {
		t.Errorf("virtio_net's path: %s", mods[4].Path)
	}
	if _, _, err := k.Modules([]Need{{Name: "e1000"}}); err == nil || !strings.Contains(err.Error(), "e1000") {
		t.Errorf("a required module the kernel lacks: %v", err)
	}
}

func TestReadModuleRefusesXZ(t *testing.T) {
	if _, err := ReadModule("x.ko.xz"); err == nil {
		t.Error("no error for .ko.xz")
	}
}
