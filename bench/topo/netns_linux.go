package topo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns add` bind-mounts named namespaces.
const netnsDir = "/run/netns"

// cmdTimeout bounds every configuration command (ip, sh).
const cmdTimeout = 15 * time.Second

// NS is a named network namespace.
type NS struct {
	Name string

	mu sync.Mutex
	nl int // rtnetlink socket inside the namespace, 0 until first used
}

func (n *NS) String() string { return n.Name }

func (n *NS) path() string { return filepath.Join(netnsDir, n.Name) }

// Do runs f on an OS thread that has entered the namespace. Sockets f opens
// stay in the namespace and may be used from any goroutine afterwards.
// /proc/sys/net shows the namespace's sysctls to f; /sys does not follow
// (it shows the namespace it was mounted in), so use Command for /sys.
func (n *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is unlocked only when it is back in its own
		// namespace; otherwise it exits with the goroutine and never
		// runs other goroutines in the wrong namespace.
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netns %s: %w", n.Name, err)
			runtime.UnlockOSThread()
			return
		}
		defer unix.Close(self)
		target, err := unix.Open(n.path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netns %s: %w", n.Name, err)
			runtime.UnlockOSThread()
			return
		}
		err = unix.Setns(target, unix.CLONE_NEWNET)
		unix.Close(target)
		if err != nil {
			errc <- fmt.Errorf("netns %s: setns: %w", n.Name, err)
			runtime.UnlockOSThread()
			return
		}
		ferr := f()
		if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("netns %s: returning to the original namespace: %w", n.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Command is `ip netns exec NAME name args...`: a process in the namespace
// with /sys remounted for it. The process is killed if the calling program
// dies (Pdeathsig), so a crashed harness leaves no generator running.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// IP runs `ip -n NAME args...`.
func (n *NS) IP(ctx context.Context, args ...string) error {
	return run(ctx, "ip", append([]string{"-n", n.Name}, args...)...)
}

// Sh runs a shell command in the namespace (with its /sys).
func (n *NS) Sh(ctx context.Context, script string) error {
	return run(ctx, "ip", "netns", "exec", n.Name, "sh", "-c", script)
}

// Sysctl sets a sysctl of the namespace, key as in sysctl(8):
// "net.ipv4.ip_forward".
func (n *NS) Sysctl(key, value string) error {
	p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return n.Do(func() error {
		if err := os.WriteFile(p, []byte(value), 0); err != nil {
			return fmt.Errorf("netns %s: sysctl %s=%s: %w", n.Name, key, value, err)
		}
		return nil
	})
}

// SetRPS sets the receive packet steering CPU mask of the first receive
// queue of dev (0 turns RPS off).
func (n *NS) SetRPS(ctx context.Context, dev string, mask uint64) error {
	return n.Sh(ctx, fmt.Sprintf("echo %x > /sys/class/net/%s/queues/rx-0/rps_cpus", mask, dev))
}

// Pids lists the processes in the namespace.
func (n *NS) Pids(ctx context.Context) ([]int, error) {
	out, err := output(ctx, "ip", "netns", "pids", n.Name)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func (n *NS) closeNetlink() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nl > 0 {
		unix.Close(n.nl)
		n.nl = 0
	}
}

func run(ctx context.Context, name string, args ...string) error {
	_, err := output(ctx, name, args...)
	return err
}

func output(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
