package pktgen

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

func testSpec(size int) Spec {
	return Spec{
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.19.0.1"),
		SrcPort: 1024, DstPort: 9, Flows: 16, Size: size, TTL: 64,
	}
}

// TestFrameMatchesGopacket builds the same packet with gopacket (checksums
// computed by it) and compares bytes.
func TestFrameMatchesGopacket(t *testing.T) {
	for _, size := range []int{MinSize, 64, 1400, MaxSize} {
		s := testSpec(size)
		for _, flow := range []int{0, 5, 15} {
			got := s.Frame(make([]byte, 2048), flow)
			if len(got) != size {
				t.Fatalf("size %d: frame of %d bytes", size, len(got))
			}
			payload := make([]byte, size-hdrLen)
			copy(payload, Marker[:])
			payload[11] = byte(flow)
			eth := &layers.Ethernet{SrcMAC: s.SrcMAC, DstMAC: s.DstMAC, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, IHL: 5, Id: uint16(flow), Flags: layers.IPv4DontFragment, TTL: 64,
				Protocol: layers.IPProtocolUDP, SrcIP: s.Src.AsSlice(), DstIP: s.Dst.AsSlice()}
			udp := &layers.UDP{SrcPort: layers.UDPPort(1024 + flow), DstPort: 9}
			udp.SetNetworkLayerForChecksum(ip)
			buf := gopacket.NewSerializeBuffer()
			err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
				eth, ip, udp, gopacket.Payload(payload))
			if err != nil {
				t.Fatal(err)
			}
			if want := buf.Bytes(); !bytes.Equal(got, want) {
				t.Errorf("size %d flow %d:\n got % x\nwant % x", size, flow, got, want)
			}
		}
	}
}

// forward does what a router does to a frame: new MACs, TTL down, the
// header checksum fixed.
func forward(f []byte, src, dst net.HardwareAddr) []byte {
	f = bytes.Clone(f)
	eth := packet.Ethernet(f)
	eth.SetSrc(packet.MAC(src))
	eth.SetDst(packet.MAC(dst))
	ip := packet.IPv4(f[14:])
	ip.SetTTL(ip.TTL() - 1)
	ip.FillChecksum()
	return f
}

func TestCheckForwarded(t *testing.T) {
	s := testSpec(64)
	routerMAC, sinkMAC := net.HardwareAddr{2, 0, 0, 0, 0, 3}, net.HardwareAddr{2, 0, 0, 0, 0, 4}
	good := forward(s.Frame(make([]byte, 64), 3), routerMAC, sinkMAC)
	src, err := s.CheckForwarded(good, 1, sinkMAC)
	if err != nil || src.String() != routerMAC.String() {
		t.Fatalf("CheckForwarded(forwarded frame) = %v, %v", src, err)
	}
	for _, c := range []struct {
		name  string
		frame func() []byte
		hops  int
		want  string
	}{
		{"not forwarded", func() []byte { return s.Frame(make([]byte, 64), 0) }, 1, "destination MAC"},
		{"wrong hop count", func() []byte { return good }, 2, "TTL 63, want 62"},
		{"stale checksum", func() []byte { f := bytes.Clone(good); f[14+8]--; return f }, 1, "TTL"},
		{"bad checksum", func() []byte { f := bytes.Clone(good); f[14+10] ^= 0xff; return f }, 1, "IPv4 header checksum"},
		{"truncated", func() []byte { return good[:60] }, 1, "does not parse"},
		{"padded", func() []byte { return append(bytes.Clone(good), 0, 0, 0, 0) }, 1, "frame of 68 bytes"},
		{"payload changed", func() []byte { f := bytes.Clone(good); f[hdrLen+20] ^= 1; return f }, 1, "UDP checksum"},
		{"other flow", func() []byte {
			o := s
			o.SrcPort = 2000
			return forward(o.Frame(make([]byte, 64), 0), routerMAC, sinkMAC)
		}, 1, "not one of the generator's flows"},
	} {
		_, err := s.CheckForwarded(c.frame(), c.hops, sinkMAC)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one saying %q", c.name, err, c.want)
		}
	}
}

func TestSpecCheck(t *testing.T) {
	if err := testSpec(64).Check(); err != nil {
		t.Fatal(err)
	}
	bad := testSpec(59)
	bad.Flows = 0
	bad.TTL = 1
	bad.Dst = netip.MustParseAddr("2001:db8::1")
	err := bad.Check()
	for _, want := range []string{"size 59", "flows", "TTL 1", "IPv4"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %v, want it to mention %q", err, want)
		}
	}
}
