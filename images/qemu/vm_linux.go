package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// VM is a running QEMU.
type VM struct {
	cmd     *exec.Cmd
	qmp     string
	tmp     string
	started time.Time

	ready     chan struct{}
	readyOnce sync.Once
	guestMS   int64         // READY's milliseconds since the guest kernel started
	hostReady time.Duration // from QEMU's start to the READY line

	exited  chan struct{}
	waitErr error
	output  chan struct{} // closed when the console is drained
}

// readyLine matches the appliance's READY line (initsys.ReadyPrefix).
var readyLine = regexp.MustCompile(`READY ([0-9]+) ms`)

// Start starts the VM. Its serial console is copied to console line by
// line (QEMU's own messages go to standard error). The NICs' TAP devices
// are opened (and created if missing) here, in their network namespaces.
func Start(c Config, console io.Writer) (vm *VM, err error) {
	if c.Binary == "" {
		c.Binary = Binary
	}
	if _, err := exec.LookPath(c.Binary); err != nil {
		return nil, fmt.Errorf("qemu: %s not found: install Debian's qemu-system-x86 ('make deps' does, as root)", c.Binary)
	}
	for i := range c.NICs {
		if c.NICs[i].Kind != "tap" {
			continue
		}
		f, err := openTap(c.NICs[i].Ifname, c.NICs[i].Netns)
		if err != nil {
			closeTaps(c.NICs)
			return nil, fmt.Errorf("qemu: NIC %d (%s): %w", i, c.NICs[i].spec, err)
		}
		c.NICs[i].fd = f
	}
	// QEMU has its own copies once started; ours go either way.
	defer closeTaps(c.NICs)
	vm = &VM{ready: make(chan struct{}), exited: make(chan struct{}), output: make(chan struct{})}
	if c.QMP == "" {
		if vm.tmp, err = os.MkdirTemp("", "nfv-qemu-"); err != nil {
			return nil, err
		}
		c.QMP = filepath.Join(vm.tmp, "qmp.sock")
	}
	vm.qmp = c.QMP
	args, files, err := c.Args()
	if err != nil {
		vm.cleanup()
		return nil, err
	}
	cmd := exec.Command(c.Binary, args...)
	cmd.ExtraFiles = files
	cmd.Stderr = quietStderr{os.Stderr}
	// Its own process group: a Ctrl-C at the terminal is nfv's to handle
	// (a clean power-down), not QEMU's. It dies with nfv all the same.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		vm.cleanup()
		return nil, err
	}
	vm.started = time.Now()
	if err := cmd.Start(); err != nil {
		vm.cleanup()
		return nil, fmt.Errorf("qemu: %w", err)
	}
	vm.cmd = cmd
	go vm.copyConsole(out, console)
	go func() {
		<-vm.output // Wait closes the pipe; read it all first
		vm.waitErr = cmd.Wait()
		vm.cleanup()
		close(vm.exited)
	}()
	return vm, nil
}

func closeTaps(nics []NIC) {
	for i := range nics {
		if nics[i].fd != nil {
			nics[i].fd.Close()
			nics[i].fd = nil
		}
	}
}

func (vm *VM) cleanup() {
	if vm.tmp != "" {
		os.RemoveAll(vm.tmp)
	}
}

func (vm *VM) copyConsole(r io.Reader, w io.Writer) {
	defer close(vm.output)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if w != nil {
			fmt.Fprintln(w, line)
		}
		if m := readyLine.FindStringSubmatch(line); m != nil {
			vm.readyOnce.Do(func() {
				vm.guestMS, _ = strconv.ParseInt(m[1], 10, 64)
				vm.hostReady = time.Since(vm.started)
				close(vm.ready)
			})
		}
	}
	// A console that is not read would stall the guest; keep draining.
	io.Copy(io.Discard, r)
}

// Pid is QEMU's process id.
func (vm *VM) Pid() int { return vm.cmd.Process.Pid }

