package firewall

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/runner"
)

// TestFirewallOnHostPorts runs the firewall appliance, as nfv run does, on
// each host-port backend (AF_PACKET, AF_XDP, TAP) between two Linux hosts
// in their own namespaces:
//
//	ns in: 192.0.2.10/24 ── lan [firewall] wan ── ns out: 198.51.100.1/24
//
// The inside host reaches the outside (ping, TCP) and the outside server
// sees the masqueraded source 198.51.100.2; the outside reaches the inside
// server only through the port forward 198.51.100.2:8080 (seeing its
// answer); the inside host's own address is closed to the outside, ping
// and TCP alike.
func TestFirewallOnHostPorts(t *testing.T) {
	for i, kind := range []config.PortKind{config.PortAFPacket, config.PortAFXDP, config.PortTap} {
		t.Run(string(kind), func(t *testing.T) { testFirewallOn(t, kind, string(rune('a'+i))) })
	}
}

// testFirewallOn is TestFirewallOnHostPorts on ports of one kind; its
// interface names end in suffix.
func testFirewallOn(t *testing.T, kind config.PortKind, suffix string) {
	nsA, nsR, nsB := nettest.Netns(t, "fA"), nettest.Netns(t, "fR"), nettest.Netns(t, "fB")
	// Names no other test uses now (IFNAMSIZ is 16), one set per backend.
	tag := fmt.Sprint(os.Getpid()%10000) + suffix
	hostA, hostB, rLAN, rWAN := "fa"+tag, "fb"+tag, "fl"+tag, "fw"+tag
	if kind != config.PortTap {
		nettest.Veth(t, nsA, hostA, nsR, rLAN)
		nettest.Veth(t, nsR, rWAN, nsB, hostB)
		// Frames cross a veth as the host built them: partial checksums
		// and TSO segments would reach a port without offload metadata
		// unfinished or too big.
		nettest.NoTxOffloads(t, nsA, hostA)
		nettest.NoTxOffloads(t, nsB, hostB)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "firewall.yaml")
	yaml := fmt.Sprintf(`appliance: firewall
interfaces:
  - {name: lan, port: "%[1]s:%[2]s", address: [192.0.2.1/24]}
  - {name: wan, port: "%[1]s:%[3]s", address: [198.51.100.2/24]}
zones: {inside: [lan], outside: [wan]}
rules:
  - {from: inside, to: outside, action: accept}
  - {from: outside, to: inside, proto: tcp, dst: 192.0.2.10, dport: 8000, state: new, action: accept}
  - {from: outside, action: drop}
nat:
  - {type: masquerade, out: wan}
  - {type: dnat, in: wan, proto: tcp, dport: 8080, to: "192.0.2.10:8000"}
conntrack: {max: 4096}
`, kind, rLAN, rWAN)
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}

	var stats *dataplane.Stats
	stop := nettest.Serve(t, nsR, "firewall", func(ctx context.Context, ready func()) error {
		return runner.Run(ctx, p, runner.Options{Ready: ready, Stats: func(s *dataplane.Stats) { stats = s }})
	})
	t.Cleanup(func() {
		stop()
		for _, d := range stats.Drops() {
			t.Logf("firewall dropped %d: %s", d.Count, d.Name)
		}
	})
	if kind == config.PortTap {
		// The firewall made the TAPs in its namespace; the hosts take the
		// kernel's end of each.
		nettest.IP(t, "-n", nsR, "link", "set", rLAN, "netns", nsA, "name", hostA)
		nettest.IP(t, "-n", nsR, "link", "set", rWAN, "netns", nsB, "name", hostB)
		nettest.IP(t, "-n", nsA, "link", "set", hostA, "up")
		nettest.IP(t, "-n", nsB, "link", "set", hostB, "up")
	}
	nettest.IP(t, "-n", nsA, "addr", "add", "192.0.2.10/24", "dev", hostA)
	nettest.IP(t, "-n", nsA, "route", "add", "default", "via", "192.0.2.1")
	nettest.IP(t, "-n", nsB, "addr", "add", "198.51.100.1/24", "dev", hostB)
	// The outside host has no route to the inside network: it reaches it
	// through the port forward only (and, for the closed tests, a route
	// it should not get through).
	nettest.IP(t, "-n", nsB, "route", "add", "192.0.2.0/24", "via", "198.51.100.2")

	nettest.Ping(t, nsA, netip.MustParseAddr("198.51.100.1"), 3)

	// Inside to outside: the server sees the wan address.
	if src := serveOnce(t, nsB, nsA, "198.51.100.1:7000", "198.51.100.1:7000"); src != "198.51.100.2" {
		t.Errorf("outside server saw the connection from %s, want the masqueraded 198.51.100.2", src)
	}
	// Outside to the port forward: the inside server answers, seeing the
	// real client.
	if src := serveOnce(t, nsA, nsB, "192.0.2.10:8000", "198.51.100.2:8080"); src != "198.51.100.1" {
		t.Errorf("inside server saw the connection from %s, want 198.51.100.1", src)
	}
	// Outside to the inside host directly: closed.
	if out, err := exec.Command("ip", "netns", "exec", nsB, "ping", "-n", "-c", "2", "-i", "0.2", "-w", "2", "192.0.2.10").CombinedOutput(); err == nil {
		t.Errorf("ping from outside to the inside host got through:\n%s", out)
	}
	var ln net.Listener
	nettest.MustDo(t, nsA, func() (err error) { ln, err = net.Listen("tcp4", "192.0.2.10:9000"); return err })
	defer ln.Close()
	nettest.MustDo(t, nsB, func() error {
		c, err := net.DialTimeout("tcp4", "192.0.2.10:9000", time.Second)
		if err == nil {
			c.Close()
			t.Error("TCP from outside to the inside host got through")
		}
		return nil
	})
}

// serveOnce listens on listen in namespace srvNS, connects from cliNS to
// dial, has the server answer with the address it saw, and returns it.
func serveOnce(t *testing.T, srvNS, cliNS, listen, dial string) string {
	t.Helper()
	var ln net.Listener
	nettest.MustDo(t, srvNS, func() (err error) { ln, err = net.Listen("tcp4", listen); return err })
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		ap := netip.MustParseAddrPort(c.RemoteAddr().String())
		io.WriteString(c, ap.Addr().String())
	}()
	var got []byte
	nettest.MustDo(t, cliNS, func() error {
		c, err := net.DialTimeout("tcp4", dial, 5*time.Second)
		if err != nil {
			return fmt.Errorf("dial %s: %w", dial, err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got, err = io.ReadAll(c)
		return err
	})
	return string(got)
}
