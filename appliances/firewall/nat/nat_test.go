package nat_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack"
	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
	"github.com/nfvkit/nfvkit/appliances/firewall/nat"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Interfaces of the test topology.
const (
	lan = 0
	wan = 1
)

var (
	wanAddr  = cttest.A("203.0.113.2")
	wanAddr6 = cttest.A("2001:db8:ffff::2")
	server   = cttest.A("192.0.2.20")
	server6  = cttest.A("fd00::20")
)

// rig runs frames through conntrack and NAT as the firewall stage will.
type rig struct {
	t   testing.TB
	ct  *conntrack.Table
	nt  *nat.NAT
	now int64
	r   conntrack.Result
	p   packet.Parsed
}

func newRig(t testing.TB, rules []nat.Rule, o nat.Options) *rig {
	t.Helper()
	ct, err := conntrack.New(conntrack.Options{Max: 1 << 12, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := nat.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, ct: ct, nt: nat.New(ct, rs, o), now: int64(time.Hour)}
}

func masq() []nat.Rule {
	return []nat.Rule{
		{Type: nat.DNAT, Iface: wan, Proto: 6, Ports: nat.PortRange{Lo: 443, Hi: 443}, To: server, ToPort: 8443},
		{Type: nat.DNAT, Iface: wan, Proto: 6, Ports: nat.PortRange{Lo: 443, Hi: 443}, To: server6, ToPort: 8443},
		{Type: nat.Masquerade, Iface: wan, Addrs: []netip.Addr{wanAddr, wanAddr6}},
	}
}

// pass tracks frame f arriving on in and leaving by out, creating (with
// NAT) the connection of a new packet, then translates it; it fails the
// test on an error, and returns the state.
func (g *rig) pass(f []byte, in, out uint16) conntrack.State {
	g.t.Helper()
	s, err := g.try(f, in, out)
	if err != nil {
		g.t.Fatal(err)
	}
	return s
}

func (g *rig) try(f []byte, in, out uint16) (conntrack.State, error) {
	if err := g.p.Decode(f); err != nil {
		return 0, err
	}
	s := g.ct.Track(&g.p, g.now, &g.r)
	switch {
	case s == conntrack.StateInvalid:
		return s, fmt.Errorf("invalid: %v", g.r.Reason)
	case s == conntrack.StateRelated:
		return s, nat.ApplyRelated(&g.p, &g.r)
	case g.r.Entry == nil:
		if _, err := g.nt.Create(&g.r, in, out, g.now); err != nil {
			return s, err
		}
	}
	return s, nat.Apply(&g.p, g.r.Entry, g.r.Dir)
}

// checkSums fails unless the frame's IPv4 header checksum and transport
// checksum are right.
func checkSums(t testing.TB, f []byte) {
	t.Helper()
	var p packet.Parsed
	if err := p.Decode(f); err != nil {
		t.Fatal(err)
	}
	if ip := p.IPv4(); ip != nil && !ip.IsChecksumValid() {
		t.Errorf("%v: bad IPv4 header checksum", &p)
	}
	if p.IsFragment() {
		return
	}
	switch err := p.VerifyL4Checksum(); {
	case errors.Is(err, packet.ErrNotSupported):
	case err != nil:
		t.Errorf("%v: transport checksum: %v", &p, err)
	}
}

func addrs(t testing.TB, f []byte) (netip.AddrPort, netip.AddrPort) {
	t.Helper()
	p := cttest.Decode(f)
	if m := p.ICMPv4(); m != nil && !m.Type().IsError() {
		return netip.AddrPortFrom(p.Src, m.ID()), netip.AddrPortFrom(p.Dst, m.ID())
	}
	if m := p.ICMPv6(); m != nil && !m.Type().IsError() {
		return netip.AddrPortFrom(p.Src, m.ID()), netip.AddrPortFrom(p.Dst, m.ID())
	}
	return p.SrcAddrPort(), p.DstAddrPort()
}

func wantAddrs(t testing.TB, f []byte, src, dst netip.AddrPort) {
	t.Helper()
	checkSums(t, f)
	if s, d := addrs(t, f); s != src || d != dst {
		t.Fatalf("packet %v > %v, want %v > %v", s, d, src, dst)
	}
}

func TestMasquerade(t *testing.T) {
	for _, fam := range []struct {
		name      string
		cli, srv  netip.AddrPort
		public    netip.Addr
		otherHost netip.Addr
	}{
		{"ipv4", cttest.AP("10.0.0.5:40000"), cttest.AP("198.51.100.80:80"), wanAddr, cttest.A("10.0.0.6")},
		{"ipv6", cttest.AP("[fd00:1::5]:40000"), cttest.AP("[2001:db8:80::80]:80"), wanAddr6, cttest.A("fd00:1::6")},
	} {
		t.Run(fam.name, func(t *testing.T) {
			g := newRig(t, masq(), nat.Options{})
			c, s := fam.cli, fam.srv
			pub := netip.AddrPortFrom(fam.public, c.Port())
			syn := cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: packet.TCPSyn, Seq: 1, Win: 1000})
			g.pass(syn, lan, wan)
			wantAddrs(t, syn, pub, s) // port kept: it was free
			if b := g.r.Entry.NAT; b.Flags != conntrack.SrcNAT || b.Rule != 2 {
				t.Errorf("binding %+v", b)
			}
			sa := cttest.TCP(cttest.Seg{Src: s, Dst: pub, Flags: packet.TCPSyn | packet.TCPAck, Seq: 100, Ack: 2, Win: 1000})
			if st := g.pass(sa, wan, lan); st != conntrack.StateEstablished || g.r.Dir != conntrack.Reply {
				t.Fatalf("reply: %v %v", st, g.r.Dir)
			}
			wantAddrs(t, sa, s, c)

			// Another host with the same source port to the same
			// server needs another port.
			c2 := netip.AddrPortFrom(fam.otherHost, c.Port())
			syn2 := cttest.TCP(cttest.Seg{Src: c2, Dst: s, Flags: packet.TCPSyn, Seq: 1, Win: 1000})
			g.pass(syn2, lan, wan)
			p2, _ := addrs(t, syn2)
			if p2.Addr() != fam.public || p2.Port() == c.Port() || p2.Port() < 1024 {
				t.Fatalf("second connection translated to %v", p2)
			}
			checkSums(t, syn2)
			sa2 := cttest.TCP(cttest.Seg{Src: s, Dst: p2, Flags: packet.TCPSyn | packet.TCPAck, Seq: 100, Ack: 2, Win: 1000})
			g.pass(sa2, wan, lan)
			wantAddrs(t, sa2, s, c2)

			// UDP, and the same source port to another server: the port
			// is free there, so it is kept.
			s2 := netip.AddrPortFrom(s.Addr(), 53)
			u := cttest.UDP(c2, s2, 30)
			g.pass(u, lan, wan)
			wantAddrs(t, u, netip.AddrPortFrom(fam.public, c.Port()), s2)

			// Traffic to the LAN is not translated.
			local := netip.AddrPortFrom(fam.otherHost, 22)
			l := cttest.TCP(cttest.Seg{Src: c, Dst: local, Flags: packet.TCPSyn, Seq: 1, Win: 1000})
			g.pass(l, lan, lan)
			wantAddrs(t, l, c, local)
			if g.r.Entry.NAT.Flags != 0 {
				t.Errorf("LAN connection has binding %+v", g.r.Entry.NAT)
			}
		})
	}
}

