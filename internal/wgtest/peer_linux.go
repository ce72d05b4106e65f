package wgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/internal/testenv"
)

var wgGo struct {
	once sync.Once
	path string
	err  error
}

// WireGuardGo is the standalone wireguard-go program built from the module
// this repository uses (the newest upstream, as PEERS.md advises), built
// once per process, or Debian's where the build fails; t skips when
// neither exists.
func WireGuardGo(t testing.TB) string {
	t.Helper()
	wgGo.once.Do(func() {
		dir, err := os.MkdirTemp("", "nfv-wireguard-go-")
		if err != nil {
			wgGo.err = err
			return
		}
		bin := filepath.Join(dir, "wireguard-go")
		out, err := exec.Command("go", "build", "-o", bin, "golang.zx2c4.com/wireguard").CombinedOutput()
		if err != nil {
			wgGo.err = fmt.Errorf("go build golang.zx2c4.com/wireguard: %v\n%s", err, out)
			return
		}
		wgGo.path = bin
	})
	if wgGo.path != "" {
		return wgGo.path
	}
	if p, err := exec.LookPath("wireguard-go"); err == nil {
		t.Logf("using Debian's wireguard-go: %v", wgGo.err)
		return p
	}
	testenv.Skip(t, fmt.Sprintf("no wireguard-go: %v", wgGo.err))
	return ""
}

// Peer is a wireguard-go process in a namespace, configured with wg(8)
// over its UAPI socket.
type Peer struct {
	T      testing.TB // fails on errors
	NS     string     // its namespace
	Ifname string     // its TUN device
	Key    Key        // its key pair
	Port   int        // its listen port
	// WGArgs is the wg set arguments after the interface name, private
	// key and listen port (the peers), and IPCmds the ip commands (after
	// -n NS) that follow; both are applied at every start.
	WGArgs []string
	IPCmds [][]string
	cmd    *exec.Cmd
}

// Start runs wireguard-go, waits for its UAPI socket, and configures it.
func (p *Peer) Start() {
	t := p.T
	t.Helper()
	bin := WireGuardGo(t)
	testenv.NeedCommand(t, "wg", "wireguard-tools")
	cmd := exec.Command("ip", "netns", "exec", p.NS, bin, "-f", p.Ifname)
	cmd.Env = append(os.Environ(), "WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=error")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("wireguard-go: %v", err)
	}
	p.cmd = cmd
	sock := "/var/run/wireguard/" + p.Ifname + ".sock"
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			if _, err := exec.Command("ip", "netns", "exec", p.NS, "wg", "show", p.Ifname).CombinedOutput(); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("wireguard-go %s: no UAPI socket after 10s", p.Ifname)
		}
		time.Sleep(20 * time.Millisecond)
	}
	keyFile := filepath.Join(t.TempDir(), "peer.key")
	if err := os.WriteFile(keyFile, []byte(p.Key.Priv+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"netns", "exec", p.NS, "wg", "set", p.Ifname, "private-key", keyFile, "listen-port", fmt.Sprint(p.Port)}, p.WGArgs...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("wg set: %v\n%s", err, out)
	}
	for _, c := range p.IPCmds {
		nettest.IP(t, append([]string{"-n", p.NS}, c...)...)
	}
}

// Kill ends wireguard-go as a crash would (SIGKILL); its TUN device goes
// with it.
func (p *Peer) Kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cmd = nil
	// A killed wireguard-go leaves its UAPI socket behind.
	os.Remove("/var/run/wireguard/" + p.Ifname + ".sock")
	// The device disappears once the process's file is closed.
	for range 100 {
		if _, err := nettest.IPErr("-n", p.NS, "link", "show", p.Ifname); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Handshake waits until the peer has completed a handshake after since,
// and returns when.
func (p *Peer) Handshake(since time.Time, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		out, err := exec.Command("ip", "netns", "exec", p.NS, "wg", "show", p.Ifname, "latest-handshakes").CombinedOutput()
		if err == nil {
			for line := range strings.Lines(string(out)) {
				f := strings.Fields(line)
				var sec int64
				if len(f) == 2 {
					fmt.Sscan(f[1], &sec)
				}
				if sec > 0 && !time.Unix(sec, 0).Before(since.Truncate(time.Second)) {
					return time.Unix(sec, 0), true
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Time{}, false
}

// WGShow is the peer's `wg show` output, for logs.
func (p *Peer) WGShow() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "ip", "netns", "exec", p.NS, "wg", "show", p.Ifname).CombinedOutput()
	return string(out)
}
