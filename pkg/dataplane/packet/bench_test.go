package packet

import (
	"net/netip"
	"testing"
)

// benchFrames are the frames BenchmarkParse decodes, one kind per
// sub-benchmark.
func benchFrames() []struct {
	name  string
	frame []byte
} {
	withVLANs := func(f []byte) []byte {
		return cat(f[:12], []byte{0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20}, f[12:])
	}
	fragFirst := ipv6Chain(IPProtoHopByHop, cat(
		destOpts(IPProtoFragment)[:1], []byte{0, 1, 4, 0, 0, 0, 0}, // hop-by-hop
		[]byte{byte(IPProtoDestOpts), 0, 0, 1, 0, 0, 0, 1}, // fragment, offset 0, M
		destOpts(IPProtoUDP), udpHeader(1, 2, 8)))
	g := newGenerator(99)
	var arp []byte
	for arp == nil {
		if f := g.frame(); f[12] == 0x08 && f[13] == 0x06 {
			arp = f
		}
	}
	return []struct {
		name  string
		frame []byte
	}{
		{"ipv4-udp", ipv4UDPFrame()},
		{"ipv4-tcp", ipv4TCPFrame(0)},
		{"ipv6-tcp", ipv6TCPFrame(0)},
		{"ipv6-udp", ipv6UDPFrame()},
		{"qinq-ipv4-tcp", withVLANs(ipv4TCPFrame(0))},
		{"ipv6-3ext-udp", ipv6ExtFrame()},
		{"ipv6-frag-first", fragFirst},
		{"arp", arp},
	}
}

func reportMpps(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "Mpps")
}

func BenchmarkParse(b *testing.B) {
	for _, bf := range benchFrames() {
		b.Run(bf.name, func(b *testing.B) {
			var p Parsed
			if err := p.Decode(bf.frame); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				_ = p.Decode(bf.frame)
				n++
			}
			reportMpps(b, n)
		})
	}
	// A burst of varied frames, as a port's receive batch would bring.
	b.Run("mixed-burst", func(b *testing.B) {
		g := newGenerator(7)
		burst := make([][]byte, 256)
		for i := range burst {
			burst[i] = g.frame()
		}
		var p Parsed
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			for _, f := range burst {
				_ = p.Decode(f)
			}
			n += len(burst)
		}
		reportMpps(b, n)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/pkt")
	})
}

func BenchmarkDecodeIP(b *testing.B) {
	f := ipv4TCPFrame(0)[EthernetLen:]
	var p Parsed
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		_ = p.DecodeIP(f)
		n++
	}
	reportMpps(b, n)
}

func BenchmarkChecksum(b *testing.B) {
	for _, size := range []int{20, 40, 64, 576, 1500, 9000} {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run("size="+itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				_ = Checksum(buf, 0)
			}
			b.ReportMetric(float64(size)*8*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gbit/s")
		})
	}
	// The plain 16-bit loop, for comparison.
	b.Run("reference/size=1500", func(b *testing.B) {
		buf := make([]byte, 1500)
		b.SetBytes(1500)
		for b.Loop() {
			_ = refChecksum(buf, 0)
		}
	})
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func BenchmarkPseudoHeaderChecksum(b *testing.B) {
	s4, d4 := []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}
	s6, d6 := netip.MustParseAddr("2001:db8::1").AsSlice(), netip.MustParseAddr("2001:db8::2").AsSlice()
	b.Run("ipv4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = PseudoHeaderChecksum(IPProtoTCP, s4, d4, 1480)
		}
	})
	b.Run("ipv6", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = PseudoHeaderChecksum(IPProtoTCP, s6, d6, 1460)
		}
	})
}

func BenchmarkVerifyL4Checksum(b *testing.B) {
	for _, bf := range []struct {
		name  string
		frame []byte
	}{{"ipv4-tcp-64", ipv4TCPFrame(10)}, {"ipv4-tcp-1500", ipv4TCPFrame(1460)}, {"ipv6-tcp-1500", ipv6TCPFrame(1416)}} {
		b.Run(bf.name, func(b *testing.B) {
			var p Parsed
			if err := p.Decode(bf.frame); err != nil {
				b.Fatal(err)
			}
			if err := p.VerifyL4Checksum(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				_ = p.VerifyL4Checksum()
				n++
			}
			reportMpps(b, n)
		})
	}
}

// BenchmarkIncremental measures the per-packet rewrites: RFC 1624 updates
// alone and the Parsed helpers that apply them in place.
func BenchmarkIncremental(b *testing.B) {
	var a4, n4 = [4]byte{10, 0, 0, 1}, [4]byte{192, 0, 2, 9}
	a16, n16 := netip.MustParseAddr("2001:db8::1").As16(), netip.MustParseAddr("2001:db8::2").As16()
	var sink uint16
	b.Run("UpdateChecksum16", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = UpdateChecksum16(sink, 0x4011, 0x3f11)
		}
	})
	b.Run("UpdateChecksumAddr4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = UpdateChecksumAddr4(sink, a4, n4)
		}
	})
	b.Run("UpdateChecksumAddr16", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = UpdateChecksumAddr16(sink, a16, n16)
		}
	})
	b.Run("IPv4.DecTTL", func(b *testing.B) {
		ip := IPv4(ipv4UDPFrame()[EthernetLen:])
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			ip.DecTTL()
			n++
		}
		reportMpps(b, n)
	})
	b.Run("snat-ipv4-tcp", func(b *testing.B) {
		var p Parsed
		_ = p.Decode(ipv4TCPFrame(0))
		addrs := [2]netip.Addr{netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			_ = p.SetSrc(addrs[n&1])
			_ = p.SetSrcPort(uint16(n))
			n++
		}
		reportMpps(b, n)
	})
	b.Run("snat-ipv6-udp", func(b *testing.B) {
		var p Parsed
		_ = p.Decode(ipv6UDPFrame())
		addrs := [2]netip.Addr{netip.MustParseAddr("2001:db8::a"), netip.MustParseAddr("2001:db8::b")}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			_ = p.SetSrc(addrs[n&1])
			_ = p.SetSrcPort(uint16(n))
			n++
		}
		reportMpps(b, n)
	})
	_ = sink
}
