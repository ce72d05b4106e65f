package ike

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/suite"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
	"github.com/nfvkit/nfvkit/pkg/config"
)

func TestNATTraversal(t *testing.T) {
	_, a, b := newPair(t, pairOpts{natA: true})
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
	sa, sb := a.established()[0], b.established()[0]
	mapped := netip.AddrPortFrom(addrA, natPort(NATTPort))
	if !sa.NATT || !sb.NATT || sa.Local.Port() != NATTPort || sa.Remote != netip.AddrPortFrom(addrB, NATTPort) ||
		sb.Local.Port() != NATTPort || sb.Remote != mapped {
		t.Fatalf("A %v -> %v natt %v; B %v -> %v natt %v", sa.Local, sa.Remote, sa.NATT, sb.Local, sb.Remote, sb.NATT)
	}
	outA, outB := a.pols[0][0].SA(), b.pols[0][0].SA()
	if !outA.Encap() || !outB.Encap() || outA.Peer() != netip.AddrPortFrom(addrB, NATTPort) || outB.Peer() != mapped {
		t.Fatalf("ESP: A %v to %v, B %v to %v", outA.Encap(), outA.Peer(), outB.Encap(), outB.Peer())
	}
	traffic(t, a, b, true)
	// Rekeyed children keep the encapsulation.
	in, _ := childSPIs(a)
	b.rekeyChildren()
	waitFor(t, "rekeyed", long, func() bool { i, _ := childSPIs(a); return i != in && settled(a, b) })
	traffic(t, a, b, true)
}

// initMsg is an IKE_SA_INIT request from a made-up initiator.
func initMsg(t testing.TB, spi uint64, from, to netip.AddrPort, cookie []byte, group uint16) []byte {
	t.Helper()
	dh, err := suite.NewDH(group)
	if err != nil {
		t.Fatal(err)
	}
	c := config.IKEConn{Proposals: []config.IKEProposal{prop("aes256gcm16-prfsha256-x25519-ecp256")}}
	var pl []wire.Payload
	if cookie != nil {
		pl = append(pl, &wire.Notify{Type: wire.Cookie, Data: cookie})
	}
	src, dst := suite.NATHash(spi, 0, from), suite.NATHash(spi, 0, to)
	pl = append(pl, &wire.SA{Proposals: ikeProposals(&c, nil)}, &wire.KE{Group: group, Data: dh.Public()},
		&wire.Nonce{Data: make([]byte, 32)},
		&wire.Notify{Type: wire.NATDetectionSourceIP, Data: src[:]}, &wire.Notify{Type: wire.NATDetectionDestIP, Data: dst[:]})
	m := &wire.Message{Header: wire.Header{SPIi: spi, Exchange: wire.IKESAInit, Flags: wire.FlagInitiator}, Payloads: pl}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCookies(t *testing.T) {
	_, a, b := newPair(t, pairOpts{cookies: 2})
	b.do(func(d *Daemon) { d.halfOpenTimeout = time.Second })
	from, to := netip.AddrPortFrom(addrA, 700), netip.AddrPortFrom(addrB, Port)
	// A flood of half-open SAs from A's address (no IKE_AUTH follows).
	for i := range 50 {
		b.d.Receive(to, from, initMsg(t, uint64(1000+i), from, to, nil, wire.DHCurve25519))
	}
	waitFor(t, "cookies demanded", long, func() bool { return b.d.Stats().Drops["cookie-required"] == 48 })
	if n := len(b.d.Status()); n != 2 {
		t.Fatalf("%d half-open SAs, want 2", n)
	}
	// A real initiator answers the cookie and gets through.
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return a.up(1) && b.up(1) })
	traffic(t, a, b, false)
	// The flood's half-open SAs expire.
	waitFor(t, "half-open expired", long, func() bool { return len(b.d.Status()) == 1 })
	b.do(func(d *Daemon) {
		if d.halfOpen != 0 {
			t.Errorf("half-open count %d", d.halfOpen)
		}
	})
}

// TestCookieCheck: a wrong cookie is refused, a right one accepted.
func TestCookieCheck(t *testing.T) {
	_, _, b := newPair(t, pairOpts{cookies: 1})
	from, to := netip.AddrPortFrom(addrA, 700), netip.AddrPortFrom(addrB, Port)
	b.d.Receive(to, from, initMsg(t, 1, from, to, nil, wire.DHCurve25519))
	waitFor(t, "half-open", long, func() bool { return len(b.d.Status()) == 1 })
	b.d.Receive(to, from, initMsg(t, 2, from, to, []byte{0, 1, 2, 3, 4, 5, 6, 7}, wire.DHCurve25519))
	waitFor(t, "refused", long, func() bool { return b.d.Stats().Drops["cookie-required"] == 1 })
	var good []byte
	b.do(func(d *Daemon) { good = d.cookies.Make(make([]byte, 32), addrA, 3) })
	b.d.Receive(to, from, initMsg(t, 3, from, to, good, wire.DHCurve25519))
	waitFor(t, "accepted", long, func() bool { return len(b.d.Status()) == 2 })
}