func TestDNAT(t *testing.T) {
	for _, fam := range []struct {
		name            string
		cli, pub, inner netip.AddrPort
	}{
		{"ipv4", cttest.AP("198.51.100.7:50000"), netip.AddrPortFrom(wanAddr, 443), netip.AddrPortFrom(server, 8443)},
		{"ipv6", cttest.AP("[2001:db8:7::7]:50000"), netip.AddrPortFrom(wanAddr6, 443), netip.AddrPortFrom(server6, 8443)},
	} {
		t.Run(fam.name, func(t *testing.T) {
			g := newRig(t, masq(), nat.Options{})
			syn := cttest.TCP(cttest.Seg{Src: fam.cli, Dst: fam.pub, Flags: packet.TCPSyn, Seq: 1, Win: 1000})
			if err := g.p.Decode(syn); err != nil {
				t.Fatal(err)
			}
			g.ct.Track(&g.p, g.now, &g.r)
			if a, port, ok := g.nt.Target(&g.r, wan); !ok || netip.AddrPortFrom(a, port) != fam.inner {
				t.Fatalf("target %v %d %v, want %v", a, port, ok, fam.inner)
			}
			if _, _, ok := g.nt.Target(&g.r, lan); ok {
				t.Fatal("dnat applies on the wrong interface")
			}
			if _, err := g.nt.Create(&g.r, wan, lan, g.now); err != nil {
				t.Fatal(err)
			}
			if err := nat.Apply(&g.p, g.r.Entry, g.r.Dir); err != nil {
				t.Fatal(err)
			}
			wantAddrs(t, syn, fam.cli, fam.inner)
			sa := cttest.TCP(cttest.Seg{Src: fam.inner, Dst: fam.cli, Flags: packet.TCPSyn | packet.TCPAck, Seq: 9, Ack: 2, Win: 1000})
			g.pass(sa, lan, wan)
			wantAddrs(t, sa, fam.pub, fam.cli)
			// Port 80 is not forwarded.
			other := cttest.TCP(cttest.Seg{Src: fam.cli, Dst: netip.AddrPortFrom(fam.pub.Addr(), 80), Flags: packet.TCPSyn, Win: 1000})
			g.pass(other, wan, classifySelf)
			wantAddrs(t, other, fam.cli, netip.AddrPortFrom(fam.pub.Addr(), 80))
		})
	}
}

