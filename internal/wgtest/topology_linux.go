package wgtest

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
)

var ifSeq atomic.Uint32

// IfName is a short interface name no other test uses now (IFNAMSIZ is 16).
func IfName(tag string) string {
	return fmt.Sprintf("%s%d_%d", tag, os.Getpid()%10000, ifSeq.Add(1))
}

// Topology is the interop setup: two dual-stack sites joined by a
// WireGuard tunnel between our gateway (in namespace G, or a VM) and
// wireguard-go, over IPv4 or IPv6 outside.
//
//	hostA ── lan [gateway] wan ── [ns P: wireguard-go] ── hostB
//	10.1.0.10       192.0.2.1      192.0.2.2      10.2.0.1     10.2.0.10
//	2001:db8:1::10  2001:db8:ff::1 2001:db8:ff::2 2001:db8:2::1 2001:db8:2::10
//	         wg0 10.8.0.1, fd00:8::1 ══ tunnel ══ 10.8.0.2, fd00:8::2 wgX
type Topology struct {
	NsA, NsP, NsB string // hostA's, the peer's and hostB's namespaces
	Peer          *Peer  // wireguard-go in NsP (started by Exercise, or the caller)
	GwKey         Key    // the gateway's key pair
	PSK           string // the tunnel's preshared key, base64
	Outer6        bool   // the tunnel's endpoints are IPv6
}

// DualStack turns IPv6 on in ns for interfaces made from now on, without
// duplicate address detection's wait.
func DualStack(t testing.TB, ns string) {
	t.Helper()
	for _, k := range []string{"all/disable_ipv6", "default/disable_ipv6", "default/accept_dad"} {
		nettest.Sysctl(t, ns, "net/ipv6/conf/"+k, "0")
	}
}

