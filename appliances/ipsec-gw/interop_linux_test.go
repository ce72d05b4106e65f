package ipsecgw_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/nfvkit/nfvkit/appliances/ipsec-gw"
	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/internal/testenv"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/runner"
)

var ifSeq atomic.Uint32

// logBuffer collects a gateway's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testLog is the gateway's log, at debug level (wireguard-go's verbose
// lines included): kept in buf, and copied to stderr with NFV_TEST_LOG=1.
func testLog(buf *logBuffer) *slog.Logger {
	var w io.Writer = buf
	if os.Getenv("NFV_TEST_LOG") == "1" {
		w = io.MultiWriter(buf, os.Stderr)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// checkNoSecrets fails t if log shows any of the secrets, as given
// (base64) or in hex.
func checkNoSecrets(t testing.TB, log string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		forms := []string{s}
		if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
			forms = append(forms, hex.EncodeToString(raw))
		}
		for _, f := range forms {
			if strings.Contains(log, f) {
				t.Errorf("the gateway's log shows a secret")
			}
		}
	}
}

// ifName is a short interface name no other test uses now (IFNAMSIZ is 16).
func ifName(tag string) string {
	return fmt.Sprintf("%s%d_%d", tag, os.Getpid()%10000, ifSeq.Add(1))
}

// wgTopology is the interop setup: two dual-stack sites joined by a
// WireGuard tunnel between our gateway (in namespace G, or a VM) and
// wireguard-go, over IPv4 or IPv6 outside.
//
//	hostA ── lan [gateway] wan ── [ns P: wireguard-go] ── hostB
//	10.1.0.10       192.0.2.1      192.0.2.2      10.2.0.1     10.2.0.10
//	2001:db8:1::10  2001:db8:ff::1 2001:db8:ff::2 2001:db8:2::1 2001:db8:2::10
//	         wg0 10.8.0.1, fd00:8::1 ══ tunnel ══ 10.8.0.2, fd00:8::2 wgX
type wgTopology struct {
	nsA, nsP, nsB string
	peer          *wgPeer
	gwKey         wgKey
	psk           string
	outer6        bool // the tunnel's endpoints are IPv6
}

// dualStack turns IPv6 on in ns for interfaces made from now on, without
// duplicate address detection's wait.
func dualStack(t testing.TB, ns string) {
	for _, k := range []string{"all/disable_ipv6", "default/disable_ipv6", "default/accept_dad"} {
		nettest.Sysctl(t, ns, "net/ipv6/conf/"+k, "0")
	}
}