const classifySelf = 0xffff

func TestSNATRange(t *testing.T) {
	first, last := cttest.A("198.51.100.10"), cttest.A("198.51.100.13")
	g := newRig(t, []nat.Rule{{Type: nat.SNAT, Iface: wan, First: first, Last: last}}, nat.Options{})
	used := map[netip.Addr]bool{}
	for i := range 64 {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), 5000)
		for j := range 3 {
			f := cttest.UDP(c, netip.AddrPortFrom(cttest.A("192.0.2.53"), uint16(53+j)), 1)
			g.pass(f, lan, wan)
			s, _ := addrs(t, f)
			if s.Addr().Less(first) || last.Less(s.Addr()) {
				t.Fatalf("translated to %v, outside the range", s)
			}
			if j > 0 && !used[s.Addr()] {
				t.Fatalf("host %v changed address", c)
			}
			if j == 0 {
				clear(used)
			}
			used[s.Addr()] = true
		}
	}
}

// TestPortExhaustion checks that ports are unique per destination, that
// different destinations share them, that a destination whose ports are
// all taken refuses new connections, and that a port is free again when
// its connection expires.
func TestPortExhaustion(t *testing.T) {
	g := newRig(t, masq(), nat.Options{Ports: nat.PortRange{Lo: 1000, Hi: 1003}})
	dst := cttest.AP("198.51.100.53:53")
	seen := map[uint16]bool{}
	for i := range 4 {
		f := cttest.UDP(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 5000), dst, 1)
		g.pass(f, lan, wan)
		s, _ := addrs(t, f)
		if s.Port() < 1000 || s.Port() > 1003 || seen[s.Port()] {
			t.Fatalf("port %d", s.Port())
		}
		seen[s.Port()] = true
	}
	f := cttest.UDP(cttest.AP("10.0.0.9:5000"), dst, 1)
	if _, err := g.try(f, lan, wan); !errors.Is(err, nat.ErrNoPort) {
		t.Fatalf("fifth connection: %v", err)
	}
	// Another destination has all four ports.
	for i := range 4 {
		f := cttest.UDP(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 5000), cttest.AP("198.51.100.54:53"), 1)
		g.pass(f, lan, wan)
	}
	if st := g.nt.LoadStats(); st.NoPort != 1 || st.Translated != 8 {
		t.Errorf("stats %+v", st)
	}
	g.now += int64(31 * time.Second)
	f = cttest.UDP(cttest.AP("10.0.0.9:5000"), dst, 1)
	g.pass(f, lan, wan)
}

