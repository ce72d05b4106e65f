package ipsecgw_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/testenv"
	"github.com/nfvkit/nfvkit/internal/wgtest"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// TestWireGuardInteropHost runs our gateway (nfv run's runner on AF_PACKET
// ports, in namespace G) against the standalone wireguard-go program
// configured with wg: ping and TCP with checked bytes cross the tunnel both
// ways, then wireguard-go is killed and started afresh, and a new handshake
// carries traffic again. The topology is package wgtest's.
func TestWireGuardInteropHost(t *testing.T) {
	testenv.Long(t)
	t.Run("outer-ipv4", func(t *testing.T) { testWireGuardHost(t, false) })
	t.Run("outer-ipv6", func(t *testing.T) { testWireGuardHost(t, true) })
}

func testWireGuardHost(t *testing.T, outer6 bool) {
	top := wgtest.NewSites(t, outer6)
	nsG, gLAN, gWAN, pWAN := top.HostLinks(t)
	p, err := config.Load(top.Policy(t, t.TempDir(), "afpacket:"+gLAN, "afpacket:"+gWAN))
	if err != nil {
		t.Fatal(err)
	}
	stop := wgtest.RunGateway(t, nsG, p, top.GwKey.Priv, top.PSK)
	if os.Getenv("NFV_TEST_TCPDUMP") == "1" {
		cmd := exec.Command("ip", "netns", "exec", top.NsP, "tcpdump", "-leni", pWAN, "-c", "30")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Start()
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	top.Exercise(t, 4<<20, 15*time.Second)
	top.Peer.Kill()
	stop()
}
