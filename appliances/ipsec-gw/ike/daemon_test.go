package ike

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
	"github.com/nfvkit/nfvkit/pkg/config"
)

func TestEstablish(t *testing.T) {
	for _, tc := range []struct {
		ike, esp string
	}{
		{"aes256gcm16-prfsha256-x25519", "aes256gcm16"},
		{"aes128gcm16-prfsha256-ecp256", "aes128gcm16"},
		{"chacha20poly1305-prfsha384-x25519", "chacha20poly1305"},
		{"aes256gcm16-prfsha384-ecp256", "chacha20poly1305"},
		{"chacha20poly1305-prfsha256-ecp256", "aes128gcm16"},
	} {
		for _, aInitiates := range []bool{true, false} {
			name := tc.ike + "/" + tc.esp + "/a"
			if !aInitiates {
				name = tc.ike + "/" + tc.esp + "/b"
			}
			t.Run(name, func(t *testing.T) {
				o := pairOpts{propA: []config.IKEProposal{prop(tc.ike)}, propB: []config.IKEProposal{prop(tc.ike)},
					espA: []config.ESPProposal{espProp(tc.esp)}, espB: []config.ESPProposal{espProp(tc.esp)}}
				_, a, b := newPair(t, o)
				init, resp := a, b
				if !aInitiates {
					init, resp = b, a
				}
				if err := init.d.Initiate("to-" + peerName(init.name)); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "both up", long, func() bool { return a.up(1) && b.up(1) })
				sa, sb := a.established()[0], b.established()[0]
				if sa.SPIi != sb.SPIi || sa.SPIr != sb.SPIr || sa.Algs != tc.ike || sb.Algs != tc.ike {
					t.Fatalf("A %+v\nB %+v", sa, sb)
				}
				if !init.established()[0].Initiator || resp.established()[0].Initiator {
					t.Fatal("roles wrong")
				}
				ca, cb := sa.Children[0], sb.Children[0]
				if ca.SPIIn != cb.SPIOut || ca.SPIOut != cb.SPIIn || ca.Cipher != tc.esp {
					t.Fatalf("children A %+v B %+v", ca, cb)
				}
				if sa.NATT || sb.NATT {
					t.Fatal("NAT-T without a NAT")
				}
				traffic(t, a, b, false)
				if a.espSAs() != 2 || b.espSAs() != 2 {
					t.Fatalf("%d and %d SAs installed", a.espSAs(), b.espSAs())
				}
				st := init.d.Stats()
				if st.IKESAsEstablished != 1 || st.ChildSAsEstablished != 1 {
					t.Fatalf("stats %+v", st)
				}
			})
		}
	}
}

func TestDelete(t *testing.T) {
	for _, who := range []string{"initiator", "responder"} {
		t.Run(who, func(t *testing.T) {
			_, a, b := newPair(t, pairOpts{})
			if err := a.d.Initiate("to-b"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
			del := a
			if who == "responder" {
				del = b
			}
			del.d.mu.Lock()
			for _, sa := range del.d.allSAs() {
				del.d.deleteIKE(sa, "test")
			}
			del.d.mu.Unlock()
			del.d.poke()
			waitFor(t, "both down", long, func() bool {
				return len(a.d.Status()) == 0 && len(b.d.Status()) == 0 && a.espSAs() == 0 && b.espSAs() == 0
			})
			if a.pols[0][0].SA() != nil || b.pols[0][0].SA() != nil {
				t.Fatal("policies keep their SAs")
			}
		})
	}
}

func TestDeleteChild(t *testing.T) {
	_, a, b := newPair(t, pairOpts{})
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
	b.d.mu.Lock()
	for _, sa := range b.d.allSAs() {
		for _, c := range sa.children {
			b.d.deleteChild(c, "test")
		}
	}
	b.d.mu.Unlock()
	b.d.poke()
	waitFor(t, "children gone", long, func() bool { return a.up(0) && b.up(0) && a.espSAs() == 0 && b.espSAs() == 0 })
	// The IKE SA is still there: Initiate adds the child again.
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "child again", long, func() bool { return a.up(1) && b.up(1) })
	traffic(t, a, b, false)
}

func TestClose(t *testing.T) {
	nw, a, b := newPair(t, pairOpts{})
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
	a.d.Close()
	if a.espSAs() != 0 || a.pols[0][0].SA() != nil {
		t.Fatal("Close left SAs")
	}
	waitFor(t, "B down", long, func() bool { return len(b.d.Status()) == 0 && b.espSAs() == 0 })
	_ = nw
	if err := a.d.Initiate("to-b"); err == nil {
		t.Fatal("Initiate after Close")
	}
}