func TestICMPEcho(t *testing.T) {
	for _, fam := range []struct {
		name       string
		a, b, dst  netip.Addr
		public     netip.Addr
		reqT, repT uint8
	}{
		{"ipv4", cttest.A("10.0.0.5"), cttest.A("10.0.0.6"), cttest.A("198.51.100.1"), wanAddr, 8, 0},
		{"ipv6", cttest.A("fd00:1::5"), cttest.A("fd00:1::6"), cttest.A("2001:db8::1"), wanAddr6, 128, 129},
	} {
		t.Run(fam.name, func(t *testing.T) {
			g := newRig(t, masq(), nat.Options{})
			p1 := cttest.Echo(fam.a, fam.dst, false, 77, 1)
			g.pass(p1, lan, wan)
			wantAddrs(t, p1, netip.AddrPortFrom(fam.public, 77), netip.AddrPortFrom(fam.dst, 77))
			// The same identifier from another host must change.
			p2 := cttest.Echo(fam.b, fam.dst, false, 77, 1)
			g.pass(p2, lan, wan)
			s2, _ := addrs(t, p2)
			checkSums(t, p2)
			if s2.Port() == 77 {
				t.Fatal("identifier kept although taken")
			}
			r2 := cttest.Echo(fam.dst, fam.public, true, s2.Port(), 1)
			g.pass(r2, wan, lan)
			wantAddrs(t, r2, netip.AddrPortFrom(fam.dst, 77), netip.AddrPortFrom(fam.b, 77))
			r1 := cttest.Echo(fam.dst, fam.public, true, 77, 1)
			g.pass(r1, wan, lan)
			wantAddrs(t, r1, netip.AddrPortFrom(fam.dst, 77), netip.AddrPortFrom(fam.a, 77))
		})
	}
}

// checkError verifies an ICMP error after translation: its outer
// addresses, its ICMP checksum over the whole message, and the quoted
// packet's addresses, ports and checksums (the IPv4 header's always, the
// transport one when the quote is whole).
func checkError(t *testing.T, f []byte, outerSrc, outerDst netip.Addr, qsrc, qdst netip.AddrPort, whole bool) {
	t.Helper()
	p := cttest.Decode(f)
	if p.Src != outerSrc || p.Dst != outerDst {
		t.Errorf("outer %v > %v, want %v > %v", p.Src, p.Dst, outerSrc, outerDst)
	}
	if ip := p.IPv4(); ip != nil && !ip.IsChecksumValid() {
		t.Error("outer IPv4 checksum")
	}
	if m := p.ICMPv4(); m != nil && m.ComputeChecksum() != m.Checksum() {
		t.Error("ICMP checksum")
	}
	if p.ICMPv6() != nil {
		if err := p.VerifyL4Checksum(); err != nil {
			t.Errorf("ICMPv6 checksum: %v", err)
		}
	}
	quote := p.L4()[8:]
	if q := quote; q[0]>>4 == 4 {
		if !packet.IPv4(q).IsChecksumValid() {
			t.Error("quoted IPv4 header checksum")
		}
	}
	var ip packet.Parsed
	if whole {
		if err := ip.DecodeIP(quote); err != nil {
			t.Fatalf("quote: %v", err)
		}
		if err := ip.VerifyL4Checksum(); err != nil {
			t.Errorf("quoted transport checksum: %v", err)
		}
		s, d := ip.SrcAddrPort(), ip.DstAddrPort()
		if m := ip.ICMPv4(); m != nil {
			s, d = netip.AddrPortFrom(ip.Src, m.ID()), netip.AddrPortFrom(ip.Dst, m.ID())
		}
		if m := ip.ICMPv6(); m != nil {
			s, d = netip.AddrPortFrom(ip.Src, m.ID()), netip.AddrPortFrom(ip.Dst, m.ID())
		}
		if s != qsrc || d != qdst {
			t.Errorf("quote %v > %v, want %v > %v", s, d, qsrc, qdst)
		}
	}
}

