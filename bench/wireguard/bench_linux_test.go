package wireguard

import (
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

// BenchmarkWireGuardTCP measures TCP through a WireGuard tunnel, both
// ways, on one topology built twice in the same run:
//
//	hostA ── [gateway] ══ tunnel ══ [ns P: wireguard-go] ── hostB
//
// with our gateway (nfv run's runner on AF_PACKET ports) as the gateway,
// and with the standalone wireguard-go program (its TUN and UDP socket,
// the namespace's kernel forwarding) as the gateway. Transfers alternate
// between the two so that both see the same machine. It reports each
// side's Gbit/s and their ratio (gateway over wireguard-go: the target is
// at least 1). Root only.
func BenchmarkWireGuardTCP(b *testing.B) {
	testenv.NeedCommand(b, "iperf3", "iperf3")
	ours := sites(b, false)
	theirs := sites(b, true)
	var oursUp, oursDown, theirsUp, theirsDown float64
	b.ResetTimer()
	for range b.N {
		oursUp += nettest.IPerf(b, ours.NsA, ours.NsB, "10.2.0.10")
		theirsUp += nettest.IPerf(b, theirs.NsA, theirs.NsB, "10.2.0.10")
		oursDown += nettest.IPerf(b, ours.NsB, ours.NsA, "10.1.0.10")
		theirsDown += nettest.IPerf(b, theirs.NsB, theirs.NsA, "10.1.0.10")
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(oursUp/n/1e9, "gw-A→B-Gbit/s")
	b.ReportMetric(oursDown/n/1e9, "gw-B→A-Gbit/s")
	b.ReportMetric(theirsUp/n/1e9, "wggo-A→B-Gbit/s")
	b.ReportMetric(theirsDown/n/1e9, "wggo-B→A-Gbit/s")
	b.ReportMetric((oursUp+oursDown)/(theirsUp+theirsDown), "ratio")
	b.ReportMetric(0, "ns/op")
}

// sites is wgtest's interop topology with our gateway in namespace G, or
// with wireguard-go there in its place (wggo), the tunnel up and carrying
// ping.
func sites(b *testing.B, wggo bool) *wgtest.Topology {
	b.Helper()
	top := wgtest.NewSites(b, false)
	nsG, gLAN, gWAN, _ := top.HostLinks(b)
	if !wggo {
		p, err := config.Load(top.Policy(b, b.TempDir(), "afpacket:"+gLAN, "afpacket:"+gWAN))
		if err != nil {
			b.Fatal(err)
		}
		wgtest.RunGateway(b, nsG, p)
	} else {
		nettest.IP(b, "-n", nsG, "addr", "add", "10.1.0.1/24", "dev", gLAN)
		nettest.IP(b, "-n", nsG, "addr", "add", "192.0.2.1/24", "dev", gWAN)
		nettest.Sysctl(b, nsG, "net/ipv4/ip_forward", "1")
		pskFile := filepath.Join(b.TempDir(), "psk")
		if err := os.WriteFile(pskFile, []byte(top.PSK+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		wg := wgtest.IfName("wg")
		gw := &wgtest.Peer{T: b, NS: nsG, Ifname: wg, Key: top.GwKey, Port: 51820,
			WGArgs: []string{"peer", top.Peer.Key.Pub, "preshared-key", pskFile, "endpoint", "192.0.2.2:51821",
				"allowed-ips", "10.8.0.2/32,10.2.0.0/24", "persistent-keepalive", "5"},
			IPCmds: [][]string{
				{"addr", "add", "10.8.0.1/24", "dev", wg},
				{"link", "set", wg, "up"},
				{"route", "add", "10.2.0.0/24", "dev", wg},
			}}
		gw.Start()
		b.Cleanup(gw.Kill)
	}
	top.Peer.Start()
	if _, ok := top.Peer.Handshake(time.Now().Add(-time.Minute), 15*time.Second); !ok {
		b.Fatalf("no handshake:\n%s", top.Peer.WGShow())
	}
	nettest.Ping(b, top.NsA, netip.MustParseAddr("10.2.0.10"), 2)
	return top
}