func TestMultipleChildren(t *testing.T) {
	n1 := []netip.Prefix{netip.MustParsePrefix("10.1.1.0/24")}
	n2 := []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}
	o := pairOpts{
		childrenA: []config.Child{{Name: "one", Local: n1, Remote: siteB}, {Name: "two", Local: n2, Remote: siteB}},
		// B allows all of site A in one child, and narrows.
		childrenB: []config.Child{{Name: "all", Local: siteB, Remote: siteA}},
	}
	_, a, b := newPair(t, o)
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return a.up(2) && b.up(2) })
	for _, c := range b.established()[0].Children {
		if len(c.Remote) != 1 || (c.Remote[0] != n1[0] && c.Remote[0] != n2[0]) {
			t.Fatalf("B's child %+v not narrowed to A's", c)
		}
	}
}

func TestStartConn(t *testing.T) {
	_, a, b := newPair(t, pairOpts{startA: config.StartNow})
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
}

func TestTrapConn(t *testing.T) {
	_, a, b := newPair(t, pairOpts{startA: config.StartTrap})
	pool := newPool(t)
	// The first packet finds no SA and asks for one.
	if err := carry(t, pool, a, b, hostA, hostB, false); err == nil {
		t.Fatal("a packet passed before IKE ran")
	}
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
	traffic(t, a, b, false)
}

func TestNoProposalChosen(t *testing.T) {
	o := pairOpts{propA: []config.IKEProposal{prop("aes128gcm16-prfsha256-x25519")},
		propB: []config.IKEProposal{prop("aes256gcm16-prfsha384-ecp256")}}
	_, a, b := newPair(t, o)
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failure logged", long, func() bool {
		return a.log.has("NO_PROPOSAL_CHOSEN") && b.log.has("no proposal chosen")
	})
	if len(a.d.Status()) != 0 || len(b.d.Status()) != 0 || a.espSAs()+b.espSAs() != 0 {
		t.Fatal("state left")
	}
}

func TestInvalidKE(t *testing.T) {
	// A proposes x25519 first but also allows ecp256; B only takes ecp256.
	o := pairOpts{propA: []config.IKEProposal{prop("aes256gcm16-prfsha256-x25519-ecp256")},
		propB: []config.IKEProposal{prop("aes256gcm16-prfsha256-ecp256")}}
	_, a, b := newPair(t, o)
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
	if got := a.established()[0].Algs; got != "aes256gcm16-prfsha256-ecp256" {
		t.Fatalf("algs %s", got)
	}
	if !a.log.has("another DH group") {
		t.Fatal("no INVALID_KE_PAYLOAD round")
	}
	traffic(t, a, b, false)
}

func TestAuthFailure(t *testing.T) {
	_, a, b := newPair(t, pairOpts{pskA: "one-key-of-some-length", pskB: "another-key-of-some-length"})
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both report", long, func() bool {
		return a.log.has("AUTHENTICATION_FAILED") && b.log.has("does not verify")
	})
	waitFor(t, "no state", long, func() bool { return len(a.d.Status()) == 0 && len(b.d.Status()) == 0 })
	if a.espSAs()+b.espSAs() != 0 {
		t.Fatal("SAs installed")
	}
	for _, l := range []*logs{a.log, b.log} {
		if l.has("some-length") {
			t.Fatal("a key in the log")
		}
	}
}

func TestTSUnacceptable(t *testing.T) {
	o := pairOpts{childrenB: []config.Child{{Name: "other", Local: siteB,
		Remote: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}}}}
	_, a, b := newPair(t, o)
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	// The IKE SA comes up; its child does not.
	waitFor(t, "IKE up, child refused", long, func() bool {
		return a.up(0) && b.up(0) && a.log.has("TS_UNACCEPTABLE")
	})
	if a.espSAs()+b.espSAs() != 0 {
		t.Fatal("SAs installed")
	}
}

