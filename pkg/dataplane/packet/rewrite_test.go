package packet

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestRewritesKeepChecksums applies NAT-style rewrites and a TTL decrement
// to random frames; the incrementally updated checksums must equal full
// recomputes (crossCheck verifies them against gopacket's decode too).
func TestRewritesKeepChecksums(t *testing.T) {
	g := newGenerator(21)
	n := 10000
	if testing.Short() {
		n = 1000
	}
	rewritten := 0
	for i := range n {
		f := g.frame()
		var p Parsed
		if err := p.Decode(f); err != nil {
			t.Fatal(err)
		}
		if p.IPVersion == 0 {
			if err := p.SetSrc(netip.IPv4Unspecified()); err != ErrNotSupported {
				t.Errorf("SetSrc on non-IP: %v", err)
			}
			if err := p.DecTTL(); err != ErrNotSupported {
				t.Errorf("DecTTL on non-IP: %v", err)
			}
			continue
		}
		if p.IPVersion == 4 && p.IPProto == IPProtoUDP && p.HasL4 && i%3 == 0 {
			// UDP over IPv4 without a checksum must stay without one.
			p.UDP().SetChecksum(0)
		}
		udpNone := p.IPVersion == 4 && p.UDP() != nil && p.UDP().Checksum() == 0
		var src, dst netip.Addr
		if p.IPVersion == 4 {
			src, dst = netip.AddrFrom4([4]byte(g.bytes(4))), netip.AddrFrom4([4]byte(g.bytes(4)))
			if err := p.SetSrc(netip.IPv6Loopback()); err != ErrAddrFamily {
				t.Errorf("SetSrc IPv6 on IPv4: %v", err)
			}
		} else {
			src, dst = netip.AddrFrom16([16]byte(g.bytes(16))), netip.AddrFrom16([16]byte(g.bytes(16)))
			if err := p.SetDst(netip.IPv4Unspecified()); err != ErrAddrFamily {
				t.Errorf("SetDst IPv4 on IPv6: %v", err)
			}
		}
		sport, dport := g.u16(), g.u16()
		ttl := p.TTL
		if err := p.SetSrc(src); err != nil {
			t.Fatal(err)
		}
		if err := p.SetDst(dst); err != nil {
			t.Fatal(err)
		}
		portsOK := p.HasL4 && (p.IPProto == IPProtoTCP || p.IPProto == IPProtoUDP)
		if err := p.SetSrcPort(sport); (err == nil) != portsOK {
			t.Fatalf("SetSrcPort on %v: %v", &p, err)
		}
		if err := p.SetDstPort(dport); (err == nil) != portsOK {
			t.Fatalf("SetDstPort on %v: %v", &p, err)
		}
		if err := p.DecTTL(); err != nil {
			t.Fatal(err)
		}
		rewritten++

		var q Parsed
		if err := q.Decode(f); err != nil {
			t.Fatal(err)
		}
		if q.Src != src || q.Dst != dst || q.TTL != ttl-1 || !equalFields(&p, &q) {
			t.Fatalf("after rewrite: %+v\nre-decoded: %+v", p, q)
		}
		if portsOK && (q.SrcPort != sport || q.DstPort != dport) {
			t.Fatalf("ports %d %d, want %d %d", q.SrcPort, q.DstPort, sport, dport)
		}
		if udpNone {
			if c := q.UDP().Checksum(); c != 0 {
				t.Fatalf("UDP without checksum got %#x", c)
			}
			continue
		}
		if !crossCheck(t, f) {
			t.Fatalf("frame %d after rewrite: %x", i, f)
		}
	}
	if rewritten < n/2 {
		t.Errorf("only %d of %d frames rewritten", rewritten, n)
	}
}

// TestUDPChecksumZeroRule drives a UDP checksum through the value 0, which
// must be sent as 0xffff both by a full compute and by a rewrite.
func TestUDPChecksumZeroRule(t *testing.T) {
	for _, f := range [][]byte{ipv4UDPFrame(), ipv6UDPFrame()} {
		var p Parsed
		if err := p.Decode(f); err != nil {
			t.Fatal(err)
		}
		u := p.UDP()
		// With source port 0 the checksum is c = ^S, S the sum of the
		// rest; source port c brings the sum to 0xffff, the checksum to 0.
		u.SetSrcPort(0)
		c, err := p.ComputeL4Checksum()
		if err != nil {
			t.Fatal(err)
		}
		target := c
		u.SetSrcPort(target)
		if c, _ := p.ComputeL4Checksum(); c != 0xffff {
			t.Fatalf("computed checksum %#x, want 0xffff (0 sent as all ones)", c)
		}
		if err := p.FillL4Checksum(); err != nil || u.Checksum() != 0xffff {
			t.Fatalf("FillL4Checksum stored %#x (%v)", u.Checksum(), err)
		}
		if err := p.VerifyL4Checksum(); err != nil {
			t.Fatalf("VerifyL4Checksum of 0xffff: %v", err)
		}
		// Away from zero and back by incremental updates.
		if err := p.SetSrcPort(target + 1); err != nil {
			t.Fatal(err)
		}
		if err := p.SetSrcPort(target); err != nil {
			t.Fatal(err)
		}
		if u.Checksum() != 0xffff {
			t.Errorf("incremental update stored %#x, want 0xffff", u.Checksum())
		}
		if err := p.VerifyL4Checksum(); err != nil {
			t.Errorf("VerifyL4Checksum: %v", err)
		}
		// A zero checksum means "none" over IPv4 and is wrong over IPv6.
		u.SetChecksum(0)
		want := error(nil)
		if p.IPVersion == 6 {
			want = ErrBadChecksum
		}
		if err := p.VerifyL4Checksum(); err != want {
			t.Errorf("IPv%d zero UDP checksum: %v, want %v", p.IPVersion, err, want)
		}
	}
}

