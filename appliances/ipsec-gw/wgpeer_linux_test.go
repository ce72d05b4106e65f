package ipsecgw_test

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

// wireguardGo is the standalone wireguard-go program built from the module
// this repository uses (the newest upstream, as PEERS.md advises), or
// Debian's where the build fails; the test skips when neither exists.
func wireguardGo(t testing.TB) string {
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

// wgPeer is a wireguard-go process in a namespace, configured with wg(8)
// over its UAPI socket.
type wgPeer struct {
	t      testing.TB
	ns     string
	ifname string
	key    wgKey
	port   int
	cmd    *exec.Cmd
	// setup is the wg set arguments after the interface name, and the ip
	// commands (after -n NS) that follow, applied at every start.
	wgArgs []string
	ipCmds [][]string
}

// start runs wireguard-go, waits for its UAPI socket, and configures it.
func (p *wgPeer) start() {
	t := p.t
	t.Helper()
	bin := wireguardGo(t)
	testenv.NeedCommand(t, "wg", "wireguard-tools")
	cmd := exec.Command("ip", "netns", "exec", p.ns, bin, "-f", p.ifname)
	cmd.Env = append(os.Environ(), "WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=error")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("wireguard-go: %v", err)
	}
	p.cmd = cmd
	sock := "/var/run/wireguard/" + p.ifname + ".sock"
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			if _, err := exec.Command("ip", "netns", "exec", p.ns, "wg", "show", p.ifname).CombinedOutput(); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("wireguard-go %s: no UAPI socket after 10s", p.ifname)
		}
		time.Sleep(20 * time.Millisecond)
	}
	keyFile := filepath.Join(t.TempDir(), "peer.key")
	if err := os.WriteFile(keyFile, []byte(p.key.priv+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"netns", "exec", p.ns, "wg", "set", p.ifname, "private-key", keyFile, "listen-port", fmt.Sprint(p.port)}, p.wgArgs...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("wg set: %v\n%s", err, out)
	}
	for _, c := range p.ipCmds {
		nettest.IP(t, append([]string{"-n", p.ns}, c...)...)
	}
}

// kill ends wireguard-go as a crash would (SIGKILL); its TUN device goes
// with it.
func (p *wgPeer) kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cmd = nil
	// A killed wireguard-go leaves its UAPI socket behind.
	os.Remove("/var/run/wireguard/" + p.ifname + ".sock")
	// The device disappears once the process's file is closed.
	for range 100 {
		if _, err := nettest.IPErr("-n", p.ns, "link", "show", p.ifname); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// handshake waits until the peer has completed a handshake after since,
// and returns when.
func (p *wgPeer) handshake(since time.Time, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		out, err := exec.Command("ip", "netns", "exec", p.ns, "wg", "show", p.ifname, "latest-handshakes").CombinedOutput()
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

// wgShow is the peer's `wg show` output, for logs.
func (p *wgPeer) wgShow() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "ip", "netns", "exec", p.ns, "wg", "show", p.ifname).CombinedOutput()
	return string(out)
}