// newSites makes the namespaces around the gateway: hostA's, the peer's
// and hostB's behind it, and the keys; the gateway's links (hostA's on
// hostAIf, the peer's on peerIf) are the caller's to make before start.
func newSites(t testing.TB, outer6 bool) *wgTopology {
	top := &wgTopology{outer6: outer6}
	top.nsA, top.nsP, top.nsB = nettest.Netns(t, "wgA"), nettest.Netns(t, "wgP"), nettest.Netns(t, "wgB")
	for _, ns := range []string{top.nsA, top.nsP, top.nsB} {
		dualStack(t, ns)
	}
	pLAN, hostB := ifName("pl"), ifName("b")
	nettest.Veth(t, top.nsP, pLAN, top.nsB, hostB)
	nettest.IP(t, "-n", top.nsP, "addr", "add", "10.2.0.1/24", "dev", pLAN)
	nettest.IP(t, "-n", top.nsP, "addr", "add", "2001:db8:2::1/64", "dev", pLAN, "nodad")
	nettest.Sysctl(t, top.nsP, "net/ipv4/ip_forward", "1")
	nettest.Sysctl(t, top.nsP, "net/ipv6/conf/all/forwarding", "1")
	nettest.IP(t, "-n", top.nsB, "addr", "add", "10.2.0.10/24", "dev", hostB)
	nettest.IP(t, "-n", top.nsB, "addr", "add", "2001:db8:2::10/64", "dev", hostB, "nodad")
	nettest.IP(t, "-n", top.nsB, "route", "add", "default", "via", "10.2.0.1")
	nettest.IP(t, "-n", top.nsB, "-6", "route", "add", "default", "via", "2001:db8:2::1")

	top.gwKey = newKey(t)
	top.psk = newKey(t).priv // any 32 random bytes in base64
	top.peer = &wgPeer{t: t, ns: top.nsP, ifname: ifName("wg"), key: newKey(t), port: 51821}
	pskFile := filepath.Join(t.TempDir(), "psk")
	if err := os.WriteFile(pskFile, []byte(top.psk+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	endpoint := "192.0.2.1:51820"
	if outer6 {
		endpoint = "[2001:db8:ff::1]:51820"
	}
	top.peer.wgArgs = []string{"peer", top.gwKey.pub, "preshared-key", pskFile, "endpoint", endpoint,
		"allowed-ips", "10.8.0.0/24,10.1.0.0/24,fd00:8::/64,2001:db8:1::/64", "persistent-keepalive", "5"}
	top.peer.ipCmds = [][]string{
		{"addr", "add", "10.8.0.2/24", "dev", top.peer.ifname},
		{"addr", "add", "fd00:8::2/64", "dev", top.peer.ifname, "nodad"},
		{"link", "set", top.peer.ifname, "up"},
		{"route", "add", "10.1.0.0/24", "dev", top.peer.ifname},
		{"route", "add", "2001:db8:1::/64", "dev", top.peer.ifname},
	}
	t.Cleanup(top.peer.kill)
	return top
}

// addressHosts gives hostA (on hostAIf) and the peer (on peerIf, its link
// to the gateway) their addresses.
func (top *wgTopology) addressHosts(t testing.TB, hostAIf, peerIf string) {
	nettest.IP(t, "-n", top.nsA, "addr", "add", "10.1.0.10/24", "dev", hostAIf)
	nettest.IP(t, "-n", top.nsA, "addr", "add", "2001:db8:1::10/64", "dev", hostAIf, "nodad")
	nettest.IP(t, "-n", top.nsA, "route", "add", "default", "via", "10.1.0.1")
	nettest.IP(t, "-n", top.nsA, "-6", "route", "add", "default", "via", "2001:db8:1::1")
	nettest.IP(t, "-n", top.nsP, "addr", "add", "192.0.2.2/24", "dev", peerIf)
	nettest.IP(t, "-n", top.nsP, "addr", "add", "2001:db8:ff::2/64", "dev", peerIf, "nodad")
}

// policy is the gateway's policy with its ports: the private key from a
// file (written to dir), the preshared key from the environment, a second
// peer and a second tunnel (unused, to show several of each side by side).
func (top *wgTopology) policy(t testing.TB, dir, lanPort, wanPort string) string {
	keyFile := filepath.Join(dir, "wg0.key")
	if err := os.WriteFile(keyFile, []byte(top.gwKey.priv+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NFV_TEST_WG_PSK", top.psk)
	other, third := newKey(t), newKey(t)
	endpoint := "192.0.2.2:51821"
	if top.outer6 {
		endpoint = "[2001:db8:ff::2]:51821"
	}
	yaml := fmt.Sprintf(`appliance: ipsec-gw
interfaces:
  - {name: lan, port: "%[1]s", address: [10.1.0.1/24, 2001:db8:1::1/64]}
  - {name: wan, port: "%[2]s", address: [192.0.2.1/24, 2001:db8:ff::1/64]}
wireguard:
  - name: wg0
    private_key: file:%[3]s
    listen_port: 51820
    address: [10.8.0.1/24, fd00:8::1/64]
    peers:
      - name: site-b
        public_key: %[4]s
        preshared_key: env:NFV_TEST_WG_PSK
        endpoint: "%[7]s"
        allowed_ips: [10.8.0.2/32, 10.2.0.0/24, fd00:8::2/128, 2001:db8:2::/64]
        persistent_keepalive: 5s
      - name: roaming
        public_key: %[5]s
        allowed_ips: [10.8.0.3/32]
  - name: wg1
    private_key: %[6]s
    listen_port: 51830
    address: [10.9.0.1/24]
    peers:
      - {public_key: %[5]s, allowed_ips: [10.9.0.0/24, 10.3.0.0/16]}
`, lanPort, wanPort, keyFile, top.peer.key.pub, other.pub, third.priv, endpoint)
	policy := filepath.Join(dir, "ipsec-gw.yaml")
	if err := os.WriteFile(policy, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return policy
}

// exercise starts the peer and checks the tunnel: a handshake, ping and
// TCP (size bytes, checked) both ways; then the peer is killed and
// restarted, and a new handshake carries ping and TCP again.
func (top *wgTopology) exercise(t *testing.T, size int, timeout time.Duration) {
	hostA, hostB := netip.MustParseAddr("10.1.0.10"), netip.MustParseAddr("10.2.0.10")
	top.peer.start()
	if _, ok := top.peer.handshake(time.Now().Add(-time.Minute), timeout); !ok {
		t.Fatalf("no handshake with the gateway within %v:\n%s", timeout, top.peer.wgShow())
	}
	hostA6, hostB6 := netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:2::10")
	nettest.Ping(t, top.nsA, hostB, 3)
	nettest.Ping(t, top.nsB, hostA, 3)
	nettest.Ping(t, top.nsA, hostB6, 3)
	nettest.Ping(t, top.nsB, hostA6, 3)
	nettest.Ping(t, top.nsP, netip.MustParseAddr("10.8.0.1"), 2) // the gateway's tunnel address
	nettest.Ping(t, top.nsP, netip.MustParseAddr("fd00:8::1"), 2)
	nettest.TCPTransfer(t, top.nsA, top.nsB, hostB, size, 2*timeout+30*time.Second)
	nettest.TCPTransfer(t, top.nsB, top.nsA, hostA, size, 2*timeout+30*time.Second)
	t.Logf("peer before restart:\n%s", top.peer.wgShow())

	// The peer crashes and comes back with no session: its keepalive
	// makes it initiate a handshake, which the gateway must accept.
	top.peer.kill()
	restarted := time.Now()
	top.peer.start()
	when, ok := top.peer.handshake(restarted, timeout)
	if !ok {
		t.Fatalf("no handshake after the peer restarted:\n%s", top.peer.wgShow())
	}
	t.Logf("new handshake at %v (peer restarted at %v)", when.Format(time.TimeOnly), restarted.Format(time.TimeOnly))
	nettest.Ping(t, top.nsA, hostB, 3)
	nettest.Ping(t, top.nsB, hostA, 3)
	nettest.TCPTransfer(t, top.nsA, top.nsB, hostB, size/2, 2*timeout+30*time.Second)
	nettest.TCPTransfer(t, top.nsB, top.nsA, hostA, size/2, 2*timeout+30*time.Second)
}

// TestWireGuardInteropHost runs our gateway (nfv run's runner on AF_PACKET
// ports, in namespace G) against the standalone wireguard-go program
// configured with wg: ping and TCP with checked bytes cross the tunnel both
// ways, then wireguard-go is killed and started afresh, and a new handshake
// carries traffic again.
func TestWireGuardInteropHost(t *testing.T) {
	testenv.Long(t)
	t.Run("outer-ipv4", func(t *testing.T) { testWireGuardHost(t, false) })
	t.Run("outer-ipv6", func(t *testing.T) { testWireGuardHost(t, true) })
}

func testWireGuardHost(t *testing.T, outer6 bool) {
	top := newSites(t, outer6)
	nsG := nettest.Netns(t, "wgG")
	hostA, gLAN, gWAN, pWAN := ifName("a"), ifName("gl"), ifName("gw"), ifName("pw")
	nettest.Veth(t, top.nsA, hostA, nsG, gLAN)
	nettest.Veth(t, nsG, gWAN, top.nsP, pWAN)
	// What reaches an AF_PACKET port must be whole: no partial checksums,
	// no TSO/GSO super-frames.
	nettest.NoTxOffloads(t, top.nsA, hostA)
	nettest.NoTxOffloads(t, top.nsP, pWAN)
	top.addressHosts(t, hostA, pWAN)
	p, err := config.Load(top.policy(t, t.TempDir(), "afpacket:"+gLAN, "afpacket:"+gWAN))
	if err != nil {
		t.Fatal(err)
	}
	stop := runGateway(t, nsG, p, top.gwKey.priv, top.psk)
	if os.Getenv("NFV_TEST_TCPDUMP") == "1" {
		cmd := exec.Command("ip", "netns", "exec", top.nsP, "tcpdump", "-leni", pWAN, "-c", "30")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Start()
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	top.exercise(t, 4<<20, 15*time.Second)
	top.peer.kill()
	stop()
}

// runGateway runs policy p as nfv run does, in namespace ns, until the
// returned stop is called (or the test ends); stop checks it ended cleanly
// with every frame back in the pool, and logs its drops.
//
// The log is kept at debug level and checked for secrets: stop fails the
// test if it shows any of them.
func runGateway(t testing.TB, ns string, p *config.Policy, secrets ...string) (stop func()) {
	logs := new(logBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	var stats *dataplane.Stats
	go func() {
		done <- nettest.Do(ns, func() error {
			return runner.Run(ctx, p, runner.Options{
				Log:   testLog(logs),
				Ready: func() { close(ready) },
				Stats: func(s *dataplane.Stats) { stats = s },
			})
		})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway: %v", err)
			}
			for _, d := range stats.Drops() {
				t.Logf("gateway dropped %d: %s", d.Count, d.Name)
			}
			checkNoSecrets(t, logs.String(), secrets)
			if t.Failed() {
				t.Logf("gateway log:\n%s", logs)
			}
		case <-time.After(20 * time.Second):
			t.Error("gateway did not stop within 20s")
		}
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("gateway not ready within 20s")
	}
	return stop
}