func TestICMPErrors(t *testing.T) {
	for _, fam := range []struct {
		name               string
		cli, srv           netip.AddrPort
		public, outRtr, in netip.Addr
		pubSrv, innerSrv   netip.AddrPort
	}{
		{"ipv4", cttest.AP("10.0.0.5:40000"), cttest.AP("198.51.100.80:80"), wanAddr, cttest.A("198.51.100.254"), cttest.A("10.0.0.254"),
			netip.AddrPortFrom(wanAddr, 443), netip.AddrPortFrom(server, 8443)},
		{"ipv6", cttest.AP("[fd00:1::5]:40000"), cttest.AP("[2001:db8:80::80]:80"), wanAddr6, cttest.A("2001:db8:80::fe"), cttest.A("fd00::fe"),
			netip.AddrPortFrom(wanAddr6, 443), netip.AddrPortFrom(server6, 8443)},
	} {
		t.Run(fam.name, func(t *testing.T) {
			g := newRig(t, masq(), nat.Options{})
			c, s := fam.cli, fam.srv
			// Make the public port differ from the client's, to see it
			// translated in the quotes too.
			g.pass(cttest.TCP(cttest.Seg{Src: netip.AddrPortFrom(fam.in, c.Port()), Dst: s, Flags: packet.TCPSyn, Win: 9}), lan, wan)
			syn := cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: packet.TCPSyn, Seq: 1, Win: 1000})
			g.pass(syn, lan, wan)
			pub, _ := addrs(t, syn)
			if pub.Port() == c.Port() {
				t.Fatal("port not translated")
			}
			// A router outside: the error quotes the translated SYN.
			e1 := cttest.Unreachable(fam.outRtr, syn)
			if st := g.pass(e1, wan, lan); st != conntrack.StateRelated || g.r.Dir != conntrack.Reply {
				t.Fatalf("%v %v", st, g.r.Dir)
			}
			checkError(t, e1, fam.outRtr, c.Addr(), c, s, true)
			// Quoting only the IP header and 8 bytes.
			ipLen := packet.IPv4MinLen
			typ := uint8(3)
			if c.Addr().Is6() {
				ipLen, typ = packet.IPv6Len, 1
			}
			e2 := cttest.Error(fam.outRtr, pub.Addr(), typ, 0, syn, ipLen+8)
			g.pass(e2, wan, lan)
			checkError(t, e2, fam.outRtr, c.Addr(), c, s, false)
			q := cttest.Decode(e2).L4()[8:]
			if port := binary.BigEndian.Uint16(q[ipLen:]); port != c.Port() {
				t.Errorf("short quote's source port %d, want %d", port, c.Port())
			}

			// A router inside answering the server's reply: the error goes
			// the original way and its source becomes the public address.
			sa := cttest.TCP(cttest.Seg{Src: s, Dst: pub, Flags: packet.TCPSyn | packet.TCPAck, Seq: 100, Ack: 2, Win: 1000})
			g.pass(sa, wan, lan)
			e3 := cttest.Error(fam.in, s.Addr(), errType(s.Addr()), 0, sa, 0)
			if st := g.pass(e3, lan, wan); st != conntrack.StateRelated || g.r.Dir != conntrack.Original {
				t.Fatalf("%v %v", st, g.r.Dir)
			}
			checkError(t, e3, fam.public, s.Addr(), s, pub, true)

			// DNAT: the server's own port unreachable reaches the client
			// from the public address, quoting what the client sent.
			cl := cttest.AP(netip.AddrPortFrom(s.Addr(), 50000).String())
			u := cttest.TCP(cttest.Seg{Src: cl, Dst: fam.pubSrv, Flags: packet.TCPSyn, Seq: 5, Win: 1000})
			g.pass(u, wan, lan)
			wantAddrs(t, u, cl, fam.innerSrv)
			e4 := cttest.Unreachable(fam.innerSrv.Addr(), u)
			g.pass(e4, lan, wan)
			checkError(t, e4, fam.pubSrv.Addr(), cl.Addr(), cl, fam.pubSrv, true)

			// Echo: an error about a translated ping.
			ping := cttest.Echo(c.Addr(), s.Addr(), false, 4242, 1)
			g.pass(ping, lan, wan)
			e5 := cttest.Unreachable(fam.outRtr, ping)
			g.pass(e5, wan, lan)
			checkError(t, e5, fam.outRtr, c.Addr(), netip.AddrPortFrom(c.Addr(), 4242), netip.AddrPortFrom(s.Addr(), 4242), true)
		})
	}
}

