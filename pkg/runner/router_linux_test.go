package runner

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/nfvkit/nfvkit/appliances/router"
	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

var ifSeq atomic.Uint32

// ifName is a short interface name no other test uses now (IFNAMSIZ is 16).
func ifName(tag string) string {
	return fmt.Sprintf("n%s%d_%d", tag, os.Getpid()%10000, ifSeq.Add(1))
}

// TestRouterOnHostPorts runs the router appliance, as nfv run does, between
// two Linux hosts in their own namespaces, on each host-port backend: the
// hosts ping each other over IPv4 and IPv6 through it and move a few MB of
// TCP each way with the bytes checked.
//
//	ns A: 192.0.2.10/24, 2001:db8:1::10/64 ── lan [router] wan ── ns B: 198.51.100.1/30, 2001:db8:ff::1/64
func TestRouterOnHostPorts(t *testing.T) {
	for _, kind := range []config.PortKind{config.PortAFPacket, config.PortAFXDP, config.PortTap} {
		t.Run(string(kind), func(t *testing.T) { testRouterOn(t, kind) })
	}
}

func testRouterOn(t *testing.T, kind config.PortKind) {
	nsA, nsR, nsB := nettest.Netns(t, "hA"), nettest.Netns(t, "hR"), nettest.Netns(t, "hB")
	for _, ns := range []string{nsA, nsB} {
		nettest.Sysctl(t, ns, "net/ipv6/conf/all/disable_ipv6", "0")
		nettest.Sysctl(t, ns, "net/ipv6/conf/default/disable_ipv6", "0")
		// The hosts' addresses are usable at once (no DAD wait).
		nettest.Sysctl(t, ns, "net/ipv6/conf/default/accept_dad", "0")
	}
	hostA, hostB, rLAN, rWAN := ifName("a"), ifName("b"), ifName("l"), ifName("w")
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
	policy := filepath.Join(dir, "router.yaml")
	yaml := fmt.Sprintf(`appliance: router
interfaces:
  - {name: lan, port: "%[1]s:%[2]s", address: [192.0.2.1/24, 2001:db8:1::1/64]}
  - {name: wan, port: "%[1]s:%[3]s", address: [198.51.100.2/30, 2001:db8:ff::2/64]}
`, kind, rLAN, rWAN)
	if err := os.WriteFile(policy, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := config.Load(policy)
	if err != nil {
		t.Fatal(err)
	}

	var stats *dataplane.Stats
	stop := nettest.Serve(t, nsR, "router", func(ctx context.Context, ready func()) error {
		return Run(ctx, p, Options{Ready: ready, Stats: func(s *dataplane.Stats) { stats = s }})
	})
	t.Cleanup(func() {
		stop()
		for _, d := range stats.Drops() {
			t.Logf("router dropped %d: %s", d.Count, d.Name)
		}
	})

	if kind == config.PortTap {
		// The router made the TAPs in its namespace; the hosts take the
		// kernel's end of each.
		nettest.IP(t, "-n", nsR, "link", "set", rLAN, "netns", nsA, "name", hostA)
		nettest.IP(t, "-n", nsR, "link", "set", rWAN, "netns", nsB, "name", hostB)
		nettest.IP(t, "-n", nsA, "link", "set", hostA, "up")
		nettest.IP(t, "-n", nsB, "link", "set", hostB, "up")
	}
	nettest.IP(t, "-n", nsA, "addr", "add", "192.0.2.10/24", "dev", hostA)
	nettest.IP(t, "-n", nsA, "addr", "add", "2001:db8:1::10/64", "dev", hostA, "nodad")
	nettest.IP(t, "-n", nsA, "route", "add", "default", "via", "192.0.2.1")
	nettest.IP(t, "-n", nsA, "-6", "route", "add", "default", "via", "2001:db8:1::1")
	nettest.IP(t, "-n", nsB, "addr", "add", "198.51.100.1/30", "dev", hostB)
	nettest.IP(t, "-n", nsB, "addr", "add", "2001:db8:ff::1/64", "dev", hostB, "nodad")
	nettest.IP(t, "-n", nsB, "route", "add", "default", "via", "198.51.100.2")
	nettest.IP(t, "-n", nsB, "-6", "route", "add", "default", "via", "2001:db8:ff::2")

	nettest.Ping(t, nsA, netip.MustParseAddr("198.51.100.1"), 3)
	nettest.Ping(t, nsB, netip.MustParseAddr("192.0.2.10"), 3)
	nettest.Ping(t, nsA, netip.MustParseAddr("2001:db8:ff::1"), 3)
	nettest.Ping(t, nsA, netip.MustParseAddr("192.0.2.1"), 2) // the router itself
	nettest.TCPTransfer(t, nsA, nsB, netip.MustParseAddr("198.51.100.1"), 4<<20, 60*time.Second)
	nettest.TCPTransfer(t, nsB, nsA, netip.MustParseAddr("192.0.2.10"), 4<<20, 60*time.Second)
	stop()
}