func TestVerifyL4ChecksumDetectsCorruption(t *testing.T) {
	for _, f := range [][]byte{ipv4UDPFrame(), ipv4TCPFrame(33), ipv6TCPFrame(7), ipv6ExtFrame()} {
		var p Parsed
		if err := p.Decode(f); err != nil {
			t.Fatal(err)
		}
		if err := p.VerifyL4Checksum(); err != nil {
			t.Fatalf("%v: %v", &p, err)
		}
		for i := p.L4Off; i < p.End; i++ {
			f[i] ^= 0x10
			if err := p.VerifyL4Checksum(); err != ErrBadChecksum && !(err == ErrBadLength && p.IPProto == IPProtoUDP) {
				t.Errorf("%v: byte %d flipped: %v", &p, i, err)
			}
			f[i] ^= 0x10
		}
		// The pseudo-header is covered too.
		f[p.L3Off+IPv4MinLen-1] ^= 1
		if err := p.VerifyL4Checksum(); err != ErrBadChecksum {
			t.Errorf("%v: address flipped: %v", &p, err)
		}
	}
	var p Parsed
	_ = p.Decode(ipv6Chain(IPProtoGRE, make([]byte, 8)))
	if _, err := p.ComputeL4Checksum(); err != ErrNotSupported {
		t.Errorf("GRE: %v", err)
	}
}

func TestDecTTL(t *testing.T) {
	f := ipv4UDPFrame()
	var p Parsed
	_ = p.Decode(f)
	ip := p.IPv4()
	for ttl := 255; ttl >= 0; ttl-- {
		ip.SetTTL(uint8(ttl))
		ip.FillChecksum()
		ip.DecTTL()
		if ip.TTL() != uint8(ttl-1) || !ip.IsChecksumValid() || ip.Checksum() != ip.ComputeChecksum() {
			t.Fatalf("TTL %d: checksum %#x, full %#x", ttl, ip.Checksum(), ip.ComputeChecksum())
		}
	}
	f6 := ipv6UDPFrame()
	_ = p.Decode(f6)
	_ = p.DecTTL()
	if p.TTL != 63 || p.IPv6().HopLimit() != 63 {
		t.Errorf("hop limit %d/%d", p.TTL, p.IPv6().HopLimit())
	}
	// The UDP checksum does not cover the hop limit.
	if err := p.VerifyL4Checksum(); err != nil {
		t.Error(err)
	}
}

// TestRoutingHeaderFinalDestination: with segments left, the pseudo-header
// holds the routing header's final destination (RFC 8200 8.1), for routing
// types 0 and 2 the last address and for segment routing Segment List[0].
func TestRoutingHeaderFinalDestination(t *testing.T) {
	final := netip.MustParseAddr("2001:db8:f::1")
	other := netip.MustParseAddr("2001:db8:e::1").As16()
	for _, rt := range []struct {
		typ  byte
		addr [][16]byte // in header order
	}{
		{0, [][16]byte{other, final.As16()}},
		{2, [][16]byte{final.As16()}},
		{4, [][16]byte{final.As16(), other}},
	} {
		hdr := []byte{byte(IPProtoUDP), byte(2 * len(rt.addr)), rt.typ, 1, 0, 0, 0, 0}
		for _, a := range rt.addr {
			hdr = append(hdr, a[:]...)
		}
		// Build with the final destination in the IPv6 header so gopacket
		// computes the checksum over it, then put the next hop there.
		ip := ip6(layers.IPProtocolIPv6Routing)
		ip.DstIP = final.AsSlice()
		u := &layers.UDP{SrcPort: 1, DstPort: 2}
		u.SetNetworkLayerForChecksum(ip)
		f := build(eth(layers.EthernetTypeIPv6), ip, gopacket.Payload(hdr), u, gopacket.Payload([]byte("abc")))
		copy(f[14+24:], net.ParseIP("2001:db8::99"))
		var p Parsed
		if err := p.Decode(f); err != nil {
			t.Fatal(err)
		}
		if err := p.VerifyL4Checksum(); err != nil {
			t.Errorf("type %d: %v", rt.typ, err)
		}
		// Rewriting the next hop leaves the checksum alone and valid.
		c := p.UDP().Checksum()
		if err := p.SetDst(netip.MustParseAddr("2001:db8::98")); err != nil || p.UDP().Checksum() != c {
			t.Errorf("type %d: SetDst changed the checksum (%v)", rt.typ, err)
		}
		if err := p.VerifyL4Checksum(); err != nil {
			t.Errorf("type %d after SetDst: %v", rt.typ, err)
		}
		// With no segments left the header's destination is final.
		f[14+40+3] = 0
		if err := p.Decode(f); err != nil {
			t.Fatal(err)
		}
		if err := p.VerifyL4Checksum(); err != ErrBadChecksum {
			t.Errorf("type %d, no segments left: %v", rt.typ, err)
		}
	}
}
