package swantest

import (
	"sync"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/internal/testenv"
)

// TestStrongSwanPair proves the harness with strongSwan at both ends:
// AES-GCM with X25519 between GwA and GwB, ping and a checked TCP
// transfer both ways between the hosts, initiated from either side, and
// child and IKE SAs rekeyed every few seconds while TCP flows.
func TestStrongSwanPair(t *testing.T) {
	testenv.Long(t)
	Need(t)
	t.Run("InitiatorA", func(t *testing.T) { pair(t, SiteA) })
	t.Run("InitiatorB", func(t *testing.T) { pair(t, SiteB) })
	t.Run("Rekey", rekey)
}

const transfer = 4 << 20 // bytes each way

func pair(t *testing.T, initiator Site) {
	s := NewSites(t)
	conn := SiteConn("site")
	a, b := s.StrongSwan(t, Options{}, conn)
	ini, resp := a, b
	if initiator == SiteB {
		ini, resp = b, a
	}
	if err := ini.Initiate("net"); err != nil {
		t.Fatal(err)
	}
	iSA, err := ini.WaitIKE("site", "ESTABLISHED", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rSA, err := resp.WaitIKE("site", "ESTABLISHED", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !iSA.Initiator || rSA.Initiator || iSA.SPIi != rSA.SPIi || iSA.SPIr != rSA.SPIr {
		t.Errorf("the two ends disagree on the IKE SA:\n%s\n%s", Summary([]IKESA{iSA}), Summary([]IKESA{rSA}))
	}
	if iSA.EncrAlg != "AES_GCM_16" || iSA.EncrKey != 256 || iSA.DHGroup != "CURVE_25519" {
		t.Errorf("IKE SA negotiated %s-%d %s, want AES_GCM_16-256 CURVE_25519", iSA.EncrAlg, iSA.EncrKey, iSA.DHGroup)
	}
	nettest.Ping(t, s.HostA, HostBAddr, 3)
	nettest.Ping(t, s.HostB, HostAAddr, 3)
	nettest.TCPTransfer(t, s.HostA, s.HostB, HostBAddr, transfer, 60*time.Second)
	nettest.TCPTransfer(t, s.HostB, s.HostA, HostAAddr, transfer, 60*time.Second)

	// The child SA's counters, read on both ends, saw the transfers, and
	// its SPIs match crosswise.
	iCh, err := ini.WaitChild("net", "INSTALLED", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rCh, err := resp.WaitChild("net", "INSTALLED", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if iCh.SPIIn != rCh.SPIOut || iCh.SPIOut != rCh.SPIIn || !iCh.Encap || iCh.EncrAlg != "AES_GCM_16" {
		t.Errorf("child SAs:\n%+v\n%+v", iCh, rCh)
	}
	if iCh.BytesIn < transfer || iCh.BytesOut < transfer || rCh.BytesIn < transfer {
		t.Errorf("child SA counters missed the transfers: in %d out %d (peer in %d)", iCh.BytesIn, iCh.BytesOut, rCh.BytesIn)
	}
	for _, c := range []*Charon{a, b} {
		if rss, err := c.RSS(); err == nil {
			t.Logf("charon in %s: pid %d, RSS %d MiB", c.NS, c.PID(), rss>>20)
		}
	}

	// Terminating from the responder's side brings both ends down; the
	// initiator can bring the tunnel back.
	if err := resp.Terminate("site"); err != nil {
		t.Fatal(err)
	}
	if err := ini.wait(10*time.Second, func(sas []IKESA) bool { return len(sas) == 0 }); err != nil {
		t.Fatalf("the initiator kept its SAs after the peer deleted them: %v", err)
	}
	if err := ini.Initiate("net"); err != nil {
		t.Fatal(err)
	}
	nettest.Ping(t, s.HostA, HostBAddr, 2)
}

// rekey sets the child SA to rekey every 3 s and the IKE SA every 7 s,
// and runs checked TCP transfers through the tunnel for 15 s while the
// SAs are listed: new SPIs must appear without breaking a transfer.
func rekey(t *testing.T) {
	s := NewSites(t)
	conn := SiteConn("site")
	conn.RekeyTime = 7 * time.Second
	// over_time defaults to a tenth of rekey_time: a rekey that collides
	// with a child's gets TEMPORARY_FAILURE and is retried seconds later,
	// after such a short hard lifetime has deleted the IKE SA.
	conn.OverTime = 30 * time.Second
	conn.Children[0].RekeyTime = 3 * time.Second
	conn.Children[0].LifeTime = 20 * time.Second
	// rand_time defaults to life_time - rekey_time, which would let a
	// rekey come at once.
	conn.Children[0].Options = map[string]string{"rand_time": "1s"}
	a, b := s.StrongSwan(t, Options{LogLevels: map[string]int{"ike": 2}}, conn)
	if err := a.Initiate("net"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitChild("net", "INSTALLED", 10*time.Second); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		ikeSPIs  = map[uint64]bool{}
		childIn  = map[uint32]bool{}
		listErrs int
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			sas, err := a.ListSAs()
			mu.Lock()
			if err != nil {
				listErrs++
			}
			for _, sa := range sas {
				if sa.State == "ESTABLISHED" {
					ikeSPIs[sa.SPIi] = true
				}
				for _, ch := range sa.Children {
					if ch.State == "INSTALLED" {
						childIn[ch.SPIIn] = true
					}
				}
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		nettest.TCPTransfer(t, s.HostA, s.HostB, HostBAddr, 16<<20, 30*time.Second)
		nettest.TCPTransfer(t, s.HostB, s.HostA, HostAAddr, 16<<20, 30*time.Second)
		n += 2
	}
	nettest.Ping(t, s.HostA, HostBAddr, 5)
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d transfers; %d IKE SAs and %d inbound child SAs seen; %d listing errors", n, len(ikeSPIs), len(childIn), listErrs)
	if len(childIn) < 3 {
		t.Errorf("the child SA was rekeyed %d times in 15s, want at least 2 (rekey_time 3s)", len(childIn)-1)
	}
	if len(ikeSPIs) < 2 {
		t.Errorf("the IKE SA was not rekeyed in 15s (rekey_time 7s)")
	}
}
