package ipsecgw_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/images"
	"github.com/nfvkit/nfvkit/images/qemu"
	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/internal/testenv"
	"github.com/nfvkit/nfvkit/internal/wgtest"
)

// console collects a VM's console.
type console struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *console) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(b)
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// TestWireGuardInteropImage is TestWireGuardInteropHost through a booted
// ipsec-gw image: nfv build's image of the same policy (ports virtio:0 and
// virtio:1, the keys carried in the initrd), under QEMU with its two NICs
// as TAP devices in hostA's and the peer's namespaces.
func TestWireGuardInteropImage(t *testing.T) {
	testenv.Long(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, qemu.Binary, "qemu-system-x86")
	top := wgtest.NewSites(t, false)
	tapA, tapP := wgtest.IfName("ta"), wgtest.IfName("tp")
	nettest.IP(t, "-n", top.NsA, "tuntap", "add", "dev", tapA, "mode", "tap")
	nettest.IP(t, "-n", top.NsP, "tuntap", "add", "dev", tapP, "mode", "tap")

	dir := t.TempDir()
	policy := top.Policy(t, dir, "virtio:0", "virtio:1")
	out := filepath.Join(dir, "image")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	m, err := images.Build(ctx, images.Options{Policy: policy, Out: out, Src: "../.."})
	if err != nil {
		if strings.Contains(err.Error(), "apt") {
			testenv.Skip(t, "cannot fetch the kernel: "+err.Error())
		}
		t.Fatal(err)
	}
	t.Logf("image: %d bytes (kernel %s), %d MiB of guest RAM", m.TotalBytes, m.Kernel.Release, m.Boot.MemoryMiB)
	if initrd, err := os.ReadFile(filepath.Join(out, images.InitrdFile)); err == nil && bytes.Contains(initrd, []byte(top.GwKey.Priv)) {
		t.Log("(the initrd carries the private key, as file: secrets travel; it is root-only in the image)")
	}

	c := qemu.Config{
		Kernel: filepath.Join(out, images.KernelFile), Initrd: filepath.Join(out, images.InitrdFile),
		Cmdline: m.Boot.Cmdline, MemoryMiB: m.Boot.MemoryMiB, Accel: qemu.AccelTCG, Seed: m.Policy.SHA256,
	}
	if ok, _ := qemu.KVM(); ok {
		c.Accel = qemu.AccelKVM
	}
	for _, s := range []string{"tap:" + tapA + ",netns=" + top.NsA, "tap:" + tapP + ",netns=" + top.NsP} {
		n, err := qemu.ParseNIC(s)
		if err != nil {
			t.Fatal(err)
		}
		c.NICs = append(c.NICs, n)
	}
	con := new(console)
	vm, err := qemu.Start(c, con)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-vm.Exited():
		default:
			vm.Kill()
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("console:\n%s", con)
		}
	})
	rctx, rcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer rcancel()
	guest, host, err := vm.WaitReady(rctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("READY %v after the kernel started, %v after QEMU did (%s)", guest, host.Round(time.Millisecond), c.Accel)
	if s := con.String(); !strings.Contains(s, "stage=ipsec-gw") || !strings.Contains(s, "wireguard tunnel up") {
		t.Fatalf("the image does not run the ipsec-gw stage with its tunnels")
	}
	for _, ns := range []string{top.NsA, top.NsP} {
		tap := map[string]string{top.NsA: tapA, top.NsP: tapP}[ns]
		nettest.IP(t, "-n", ns, "link", "set", tap, "up")
	}
	top.AddressHosts(t, tapA, tapP)

	timeout := 20 * time.Second
	if c.Accel == qemu.AccelTCG {
		timeout = 60 * time.Second
	}
	top.Exercise(t, 1<<20, timeout)
	top.Peer.Kill()

	clean, err := vm.Shutdown(30 * time.Second)
	if err != nil || !clean {
		t.Errorf("shutdown: clean %v, %v", clean, err)
	}
	if s := con.String(); strings.Contains(s, "Kernel panic") {
		t.Errorf("kernel panic on the console")
	}
	wgtest.CheckNoSecrets(t, con.String(), []string{top.GwKey.Priv, top.PSK})
}
