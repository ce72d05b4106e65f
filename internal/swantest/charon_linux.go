package swantest

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/testenv"
)

// Where Debian puts strongSwan.
const (
	CharonPath = "/usr/lib/ipsec/charon"
	pluginDir  = "/usr/lib/ipsec/plugins"
)

// Need skips t (or fails it under NFV_REQUIRE_ALL=1) unless this machine
// can run Start: root, swanctl, charon and the plugins of Plugins,
// unshare(1), and no AppArmor profile confining charon to /etc.
func Need(t testing.TB) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "iproute2")
	testenv.NeedCommand(t, "unshare", "util-linux")
	testenv.NeedCommand(t, "swanctl", "strongswan-swanctl")
	if _, err := os.Stat(CharonPath); err != nil {
		testenv.Skip(t, CharonPath+" not found; 'make deps' installs Debian's strongswan-charon")
	}
	pkgs := map[string]string{"kernel-libipsec": "libcharon-extra-plugins", "gcm": "libstrongswan-standard-plugins",
		"openssl": "libstrongswan-standard-plugins", "vici": "strongswan-swanctl"}
	for _, p := range strings.Fields(Plugins) {
		f := filepath.Join(pluginDir, "libstrongswan-"+p+".so")
		if _, err := os.Stat(f); err != nil && pkgs[p] != "" {
			testenv.Skip(t, f+" not found; 'make deps' installs Debian's "+pkgs[p])
		}
	}
	// Debian's AppArmor profile for charon (enforced where AppArmor is
	// on) lets it read only /etc/strongswan.conf and write only
	// /run/charon.*: our per-test files would be denied.
	if b, err := os.ReadFile("/sys/kernel/security/apparmor/profiles"); err == nil &&
		strings.Contains(string(b), CharonPath+" (enforce)") {
		testenv.Skip(t, "AppArmor confines "+CharonPath+" to its own files; run 'aa-complain "+CharonPath+"' to test with it")
	}
}

// Options tune a charon beyond its connections.
type Options struct {
	// LogLevels sets charon's log level per subsystem (default, ike, cfg,
	// knl, net, enc, ...); 1 where not given. Levels are capped at 3:
	// level 4 logs keys.
	LogLevels map[string]int
	// Threads is charon's worker thread count, default DefaultThreads.
	// Nine are held for good (vici, kernel-libipsec, netlink, sockets)
	// and each swanctl call waiting on an initiate or terminate holds
	// one: with none free, charon processes nothing until a call times
	// out.
	Threads int
	// Conf is more strongswan.conf text, put inside charon { } as given
	// (e.g. "block_threshold = 1000").
	Conf string
}

// DefaultThreads is charon's worker thread count unless Options say
// otherwise: room for 20 swanctl calls waiting at once.
const DefaultThreads = 32

// Charon is one strongSwan IKE daemon in a network namespace, with its
// files (strongswan.conf, swanctl.conf, vici socket, log) in Dir.
type Charon struct {
	NS  string // its network namespace
	Dir string // its files

	t      testing.TB
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has ended
	conns  []Conn

	stopOnce sync.Once
}

// Start runs charon in namespace ns as the package doc describes, waits
// for its vici socket, and loads conns and their keys. The test skips
// (see Need) when the machine cannot run it; charon is stopped and its
// files removed when the test ends, after its log's tail is shown if the
// test failed. Any of the conns' pre-shared keys found in its log fails
// the test.
func Start(t testing.TB, ns string, conns ...Conn) *Charon {
	t.Helper()
	return StartOpts(t, ns, Options{}, conns...)
}

