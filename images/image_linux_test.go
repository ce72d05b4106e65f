package images_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/images"
	"github.com/nfvkit/nfvkit/images/qemu"
	"github.com/nfvkit/nfvkit/internal/testenv"
	"golang.org/x/sys/unix"
)

// One image serves every test here: building it compiles /init and may
// fetch the kernel.
var (
	imageOnce sync.Once
	imageDir  string
	imageErr  error
	imageTmp  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if imageTmp != "" {
		os.RemoveAll(imageTmp)
	}
	os.Exit(code)
}

// routerImage builds examples/router.yaml's image once, or skips.
func routerImage(t *testing.T) string {
	t.Helper()
	testenv.Long(t)
	testenv.NeedCommand(t, "go", "golang")
	imageOnce.Do(func() {
		if imageTmp, imageErr = os.MkdirTemp("", "nfv-image-test-"); imageErr != nil {
			return
		}
		imageDir = filepath.Join(imageTmp, "router")
		_, imageErr = build(imageDir)
	})
	if imageErr != nil {
		if strings.Contains(imageErr.Error(), "apt") {
			testenv.Skip(t, "cannot fetch the kernel: "+imageErr.Error())
		}
		t.Fatal(imageErr)
	}
	return imageDir
}

func build(out string) (*images.Manifest, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return images.Build(ctx, images.Options{Policy: "../examples/router.yaml", Out: out, Src: ".."})
}

