package images_test

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/images"
	"github.com/nfvkit/nfvkit/images/initsys"
	"github.com/nfvkit/nfvkit/images/kernel"
	"github.com/nfvkit/nfvkit/images/qemu"
	"github.com/nfvkit/nfvkit/internal/testenv"
	"golang.org/x/sys/unix"
)

// One image per kernel serves every test here: building it compiles /init
// and builds the minimal kernel (minutes, the first time on a machine:
// then it is cached) or fetches Debian's.
var (
	imagesMu  sync.Mutex
	imagesTmp string
	built     = map[string]*builtImage{}
)

type builtImage struct {
	once sync.Once
	dir  string
	m    *images.Manifest
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if imagesTmp != "" {
		os.RemoveAll(imagesTmp)
	}
	os.Exit(code)
}

// routerImage builds examples/router.yaml's image with the default kernel
// (the minimal one) once, or skips.
func routerImage(t *testing.T) string { return routerImageWith(t, images.KernelMinimal) }

// routerImageWith builds examples/router.yaml's image with kernel once, or
// skips where the machine cannot build or fetch that kernel.
func routerImageWith(t *testing.T, kern string) string {
	t.Helper()
	testenv.Long(t)
	testenv.NeedCommand(t, "go", "golang")
	imagesMu.Lock()
	b := built[kern]
	if b == nil {
		b = new(builtImage)
		built[kern] = b
	}
	if imagesTmp == "" {
		var err error
		if imagesTmp, err = os.MkdirTemp("", "nfv-image-test-"); err != nil {
			imagesMu.Unlock()
			t.Fatal(err)
		}
	}
	tmp := imagesTmp
	imagesMu.Unlock()
	b.once.Do(func() {
		b.dir = filepath.Join(tmp, "router-"+kern)
		start := time.Now()
		b.m, b.err = build(b.dir, kern)
		// The first build on a machine builds the kernel: say how long.
		fmt.Fprintf(os.Stderr, "image test: built the router image with the %s kernel in %v\n", kern, time.Since(start).Round(time.Second))
	})
	switch {
	case b.err == nil:
	case errors.Is(b.err, kernel.ErrToolchain):
		testenv.Skip(t, "cannot build the minimal kernel: "+b.err.Error())
	case strings.Contains(b.err.Error(), "apt"):
		testenv.Skip(t, "cannot fetch the kernel: "+b.err.Error())
	default:
		t.Fatal(b.err)
	}
	return b.dir
}

func build(out, kern string) (*images.Manifest, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	return images.Build(ctx, images.Options{Policy: "../examples/router.yaml", Out: out, Src: "..", Kernel: kern,
		Log: prefixWriter{"image test: nfv build: ", os.Stderr}})
}

