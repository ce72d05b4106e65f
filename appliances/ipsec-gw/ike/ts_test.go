package ike

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
	"github.com/nfvkit/nfvkit/pkg/config"
)

func TestRangePrefixes(t *testing.T) {
	for _, tc := range []struct{ start, end, want string }{
		{"10.0.0.0", "10.255.255.255", "[10.0.0.0/8]"},
		{"10.0.0.5", "10.0.0.5", "[10.0.0.5/32]"},
		{"0.0.0.0", "255.255.255.255", "[0.0.0.0/0]"},
		{"10.0.0.1", "10.0.0.6", "[10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32]"},
		{"192.168.0.0", "192.168.2.255", "[192.168.0.0/23 192.168.2.0/24]"},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "[::/0]"},
		{"fd00::", "fd00::ffff:ffff:ffff:ffff", "[fd00::/64]"},
		{"fd00::1", "fd00::2", "[fd00::1/128 fd00::2/128]"},
		{"fd00::ffff:ffff:ffff:ffff", "fd00:0:0:1::", "[fd00::ffff:ffff:ffff:ffff/128 fd00:0:0:1::/128]"},
		{"10.0.0.9", "10.0.0.1", "[]"},
		{"10.0.0.1", "fd00::1", "[]"},
	} {
		got := fmt.Sprint(rangePrefixes(netip.MustParseAddr(tc.start), netip.MustParseAddr(tc.end)))
		if got != tc.want {
			t.Errorf("%s-%s: %s, want %s", tc.start, tc.end, got, tc.want)
		}
	}
	for _, p := range []string{"10.1.0.0/16", "0.0.0.0/0", "fd02::/48", "::/0", "1.2.3.4/32"} {
		pp := netip.MustParsePrefix(p)
		s := selectorsOf([]netip.Prefix{pp})
		if got := rangePrefixes(s[0].Start, s[0].End); len(got) != 1 || got[0] != pp {
			t.Errorf("%s round trip: %v", p, got)
		}
	}
}

func sel(s, e string, proto uint8, ps, pe uint16) wire.Selector {
	return wire.Selector{IPProto: proto, StartPort: ps, EndPort: pe, Start: netip.MustParseAddr(s), End: netip.MustParseAddr(e)}
}

func TestNarrow(t *testing.T) {
	ours := selectorsOf([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	// A trap-triggered initiator's first selector is the packet's.
	peer := []wire.Selector{sel("10.1.2.3", "10.1.2.3", 6, 80, 80), sel("0.0.0.0", "255.255.255.255", 0, 0, 65535),
		sel("fd00::", "fd00::ffff", 0, 0, 65535)}
	got := narrow(peer, ours)
	want := []wire.Selector{sel("10.1.2.3", "10.1.2.3", 6, 80, 80), sel("10.0.0.0", "10.255.255.255", 0, 0, 65535)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("narrowed %v, want %v", got, want)
	}
	if !within(got, peer) || within(peer, got) {
		t.Fatal("within")
	}
	if narrow([]wire.Selector{sel("192.168.0.0", "192.168.0.255", 0, 0, 65535)}, ours) != nil {
		t.Fatal("disjoint selectors narrowed to something")
	}
	s := spdSelector(got, ours)
	if s.Proto != 0 || fmt.Sprint(s.Local) != "[10.1.2.3/32 10.0.0.0/8]" {
		t.Fatalf("ESP selector %v", s)
	}
}

func TestChooseProposals(t *testing.T) {
	ours := []config.IKEProposal{prop("aes256gcm16-prfsha256-x25519"), prop("aes128gcm16-chacha20poly1305-prfsha384-ecp256-x25519")}
	peerConn := config.IKEConn{Proposals: []config.IKEProposal{prop("chacha20poly1305-prfsha384-prfsha256-ecp256-x25519")}}
	a, ans, ok := chooseIKE(ours, ikeProposals(&peerConn, nil), 19, 0)
	if !ok || a.String() != "chacha20poly1305-prfsha384-ecp256" || ans.Num != 1 {
		t.Fatalf("chose %v %+v %v", a, ans, ok)
	}
	// Our first proposal wins when allowed; the KE's group is preferred.
	peerConn.Proposals = []config.IKEProposal{prop("aes128gcm16-aes256gcm16-prfsha256-ecp256-x25519")}
	if a, _, _ = chooseIKE(ours, ikeProposals(&peerConn, nil), 31, 0); a.String() != "aes256gcm16-prfsha256-x25519" {
		t.Fatalf("chose %v", a)
	}
	if _, _, ok = chooseIKE(ours[:1], ikeProposals(&config.IKEConn{Proposals: []config.IKEProposal{prop("aes128gcm16-prfsha256-x25519")}}, nil), 31, 0); ok {
		t.Fatal("chose without a common cipher")
	}
	// ESP: PFS only in CREATE_CHILD_SA; ESN either.
	ch := &config.Child{ESP: []config.ESPProposal{espProp("aes256gcm16-x25519")}}
	props := espProposals(ch, 0x1234, true)
	if c, _, ok := chooseESP(ch.ESP, props, true, 31); !ok || c.dh != 31 || c.spi != 0x1234 || c.esn {
		t.Fatalf("chose %+v %v", c, ok)
	}
	if c, ans, ok := chooseESP(ch.ESP, espProposals(ch, 0x1234, false), false, 0); !ok || c.dh != 0 || len(ans.Transforms) != 2 {
		t.Fatalf("IKE_AUTH child %+v %+v %v", c, ans, ok)
	}
	if _, _, ok := chooseESP(ch.ESP, espProposals(ch, 0x1234, false), true, 0); ok {
		t.Fatal("PFS child chosen without DH")
	}
}