func errType(a netip.Addr) uint8 {
	if a.Is6() {
		return 1
	}
	return 3
}

func TestFragments(t *testing.T) {
	g := newRig(t, masq(), nat.Options{})
	c, s := cttest.AP("10.0.0.5:4500"), cttest.AP("198.51.100.9:4500")
	whole := cttest.UDP(c, s, 2000)
	frags := cttest.Fragments(whole, 800, 99)
	for _, f := range frags {
		g.pass(f, lan, wan)
		p := cttest.Decode(f)
		if p.Src != wanAddr || p.Dst != s.Addr() || !p.IPv4().IsChecksumValid() {
			t.Fatalf("fragment %v", p)
		}
	}
	// Reassembled, the datagram's checksum is right.
	var data []byte
	for _, f := range frags {
		p := cttest.Decode(f)
		data = append(data, f[p.L4Off:p.End]...)
	}
	re := cttest.Frame(wanAddr, s.Addr(), packet.IPProtoUDP, data)
	orig := binary.BigEndian.Uint16(data[6:])
	p := cttest.Decode(re)
	want, _ := p.ComputeL4Checksum()
	if orig != want {
		t.Errorf("reassembled UDP checksum %#04x, want %#04x", orig, want)
	}
}

// TestRandom runs many connections of random hosts, ports and protocols
// through masquerade with a small port range, with replies and ICMP
// errors: every translated tuple is unique, every reply finds its way
// back, and every checksum stays right.
func TestRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	g := newRig(t, masq(), nat.Options{Ports: nat.PortRange{Lo: 2000, Hi: 2063}})
	n := 3000
	if testing.Short() {
		n = 500
	}
	type conn struct {
		c, s, pub netip.AddrPort
		proto     int
	}
	var conns []conn
	refused := 0
	for i := range n {
		g.now += int64(time.Millisecond)
		v6 := rng.IntN(4) == 0
		host := func(net byte, k int) netip.Addr {
			if v6 {
				return netip.AddrFrom16([16]byte{0xfd, net, 15: byte(k)})
			}
			return netip.AddrFrom4([4]byte{10, net, 0, byte(k)})
		}
		c := netip.AddrPortFrom(host(1, rng.IntN(8)), uint16(2000+rng.IntN(70)))
		srvAddr := host(9, rng.IntN(3))
		s := netip.AddrPortFrom(srvAddr, uint16(1+rng.IntN(3)))
		proto := rng.IntN(3)
		var f []byte
		switch proto {
		case 0:
			f = cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: packet.TCPSyn, Seq: rng.Uint32(), Win: 1000})
		case 1:
			f = cttest.UDP(c, s, rng.IntN(40))
		default:
			f = cttest.Echo(c.Addr(), s.Addr(), false, c.Port(), uint16(i))
			s = netip.AddrPortFrom(s.Addr(), c.Port())
		}
		_, err := g.try(f, lan, wan)
		if errors.Is(err, nat.ErrNoPort) {
			refused++
			continue
		}
		if err != nil {
			// The tuple exists already (same random flow again): its
			// packet went through as established.
			t.Fatalf("connection %d: %v", i, err)
		}
		checkSums(t, f)
		pub, dst := addrs(t, f)
		if dst.Addr() != s.Addr() {
			t.Fatalf("destination changed to %v", dst)
		}
		conns = append(conns, conn{c, s, pub, proto})
	}
	// Replies.
	for _, k := range conns {
		var f []byte
		switch k.proto {
		case 0:
			f = cttest.TCP(cttest.Seg{Src: k.s, Dst: k.pub, Flags: packet.TCPRst, Win: 0})
		case 1:
			f = cttest.UDP(k.s, k.pub, 3)
		default:
			f = cttest.Echo(k.s.Addr(), k.pub.Addr(), true, k.pub.Port(), 1)
		}
		if k.proto == 0 {
			// Errors about the original packet reach the client too.
			syn := cttest.TCP(cttest.Seg{Src: k.pub, Dst: k.s, Flags: packet.TCPSyn, Win: 1000})
			e := cttest.Unreachable(k.s.Addr(), syn)
			if st, err := g.try(e, wan, lan); err != nil || st != conntrack.StateRelated {
				t.Fatalf("error about %v: %v %v", k, st, err)
			}
			checkError(t, e, k.s.Addr(), k.c.Addr(), k.c, k.s, true)
			continue
		}
		st, err := g.try(f, wan, lan)
		if err != nil || st != conntrack.StateEstablished && st != conntrack.StateNew {
			t.Fatalf("reply to %+v: %v %v", k, st, err)
		}
		checkSums(t, f)
		s, d := addrs(t, f)
		if s.Addr() != k.s.Addr() || d != k.c {
			t.Fatalf("reply to %+v arrived as %v > %v", k, s, d)
		}
	}
	t.Logf("%d connections, %d refused for want of ports", len(conns), refused)
}

