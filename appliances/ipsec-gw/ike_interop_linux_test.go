package ipsecgw_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/internal/swantest"
	"github.com/nfvkit/nfvkit/internal/testenv"
	"github.com/nfvkit/nfvkit/internal/wgtest"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// The IKEv2 interop tests run our gateway (nfv run's runner on AF_PACKET
// ports) in GwA of package swantest's sites and strongSwan's charon, with
// kernel-libipsec, in GwB:
//
//	[HostA] ── [GwA: ipsec-gw] ══ IKEv2 + ESP in UDP ══ [GwB: charon] ── [HostB]
//
// charon's kernel-libipsec fakes a NAT, so every run also exercises NAT
// detection, the move to port 4500 and UDP-encapsulated ESP.

// ikeSite is one interop run's sites, strongSwan and our gateway.
type ikeSite struct {
	s      *swantest.Sites
	conn   swantest.Conn // GwA's view; charon runs its Mirror
	charon *swantest.Charon
	psk    string
	stop   func()
	log    func() string
}

// ikeOpts shape the gateway's ike: entry and charon's connection.
type ikeOpts struct {
	start                    config.IKEStart
	ikeLife, ikeRekey        time.Duration // ours; zero: defaults
	childLife                time.Duration
	dpd, dpdTimeout          time.Duration
	proposal, espProp        string // ours, and charon's in its syntax
	swanIKERekey             time.Duration
	swanChildRekey           time.Duration
	swanDPD                  time.Duration
	swanStart, swanDPDAction string
}

