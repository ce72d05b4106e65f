package ipsec

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/internal/swantest"
	"github.com/nfvkit/nfvkit/internal/testenv"
	"github.com/nfvkit/nfvkit/internal/wgtest"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// cipher is one ESP and IKE algorithm choice a benchmark runs with.
type cipher struct {
	name     string // sub-benchmark name
	ike, esp string // proposals, strongSwan syntax
}

var ciphers = []cipher{
	{"aes128gcm", "aes128gcm16-prfsha256-x25519", "aes128gcm16-x25519"},
	{"aes256gcm", "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519"},
}

// tunnel is a built setup: swantest's sites with the tunnel up.
type tunnel struct {
	*swantest.Sites
	// Charons are the strongSwan ends, whose memory is reported.
	Charons []*swantest.Charon
}

// setup is one kind of gateway pair measured on the same topology.
type setup struct {
	name string // prefix of its metrics
	// build makes the sites, runs both gateways with conn (as GwA sees
	// it), brings the tunnel up and checks that it carries ping.
	build func(b *testing.B, conn swantest.Conn) tunnel
}

// setups are built and measured side by side, their transfers
// alternating so that every setup sees the same machine; the first is
// the baseline the others' ratio is taken against.
var setups = []setup{
	{"swan", strongSwanPair},
	{"gw", gatewayPair},
}

// strongSwanPair is charon at both ends, GwA initiating.
func strongSwanPair(b *testing.B, conn swantest.Conn) tunnel {
	b.Helper()
	s := swantest.NewSites(b)
	a, z := s.StrongSwan(b, swantest.Options{}, conn)
	if err := a.Initiate(conn.Children[0].Name); err != nil {
		b.Fatal(err)
	}
	nettest.Ping(b, s.HostA, swantest.HostBAddr, 2)
	return tunnel{s, []*swantest.Charon{a, z}}
}

// gatewayPair is our ipsec-gw in GwA (nfv run's runner, in this process,
// on AF_PACKET ports ALAN and AWAN), initiating at start, and charon with
// conn.Mirror() in GwB, as the interop tests of appliances/ipsec-gw run
// them.
func gatewayPair(b *testing.B, conn swantest.Conn) tunnel {
	b.Helper()
	s := swantest.NewSites(b)
	s.KernelGateway(b, swantest.SiteB)
	// What reaches an AF_PACKET port must be whole: the hosts' TX
	// offloads off, on both links our gateway reads.
	nettest.NoTxOffloads(b, s.HostA, s.HostAIf)
	nettest.NoTxOffloads(b, s.GwB, s.BWAN)
	conn.PSK = textPSK() // the policy reads it from a file: text, not SiteConn's bytes
	z := swantest.Start(b, s.GwB, conn.Mirror())

	dir := b.TempDir()
	g := s.Gateway(swantest.SiteA)
	g.PSK, g.Start = "file:"+writeFile(b, dir, "psk", conn.PSK), string(config.StartNow)
	p, err := config.Load(writeFile(b, dir, "ipsec-gw.yaml", conn.GatewayPolicy(g)))
	if err != nil {
		b.Fatal(err)
	}
	_, log := wgtest.RunGatewayLog(b, s.GwA, p, conn.PSK)
	if _, err := z.WaitChild(conn.Children[0].Name, "INSTALLED", 30*time.Second); err != nil {
		b.Fatalf("%v\ngateway log:\n%s", err, log())
	}
	nettest.Ping(b, s.HostA, swantest.HostBAddr, 2)
	return tunnel{s, []*swantest.Charon{z}}
}

// textPSK is a random pre-shared key in hex.
func textPSK() string {
	k := make([]byte, 24)
	rand.Read(k)
	return hex.EncodeToString(k)
}

// writeFile writes text to dir/name, readable by its owner only, and
// returns the path.
func writeFile(b *testing.B, dir, name, text string) string {
	b.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkIPsecTCP measures iperf3 TCP through an IPsec tunnel between
// the sites, hostA → hostB and back, with each setup and each cipher. It
// reports each setup's Gbit/s per direction, the peak memory of its
// charons, and with more than one setup the ratio of each one's total to
// the first's.
func BenchmarkIPsecTCP(b *testing.B) {
	testenv.NeedCommand(b, "iperf3", "iperf3")
	swantest.Need(b)
	for _, c := range ciphers {
		b.Run(c.name, func(b *testing.B) {
			tunnels := make([]tunnel, len(setups))
			for i, s := range setups {
				conn := swantest.SiteConn(s.name)
				conn.Proposals = []string{c.ike}
				conn.Children[0].ESPProposals = []string{c.esp}
				tunnels[i] = s.build(b, conn)
			}
			up := make([]float64, len(setups))
			down := make([]float64, len(setups))
			peak := make([]int64, len(setups))
			b.ResetTimer()
			for range b.N {
				for i, t := range tunnels {
					up[i] += nettest.IPerf(b, t.HostA, t.HostB, swantest.HostBAddr.String())
					peak[i] = max(peak[i], rss(t))
				}
				for i, t := range tunnels {
					down[i] += nettest.IPerf(b, t.HostB, t.HostA, swantest.HostAAddr.String())
					peak[i] = max(peak[i], rss(t))
				}
			}
			b.StopTimer()
			n := float64(b.N)
			for i, s := range setups {
				b.ReportMetric(up[i]/n/1e9, s.name+"-A→B-Gbit/s")
				b.ReportMetric(down[i]/n/1e9, s.name+"-B→A-Gbit/s")
				if peak[i] > 0 {
					b.ReportMetric(float64(peak[i])/(1<<20), s.name+"-charon-MB")
				}
				if i > 0 {
					b.ReportMetric((up[i]+down[i])/(up[0]+down[0]), s.name+"/"+setups[0].name)
				}
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// rss is the largest resident memory of t's charons, in bytes.
func rss(t tunnel) int64 {
	var m int64
	for _, c := range t.Charons {
		if r, err := c.RSS(); err == nil {
			m = max(m, r)
		}
	}
	return m
}