// StartOpts is Start with Options.
func StartOpts(t testing.TB, ns string, opts Options, conns ...Conn) *Charon {
	t.Helper()
	Need(t)
	// Short, not t.TempDir: the vici socket's path must fit sun_path
	// (108 bytes), which long subtest names overflow.
	dir, err := os.MkdirTemp("", "swan")
	if err != nil {
		t.Fatal(err)
	}
	c := &Charon{NS: ns, Dir: dir, t: t, exited: make(chan struct{})}
	conf := filepath.Join(dir, "strongswan.conf")
	if err := os.WriteFile(conf, []byte(renderStrongswan(dir, cmp.Or(opts.Threads, DefaultThreads), opts.LogLevels, opts.Conf)), 0o600); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "charon.out"))
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	defer out.Close()
	// Its own mount namespace with an empty /run: charon's pid file
	// (/run/charon.pid, compiled in) would stop a second charon.
	c.cmd = exec.Command("ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", "mount -t tmpfs tmpfs /run && exec "+CharonPath)
	c.cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+conf)
	c.cmd.Stdout, c.cmd.Stderr = out, out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no charon outlives the test binary
	if err := c.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("charon in %s: %v", ns, err)
	}
	go func() {
		c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() { c.cleanup(conns) })

	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := c.Swanctl("--stats")
		if err == nil {
			break
		}
		select {
		case <-c.exited:
			t.Fatalf("charon in %s exited at start: %v\n%s", ns, c.cmd.ProcessState, c.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("charon in %s: no answer on its vici socket within 15s: %v", ns, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Load(conns...); err != nil {
		t.Fatal(err)
	}
	return c
}

// cleanup stops charon, checks its log for the keys, shows its tail if
// the test failed, and removes the files.
func (c *Charon) cleanup(conns []Conn) {
	c.Stop()
	log := c.Log()
	for _, conn := range append(conns, c.conns...) {
		if leaks(log, conn.PSK) {
			c.t.Errorf("charon's log in %s shows the pre-shared key of conn %s", c.NS, conn.Name)
			log = "(not shown: it holds a key)"
			break
		}
	}
	if c.t.Failed() {
		c.t.Logf("charon in %s, last lines of its log:\n%s%s", c.NS, tail(log, 80), c.output())
	}
	os.RemoveAll(c.Dir)
}

// leaks reports whether log shows psk raw (when long enough to mean
// anything), in base64 or in hex.
func leaks(log, psk string) bool {
	if psk == "" {
		return false
	}
	forms := []string{base64.StdEncoding.EncodeToString([]byte(psk)), hex.EncodeToString([]byte(psk))}
	if len(psk) >= 8 {
		forms = append(forms, psk)
	}
	for _, f := range forms {
		if strings.Contains(strings.ToLower(log), strings.ToLower(f)) {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// output is what charon printed on stdout and stderr, if anything.
func (c *Charon) output() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "charon.out"))
	if len(b) == 0 {
		return ""
	}
	return "charon's output:\n" + string(b)
}

// Stop ends charon: SIGTERM (it deletes its SAs, telling the peers), then
// SIGKILL after 5 s. Safe to call more than once; the test's end calls it.
func (c *Charon) Stop() {
	c.stopOnce.Do(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(5 * time.Second):
			c.t.Logf("charon in %s ignored SIGTERM for 5s; killing it", c.NS)
			c.cmd.Process.Kill()
			<-c.exited
		}
	})
}

