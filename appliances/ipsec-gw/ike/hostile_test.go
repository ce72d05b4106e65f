package ike

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
)

// snapshot is what must not change when garbage arrives.
func snapshot(g *gw) string {
	var s string
	for _, st := range g.d.Status() {
		s += fmt.Sprintf("%s %x/%x %v %v|", st.State, st.SPIi, st.SPIr, st.Local, st.Remote)
		for _, c := range st.Children {
			s += fmt.Sprintf("%x/%x ", c.SPIIn, c.SPIOut)
		}
	}
	return s + fmt.Sprint(g.espSAs())
}

// sealFromA makes a request of A's on its IKE SA with B, with message ID
// id, sealed with A's keys (without disturbing A's own counters).
func sealFromA(t *testing.T, a *gw, ex wire.Exchange, id uint32, pl []wire.Payload) []byte {
	t.Helper()
	var b []byte
	var err error
	a.do(func(d *Daemon) {
		for _, sa := range d.allSAs() {
			if sa.state == stEstablished {
				m := &wire.Message{Header: sa.header(ex, id, false), Payloads: pl}
				b, err = m.Seal(sa.out)
			}
		}
	})
	if err != nil || b == nil {
		t.Fatalf("cannot seal: %v", err)
	}
	return b
}

func TestHostileInput(t *testing.T) {
	_, a, b := newPair(t, pairOpts{})
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return settled(a, b) })
	from, to := netip.AddrPortFrom(addrA, Port), netip.AddrPortFrom(addrB, Port)
	st := a.established()[0]
	var peerNext uint32
	b.do(func(d *Daemon) {
		for _, sa := range d.sas {
			peerNext = sa.peerNext
		}
	})
	init := initMsg(t, 77, from, to, nil, wire.DHCurve25519)
	mod := func(b []byte, f func([]byte)) []byte { c := append([]byte(nil), b...); f(c); return c }
	hdr := func(spii, spir uint64, ex wire.Exchange, flags uint8, id uint32, next wire.PayloadType, body []byte) []byte {
		h := wire.Header{SPIi: spii, SPIr: spir, Exchange: ex, Flags: flags, MsgID: id, Next: next, Length: uint32(28 + len(body))}
		return append(h.Encode(nil), body...)
	}
	good := sealFromA(t, a, wire.Informational, peerNext, nil)
	noKE := func() []byte {
		m, err := wire.Decode(init)
		if err != nil {
			t.Fatal(err)
		}
		var pl []wire.Payload
		for _, p := range m.Payloads {
			if p.Kind() != wire.PayloadKE {
				pl = append(pl, p)
			}
		}
		m.Payloads = pl
		out, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}()
	cases := []struct {
		name   string
		from   netip.AddrPort
		msg    []byte
		reason string
	}{
		{"empty", from, nil, "malformed-header"},
		{"short", from, make([]byte, 10), "malformed-header"},
		{"version 1", from, mod(init, func(b []byte) { b[17] = 0x10 }), "malformed-header"},
		{"length mismatch", from, mod(init, func(b []byte) { binary.BigEndian.PutUint32(b[24:], uint32(len(b)+1)) }), "malformed-header"},
		{"too long", from, make([]byte, wire.MaxMessage+1), "too-long"},
		{"init with SPIr", from, mod(init, func(b []byte) { b[15] = 1 }), "bad-init-header"},
		{"init without I flag", from, mod(init, func(b []byte) { b[19] = 0 }), "bad-init-header"},
		{"init with ID 1", from, mod(init, func(b []byte) { b[23] = 1 }), "bad-init-header"},
		{"init SPIi 0", from, mod(init, func(b []byte) { clear(b[:8]) }), "bad-init-header"},
		{"init response to nobody", from, mod(init, func(b []byte) { b[19] = wire.FlagResponse }), "unexpected-response"},
		{"init from a stranger", netip.MustParseAddrPort("198.51.100.9:500"), init, "unknown-peer"},
		{"init payload length", from, mod(init, func(b []byte) { binary.BigEndian.PutUint16(b[30:], 9999) }), "malformed"},
		{"init without KE", from, noKE, "malformed"},
		{"init unknown critical", from, hdr(5, 0, wire.IKESAInit, wire.FlagInitiator, 0, 99, []byte{0, 0x80, 0, 4}), "malformed"},
		{"unknown SPI", from, hdr(5, 6, wire.Informational, wire.FlagInitiator, 0, 0, nil), "unknown-spi"},
		{"wrong role", from, mod(good, func(b []byte) { b[19] &^= wire.FlagInitiator }), "unknown-spi"},
		{"bad ICV", from, mod(good, func(b []byte) { b[len(b)-1] ^= 1 }), "integrity"},
		{"out of window", from, mod(good, func(b []byte) { b[23] += 5 }), "out-of-window"},
		{"unprotected", from, hdr(st.SPIi, st.SPIr, wire.Informational, wire.FlagInitiator, peerNext, 0, nil), "unprotected"},
		{"truncated SK", from, mod(good, func(b []byte) { binary.BigEndian.PutUint16(b[30:], 5) }), "malformed"},
		{"response to nothing", from, hdr(st.SPIi, st.SPIr, wire.Informational, wire.FlagInitiator|wire.FlagResponse, 3, 0, nil), "unexpected-response"},
		{"IKE_AUTH when established", from, sealFromA(t, a, wire.IKEAuth, peerNext, nil), "unexpected-exchange"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(b)
			n := b.d.Stats().Drops[tc.reason]
			b.d.Receive(to, tc.from, tc.msg)
			waitFor(t, "counted as "+tc.reason, long, func() bool { return b.d.Stats().Drops[tc.reason] == n+1 })
			if after := snapshot(b); after != before {
				t.Fatalf("state changed:\n%s\n%s", before, after)
			}
		})
	}
	// Authentic but with an unknown critical payload inside: answered
	// UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 section 2.21.3).
	before := snapshot(b)
	n := b.d.Stats().Drops["malformed-inner"]
	b.d.Receive(to, from, sealFromA(t, a, wire.Informational, peerNext, []wire.Payload{&wire.Unknown{PType: 99, Critical: true}}))
	waitFor(t, "answered", long, func() bool { return b.d.Stats().Drops["malformed-inner"] == n+1 })
	if after := snapshot(b); after != before {
		t.Fatalf("state changed:\n%s\n%s", before, after)
	}
	// Still working.
	traffic(t, a, b, false)
	in, _ := childSPIs(b)
	b.rekeyChildren()
	waitFor(t, "rekeyed", long, func() bool { i, _ := childSPIs(b); return i != in && settled(a, b) })
}
