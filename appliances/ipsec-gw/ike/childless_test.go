package ike

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/suite"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// initiateChildless has g start an IKE SA of its conn that asks for no
// child (RFC 6023).
func (g *gw) initiateChildless(t *testing.T) {
	t.Helper()
	g.do(func(d *Daemon) {
		cn := d.conns[0]
		if err := d.initiate(cn, "test"); err != nil {
			t.Error(err)
			return
		}
		d.connSA(cn).childless = true
	})
}

// TestChildless: A asks for the IKE SA alone; B, which announced RFC 6023
// support, sets it up without a child. A CREATE_CHILD_SA adds the child
// later, and an IKE SA without children rekeys (by either end).
func TestChildless(t *testing.T) {
	for _, rekeyBy := range []string{"none", "initiator", "responder"} {
		t.Run("rekey-by-"+rekeyBy, func(t *testing.T) {
			nw, a, b := newPair(t, pairOpts{})
			nw.mu.Lock()
			nw.keep = true
			nw.mu.Unlock()
			a.initiateChildless(t)
			waitFor(t, "up without children", long, func() bool { return a.up(0) && b.up(0) })
			if a.espSAs() != 0 || b.espSAs() != 0 {
				t.Fatalf("%d and %d ESP SAs installed for a childless IKE SA", a.espSAs(), b.espSAs())
			}
			// Both ends announced support in IKE_SA_INIT.
			nw.mu.Lock()
			msgs := slices.Clone(nw.msgs)
			nw.mu.Unlock()
			announced := 0
			for _, raw := range msgs {
				m, err := wire.Decode(raw)
				if err == nil && m.Header.Exchange == wire.IKESAInit && m.Notify(wire.ChildlessIKEv2Supported) != nil {
					announced++
				}
			}
			if announced != 2 {
				t.Fatalf("%d IKE_SA_INIT messages announce CHILDLESS_IKEV2_SUPPORTED, want 2 (request and response)", announced)
			}
			if st := b.d.Stats(); st.IKESAsEstablished != 1 || st.ChildSAsEstablished != 0 {
				t.Fatalf("B's stats %+v", st)
			}
			old := a.established()[0]
			if rekeyBy != "none" {
				g := a
				if rekeyBy == "responder" {
					g = b
				}
				g.rekeyIKE()
				waitFor(t, "rekeyed", long, func() bool {
					sa, sb := a.d.Status(), b.d.Status()
					return len(sa) == 1 && len(sb) == 1 && a.up(0) && b.up(0) &&
						sa[0].SPIi != old.SPIi && sa[0].SPIi == sb[0].SPIi && sa[0].SPIr == sb[0].SPIr
				})
			}
			// The child comes with CREATE_CHILD_SA.
			if err := a.d.Initiate("to-b"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "child added", long, func() bool { return settled(a, b) })
			traffic(t, a, b, false)
		})
	}
}

// handInitiator sets up IKE SAs with B by hand, from A's address, with
// identities of its choosing and no child: what many initiators behind one
// address (or one with many identities) look like to B.
type handInitiator struct {
	t   *testing.T
	b   *gw
	psk []byte

	mu      sync.Mutex
	ours    map[uint64]bool // our IKE SPIs: B's answers to them are ours
	answers chan []byte
}

// newHandInitiator takes B's answers to its SAs off the network; the rest
// still reaches A.
func newHandInitiator(t *testing.T, nw *network, b *gw, psk string) *handInitiator {
	h := &handInitiator{t: t, b: b, psk: []byte(psk), ours: map[uint64]bool{}, answers: make(chan []byte, 8)}
	nw.mu.Lock()
	nw.drop = func(_ int, _, to netip.AddrPort, msg []byte) bool {
		if to.Addr() != addrA || len(msg) < 8 {
			return false
		}
		h.mu.Lock()
		mine := h.ours[binary.BigEndian.Uint64(msg)]
		h.mu.Unlock()
		if mine {
			h.answers <- bytes.Clone(msg)
		}
		return mine
	}
	nw.mu.Unlock()
	return h
}

func (h *handInitiator) exchange(req []byte) []byte {
	h.t.Helper()
	h.b.d.Receive(netip.AddrPortFrom(addrB, Port), netip.AddrPortFrom(addrA, Port), req)
	select {
	case b := <-h.answers:
		return b
	case <-time.After(long):
		h.t.Fatal("no answer from B")
		return nil
	}
}