func TestFromPolicy(t *testing.T) {
	const y = `appliance: firewall
interfaces:
  - {name: lan, port: "mem:lan", address: [192.0.2.1/24]}
  - {name: wan, port: "mem:wan", address: [203.0.113.2/30, 2001:db8:ffff::2/64]}
zones: {inside: [lan], outside: [wan]}
rules:
  - {from: inside, action: accept}
nat:
  - {type: masquerade, out: wan}
  - {type: dnat, in: wan, proto: tcp, dport: 443, to: "192.0.2.20:8443"}
  - {type: snat, out: lan, to: 192.0.2.100-192.0.2.101}
`
	p, err := config.Parse("fw.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := nat.FromPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := conntrack.New(conntrack.Options{Max: 16, Seed: 1})
	nt := nat.New(ct, rs, nat.Options{})
	var r conntrack.Result
	var pp packet.Parsed
	f := cttest.TCP(cttest.Seg{Src: cttest.AP("198.51.100.1:1234"), Dst: cttest.AP("203.0.113.2:443"), Flags: packet.TCPSyn, Win: 1})
	_ = pp.Decode(f)
	ct.Track(&pp, 1, &r)
	e, err := nt.Create(&r, 1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	_ = nat.Apply(&pp, e, conntrack.Original)
	// DNAT to the server, then SNAT out of the LAN to the range.
	s, d := addrs(t, f)
	if d != cttest.AP("192.0.2.20:8443") || (s.Addr() != cttest.A("192.0.2.100") && s.Addr() != cttest.A("192.0.2.101")) {
		t.Errorf("translated to %v > %v", s, d)
	}
	checkSums(t, f)
	if e.NAT.Flags != conntrack.SrcNAT|conntrack.DstNAT {
		t.Errorf("binding %+v", e.NAT)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, r := range []nat.Rule{
		{Type: nat.DNAT},
		{Type: nat.DNAT, To: server, Proto: 47, Ports: nat.PortRange{Lo: 1, Hi: 2}},
		{Type: nat.SNAT},
		{Type: nat.SNAT, First: cttest.A("10.0.0.2"), Last: cttest.A("10.0.0.1")},
		{Type: nat.SNAT, First: cttest.A("10.0.0.2"), Last: cttest.A("::1")},
		{Type: 9},
	} {
		if _, err := nat.Compile([]nat.Rule{r}); err == nil {
			t.Errorf("%+v compiled", r)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	g := newRig(t, masq(), nat.Options{})
	c, s := cttest.AP("10.0.0.5:40000"), cttest.AP("198.51.100.80:80")
	syn := cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: packet.TCPSyn, Seq: 1, Win: 1000})
	g.pass(syn, lan, wan)
	pub, _ := addrs(t, syn)
	reply := cttest.TCP(cttest.Seg{Src: s, Dst: pub, Flags: packet.TCPSyn | packet.TCPAck, Seq: 7, Ack: 2, Win: 1000})
	errf := cttest.Unreachable(cttest.A("198.51.100.254"), syn)
	frames := [][]byte{reply, errf}
	bufs := make([][]byte, len(frames))
	for i := range bufs {
		bufs[i] = make([]byte, len(frames[i]))
	}
	var p packet.Parsed
	var r conntrack.Result
	n := uint16(0)
	allocs := testing.AllocsPerRun(200, func() {
		for i, f := range frames {
			copy(bufs[i], f)
			_ = p.Decode(bufs[i])
			switch g.ct.Track(&p, g.now, &r) {
			case conntrack.StateRelated:
				_ = nat.ApplyRelated(&p, &r)
			case conntrack.StateEstablished:
				_ = nat.Apply(&p, r.Entry, r.Dir)
			default:
				t.Fatalf("state %v", r.State)
			}
		}
		// And a new connection.
		n++
		p.Src = netip.AddrFrom4([4]byte{10, 1, byte(n >> 8), byte(n)})
		if g.ct.Track(&p, g.now, &r) == conntrack.StateNew && r.Entry == nil {
			_, _ = g.nt.Create(&r, lan, wan, g.now)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round, want 0", allocs)
	}
}

// TestPortChurn keeps one destination's port range half full for several
// times round it: no connection may be refused while half the ports are
// free (a cursor that lost its place once refused them in runs).
func TestPortChurn(t *testing.T) {
	ct, err := conntrack.New(conntrack.Options{Max: 1 << 16, Seed: 9, Timeouts: conntrack.Timeouts{UDP: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := nat.Compile(masq())
	nt := nat.New(ct, rs, nat.Options{})
	var p packet.Parsed
	var r conntrack.Result
	now := int64(time.Hour)
	n := 300000
	if testing.Short() {
		n = 70000
	}
	for i := range n {
		now += int64(time.Second) / 30000
		_ = p.Decode(cttest.UDP(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5000), cttest.AP("198.51.100.53:53"), 1))
		if ct.Track(&p, now, &r) != conntrack.StateNew {
			t.Fatal(r.State)
		}
		if _, err := nt.Create(&r, lan, wan, now); err != nil {
			t.Fatalf("connection %d with %d in the table: %v", i, ct.Len(), err)
		}
		if i&31 == 0 {
			ct.Expire(now, 64)
		}
	}
}