// Swanctl runs `swanctl CMD --uri <this charon's vici> ARGS...` (args[0]
// is the command, e.g. "--list-conns") for at most 60 s, and returns its
// output. The vici socket is a path, so swanctl runs outside the
// namespace.
func (c *Charon) Swanctl(args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("swanctl: no command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{args[0], "--uri", "unix://" + filepath.Join(c.Dir, "charon.vici")}, args[1:]...)
	cmd := exec.CommandContext(ctx, "swanctl", full...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+filepath.Join(c.Dir, "strongswan.conf"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("swanctl %s in %s: %w\n%s", strings.Join(args, " "), c.NS, err, tail(string(out), 20))
	}
	return string(out), nil
}

// Load replaces charon's connections and keys with conns
// (swanctl --load-all: connections not given are unloaded).
func (c *Charon) Load(conns ...Conn) error {
	text, err := renderSwanctl(conns)
	if err != nil {
		return err
	}
	sdir := filepath.Join(c.Dir, "swanctl")
	// swanctl --load-all also reads credentials from these directories
	// beside the file and complains of each one missing.
	for _, d := range []string{"x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey",
		"private", "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12"} {
		if err := os.MkdirAll(filepath.Join(sdir, d), 0o700); err != nil {
			return err
		}
	}
	file := filepath.Join(sdir, "swanctl.conf")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		return err
	}
	c.conns = append(c.conns, conns...) // the keys the log is checked for
	_, err = c.Swanctl("--load-all", "--noprompt", "--file", file)
	return err
}

// Initiate brings up child SA child (and its IKE SA, if none is up),
// waiting at most 30 s for it.
func (c *Charon) Initiate(child string) error {
	_, err := c.Swanctl("--initiate", "--child", child, "--timeout", "30")
	return err
}

// InitiateIKE brings up an IKE SA of connection ike without a child SA
// where the peer supports that (RFC 6023), waiting at most 30 s.
func (c *Charon) InitiateIKE(ike string) error {
	_, err := c.Swanctl("--initiate", "--ike", ike, "--timeout", "30")
	return err
}

// Terminate deletes the IKE SAs of connection ike (and their children),
// waiting at most 30 s.
func (c *Charon) Terminate(ike string) error {
	_, err := c.Swanctl("--terminate", "--ike", ike, "--timeout", "30")
	return err
}

// ListSAs lists charon's IKE SAs with their child SAs.
func (c *Charon) ListSAs() ([]IKESA, error) {
	out, err := c.Swanctl("--list-sas", "--pretty")
	if err != nil {
		return nil, err
	}
	sas, err := parseSAs(out)
	if err != nil {
		return nil, fmt.Errorf("swanctl --list-sas in %s: %w", c.NS, err)
	}
	return sas, nil
}

// WaitIKE waits at most timeout for an IKE SA of connection name in
// state (e.g. ESTABLISHED), and returns it.
func (c *Charon) WaitIKE(name, state string, timeout time.Duration) (IKESA, error) {
	var found IKESA
	err := c.wait(timeout, func(sas []IKESA) bool {
		for _, sa := range sas {
			if sa.Name == name && sa.State == state {
				found = sa
				return true
			}
		}
		return false
	})
	if err != nil {
		return found, fmt.Errorf("no IKE SA %s %s in %s within %v: %w", name, state, c.NS, timeout, err)
	}
	return found, nil
}

// WaitChild waits at most timeout for a child SA named name in state
// (e.g. INSTALLED), under any IKE SA, and returns it.
func (c *Charon) WaitChild(name, state string, timeout time.Duration) (ChildSA, error) {
	var found ChildSA
	err := c.wait(timeout, func(sas []IKESA) bool {
		for _, sa := range sas {
			for _, ch := range sa.Children {
				if ch.Name == name && ch.State == state {
					found = ch
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		return found, fmt.Errorf("no child SA %s %s in %s within %v: %w", name, state, c.NS, timeout, err)
	}
	return found, nil
}

// wait polls ListSAs until ok or timeout; the error describes the last
// list seen.
func (c *Charon) wait(timeout time.Duration, ok func([]IKESA) bool) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		sas, err := c.ListSAs()
		if err == nil && ok(sas) {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = Summary(sas)
		}
		select {
		case <-c.exited:
			return fmt.Errorf("charon has exited (%v)", c.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("last seen: %s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Summary describes sas in one line each, for logs.
func Summary(sas []IKESA) string {
	if len(sas) == 0 {
		return "no SAs"
	}
	var b strings.Builder
	for _, sa := range sas {
		fmt.Fprintf(&b, "%s#%d %s spi %016x_i %016x_r", sa.Name, sa.UniqueID, sa.State, sa.SPIi, sa.SPIr)
		for _, ch := range sa.Children {
			fmt.Fprintf(&b, "; %s#%d %s %08x_i %08x_o in %d/%dB out %d/%dB", ch.Name, ch.UniqueID, ch.State,
				ch.SPIIn, ch.SPIOut, ch.PacketsIn, ch.BytesIn, ch.PacketsOut, ch.BytesOut)
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Log is charon's log so far.
func (c *Charon) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "charon.log"))
	return string(b)
}

// PID is charon's process ID.
func (c *Charon) PID() int { return c.cmd.Process.Pid }

// RSS is charon's resident memory in bytes.
func (c *Charon) RSS() (int64, error) { return ProcRSS(c.PID()) }

// CPUTime is the CPU time (user and system, all threads) charon has used.
func (c *Charon) CPUTime() (time.Duration, error) { return ProcCPUTime(c.PID()) }

// ProcRSS is process pid's resident memory in bytes (VmRSS).
func ProcRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

// ProcCPUTime is the CPU time (user and system, all threads) process pid
// has used, from /proc/PID/stat.
func ProcCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after it. utime and stime are fields 14 and 15, in clock ticks,
	// which are 1/100 s on Linux (USER_HZ).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}