// TestBuildReproducible: two builds of the same inputs are the same bytes.
func TestBuildReproducible(t *testing.T) {
	first := routerImage(t)
	second := filepath.Join(t.TempDir(), "again")
	m, err := build(second)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{images.KernelFile, images.InitrdFile, images.ManifestFile} {
		a, _ := os.ReadFile(filepath.Join(first, f))
		b, _ := os.ReadFile(filepath.Join(second, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds (%d and %d bytes)", f, len(a), len(b))
		}
	}
	if m.Appliance != "router" || len(m.NICs) != 2 || m.NICs[1].Interface != "wan" {
		t.Errorf("manifest: %+v", m)
	}
	t.Logf("kernel %s: vmlinuz %d bytes, initrd %d bytes, %d modules", m.Kernel.Release, m.Files[0].Bytes, m.Files[1].Bytes, len(m.Modules))
}

// console collects a VM's console for the test to read and log.
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

// boot starts the image with nics and waits until it is ready.
func boot(t *testing.T, dir string, nics ...string) (*qemu.VM, *console) {
	t.Helper()
	testenv.NeedCommand(t, qemu.Binary, "qemu-system-x86")
	m, err := images.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := qemu.Config{
		Kernel: filepath.Join(dir, images.KernelFile), Initrd: filepath.Join(dir, images.InitrdFile),
		Cmdline: m.Boot.Cmdline, MemoryMiB: m.Boot.MemoryMiB, Accel: qemu.AccelTCG, Seed: m.Policy.SHA256,
	}
	if ok, _ := qemu.KVM(); ok {
		c.Accel = qemu.AccelKVM
	}
	for _, s := range nics {
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
		if t.Failed() {
			t.Logf("console:\n%s", con)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	guest, host, err := vm.WaitReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("READY %v after the kernel started, %v after QEMU did (%s)", guest, host.Round(time.Millisecond), c.Accel)
	return vm, con
}

// shutdown presses the power button and checks the guest powers off by
// itself, without a kernel panic.
func shutdown(t *testing.T, vm *qemu.VM, con *console) {
	t.Helper()
	clean, err := vm.Shutdown(30 * time.Second)
	if err != nil || !clean {
		t.Errorf("shutdown: clean %v, %v", clean, err)
	}
	out := con.String()
	if !strings.Contains(out, "cause=\"power button\"") || !strings.Contains(out, "powering off") {
		t.Errorf("the console does not show a power-button shutdown")
	}
	if strings.Contains(out, "Kernel panic") {
		t.Errorf("kernel panic on the console")
	}
}

// TestBootSmoke boots the image with its NICs connected to nothing: it
// must reach READY and power off cleanly on the power button.
func TestBootSmoke(t *testing.T) {
	dir := routerImage(t)
	vm, con := boot(t, dir, "none", "none")
	if !strings.Contains(con.String(), "NICs up") {
		t.Errorf("no NICs came up")
	}
	shutdown(t, vm, con)
}

// TestForwarding boots the router image between two network namespaces,
// each with a TAP device that is one of the VM's NICs, and passes ping and
// a TCP transfer between them through the VM.
//
// Until the router appliance registers, the image runs the pass-through
// stage, which joins its two NICs like a wire: then both namespaces are on
// one subnet (192.0.2.0/24). With the router they are on the policy's two
// subnets and the VM routes. Which one runs is read from the console.
func TestForwarding(t *testing.T) {
	dir := routerImage(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "iproute2")
	testenv.NeedCommand(t, "ping", "iputils-ping")
	id := os.Getpid() % 100000
	nsA, nsB := fmt.Sprintf("nfvt-lan-%d", id), fmt.Sprintf("nfvt-wan-%d", id)
	tapA, tapB := fmt.Sprintf("nfvl%d", id), fmt.Sprintf("nfvw%d", id)
	for _, ns := range []string{nsA, nsB} {
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		ip(t, "-n", ns, "link", "set", "lo", "up")
	}
	ip(t, "-n", nsA, "tuntap", "add", "dev", tapA, "mode", "tap")
	ip(t, "-n", nsB, "tuntap", "add", "dev", tapB, "mode", "tap")

	vm, con := boot(t, dir, "tap:"+tapA+",netns="+nsA, "tap:"+tapB+",netns="+nsB)
	routed := !strings.Contains(con.String(), "stage=pass-through")
	addrB := "192.0.2.20"
	if routed {
		t.Log("the router appliance runs: the namespaces are on two subnets")
		ip(t, "-n", nsA, "addr", "add", "192.0.2.10/24", "dev", tapA)
		ip(t, "-n", nsB, "addr", "add", "198.51.100.1/30", "dev", tapB)
		ip(t, "-n", nsA, "route", "add", "default", "via", "192.0.2.1")
		ip(t, "-n", nsB, "route", "add", "192.0.2.0/24", "via", "198.51.100.2")
		addrB = "198.51.100.1"
	} else {
		t.Log("no router appliance yet (pass-through stage): the namespaces share one subnet")
		ip(t, "-n", nsA, "addr", "add", "192.0.2.10/24", "dev", tapA)
		ip(t, "-n", nsB, "addr", "add", addrB+"/24", "dev", tapB)
	}

	out, err := exec.Command("ip", "netns", "exec", nsA, "ping", "-c", "3", "-i", "0.2", "-W", "5", addrB).CombinedOutput()
	if err != nil {
		t.Fatalf("ping %s from %s: %v\n%s", addrB, nsA, err, out)
	}
	t.Logf("ping: %s", lastLine(string(out)))

	const size = 4 << 20
	sent, got, dur, err := transfer(nsA, nsB, net.JoinHostPort(addrB, "5201"), size)
	if err != nil {
		t.Fatalf("TCP transfer: %v", err)
	}
	if sent != got {
		t.Fatalf("TCP transfer: sent sha256 %x, received %x", sent, got)
	}
	t.Logf("TCP: %d MiB in %v (%.0f Mbit/s), checksums match", size>>20, dur.Round(time.Millisecond), float64(size*8)/dur.Seconds()/1e6)
	shutdown(t, vm, con)
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// transfer sends size random bytes over TCP from namespace from to addr in
// namespace to, and returns the hashes of what was sent and received.
func transfer(from, to, addr string, size int) (sent, got [32]byte, dur time.Duration, err error) {
	var ln net.Listener
	if err = inNetns(to, func() (err error) { ln, err = net.Listen("tcp", addr); return }); err != nil {
		return
	}
	defer ln.Close()
	type result struct {
		sum [32]byte
		err error
	}
	recv := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			recv <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		h := sha256.New()
		_, err = io.Copy(h, c)
		recv <- result{[32]byte(h.Sum(nil)), err}
	}()
	data := make([]byte, size)
	rand.Read(data)
	sent = sha256.Sum256(data)
	var c net.Conn
	start := time.Now()
	if err = inNetns(from, func() (err error) { c, err = net.DialTimeout("tcp", addr, 30*time.Second); return }); err != nil {
		return
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err = c.Write(data); err != nil {
		c.Close()
		return
	}
	c.Close()
	r := <-recv
	return sent, r.sum, time.Since(start), r.err
}

// inNetns runs f on a thread in network namespace ns: sockets f makes stay
// in ns.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		err = f()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread ends with the goroutine
		errc <- err
	}()
	return <-errc
}