// WaitReady waits for the appliance's READY line and returns the guest's
// time from kernel start to READY, and the host's from QEMU's start.
func (vm *VM) WaitReady(ctx context.Context) (guest, host time.Duration, err error) {
	select {
	case <-vm.ready:
		return time.Duration(vm.guestMS) * time.Millisecond, vm.hostReady, nil
	case <-vm.exited:
		select {
		case <-vm.ready:
			return time.Duration(vm.guestMS) * time.Millisecond, vm.hostReady, nil
		default:
		}
		return 0, 0, fmt.Errorf("qemu: the VM stopped before it was ready (%v); its console is above", exitText(vm.waitErr))
	case <-ctx.Done():
		return 0, 0, fmt.Errorf("qemu: not ready after %v: %w", time.Since(vm.started).Round(time.Millisecond), ctx.Err())
	}
}

// Exited is closed when QEMU has exited.
func (vm *VM) Exited() <-chan struct{} { return vm.exited }

// Wait waits for QEMU to exit and returns how it ended.
func (vm *VM) Wait() error {
	<-vm.exited
	return vm.waitErr
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Shutdown presses the VM's power button (QMP system_powerdown) and waits
// up to grace for the guest to power off; then it stops QEMU (QMP quit,
// then SIGKILL). It reports whether the guest powered off by itself.
func (vm *VM) Shutdown(grace time.Duration) (clean bool, err error) {
	select {
	case <-vm.exited:
		return vm.waitErr == nil, nil
	default:
	}
	perr := vm.QMP("system_powerdown")
	if perr == nil {
		select {
		case <-vm.exited:
			return vm.waitErr == nil, nil
		case <-time.After(grace):
		}
	}
	vm.QMP("quit")
	select {
	case <-vm.exited:
	case <-time.After(3 * time.Second):
		syscall.Kill(-vm.cmd.Process.Pid, syscall.SIGKILL)
		<-vm.exited
	}
	if perr != nil {
		return false, fmt.Errorf("qemu: power button: %w", perr)
	}
	return false, fmt.Errorf("qemu: the guest did not power off within %v", grace)
}

// Kill stops QEMU at once.
func (vm *VM) Kill() {
	syscall.Kill(-vm.cmd.Process.Pid, syscall.SIGKILL)
	<-vm.exited
}

// QMP runs one QMP command without arguments.
func (vm *VM) QMP(command string) error {
	conn, err := net.DialTimeout("unix", vm.qmp, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	dec := json.NewDecoder(conn)
	var greeting map[string]any
	if err := dec.Decode(&greeting); err != nil {
		return fmt.Errorf("qmp greeting: %w", err)
	}
	for _, c := range []string{"qmp_capabilities", command} {
		if _, err := fmt.Fprintf(conn, "{\"execute\":%q}\n", c); err != nil {
			return err
		}
		for {
			var r struct {
				Return *json.RawMessage `json:"return"`
				Error  *struct {
					Desc string `json:"desc"`
				} `json:"error"`
			}
			if err := dec.Decode(&r); err != nil {
				if c == "quit" && errors.Is(err, io.EOF) {
					return nil
				}
				return fmt.Errorf("qmp %s: %w", c, err)
			}
			if r.Error != nil {
				return fmt.Errorf("qmp %s: %s", c, r.Error.Desc)
			}
			if r.Return != nil {
				break
			}
			// An event; the answer is still to come.
		}
	}
	return nil
}

// quietStderr passes QEMU's messages on, less its warning that a "none"
// NIC's hub leads nowhere: that is what was asked for.
type quietStderr struct{ w io.Writer }

var hubWarning = regexp.MustCompile(`warning: hub [0-9]+ is not connected to host network`)

func (q quietStderr) Write(b []byte) (int, error) {
	var keep []string
	for line := range strings.SplitAfterSeq(string(b), "\n") {
		if line != "" && !hubWarning.MatchString(line) {
			keep = append(keep, line)
		}
	}
	if len(keep) > 0 {
		if _, err := io.WriteString(q.w, strings.Join(keep, "")); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
