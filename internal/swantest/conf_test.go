package swantest

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/pkg/config"
)

func TestParseSAs(t *testing.T) {
	out, err := os.ReadFile("testdata/list-sas.txt")
	if err != nil {
		t.Fatal(err)
	}
	sas, err := parseSAs(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 2 {
		t.Fatalf("%d SAs, want 2:\n%s", len(sas), Summary(sas))
	}
	sa := sas[0]
	if sa.Name != "gw" || sa.State != "ESTABLISHED" || !sa.Initiator || sa.SPIi != 0x91bd2ecd4cd2b69f || sa.SPIr != 0xdef085d74cb5435c ||
		sa.Local != netip.MustParseAddrPort("192.0.2.1:4500") || sa.RemoteID != "C=CH, O=strongSwan, CN=peer" ||
		sa.DHGroup != "CURVE_25519" || sa.EncrKey != 256 || sa.RekeyIn != 13642*time.Second || sa.Established != 12*time.Second || !sa.NATRemote {
		t.Errorf("IKE SA: %+v", sa)
	}
	want := ChildSA{Name: "net", UniqueID: 1, ReqID: 1, State: "INSTALLED", Mode: "TUNNEL", Protocol: "ESP", Encap: true,
		SPIIn: 0x096280ae, SPIOut: 0x519f8356, EncrAlg: "AES_GCM_16", EncrKey: 256,
		BytesIn: 168, PacketsIn: 2, BytesOut: 200, PacketsOut: 3,
		Installed: 12 * time.Second, RekeyIn: -3 * time.Second, LifeIn: 3960 * time.Second,
		LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24"), netip.MustParsePrefix("10.3.0.1/32")}}
	if len(sa.Children) != 1 || !reflect.DeepEqual(sa.Children[0], want) {
		t.Errorf("child SAs: %+v\nwant %+v", sa.Children, want)
	}
	if sas[1].State != "CONNECTING" || sas[1].SPIr != 0 || len(sas[1].Children) != 0 {
		t.Errorf("second IKE SA: %+v", sas[1])
	}
	if _, err := parseSAs("list-sa event {\n  gw {\n"); err == nil {
		t.Error("an unterminated answer parsed")
	}
}

func TestRenderSwanctl(t *testing.T) {
	c := Conn{Name: "gw", Local: netip.MustParseAddr("192.0.2.1"), Remote: netip.MustParseAddr("192.0.2.2"),
		PSK: "not logged", RekeyTime: 90 * time.Second, DPDDelay: 2 * time.Second, Encap: true,
		Options: map[string]string{"mobike": "no"},
		Children: []Child{{Name: "net", LocalTS: []netip.Prefix{netip.MustParsePrefix("10.1.0.1/24")},
			RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}, RekeyTime: 3 * time.Second,
			StartAction: "trap", DPDAction: "restart"}}}
	got, err := renderSwanctl([]Conn{c.Mirror().Mirror()})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"local_addrs = 192.0.2.1", "remote_addrs = 192.0.2.2", "proposals = " + DefaultIKEProposal,
		"rekey_time = 90s", "dpd_delay = 2s", "encap = yes", "mobike = no", "id = 192.0.2.2",
		"local_ts = 10.1.0.0/24", "esp_proposals = " + DefaultESPProposal, "rekey_time = 3s",
		"start_action = trap", "dpd_action = restart", "secret = 0sbm90IGxvZ2dlZA==",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("swanctl.conf lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "not logged") {
		t.Error("swanctl.conf holds the key in clear")
	}
	if m := c.Mirror(); m.Local != c.Remote || m.Children[0].LocalTS[0] != c.Children[0].RemoteTS[0] {
		t.Errorf("Mirror: %+v", m)
	}
	if _, err := renderSwanctl([]Conn{{Name: "a b", Local: c.Local, Remote: c.Remote}}); err == nil {
		t.Error("a name with a space rendered")
	}
	if conf := renderStrongswan("/d", 16, map[string]int{"ike": 4}, "block_threshold = 9"); !strings.Contains(conf, "ike = 3") ||
		!strings.Contains(conf, "  block_threshold = 9\n") || !strings.Contains(conf, "unix:///d/charon.vici") {
		t.Errorf("strongswan.conf:\n%s", conf)
	}
}

func TestGatewayPolicy(t *testing.T) {
	c := SiteConn("site")
	c.Proposals = []string{"aes128gcm16-prfsha256-x25519"}
	c.Children[0].ESPProposals = []string{"aes128gcm16-x25519"}
	g := Gateway{LANPort: "afpacket:lan0", WANPort: "afpacket:wan0", LAN: netip.PrefixFrom(GwALAN, 24),
		WAN: netip.PrefixFrom(GwAWAN, 24), PSK: "env:NFV_TEST_GW_PSK", Start: "start", Rekey: 9 * time.Second,
		DPDTimeout: 6 * time.Second, ChildLifetime: 8 * time.Second}
	y := c.GatewayPolicy(g)
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := config.Load(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if len(p.IKE) != 1 || len(p.IKE[0].Children) != 1 {
		t.Fatalf("policy:\n%s", y)
	}
	k, ch := p.IKE[0], p.IKE[0].Children[0]
	if k.Name != "site" || k.Peer != GwBWAN || k.Start != config.StartNow || k.Rekey != 9*time.Second ||
		k.DPDTimeout != 6*time.Second || k.Lifetime != config.DefaultIKELifetime || len(k.Proposals) != 1 || ch.Name != "net" ||
		ch.Lifetime != 8*time.Second || ch.Local[0] != NetA || ch.Remote[0] != NetB || len(ch.ESP) != 1 || len(ch.ESP[0].DH) != 1 {
		t.Errorf("ike: entry %+v\nfrom:\n%s", k, y)
	}
	if strings.Contains(y, c.PSK) {
		t.Error("the policy holds the key")
	}
}
