package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nfvkit/nfvkit/images"
	"github.com/nfvkit/nfvkit/images/qemu"
)

const bootHelp = `Boots an image built by 'nfv build' under QEMU and streams its serial console
to standard output. One --nic per NIC of the image, in order (virtio:0 first):

` + qemu.NICHelp + `

Without --nic every NIC is connected to nothing: any image boots to READY that
way, as a smoke test. KVM is used when it can run guests here, TCG otherwise.
nfv waits for the appliance's READY line and reports the time to it; Ctrl-C
(or SIGTERM) presses the VM's power button, and the appliance stops and powers
off; a VM that does not is killed.

Exit status: 0 the VM powered off cleanly (or, with --check, was ready), 1 it
failed, 2 usage.

Example:
  nfv boot out/router --nic tap:tap-lan,netns=lan --nic tap:tap-wan,netns=wan
  nfv boot out/router --check          # boot to READY, power off`

type nicFlags []string

func (n *nicFlags) String() string     { return strings.Join(*n, " ") }
func (n *nicFlags) Set(s string) error { *n = append(*n, s); return nil }

func cmdBoot(args []string) int { return bootMain(args, os.Stdout, os.Stderr) }

func bootMain(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("boot", "DIR [--nic SPEC]...", bootHelp)
	fs.SetOutput(stderr)
	var nicSpecs nicFlags
	fs.Var(&nicSpecs, "nic", "a NIC of the image, in order (repeat; see above)")
	memory := fs.String("memory", "", "guest RAM in MiB (or with a unit: 96M, 1G); default the image's manifest's ("+
		strconv.Itoa(images.DefaultMemoryMiB)+" with the minimal kernel, "+strconv.Itoa(images.DebianMemoryMiB)+" with Debian's)")
	cpus := fs.Int("cpus", 1, "virtual CPUs")
	machine := fs.String("machine", qemu.MachineQ35, "QEMU machine: q35, pc or microvm")
	accel := fs.String("accel", "auto", "auto (KVM when it can run guests here, else TCG), kvm or tcg")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for READY")
	check := fs.Bool("check", false, "power off as soon as the appliance is ready (a smoke test)")
	pos, code := parseInterspersed(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "nfv boot: give one image directory\nRun 'nfv boot -h' for help.")
		return exitUsage
	}
	dir := pos[0]
	m, err := images.ReadManifest(dir)
	if err != nil {
		fmt.Fprintln(stderr, "nfv boot:", err)
		return exitFailed
	}
	var nics []qemu.NIC
	for _, s := range nicSpecs {
		n, err := qemu.ParseNIC(s)
		if err != nil {
			fmt.Fprintln(stderr, "nfv boot:", err)
			return exitUsage
		}
		nics = append(nics, n)
	}
	switch {
	case len(nics) == 0:
		for range m.NICs {
			n, _ := qemu.ParseNIC("none")
			nics = append(nics, n)
		}
	case len(nics) != len(m.NICs):
		fmt.Fprintf(stderr, "nfv boot: the image has %d NICs (%s); %d --nic given\n", len(m.NICs), describeNICs(m.NICs), len(nics))
		return exitUsage
	}
	mem := m.Boot.MemoryMiB
	if *memory != "" {
		if mem, err = parseMiB(*memory); err != nil {
			fmt.Fprintln(stderr, "nfv boot: --memory:", err)
			return exitUsage
		}
	}
	acc := *accel
	switch acc {
	case "auto":
		acc = qemu.AccelTCG
		if ok, why := qemu.KVM(); ok {
			acc = qemu.AccelKVM
		} else {
			fmt.Fprintf(stderr, "nfv boot: using TCG: %s\n", why)
		}
	case qemu.AccelKVM, qemu.AccelTCG:
	default:
		fmt.Fprintf(stderr, "nfv boot: --accel %q: expected auto, kvm or tcg\n", acc)
		return exitUsage
	}
	c := qemu.Config{
		Kernel: filepath.Join(dir, images.KernelFile), Initrd: filepath.Join(dir, images.InitrdFile),
		Cmdline: m.Boot.Cmdline, MemoryMiB: mem, CPUs: *cpus, Machine: *machine, Accel: acc,
		NICs: nics, Seed: m.Policy.SHA256,
	}
	if *machine == qemu.MachineMicroVM && acc == qemu.AccelTCG {
		c.TSCkHz = qemu.HostTSCkHz()
	}
	// Signals first: a Ctrl-C during boot powers the VM down too.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	fmt.Fprintf(stderr, "nfv boot: %s image %s: %s, %s, %d MiB, %d NIC(s)\n", m.Appliance, dir, c.Machine, acc, mem, len(nics))
	vm, err := qemu.Start(c, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "nfv boot:", err)
		return exitFailed
	}
	grace := 10 * time.Second
	if acc == qemu.AccelTCG {
		grace = 30 * time.Second
	}
	shutdown := func() int {
		fmt.Fprintln(stderr, "nfv boot: pressing the power button")
		clean, err := vm.Shutdown(grace)
		if err != nil {
			fmt.Fprintln(stderr, "nfv boot:", err)
			return exitFailed
		}
		if !clean {
			return exitFailed
		}
		fmt.Fprintln(stderr, "nfv boot: the VM powered off")
		return exitOK
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	readyErr := make(chan error, 1)
	var guest, host time.Duration
	go func() {
		var err error
		guest, host, err = vm.WaitReady(ctx)
		readyErr <- err
	}()
	select {
	case err := <-readyErr:
		if err != nil {
			fmt.Fprintln(stderr, "nfv boot:", err)
			vm.Kill()
			return exitFailed
		}
	case <-sigs:
		return shutdown()
	}
	fmt.Fprintf(stderr, "nfv boot: ready %v after the kernel started, %v after QEMU did (pid %d)\n",
		guest.Round(time.Millisecond), host.Round(time.Millisecond), vm.Pid())
	if *check {
		return shutdown()
	}
	select {
	case <-sigs:
		return shutdown()
	case <-vm.Exited():
		if err := vm.Wait(); err != nil {
			fmt.Fprintln(stderr, "nfv boot: QEMU:", err)
			return exitFailed
		}
		fmt.Fprintln(stderr, "nfv boot: the VM powered off")
		return exitOK
	}
}

func describeNICs(nics []images.NICInfo) string {
	var s []string
	for _, n := range nics {
		name := n.Interface
		if name == "" {
			name = "unused"
		}
		s = append(s, fmt.Sprintf("virtio:%d %s", n.Index, name))
	}
	return strings.Join(s, ", ")
}

// parseMiB parses a memory size: MiB, or with a unit K, M or G.
func parseMiB(s string) (int, error) {
	u := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(s, "iB"), "B"))
	mult := 1.0
	switch {
	case strings.HasSuffix(u, "G"):
		mult, u = 1024, strings.TrimSuffix(u, "G")
	case strings.HasSuffix(u, "M"):
		u = strings.TrimSuffix(u, "M")
	case strings.HasSuffix(u, "K"):
		mult, u = 1.0/1024, strings.TrimSuffix(u, "K")
	}
	v, err := strconv.ParseFloat(u, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a size (expected MiB, like 128, or 96M, 1G)", s)
	}
	mib := int(v * mult)
	if mib < 16 {
		return 0, fmt.Errorf("%q is less than 16 MiB", s)
	}
	return mib, nil
}
