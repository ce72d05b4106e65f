package initsys

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/nfvkit/nfvkit/pkg/config"
	"golang.org/x/sys/unix"
)

// stopGrace is how long the appliance has to stop before it is killed.
const stopGrace = 5 * time.Second

// pid1 readies the machine, runs the appliance process and powers off when
// it ends or is asked to. It never returns.
func pid1(appliance config.Appliance) {
	log := slog.New(slog.NewTextHandler(console(), nil)).With("init", string(appliance))
	defer func() {
		// A bug here must not become a kernel panic either.
		if r := recover(); r != nil {
			log.Error("init panicked", "panic", fmt.Sprint(r))
		}
		powerOff(log)
	}()
	// ctrl-alt-del becomes SIGINT to PID 1 instead of an immediate reboot.
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	stop := make(chan os.Signal, 4)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPWR)

	nics, err := ready(appliance, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return
	}
	go watchPowerButton(log, stop)

	self, err := os.Executable()
	if err != nil {
		self = "/init"
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envRole+"=appliance", envNICs+"="+strings.Join(nics, " "))
	cmd.Env = append(cmd.Env, secretEnv(log)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		log.Error("cannot start the appliance", "err", err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		logExit(log, err)
	case sig := <-stop:
		log.Info("shutting down", "cause", sigName(sig))
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			logExit(log, err)
		case <-time.After(stopGrace):
			log.Error("the appliance did not stop in time; killing it", "after", stopGrace)
			cmd.Process.Kill()
			<-done
		}
	}
}

// secretEnv returns the policy's env: secrets the image carries, as
// NAME=value.
func secretEnv(log *slog.Logger) []string {
	ents, err := os.ReadDir(EnvDir)
	if err != nil {
		return nil
	}
	var env []string
	for _, e := range ents {
		v, err := os.ReadFile(filepath.Join(EnvDir, e.Name()))
		if err != nil {
			log.Error("secret", "env", e.Name(), "err", err)
			continue
		}
		env = append(env, e.Name()+"="+string(v))
	}
	return env
}

func sigName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "ctrl-alt-del"
	case powerButton:
		return "power button"
	}
	return s.String()
}

func logExit(log *slog.Logger, err error) {
	var ee *exec.ExitError
	switch {
	case err == nil:
		log.Info("appliance exited")
	case errors.As(err, &ee):
		log.Error("appliance ended", "status", ee.ProcessState.String())
	default:
		log.Error("appliance ended", "err", err)
	}
}

// console returns where PID 1 logs: its standard error (the kernel opens
// /dev/console for it), or /dev/console opened now.
func console() *os.File {
	if _, err := os.Stderr.Stat(); err == nil {
		return os.Stderr
	}
	os.Mkdir("/dev", 0o755)
	unix.Mount("devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755")
	f, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return os.Stderr
	}
	for fd := range 3 {
		unix.Dup2(int(f.Fd()), fd)
	}
	return os.Stderr
}

// powerOff syncs and powers the machine off; it never returns. A machine
// without ACPI (Firecracker, a microvm with acpi=off) has no way to power
// off: there the kernel would return from the power-off call and PID 1
// exit, a panic. It is reset instead, by a triple fault, which every VMM
// sees (the kernel's other ways, the keyboard controller and the BIOS,
// may find nothing there or restart the guest in place): that ends the VM
// where the VMM runs it without reboots (QEMU -no-reboot; Firecracker).
func powerOff(log *slog.Logger) {
	unix.Sync()
	cmd, how := unix.LINUX_REBOOT_CMD_POWER_OFF, "powering off"
	if noACPI() {
		os.WriteFile("/sys/kernel/reboot/type", []byte("triple"), 0)
		cmd, how = unix.LINUX_REBOOT_CMD_RESTART, "powering off (no ACPI here: by a reset, which ends the VM)"
	}
	log.Info(how)
	err := unix.Reboot(cmd)
	log.Error("power off failed; halting", "err", err)
	unix.Reboot(unix.LINUX_REBOOT_CMD_HALT)
	for {
		time.Sleep(time.Hour)
	}
}

// noACPI reports whether the machine surely has no ACPI: sysfs is mounted
// and has no firmware/acpi.
func noACPI() bool {
	if _, err := os.Stat("/sys/kernel"); err != nil {
		return false
	}
	_, err := os.Stat("/sys/firmware/acpi")
	return errors.Is(err, os.ErrNotExist)
}

// ready mounts the file systems, loads the modules and brings the NICs up;
// it returns the NICs in bus order.
func ready(appliance config.Appliance, log *slog.Logger) ([]string, error) {
	for _, m := range []struct{ src, dir, fs, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755"},
	} {
		os.MkdirAll(m.dir, 0o755)
		err := unix.Mount(m.src, m.dir, m.fs, unix.MS_NOSUID|unix.MS_NOEXEC, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("mount %s: %w", m.dir, err)
		}
	}
	p, err := load(PolicyPath, appliance)
	if err != nil {
		return nil, err
	}
	want := 0
	for _, ifc := range p.Interfaces {
		want = max(want, p.PortOf(&ifc).Index()+1)
	}
	// The guest kernel is not a host on these links: no IPv6 addresses,
	// no router solicitations, no DAD on the NICs to come.
	for _, f := range []string{"/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"} {
		os.WriteFile(f, []byte("1"), 0)
	}
	start := time.Now()
	n, err := loadModules(ModulesList)
	if err != nil {
		return nil, err
	}
	log.Info("modules loaded", "count", n, "took", time.Since(start).Round(time.Millisecond))

	var nics []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		if nics, err = virtioNICs(); err != nil {
			return nil, err
		}
		if len(nics) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(nics) < want {
		return nil, fmt.Errorf("the policy uses %d virtio NICs and the machine has %d (%s)", want, len(nics), strings.Join(nics, " "))
	}
	// Any socket carries the interface ioctls; AF_UNIX is there in every
	// kernel an image boots (the minimal one has no IPv4 stack).
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	for _, nic := range nics {
		// The appliance takes whole frames off the wire: GRO would hand
		// it merged super-packets no frame holds.
		if err := ethtoolSet(fd, nic, unix.ETHTOOL_SGRO, 0); err != nil {
			log.Warn("cannot turn GRO off", "nic", nic, "err", err)
		}
		if err := linkUp(fd, nic); err != nil {
			return nil, fmt.Errorf("%s: %w", nic, err)
		}
	}
	log.Info("NICs up", "nics", strings.Join(nics, " "))
	return nics, nil
}