func startIKESite(t *testing.T, o ikeOpts) *ikeSite {
	t.Helper()
	testenv.Long(t)
	swantest.Need(t)
	s := swantest.NewSites(t)
	s.KernelGateway(t, swantest.SiteB)
	// Hosts' offloads off: what reaches an AF_PACKET port must be whole.
	nettest.NoTxOffloads(t, s.HostA, s.HostAIf)
	nettest.NoTxOffloads(t, s.GwB, s.BWAN)

	key := make([]byte, 24)
	rand.Read(key)
	psk := hex.EncodeToString(key)
	if o.proposal == "" {
		o.proposal = "aes256gcm16-prfsha256-x25519"
	}
	if o.espProp == "" {
		o.espProp = "aes256gcm16-x25519"
	}
	conn := swantest.SiteConn("site")
	conn.PSK = psk
	conn.Proposals = []string{o.proposal}
	conn.RekeyTime, conn.DPDDelay = o.swanIKERekey, o.swanDPD
	if o.swanIKERekey > 0 {
		conn.OverTime = o.swanIKERekey
	}
	ch := &conn.Children[0]
	ch.ESPProposals = []string{o.espProp}
	ch.RekeyTime = o.swanChildRekey
	if o.swanChildRekey > 0 {
		ch.LifeTime = o.swanChildRekey * 3 / 2
	}
	ch.StartAction, ch.DPDAction = o.swanStart, o.swanDPDAction
	charon := swantest.Start(t, s.GwB, conn.Mirror())

	t.Setenv("NFV_TEST_IKE_PSK", psk)
	g := s.Gateway(swantest.SiteA)
	g.PSK, g.Start = "env:NFV_TEST_IKE_PSK", string(o.start)
	g.Lifetime, g.Rekey, g.DPD, g.DPDTimeout = o.ikeLife, o.ikeRekey, o.dpd, o.dpdTimeout
	g.ChildLifetime = o.childLife
	y := conn.GatewayPolicy(g)
	path := filepath.Join(t.TempDir(), "ipsec-gw.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	site := &ikeSite{s: s, conn: conn, charon: charon, psk: psk}
	site.stop, site.log = wgtest.RunGatewayLog(t, s.GwA, p, psk)
	t.Cleanup(func() {
		if t.Failed() {
			sas, _ := charon.ListSAs()
			t.Logf("charon's SAs:\n%s", swantest.Summary(sas))
		}
	})
	return site
}

// established waits for charon to show the tunnel up and checks both ends
// agree on its algorithms; it returns charon's view.
func (k *ikeSite) established(t *testing.T, timeout time.Duration) (swantest.IKESA, swantest.ChildSA) {
	t.Helper()
	sa, err := k.charon.WaitIKE("site", "ESTABLISHED", timeout)
	if err != nil {
		t.Fatalf("IKE SA: %v\ngateway log:\n%s", err, k.log())
	}
	ch, err := k.charon.WaitChild("net", "INSTALLED", timeout)
	if err != nil {
		t.Fatalf("child SA: %v\ngateway log:\n%s", err, k.log())
	}
	if !ch.Encap || sa.Local.Port() != 4500 || sa.Remote.Port() != 4500 {
		t.Errorf("charon's SAs are not on port 4500 and UDP-encapsulated: %v -> %v, encap %v", sa.Local, sa.Remote, ch.Encap)
	}
	return sa, ch
}

// traffic checks ping both ways and a transfer of size bytes each way,
// checksummed, between the hosts.
func (k *ikeSite) traffic(t *testing.T, size int) {
	t.Helper()
	nettest.Ping(t, k.s.HostA, swantest.HostBAddr, 3)
	nettest.Ping(t, k.s.HostB, swantest.HostAAddr, 3)
	nettest.TCPTransfer(t, k.s.HostA, k.s.HostB, swantest.HostBAddr, size, 60*time.Second)
	nettest.TCPTransfer(t, k.s.HostB, k.s.HostA, swantest.HostAAddr, size, 60*time.Second)
}

// waitLog waits for the gateway's log to show want.
func (k *ikeSite) waitLog(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(k.log(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway's log never said %q within %v:\n%s", want, timeout, k.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kick sends a few pings from HostA without judging them: a trap
// connection comes up on the first.
func (k *ikeSite) kick() {
	exec.Command("ip", "netns", "exec", k.s.HostA, "ping", "-c", "3", "-i", "0.3", "-W", "1", swantest.HostBAddr.String()).Run()
}

// TestStrongSwanWeInitiate: our gateway initiates (at start, and on
// traffic with a trap), charon responds; traffic crosses both ways.
func TestStrongSwanWeInitiate(t *testing.T) {
	for _, c := range []struct {
		name     string
		start    config.IKEStart
		proposal string
		esp      string
	}{
		{"start/aes256gcm16-x25519", config.StartNow, "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519"},
		{"trap/aes128gcm16-ecp256", config.StartTrap, "aes128gcm16-prfsha384-ecp256", "aes128gcm16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := startIKESite(t, ikeOpts{start: c.start, proposal: c.proposal, espProp: c.esp})
			if c.start == config.StartTrap {
				k.kick()
			}
			sa, _ := k.established(t, 20*time.Second)
			if sa.Initiator {
				t.Errorf("charon initiated; we should have")
			}
			k.traffic(t, 4<<20)
			k.stop()
		})
	}
}

// TestStrongSwanTheyInitiate: charon initiates, our gateway (start: none)
// responds; traffic crosses both ways.
func TestStrongSwanTheyInitiate(t *testing.T) {
	k := startIKESite(t, ikeOpts{start: config.StartNone})
	if err := k.charon.Initiate("net"); err != nil {
		t.Fatalf("%v\ngateway log:\n%s", err, k.log())
	}
	sa, _ := k.established(t, 20*time.Second)
	if !sa.Initiator {
		t.Errorf("charon shows itself as responder; it initiated")
	}
	k.traffic(t, 4<<20)
	k.stop()
}

// TestStrongSwanRekey: with short lifetimes on both ends the IKE SA and
// the child SA (with PFS) are rekeyed, by us and by charon, while TCP
// transfers keep running, and every transfer arrives intact.
func TestStrongSwanRekey(t *testing.T) {
	k := startIKESite(t, ikeOpts{
		start: config.StartNow, ikeLife: 40 * time.Second, ikeRekey: 9 * time.Second, childLife: 8 * time.Second,
		swanIKERekey: 14 * time.Second, swanChildRekey: 11 * time.Second,
	})
	sa0, ch0 := k.established(t, 20*time.Second)
	ikeSPIs := map[uint64]bool{sa0.SPIi: true}
	childSPIs := map[uint32]bool{ch0.SPIIn: true}
	// Two paced connections, one each way, stay open for 25 s, across
	// the rekeys of both ends; meanwhile charon's SAs are sampled.
	const rate, dur = 1 << 20, 25 // 1 MiB/s for 25 s
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		nettest.TCPStream(t, k.s.HostA, k.s.HostB, swantest.HostBAddr, rate*dur, rate, 60*time.Second)
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		nettest.TCPStream(t, k.s.HostB, k.s.HostA, swantest.HostAAddr, rate*dur, rate, 60*time.Second)
	}()
	for running := 2; running > 0; {
		select {
		case <-done:
			running--
		case <-time.After(500 * time.Millisecond):
		}
		if sas, err := k.charon.ListSAs(); err == nil {
			for _, sa := range sas {
				ikeSPIs[sa.SPIi] = true
				for _, c := range sa.Children {
					childSPIs[c.SPIIn] = true
				}
			}
		}
	}
	n := 2
	t.Logf("%d paced transfers of 25 MiB; IKE SAs seen %d, inbound child SAs seen %d", n, len(ikeSPIs), len(childSPIs))
	log := k.log()
	for _, want := range []string{"ike: IKE SA rekeyed", "ike: child SA rekeyed"} {
		if !strings.Contains(log, want) {
			t.Errorf("the gateway never logged %q", want)
		}
	}
	if len(ikeSPIs) < 2 || len(childSPIs) < 3 {
		t.Errorf("too few rekeys seen by charon: %d IKE SAs, %d child SAs", len(ikeSPIs), len(childSPIs))
	}
	k.traffic(t, 1<<20)
	k.stop()
}

// TestStrongSwanDelete: a delete from either side tears the tunnel down
// cleanly on both.
func TestStrongSwanDelete(t *testing.T) {
	t.Run("by-strongswan", func(t *testing.T) {
		k := startIKESite(t, ikeOpts{start: config.StartNone})
		if err := k.charon.Initiate("net"); err != nil {
			t.Fatal(err)
		}
		k.established(t, 20*time.Second)
		nettest.Ping(t, k.s.HostA, swantest.HostBAddr, 2)
		if err := k.charon.Terminate("site"); err != nil {
			t.Fatal(err)
		}
		k.waitLog(t, "ike: IKE SA deleted", 10*time.Second)
		if out, err := exec.Command("ip", "netns", "exec", k.s.HostA, "ping", "-c", "2", "-W", "1", swantest.HostBAddr.String()).CombinedOutput(); err == nil {
			t.Errorf("traffic still crosses after the delete:\n%s", out)
		}
		k.stop()
	})
	t.Run("by-us", func(t *testing.T) {
		k := startIKESite(t, ikeOpts{start: config.StartNow})
		k.established(t, 20*time.Second)
		nettest.Ping(t, k.s.HostA, swantest.HostBAddr, 2)
		k.stop() // the gateway sends its Delete as it stops
		deadline := time.Now().Add(5 * time.Second)
		for {
			sas, err := k.charon.ListSAs()
			if err == nil && len(sas) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("charon still has SAs 5s after our delete:\n%s", swantest.Summary(sas))
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// TestStrongSwanDPD: charon dies without a word; our dead peer detection
// notices, removes the SAs, and (start: start) tries again until a new
// charon answers.
func TestStrongSwanDPD(t *testing.T) {
	k := startIKESite(t, ikeOpts{start: config.StartNow, dpd: 2 * time.Second, dpdTimeout: 6 * time.Second})
	k.established(t, 20*time.Second)
	nettest.Ping(t, k.s.HostA, swantest.HostBAddr, 2)
	if err := syscall.Kill(k.charon.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	k.waitLog(t, "ike: peer dead", 20*time.Second)
	t.Logf("peer declared dead %v after charon was killed", time.Since(killed).Round(100*time.Millisecond))

	// A new charon: the gateway's retries bring the tunnel back.
	k.charon = swantest.Start(t, k.s.GwB, k.conn.Mirror())
	k.established(t, 60*time.Second)
	k.traffic(t, 1<<20)
	k.stop()
}