// NewSites makes the namespaces around the gateway: hostA's, the peer's
// and hostB's behind it, and the keys; the gateway's links (hostA's on
// hostAIf, the peer's on peerIf) are the caller's to make before start.
func NewSites(t testing.TB, outer6 bool) *Topology {
	t.Helper()
	top := &Topology{Outer6: outer6}
	top.NsA, top.NsP, top.NsB = nettest.Netns(t, "wgA"), nettest.Netns(t, "wgP"), nettest.Netns(t, "wgB")
	for _, ns := range []string{top.NsA, top.NsP, top.NsB} {
		DualStack(t, ns)
	}
	pLAN, hostB := IfName("pl"), IfName("b")
	nettest.Veth(t, top.NsP, pLAN, top.NsB, hostB)
	nettest.IP(t, "-n", top.NsP, "addr", "add", "10.2.0.1/24", "dev", pLAN)
	nettest.IP(t, "-n", top.NsP, "addr", "add", "2001:db8:2::1/64", "dev", pLAN, "nodad")
	nettest.Sysctl(t, top.NsP, "net/ipv4/ip_forward", "1")
	nettest.Sysctl(t, top.NsP, "net/ipv6/conf/all/forwarding", "1")
	nettest.IP(t, "-n", top.NsB, "addr", "add", "10.2.0.10/24", "dev", hostB)
	nettest.IP(t, "-n", top.NsB, "addr", "add", "2001:db8:2::10/64", "dev", hostB, "nodad")
	nettest.IP(t, "-n", top.NsB, "route", "add", "default", "via", "10.2.0.1")
	nettest.IP(t, "-n", top.NsB, "-6", "route", "add", "default", "via", "2001:db8:2::1")

	top.GwKey = NewKey(t)
	top.PSK = NewKey(t).Priv // any 32 random bytes in base64
	top.Peer = &Peer{T: t, NS: top.NsP, Ifname: IfName("wg"), Key: NewKey(t), Port: 51821}
	pskFile := filepath.Join(t.TempDir(), "psk")
	if err := os.WriteFile(pskFile, []byte(top.PSK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	endpoint := "192.0.2.1:51820"
	if outer6 {
		endpoint = "[2001:db8:ff::1]:51820"
	}
	top.Peer.WGArgs = []string{"peer", top.GwKey.Pub, "preshared-key", pskFile, "endpoint", endpoint,
		"allowed-ips", "10.8.0.0/24,10.1.0.0/24,fd00:8::/64,2001:db8:1::/64", "persistent-keepalive", "5"}
	top.Peer.IPCmds = [][]string{
		{"addr", "add", "10.8.0.2/24", "dev", top.Peer.Ifname},
		{"addr", "add", "fd00:8::2/64", "dev", top.Peer.Ifname, "nodad"},
		{"link", "set", top.Peer.Ifname, "up"},
		{"route", "add", "10.1.0.0/24", "dev", top.Peer.Ifname},
		{"route", "add", "2001:db8:1::/64", "dev", top.Peer.Ifname},
	}
	t.Cleanup(top.Peer.Kill)
	return top
}

// AddressHosts gives hostA (on hostAIf) and the peer (on peerIf, its link
// to the gateway) their addresses.
func (top *Topology) AddressHosts(t testing.TB, hostAIf, peerIf string) {
	t.Helper()
	nettest.IP(t, "-n", top.NsA, "addr", "add", "10.1.0.10/24", "dev", hostAIf)
	nettest.IP(t, "-n", top.NsA, "addr", "add", "2001:db8:1::10/64", "dev", hostAIf, "nodad")
	nettest.IP(t, "-n", top.NsA, "route", "add", "default", "via", "10.1.0.1")
	nettest.IP(t, "-n", top.NsA, "-6", "route", "add", "default", "via", "2001:db8:1::1")
	nettest.IP(t, "-n", top.NsP, "addr", "add", "192.0.2.2/24", "dev", peerIf)
	nettest.IP(t, "-n", top.NsP, "addr", "add", "2001:db8:ff::2/64", "dev", peerIf, "nodad")
}

// Policy is the gateway's policy with its ports: the private key from a
// file (written to dir), the preshared key from the environment, a second
// peer and a second tunnel (unused, to show several of each side by side).
func (top *Topology) Policy(t testing.TB, dir, lanPort, wanPort string) string {
	t.Helper()
	keyFile := filepath.Join(dir, "wg0.key")
	if err := os.WriteFile(keyFile, []byte(top.GwKey.Priv+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NFV_TEST_WG_PSK", top.PSK)
	other, third := NewKey(t), NewKey(t)
	endpoint := "192.0.2.2:51821"
	if top.Outer6 {
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
`, lanPort, wanPort, keyFile, top.Peer.Key.Pub, other.Pub, third.Priv, endpoint)
	policy := filepath.Join(dir, "ipsec-gw.yaml")
	if err := os.WriteFile(policy, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return policy
}

// Exercise starts the peer and checks the tunnel: a handshake, ping and
// TCP (size bytes, checked) both ways; then the peer is killed and
// restarted, and a new handshake carries ping and TCP again.
func (top *Topology) Exercise(t *testing.T, size int, timeout time.Duration) {
	t.Helper()
	hostA, hostB := netip.MustParseAddr("10.1.0.10"), netip.MustParseAddr("10.2.0.10")
	top.Peer.Start()
	if _, ok := top.Peer.Handshake(time.Now().Add(-time.Minute), timeout); !ok {
		t.Fatalf("no handshake with the gateway within %v:\n%s", timeout, top.Peer.WGShow())
	}
	hostA6, hostB6 := netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:2::10")
	nettest.Ping(t, top.NsA, hostB, 3)
	nettest.Ping(t, top.NsB, hostA, 3)
	nettest.Ping(t, top.NsA, hostB6, 3)
	nettest.Ping(t, top.NsB, hostA6, 3)
	nettest.Ping(t, top.NsP, netip.MustParseAddr("10.8.0.1"), 2) // the gateway's tunnel address
	nettest.Ping(t, top.NsP, netip.MustParseAddr("fd00:8::1"), 2)
	nettest.TCPTransfer(t, top.NsA, top.NsB, hostB, size, 2*timeout+30*time.Second)
	nettest.TCPTransfer(t, top.NsB, top.NsA, hostA, size, 2*timeout+30*time.Second)
	t.Logf("peer before restart:\n%s", top.Peer.WGShow())

	// The peer crashes and comes back with no session: its keepalive
	// makes it initiate a handshake, which the gateway must accept.
	top.Peer.Kill()
	restarted := time.Now()
	top.Peer.Start()
	when, ok := top.Peer.Handshake(restarted, timeout)
	if !ok {
		t.Fatalf("no handshake after the peer restarted:\n%s", top.Peer.WGShow())
	}
	t.Logf("new handshake at %v (peer restarted at %v)", when.Format(time.TimeOnly), restarted.Format(time.TimeOnly))
	nettest.Ping(t, top.NsA, hostB, 3)
	nettest.Ping(t, top.NsB, hostA, 3)
	nettest.TCPTransfer(t, top.NsA, top.NsB, hostB, size/2, 2*timeout+30*time.Second)
	nettest.TCPTransfer(t, top.NsB, top.NsA, hostA, size/2, 2*timeout+30*time.Second)
}

// HostLinks puts a gateway's namespace between hostA and the peer: it
// makes namespace G (prefix wgG), the veths hostA ── lan [G] wan ── peer
// with the TX offloads off on the hosts' ends (what reaches an AF_PACKET
// port must be whole: no partial checksums, no TSO/GSO super-frames), and
// addresses the hosts. The gateway's links, gLAN and gWAN, are left
// unaddressed for the gateway to take; pWAN is the peer's end.
func (top *Topology) HostLinks(t testing.TB) (nsG, gLAN, gWAN, pWAN string) {
	t.Helper()
	nsG = nettest.Netns(t, "wgG")
	hostA := IfName("a")
	gLAN, gWAN, pWAN = IfName("gl"), IfName("gw"), IfName("pw")
	nettest.Veth(t, top.NsA, hostA, nsG, gLAN)
	nettest.Veth(t, nsG, gWAN, top.NsP, pWAN)
	nettest.NoTxOffloads(t, top.NsA, hostA)
	nettest.NoTxOffloads(t, top.NsP, pWAN)
	top.AddressHosts(t, hostA, pWAN)
	return nsG, gLAN, gWAN, pWAN
}