// loadModules loads the modules listed in list, in order.
func loadModules(list string) (int, error) {
	b, err := os.ReadFile(list)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil // everything built in
	} else if err != nil {
		return 0, err
	}
	n := 0
	for path := range strings.FieldsSeq(string(b)) {
		if err := loadModule(path); err != nil {
			return n, fmt.Errorf("loading %s: %w", filepath.Base(path), err)
		}
		n++
	}
	return n, nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if !strings.HasSuffix(path, ".ko") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	err = unix.FinitModule(int(f.Fd()), "", flags)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// virtioNICs lists the network interfaces driven by virtio_net, in bus
// order: by PCI address for virtio-pci, by device number for virtio-mmio.
func virtioNICs() ([]string, error) {
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return nil, err
	}
	type nic struct{ name, key string }
	var nics []nic
	for _, e := range ents {
		dev := filepath.Join("/sys/class/net", e.Name(), "device")
		drv, err := os.Readlink(filepath.Join(dev, "driver"))
		if err != nil || filepath.Base(drv) != "virtio_net" {
			continue
		}
		real, err := filepath.EvalSymlinks(dev)
		if err != nil {
			continue
		}
		// The virtio device's parent is the transport: a PCI function
		// (.../0000:00:03.0) or a virtio-mmio platform device.
		nics = append(nics, nic{e.Name(), busKey(filepath.Dir(real))})
	}
	slices.SortFunc(nics, func(a, b nic) int { return strings.Compare(a.key, b.key) })
	names := make([]string, len(nics))
	for i, n := range nics {
		names[i] = n.name
	}
	return names, nil
}

// busKey orders transports. PCI paths compare as text (fixed-width hex);
// a virtio-mmio device is ordered by its registers' base address when the
// name holds it (feb00e00.virtio_mmio), else by its number (virtio-mmio.3,
// LNRO0005:03), padded so that 10 sorts after 9.
func busKey(path string) string {
	base := filepath.Base(path)
	if strings.Contains(path, "/pci") {
		return "0" + path
	}
	if addr, _, ok := strings.Cut(base, "."); ok && isHex(addr) && len(addr) >= 8 {
		return fmt.Sprintf("1%016s", addr)
	}
	i := len(base)
	for i > 0 && base[i-1] >= '0' && base[i-1] <= '9' {
		i--
	}
	return fmt.Sprintf("2%s%012s", base[:i], base[i:])
}

func isHex(s string) bool {
	return s != "" && strings.Trim(s, "0123456789abcdef") == ""
}

// linkUp sets IFF_UP on an interface.
func linkUp(fd int, name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS: %w", err)
	}
	return nil
}

// ethtoolSet runs a legacy ethtool "set value" command (struct
// ethtool_value) on an interface.
func ethtoolSet(fd int, name string, cmd, val uint32) error {
	value := [2]uint32{cmd, val}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	copy(ifr.name[:], name)
	ifr.data = unsafe.Pointer(&value)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if errno != 0 {
		return errno
	}
	return nil
}

// powerButton is what watchPowerButton sends when the button is pressed.
var powerButton os.Signal = syscall.SIGPWR

// watchPowerButton sends powerButton on stop when the ACPI power button
// (QEMU's system_powerdown) is pressed: the kernel's button driver reports
// it as KEY_POWER on an input device named "Power Button".
func watchPowerButton(log *slog.Logger, stop chan<- os.Signal) {
	devs, _ := filepath.Glob("/sys/class/input/event*")
	for _, d := range devs {
		name, _ := os.ReadFile(filepath.Join(d, "device", "name"))
		if strings.TrimSpace(string(name)) != "Power Button" {
			continue
		}
		f, err := os.Open(filepath.Join("/dev/input", filepath.Base(d)))
		if err != nil {
			log.Warn("power button", "err", err)
			continue
		}
		go func() {
			defer f.Close()
			r := bufio.NewReader(f)
			var ev [24]byte // struct input_event on 64-bit: timeval, type, code, value
			for {
				if _, err := io.ReadFull(r, ev[:]); err != nil {
					return
				}
				typ := binary.NativeEndian.Uint16(ev[16:])
				code := binary.NativeEndian.Uint16(ev[18:])
				value := int32(binary.NativeEndian.Uint32(ev[20:]))
				const evKey, keyPower = 1, 116
				if typ == evKey && code == keyPower && value == 1 {
					stop <- powerButton
				}
			}
		}()
	}
}

// sinceBoot is the time since the kernel started (CLOCK_BOOTTIME).
func sinceBoot() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