// prefixWriter writes each write (a line) with a prefix.
type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// TestBuildReproducible: two builds of the same inputs are the same bytes,
// and an image with the minimal kernel carries no modules.
func TestBuildReproducible(t *testing.T) {
	first := routerImage(t)
	second := filepath.Join(t.TempDir(), "again")
	m, err := build(second, images.KernelMinimal)
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
	if len(m.Modules) != 0 || m.Kernel.Package != kernel.SourcePackage || len(m.Kernel.Config) != 2 || m.Kernel.ConfigSHA256 == "" {
		t.Errorf("manifest of an image with the minimal kernel: modules %v, kernel %+v", m.Modules, m.Kernel)
	}
	names, err := initrdNames(filepath.Join(second, images.InitrdFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(n, ".ko") || strings.HasPrefix(n, "lib/modules") || n == strings.TrimPrefix(initsys.ModulesList, "/") {
			t.Errorf("the initrd holds %s (the minimal kernel has everything built in)", n)
		}
	}
	t.Logf("kernel %s (%s, config %s): vmlinuz %d bytes, initrd %d bytes (%s), %d modules",
		m.Kernel.Release, m.Kernel.Version, strings.Join(m.Kernel.Config, "+"), m.Files[0].Bytes, m.Files[1].Bytes, strings.Join(names, " "), len(m.Modules))
}

// initrdNames lists the names in a gzip-compressed newc cpio archive.
func initrdNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var names []string
	align := func(n int) int { return (n + 3) &^ 3 }
	for off := 0; off+110 <= len(data); {
		h := data[off : off+110]
		if string(h[:6]) != "070701" {
			return nil, fmt.Errorf("initrd: no newc header at %d", off)
		}
		field := func(i int) int {
			v, _ := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			return int(v)
		}
		size, namesize := field(6), field(11)
		name := string(data[off+110 : off+110+namesize-1])
		if name == "TRAILER!!!" {
			break
		}
		names = append(names, name)
		off = align(align(off+110+namesize) + size)
	}
	return names, nil
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

// machine is how a test boots an image: the QEMU machine and the guest's
// RAM (0: the image's own).
type machine struct {
	name      string
	memoryMiB int
}

var q35 = machine{name: qemu.MachineQ35}

// boot starts the image on q35 with nics and waits until it is ready.
func boot(t *testing.T, dir string, nics ...string) (*qemu.VM, *console) {
	t.Helper()
	return bootOn(t, dir, q35, nics...)
}

// bootOn starts the image on mach with nics and waits until it is ready.
func bootOn(t *testing.T, dir string, mach machine, nics ...string) (*qemu.VM, *console) {
	t.Helper()
	testenv.NeedCommand(t, qemu.Binary, "qemu-system-x86")
	m, err := images.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := qemu.Config{
		Kernel: filepath.Join(dir, images.KernelFile), Initrd: filepath.Join(dir, images.InitrdFile),
		Cmdline: m.Boot.Cmdline, MemoryMiB: cmp.Or(mach.memoryMiB, m.Boot.MemoryMiB), Machine: mach.name,
		Accel: qemu.AccelTCG, Seed: m.Policy.SHA256,
	}
	if ok, _ := qemu.KVM(); ok {
		c.Accel = qemu.AccelKVM
	}
	if c.Machine == qemu.MachineMicroVM && c.Accel == qemu.AccelTCG {
		if c.TSCkHz = qemu.HostTSCkHz(); c.TSCkHz == 0 {
			t.Skip("a microvm under TCG needs the host's TSC frequency, and this host does not tell it")
		}
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
	t.Logf("READY %v after the kernel started, %v after QEMU did (%s, %s, %d MiB)", guest, host.Round(time.Millisecond), c.Machine, c.Accel, c.MemoryMiB)
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
// must reach READY and power off cleanly on the power button; on q35
// (virtio-pci) and on a microvm (virtio-mmio), with the minimal kernel and
// with Debian's.
func TestBootSmoke(t *testing.T) {
	for _, c := range []struct {
		name, kernel string
		mach         machine
	}{
		{"minimal/q35", images.KernelMinimal, q35},
		{"minimal/microvm", images.KernelMinimal, machine{name: qemu.MachineMicroVM}},
		{"debian/q35", images.KernelDebian, q35},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := routerImageWith(t, c.kernel)
			vm, con := bootOn(t, dir, c.mach, "none", "none")
			if !strings.Contains(con.String(), "NICs up") {
				t.Errorf("no NICs came up")
			}
			shutdown(t, vm, con)
		})
	}
}

// TestForwarding boots the router image between two network namespaces,
// each with a TAP device that is one of the VM's NICs, and passes ping and
// a TCP transfer between them through the VM: with the minimal kernel on
// q35 at the image's RAM and at the least it is said to need
// (images.MinMemoryMiB), on a microvm, and with Debian's kernel.
func TestForwarding(t *testing.T) {
	for _, c := range []struct {
		name, kernel string
		mach         machine
	}{
		{"minimal/q35", images.KernelMinimal, q35},
		{"minimal/q35/least-memory", images.KernelMinimal, machine{name: qemu.MachineQ35, memoryMiB: images.MinMemoryMiB}},
		{"minimal/microvm", images.KernelMinimal, machine{name: qemu.MachineMicroVM}},
		{"debian/q35", images.KernelDebian, q35},
	} {
		t.Run(c.name, func(t *testing.T) { forwarding(t, routerImageWith(t, c.kernel), c.mach) })
	}
}

// forwarding is TestForwarding for one image and machine.
//
// Until the router appliance registers, the image runs the pass-through
// stage, which joins its two NICs like a wire: then both namespaces are on
// one subnet (192.0.2.0/24). With the router they are on the policy's two
// subnets and the VM routes. Which one runs is read from the console.
func forwarding(t *testing.T, dir string, mach machine) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "iproute2")
	testenv.NeedCommand(t, "ping", "iputils-ping")
	id := os.Getpid()%10000*10 + int(nextNet.Add(1)%10)
	nsA, nsB := fmt.Sprintf("nfvt-lan-%d", id), fmt.Sprintf("nfvt-wan-%d", id)
	tapA, tapB := fmt.Sprintf("nfvl%d", id), fmt.Sprintf("nfvw%d", id)
	for _, ns := range []string{nsA, nsB} {
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		ip(t, "-n", ns, "link", "set", "lo", "up")
	}
	ip(t, "-n", nsA, "tuntap", "add", "dev", tapA, "mode", "tap")
	ip(t, "-n", nsB, "tuntap", "add", "dev", tapB, "mode", "tap")

	vm, con := bootOn(t, dir, mach, "tap:"+tapA+",netns="+nsA, "tap:"+tapB+",netns="+nsB)
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
	if mem := memoryLine(con.String()); mem != "" {
		t.Logf("guest memory at READY: %s", mem)
	}
	shutdown(t, vm, con)
}

// nextNet tells apart the namespaces of one run's forwarding tests.
var nextNet atomic.Uint32

// memoryLine is the appliance's memory log line at READY, shortened.
func memoryLine(console string) string {
	for line := range strings.SplitSeq(console, "\n") {
		if strings.Contains(line, "msg=memory") {
			_, kv, _ := strings.Cut(line, "msg=memory ")
			return kv
		}
	}
	return ""
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
