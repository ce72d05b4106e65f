package nat_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack"
	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
	"github.com/nfvkit/nfvkit/appliances/firewall/nat"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// BenchmarkApply is the per-packet cost of translating a packet of a
// masqueraded TCP connection, each way: rewrite of address and port with
// the incremental checksum updates (the frame is restored from a copy each
// time, which is included: 64-byte copy).
func BenchmarkApply(b *testing.B) {
	for _, fam := range []string{"ipv4", "ipv6"} {
		c, s := cttest.AP("10.0.0.5:40000"), cttest.AP("198.51.100.80:80")
		if fam == "ipv6" {
			c, s = cttest.AP("[fd00:1::5]:40000"), cttest.AP("[2001:db8:80::80]:80")
		}
		g := newRig(b, masq(), nat.Options{})
		// Take the client's port so that the port is translated too.
		other := netip.AddrPortFrom(netip.MustParseAddr(map[string]string{"ipv4": "10.0.0.6", "ipv6": "fd00:1::6"}[fam]), c.Port())
		g.pass(cttest.TCP(cttest.Seg{Src: other, Dst: s, Flags: packet.TCPSyn, Win: 1}), lan, wan)
		syn := cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: packet.TCPSyn, Seq: 1, Win: 1000})
		g.pass(syn, lan, wan)
		e := g.r.Entry
		pub, _ := addrs(b, syn)
		for _, dir := range []conntrack.Dir{conntrack.Original, conntrack.Reply} {
			b.Run(fmt.Sprintf("%s/%v", fam, dir), func(b *testing.B) {
				f := cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: packet.TCPAck, Seq: 2, Ack: 1, Win: 1000})
				if dir == conntrack.Reply {
					f = cttest.TCP(cttest.Seg{Src: s, Dst: pub, Flags: packet.TCPAck, Seq: 1, Ack: 2, Win: 1000})
				}
				orig := append([]byte(nil), f...)
				var p packet.Parsed
				b.ReportAllocs()
				cpu0 := cttest.CPU()
				for b.Loop() {
					copy(f, orig)
					_ = p.Decode(f)
					if err := nat.Apply(&p, e, dir); err != nil {
						b.Fatal(err)
					}
				}
				cttest.ReportPPS(b, b.N, cpu0)
				checkSums(b, f)
			})
		}
	}
}

// BenchmarkApplyRelated is the cost of translating an ICMP error quoting a
// masqueraded TCP segment (quote, checksums, outer header).
func BenchmarkApplyRelated(b *testing.B) {
	g := newRig(b, masq(), nat.Options{})
	c, s := cttest.AP("10.0.0.5:40000"), cttest.AP("198.51.100.80:80")
	syn := cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: packet.TCPSyn, Seq: 1, Win: 1000})
	g.pass(syn, lan, wan)
	f := cttest.Unreachable(cttest.A("198.51.100.254"), syn)
	orig := append([]byte(nil), f...)
	var p packet.Parsed
	var r conntrack.Result
	b.ReportAllocs()
	cpu0 := cttest.CPU()
	for b.Loop() {
		copy(f, orig)
		_ = p.Decode(f)
		g.ct.Track(&p, g.now, &r)
		if err := nat.ApplyRelated(&p, &r); err != nil {
			b.Fatal(err)
		}
	}
	cttest.ReportPPS(b, b.N, cpu0)
}

// BenchmarkCreate is the cost of a new masqueraded connection: the
// conntrack lookup that misses, the port choice (the client's port is
// kept when free; with busy destinations a search), the entry, and the
// rewrite, in a table that expires connections as fast as they come.
func BenchmarkCreate(b *testing.B) {
	for _, dests := range []int{1, 1000} {
		b.Run(fmt.Sprintf("udp/ipv4/destinations=%d", dests), func(b *testing.B) {
			ct, err := conntrack.New(conntrack.Options{Max: 1 << 16, Seed: 1, Timeouts: conntrack.Timeouts{UDP: time.Second}})
			if err != nil {
				b.Fatal(err)
			}
			rs, _ := nat.Compile(masq())
			nt := nat.New(ct, rs, nat.Options{})
			f := cttest.UDP(cttest.AP("10.0.0.5:5000"), cttest.AP("198.51.100.53:53"), 20)
			orig := append([]byte(nil), f...)
			var p packet.Parsed
			var r conntrack.Result
			now := int64(time.Hour)
			// 30k connections a second: about half the 64k ports of one
			// destination are in use.
			step := int64(time.Second) / 30000
			failed := 0
			i := uint32(0)
			b.ReportAllocs()
			cpu0 := cttest.CPU()
			for b.Loop() {
				i++
				now += step
				copy(f, orig)
				_ = p.Decode(f)
				// Many hosts, all using source port 5000.
				p.Src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				p.Dst = netip.AddrFrom4([4]byte{198, 51, byte(int(i) % dests >> 8), byte(int(i) % dests)})
				if ct.Track(&p, now, &r) != conntrack.StateNew || r.Entry != nil {
					continue
				}
				if _, err := nt.Create(&r, lan, wan, now); err != nil {
					failed++
				}
				if i&31 == 0 {
					ct.Expire(now, 64)
				}
			}
			cttest.ReportPPS(b, b.N, cpu0)
			if failed > 0 {
				b.Logf("%d of %d refused", failed, b.N)
			}
		})
	}
}