func TestTSNarrowing(t *testing.T) {
	// A asks for 10.1/16 <-> 10.2/16; B allows 10.1.0.0-10.1.0.255 (a /24)
	// and a part of its site: the answer is narrowed, and A accepts it.
	narrowA := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}
	narrowB := []netip.Prefix{netip.MustParsePrefix("10.2.0.0/17")}
	o := pairOpts{childrenB: []config.Child{{Name: "narrow", Local: narrowB, Remote: narrowA}}}
	_, a, b := newPair(t, o)
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
	ca := a.established()[0].Children[0]
	if len(ca.Local) != 1 || ca.Local[0] != narrowA[0] || len(ca.Remote) != 1 || ca.Remote[0] != narrowB[0] {
		t.Fatalf("A's child %v <-> %v", ca.Local, ca.Remote)
	}
	traffic(t, a, b, false)
}

func TestRetransmitLoss(t *testing.T) {
	nw, a, b := newPair(t, pairOpts{retransmit: 50 * time.Millisecond, tries: 8})
	// Every other message of each side is lost.
	sent := map[netip.Addr]int{}
	nw.mu.Lock()
	nw.drop = func(_ int, from, _ netip.AddrPort, _ []byte) bool {
		sent[from.Addr()]++
		return sent[from.Addr()]%2 == 1
	}
	nw.mu.Unlock()
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
	if a.d.Stats().Retransmits == 0 {
		t.Fatal("no retransmissions")
	}
	nw.mu.Lock()
	nw.drop = nil
	nw.mu.Unlock()
	traffic(t, a, b, false)
}

func TestDuplicates(t *testing.T) {
	nw, a, b := newPair(t, pairOpts{})
	nw.dup = true
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
	// B answered the copies of A's requests from its cache; A dropped the
	// copies of B's answers.
	waitFor(t, "duplicates handled", long, func() bool {
		return b.d.Stats().Retransmits >= 2 && a.d.Stats().Drops["unexpected-response"] >= 1
	})
	traffic(t, a, b, false)
	if len(a.established()) != 1 || len(b.established()) != 1 {
		t.Fatal("duplicate SAs")
	}
}

func TestDPD(t *testing.T) {
	nw, a, b := newPair(t, pairOpts{dpd: 100 * time.Millisecond, retransmit: 30 * time.Millisecond, tries: 3})
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
	// Quiet but alive: DPD exchanges keep it up.
	time.Sleep(400 * time.Millisecond)
	if !a.up(1) || !b.up(1) {
		t.Fatal("went down while the peer was alive")
	}
	// B dies.
	nw.mu.Lock()
	nw.dead[addrB] = true
	nw.mu.Unlock()
	waitFor(t, "A notices", long, func() bool { return len(a.d.Status()) == 0 && a.espSAs() == 0 })
	if !a.log.has("peer dead") {
		t.Fatal("no log")
	}
}

func TestWindow(t *testing.T) {
	nw, a, b := newPair(t, pairOpts{})
	nw.keep = true
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
	nw.mu.Lock()
	msgs := nw.msgs
	nw.mu.Unlock()
	// msgs[2] is A's IKE_AUTH request (ID 1): replayed, it is answered
	// from the cache; with another ID it is out of the window.
	auth := msgs[2]
	h, err := wire.DecodeHeader(auth)
	if err != nil || h.Exchange != wire.IKEAuth || h.IsResponse() {
		t.Fatalf("message 2 is %v", h)
	}
	before := b.d.Stats()
	b.d.Receive(netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(addrA, 500), auth)
	waitFor(t, "answered from cache", long, func() bool { return b.d.Stats().Retransmits == before.Retransmits+1 })
	bad := append([]byte(nil), auth...)
	bad[23] = 7 // message ID 7
	b.d.Receive(netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(addrA, 500), bad)
	waitFor(t, "dropped", long, func() bool { return b.d.Stats().Drops["out-of-window"] == before.Drops["out-of-window"]+1 })
	// A response for an ID A never sent.
	resp := append([]byte(nil), msgs[3]...)
	resp[23] = 9
	beforeA := a.d.Stats().Drops["unexpected-response"]
	a.d.Receive(netip.AddrPortFrom(addrA, 500), netip.AddrPortFrom(addrB, 500), resp)
	waitFor(t, "dropped", long, func() bool { return a.d.Stats().Drops["unexpected-response"] == beforeA+1 })
	if !a.up(1) || !b.up(1) {
		t.Fatal("state changed")
	}
}

func TestEstablishIPv6(t *testing.T) {
	_, a, b := newPair(t, pairOpts{v6: true})
	if err := b.d.Initiate("to-a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return settled(a, b) })
	if st := a.established()[0]; !st.Local.Addr().Is6() || st.NATT {
		t.Fatalf("%+v", st)
	}
	traffic(t, a, b, false)
}
