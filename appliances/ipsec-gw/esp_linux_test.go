package ipsecgw_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/internal/testenv"
	"github.com/nfvkit/nfvkit/internal/wgtest"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// TestESPStaticBackToBack runs two of our gateways with mirrored static ESP
// SAs (esp:, AES-GCM; one plain ESP, one in UDP 4500) between two hosts:
// ping and TCP with checked bytes cross both SAs both ways. (The ESP data
// path's interop with other implementations is package esp's to show,
// with known answers and tshark; this shows the gateway's wiring.)
//
//	hostA 10.1.0.10 ── [gw1] 192.0.2.1 ══ ESP ══ 192.0.2.2 [gw2] ── hostB 10.2.0.10, 10.4.0.10
func TestESPStaticBackToBack(t *testing.T) {
	testenv.Long(t)
	nsA, ns1, ns2, nsB := nettest.Netns(t, "espA"), nettest.Netns(t, "espG"), nettest.Netns(t, "espH"), nettest.Netns(t, "espB")
	hostA, g1LAN, g1WAN, g2WAN, g2LAN, hostB := wgtest.IfName("a"), wgtest.IfName("gl"), wgtest.IfName("gw"), wgtest.IfName("hw"), wgtest.IfName("hl"), wgtest.IfName("b")
	nettest.Veth(t, nsA, hostA, ns1, g1LAN)
	nettest.Veth(t, ns1, g1WAN, ns2, g2WAN)
	nettest.Veth(t, ns2, g2LAN, nsB, hostB)
	nettest.NoTxOffloads(t, nsA, hostA)
	nettest.NoTxOffloads(t, nsB, hostB)
	nettest.IP(t, "-n", nsA, "addr", "add", "10.1.0.10/24", "dev", hostA)
	nettest.IP(t, "-n", nsA, "route", "add", "default", "via", "10.1.0.1")
	nettest.IP(t, "-n", nsB, "addr", "add", "10.2.0.10/24", "dev", hostB)
	nettest.IP(t, "-n", nsB, "addr", "add", "10.4.0.10/24", "dev", hostB)
	nettest.IP(t, "-n", nsB, "route", "add", "default", "via", "10.2.0.1")

	dir := t.TempDir()
	k1 := filepath.Join(dir, "k1")
	if err := os.WriteFile(k1, []byte("0x00112233445566778899aabbccddeeff01020304\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const k2 = "ffeeddccbbaa99887766554433221100a1a2a3a4"
	const k3 = "2b7e151628aed2a6abf7158809cf4f3c0a0b0c0d"
	const k4 = "000102030405060708090a0b0c0d0e0f1f2f3f4f"
	gw := func(lan, wan, lanAddr, wanAddr, peer, in1, out1, keyIn1, keyOut1, in2, out2, keyIn2, keyOut2, local, local2, remote, remote2 string) *config.Policy {
		y := fmt.Sprintf(`appliance: ipsec-gw
interfaces:
  - {name: lan, port: "afpacket:%s", address: %s}
  - {name: wan, port: "afpacket:%s", address: [%s]}
esp:
  - {name: plain, peer: %s, spi_in: %s, spi_out: %s, cipher: aes128gcm16, key_in: %s, key_out: %s, local_ts: %s, remote_ts: %s}
  - {name: natt, peer: %s, spi_in: %s, spi_out: %s, cipher: aes128gcm16, key_in: %s, key_out: %s, local_ts: %s, remote_ts: %s, encap: udp}
`, lan, lanAddr, wan, wanAddr, peer, in1, out1, keyIn1, keyOut1, local, remote, peer, in2, out2, keyIn2, keyOut2, local2, remote2)
		path := filepath.Join(dir, wan+".yaml")
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := gw(g1LAN, g1WAN, "[10.1.0.1/24]", "192.0.2.1/24", "192.0.2.2", "0x1001", "0x2001", "file:"+k1, k2, "0x1002", "0x2002", k3, k4, "10.1.0.0/24", "10.1.0.0/24", "10.2.0.0/24", "10.4.0.0/24")
	p2 := gw(g2LAN, g2WAN, "[10.2.0.1/24, 10.4.0.1/24]", "192.0.2.2/24", "192.0.2.1", "0x2001", "0x1001", k2, "file:"+k1, "0x2002", "0x1002", k4, k3, "10.2.0.0/24", "10.4.0.0/24", "10.1.0.0/24", "10.1.0.0/24")
	secrets := []string{"00112233445566778899aabbccddeeff01020304", k2, k3, k4}
	stop1 := wgtest.RunGateway(t, ns1, p1, secrets...)
	stop2 := wgtest.RunGateway(t, ns2, p2, secrets...)

	hostAAddr := netip.MustParseAddr("10.1.0.10")
	for _, dst := range []string{"10.2.0.10", "10.4.0.10"} {
		b := netip.MustParseAddr(dst)
		nettest.Ping(t, nsA, b, 3)
		nettest.TCPTransfer(t, nsA, nsB, b, 2<<20, 30*time.Second)
	}
	nettest.Ping(t, nsB, hostAAddr, 3)
	nettest.TCPTransfer(t, nsB, nsA, hostAAddr, 2<<20, 30*time.Second)
	stop1()
	stop2()
}
