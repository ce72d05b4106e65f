package swantest

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"

	"github.com/nfvkit/nfvkit/internal/nettest"
)

// The addresses of Sites.
var (
	HostAAddr = netip.MustParseAddr("10.1.0.10")
	GwALAN    = netip.MustParseAddr("10.1.0.1")
	GwAWAN    = netip.MustParseAddr("192.0.2.1")
	GwBWAN    = netip.MustParseAddr("192.0.2.2")
	GwBLAN    = netip.MustParseAddr("10.2.0.1")
	HostBAddr = netip.MustParseAddr("10.2.0.10")
	NetA      = netip.MustParsePrefix("10.1.0.0/24")
	NetB      = netip.MustParsePrefix("10.2.0.0/24")
)

// Sites is the site-to-site topology: two hosts, each behind a gateway,
// the gateways joined by a link the tunnel crosses.
//
//	[HostA] ── ALAN [GwA] AWAN ══ BWAN [GwB] BLAN ── [HostB]
//	10.1.0.10  10.1.0.1   192.0.2.1   192.0.2.2   10.2.0.1   10.2.0.10
//
// NewSites addresses the hosts (default route via their gateway); the
// gateways' links are left bare for whatever runs there: KernelGateway
// readies one for charon, and an appliance on AF_PACKET ports takes them
// as they are.
type Sites struct {
	HostA, GwA, GwB, HostB string // namespaces
	HostAIf, HostBIf       string // the hosts' interfaces
	ALAN, AWAN             string // GwA's interfaces towards HostA and GwB
	BWAN, BLAN             string // GwB's interfaces towards GwA and HostB
}

var ifSeq atomic.Uint32

// ifName is an interface name no other test uses now (IFNAMSIZ is 16).
func ifName(tag string) string {
	return fmt.Sprintf("%s%d_%d", tag, os.Getpid()%10000, ifSeq.Add(1))
}

// NewSites makes the four namespaces (removed when the test ends) and
// their veth links, and addresses the hosts. It skips unless root.
func NewSites(t testing.TB) *Sites {
	t.Helper()
	s := &Sites{
		HostA: nettest.Netns(t, "swA"), GwA: nettest.Netns(t, "swGA"),
		GwB: nettest.Netns(t, "swGB"), HostB: nettest.Netns(t, "swB"),
		HostAIf: ifName("ha"), ALAN: ifName("al"), AWAN: ifName("aw"),
		BWAN: ifName("bw"), BLAN: ifName("bl"), HostBIf: ifName("hb"),
	}
	nettest.Veth(t, s.HostA, s.HostAIf, s.GwA, s.ALAN)
	nettest.Veth(t, s.GwA, s.AWAN, s.GwB, s.BWAN)
	nettest.Veth(t, s.GwB, s.BLAN, s.HostB, s.HostBIf)
	nettest.IP(t, "-n", s.HostA, "addr", "add", HostAAddr.String()+"/24", "dev", s.HostAIf)
	nettest.IP(t, "-n", s.HostA, "route", "add", "default", "via", GwALAN.String())
	nettest.IP(t, "-n", s.HostB, "addr", "add", HostBAddr.String()+"/24", "dev", s.HostBIf)
	nettest.IP(t, "-n", s.HostB, "route", "add", "default", "via", GwBLAN.String())
	return s
}

// Site names one side of Sites.
type Site int

const (
	SiteA Site = iota // GwA, in front of HostA
	SiteB             // GwB, in front of HostB
)

// KernelGateway readies a gateway's namespace for charon: addresses on
// both links and IPv4 forwarding on (charon's TUN device ipsec0 is an
// ordinary interface: a host's packet is forwarded into it, and a
// decrypted one forwarded out of it to the host).
func (s *Sites) KernelGateway(t testing.TB, site Site) {
	t.Helper()
	ns, lan, wan, lanAddr, wanAddr := s.GwA, s.ALAN, s.AWAN, GwALAN, GwAWAN
	if site == SiteB {
		ns, lan, wan, lanAddr, wanAddr = s.GwB, s.BLAN, s.BWAN, GwBLAN, GwBWAN
	}
	nettest.IP(t, "-n", ns, "addr", "add", lanAddr.String()+"/24", "dev", lan)
	nettest.IP(t, "-n", ns, "addr", "add", wanAddr.String()+"/24", "dev", wan)
	nettest.Sysctl(t, ns, "net/ipv4/ip_forward", "1")
}

// Gateway is an ipsec-gw in site's gateway namespace, for
// Conn.GatewayPolicy: AF_PACKET ports on the gateway's LAN and WAN links
// and its addresses on them; the rest is the caller's. The ports take
// the links as NewSites left them: the host's and the peer's TX offloads
// must be off (nettest.NoTxOffloads), or what reaches the ports is not
// whole.
func (s *Sites) Gateway(site Site) Gateway {
	if site == SiteB {
		return Gateway{LANPort: "afpacket:" + s.BLAN, WANPort: "afpacket:" + s.BWAN,
			LAN: netip.PrefixFrom(GwBLAN, 24), WAN: netip.PrefixFrom(GwBWAN, 24)}
	}
	return Gateway{LANPort: "afpacket:" + s.ALAN, WANPort: "afpacket:" + s.AWAN,
		LAN: netip.PrefixFrom(GwALAN, 24), WAN: netip.PrefixFrom(GwAWAN, 24)}
}

// SiteConn is the site-to-site connection as GwA sees it (Mirror gives
// GwB's): GwA's and GwB's WAN addresses, one child "net" joining NetA
// and NetB, a random pre-shared key, strongSwan's defaults otherwise.
func SiteConn(name string) Conn {
	return Conn{
		Name: name, Local: GwAWAN, Remote: GwBWAN, PSK: randomPSK(),
		Children: []Child{{Name: "net", LocalTS: []netip.Prefix{NetA}, RemoteTS: []netip.Prefix{NetB}}},
	}
}

func randomPSK() string {
	b := make([]byte, 24)
	rand.Read(b)
	return string(b)
}

// StrongSwan readies both gateways with KernelGateway and starts charon
// in each: conn in GwA and conn.Mirror() in GwB. Nothing is initiated.
func (s *Sites) StrongSwan(t testing.TB, opts Options, conn Conn) (a, b *Charon) {
	t.Helper()
	Need(t)
	s.KernelGateway(t, SiteA)
	s.KernelGateway(t, SiteB)
	return StartOpts(t, s.GwA, opts, conn), StartOpts(t, s.GwB, opts, conn.Mirror())
}
