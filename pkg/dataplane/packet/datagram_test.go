package packet

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestDatagram builds datagrams with PutDatagram, checks them with
// gopacket (headers and checksums) and reads them back with ParseDatagram.
func TestDatagram(t *testing.T) {
	cases := []struct {
		src, dst netip.AddrPort
		csum4    bool
	}{
		{netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("198.51.100.7:500"), false},
		{netip.MustParseAddrPort("192.0.2.1:4500"), netip.MustParseAddrPort("198.51.100.7:61000"), true},
		{netip.MustParseAddrPort("[2001:db8::1]:500"), netip.MustParseAddrPort("[2001:db8:1::9]:4500"), false},
	}
	for _, c := range cases {
		for _, n := range []int{0, 1, 37, 1400} {
			payload := bytes.Repeat([]byte{0xa5, 0x01, 0xff}, n)[:n]
			hl := DatagramHeaderLen(c.dst.Addr())
			d := append(make([]byte, hl), payload...)
			PutDatagram(d, c.src, c.dst, 0x1234, c.csum4)

			first := layers.LayerTypeIPv4
			if c.dst.Addr().Is6() {
				first = layers.LayerTypeIPv6
			}
			pkt := gopacket.NewPacket(d, first, gopacket.Default)
			if el := pkt.ErrorLayer(); el != nil {
				t.Fatalf("%v→%v n=%d: gopacket: %v", c.src, c.dst, n, el.Error())
			}
			udp := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if uint16(udp.SrcPort) != c.src.Port() || uint16(udp.DstPort) != c.dst.Port() || !bytes.Equal(udp.Payload, payload) {
				t.Fatalf("%v→%v n=%d: gopacket read %v", c.src, c.dst, n, udp)
			}
			if ip4, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
				if ip4.TTL != 64 || ip4.Id != 0x1234 || !IPv4(d).IsChecksumValid() {
					t.Fatalf("IPv4 header %+v", ip4)
				}
			}
			if c.dst.Addr().Is6() || c.csum4 {
				src, dst := c.src.Addr().AsSlice(), c.dst.Addr().AsSlice()
				u := d[hl-UDPHeaderLen:]
				if Checksum(u, PseudoHeaderChecksum(IPProtoUDP, src, dst, uint16(len(u)))) != 0xffff {
					t.Fatalf("%v→%v n=%d: UDP checksum does not verify", c.src, c.dst, n)
				}
			} else if udp.Checksum != 0 {
				t.Fatalf("IPv4 UDP checksum %#x, want none", udp.Checksum)
			}
			s, t2, p, ok := ParseDatagram(d)
			if !ok || s != c.src || t2 != c.dst || !bytes.Equal(p, payload) {
				t.Fatalf("ParseDatagram = %v %v %x %v", s, t2, p, ok)
			}
			for cut := 1; cut < hl; cut += 7 {
				if _, _, _, ok := ParseDatagram(d[:hl-cut]); ok {
					t.Fatalf("truncated by %d: parsed", cut)
				}
			}
		}
	}
}