// connect sets up a childless IKE SA with identity id (FQDN), with
// INITIAL_CONTACT if ic, and returns its initiator SPI.
func (h *handInitiator) connect(id string, ic bool) uint64 {
	t := h.t
	t.Helper()
	var spiB [8]byte
	copy(spiB[:], suite.NewNonce(16))
	spiI := binary.BigEndian.Uint64(spiB[:]) | 1
	h.mu.Lock()
	h.ours[spiI] = true
	h.mu.Unlock()

	dh, err := suite.NewDH(wire.DHCurve25519)
	if err != nil {
		t.Fatal(err)
	}
	ni := suite.NewNonce(32)
	sent := ikeProposals(&config.IKEConn{Proposals: []config.IKEProposal{prop("aes256gcm16-prfsha256-x25519")}}, nil)
	init := &wire.Message{Header: wire.Header{SPIi: spiI, Version: wire.Version, Exchange: wire.IKESAInit, Flags: wire.FlagInitiator},
		Payloads: []wire.Payload{&wire.SA{Proposals: sent}, &wire.KE{Group: dh.Group(), Data: dh.Public()},
			&wire.Nonce{Data: ni}, &wire.Notify{Type: wire.ChildlessIKEv2Supported}}}
	req, err := init.Encode()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := wire.Decode(h.exchange(req))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Notify(wire.ChildlessIKEv2Supported) == nil {
		t.Fatal("B's IKE_SA_INIT answer does not announce CHILDLESS_IKEV2_SUPPORTED")
	}
	sap, _ := resp.Find(wire.PayloadSA).(*wire.SA)
	ke, _ := resp.Find(wire.PayloadKE).(*wire.KE)
	nr, _ := resp.Find(wire.PayloadNonce).(*wire.Nonce)
	if sap == nil || ke == nil || nr == nil {
		t.Fatalf("B's IKE_SA_INIT answer: %v", resp)
	}
	algs, _, err := checkIKEChoice(sent, sap, 0)
	if err != nil {
		t.Fatal(err)
	}
	gir, err := dh.Shared(ke.Data)
	if err != nil {
		t.Fatal(err)
	}
	spiR := resp.Header.SPIr
	keys, err := suite.IKEKeys(algs, ni, nr.Data, gir, spiI, spiR)
	if err != nil {
		t.Fatal(err)
	}
	out, in, err := keys.Crypters(algs, true)
	if err != nil {
		t.Fatal(err)
	}
	idi := &wire.ID{IDType: wire.IDFQDN, Data: []byte(id)}
	auth, err := suite.PSKAuth(algs.PRF, h.psk, req, nr.Data, keys.SKpi, idi.Body())
	if err != nil {
		t.Fatal(err)
	}
	pl := []wire.Payload{idi}
	if ic {
		pl = append(pl, &wire.Notify{Type: wire.InitialContact})
	}
	pl = append(pl, &wire.Auth{Method: wire.AuthPSK, Data: auth})
	am := &wire.Message{Header: wire.Header{SPIi: spiI, SPIr: spiR, Version: wire.Version, Exchange: wire.IKEAuth,
		Flags: wire.FlagInitiator, MsgID: 1}, Payloads: pl}
	areq, err := am.Seal(out)
	if err != nil {
		t.Fatal(err)
	}
	raw := h.exchange(areq)
	ar, err := wire.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := ar.Open(raw, in); err != nil {
		t.Fatal(err)
	}
	if n := ar.ErrorNotify(); n != nil {
		t.Fatalf("B answered IKE_AUTH with %v", n.Type)
	}
	if ar.Find(wire.PayloadIDr) == nil || ar.Find(wire.PayloadAUTH) == nil {
		t.Fatalf("B's IKE_AUTH answer has no IDr or AUTH: %v", ar)
	}
	if ar.Find(wire.PayloadSA) != nil || ar.Find(wire.PayloadTSi) != nil {
		t.Fatalf("B's answer to a childless IKE_AUTH has a child: %v", ar)
	}
	return spiI
}

// bSPIs lists the initiator SPIs of B's established IKE SAs.
func bSPIs(b *gw) []uint64 {
	var out []uint64
	for _, s := range b.established() {
		out = append(out, s.SPIi)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...uint64) []uint64 { slices.Sort(s); return s }

// TestInitialContactByIdentity: INITIAL_CONTACT ends only the IKE SAs of
// the same authenticated identity (RFC 7296 section 2.4), not every SA of
// the conn from the same address.
func TestInitialContactByIdentity(t *testing.T) {
	nw, a, b := newPair(t, pairOpts{})
	hand := newHandInitiator(t, nw, b, "a-test-key-of-some-length")
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A's SA up", long, func() bool { return settled(a, b) })
	aSPI := a.established()[0].SPIi

	one := hand.connect("one.test", true)
	two := hand.connect("two.test", true)
	if got, want := bSPIs(b), sorted(aSPI, one, two); !slices.Equal(got, want) {
		t.Fatalf("B's IKE SAs %x, want A's and both hand-made ones %x", got, want)
	}
	if !b.up(1) || b.espSAs() != 2 {
		t.Fatal("A's child on B went with another identity's INITIAL_CONTACT")
	}
	// Without INITIAL_CONTACT a second SA of one identity is kept.
	oneMore := hand.connect("one.test", false)
	if got, want := bSPIs(b), sorted(aSPI, one, two, oneMore); !slices.Equal(got, want) {
		t.Fatalf("B's IKE SAs %x, want %x", got, want)
	}
	// With it, "one.test" starts afresh: its old SAs go, no others.
	oneAgain := hand.connect("one.test", true)
	if got, want := bSPIs(b), sorted(aSPI, two, oneAgain); !slices.Equal(got, want) {
		t.Fatalf("B's IKE SAs %x after one.test's INITIAL_CONTACT, want %x", got, want)
	}
	// A, whose identity is its address, starts afresh too: B drops A's
	// old SA (and its child) and keeps the hand-made ones.
	a.do(func(d *Daemon) {
		delete(d.contacted, addrB)
		if err := d.initiate(d.conns[0], "again"); err != nil {
			t.Error(err)
		}
	})
	waitFor(t, "A's new SA replaces its old one on B", long, func() bool {
		got := bSPIs(b)
		return len(got) == 3 && !slices.Contains(got, aSPI) && slices.Contains(got, two) && slices.Contains(got, oneAgain)
	})
	waitFor(t, "one child on B", long, func() bool { return b.espSAs() == 2 })
	traffic(t, a, b, false)
}
