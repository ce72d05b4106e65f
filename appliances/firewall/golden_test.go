package firewall

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/nfvkit/nfvkit/internal/goldentest"
	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
	"github.com/nfvkit/nfvkit/pkg/replay"
)

// Golden tests, as the router's: a policy, input captures built with
// gopacket, the captures the firewall must send (built with gopacket
// too, checksums computed by gopacket, independently of nat's incremental
// updates) and the drop summary, compared frame by frame after a run of
// pkg/replay, the engine of nfv replay. The capture timestamps are the
// clock, so timeouts are tested by the gaps between frames.

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

type frame struct {
	t    time.Time
	data []byte
}

type golden struct {
	policy string
	in     map[string][]frame
	out    map[string][]frame
	drops  map[string]uint64
}

func (g golden) run(t *testing.T) {
	t.Helper()
	p, err := config.Parse("golden.yaml", []byte(g.policy))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	inputs := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(g.in)) {
		path := filepath.Join(dir, name+"-in.pcap")
		writeCapture(t, path, g.in[name])
		inputs[name] = path
	}
	out := filepath.Join(dir, "out")
	sum, err := replay.Run(context.Background(), p, replay.Options{Inputs: inputs, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stage != "firewall" {
		t.Fatalf("stage %q ran, not the firewall", sum.Stage)
	}
	for _, name := range appliance.PortNames(p) {
		compareFrames(t, name, readCapture(t, filepath.Join(out, name+".pcap")), g.out[name])
	}
	got := map[string]uint64{}
	for _, d := range sum.Drops {
		got[d.Reason] = d.Count
	}
	if g.drops == nil {
		g.drops = map[string]uint64{}
	}
	if !maps.Equal(got, g.drops) {
		t.Errorf("drops %v, want %v", got, g.drops)
	}
}

func writeCapture(t *testing.T, path string, frames []frame) {
	t.Helper()
	goldentest.WriteCapture(t, path, toGolden(frames))
}

func readCapture(t *testing.T, path string) []frame {
	t.Helper()
	var out []frame
	for _, f := range goldentest.ReadCapture(t, path) {
		out = append(out, frame{f.T, f.Data})
	}
	return out
}

func compareFrames(t *testing.T, iface string, got, want []frame) {
	t.Helper()
	goldentest.CompareFrames(t, iface, toGolden(got), toGolden(want), t0)
}

func toGolden(fs []frame) []goldentest.Frame {
	out := make([]goldentest.Frame, len(fs))
	for i, f := range fs {
		out[i] = goldentest.Frame{T: f.t, Data: f.data}
	}
	return out
}

func describe(b []byte) string { return goldentest.Describe(b) }

// ---- frame builders (gopacket) ----

var (
	lanMAC  = appliance.LocalMAC("lan")
	wanMAC  = appliance.LocalMAC("wan")
	hostMAC = packet.MAC{0x02, 0, 0, 0, 0x02, 0x0a} // 192.0.2.10, 2001:db8:1::10 on lan
	srvMAC  = packet.MAC{0x02, 0, 0, 0, 0x02, 0x14} // 192.0.2.20, 2001:db8:1::20 on lan
	gwMAC   = packet.MAC{0x02, 0, 0, 0, 0x01, 0x01} // 198.51.100.1, 2001:db8:ff::1 on wan
)

type l2 struct{ src, dst packet.MAC }

var (
	fromHost = l2{hostMAC, lanMAC}
	toHost   = l2{lanMAC, hostMAC}
	fromSrv  = l2{srvMAC, lanMAC}
	toSrv    = l2{lanMAC, srvMAC}
	fromGW   = l2{gwMAC, wanMAC}
	toGW     = l2{wanMAC, gwMAC}
)

func hw(m packet.MAC) net.HardwareAddr { return net.HardwareAddr(m[:]) }

func ip(s string) net.IP { return net.IP(netip.MustParseAddr(s).AsSlice()) }

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return slices.Clone(buf.Bytes())
}

// pad pads a frame to the 60-byte Ethernet minimum, as a NIC does.
func pad(f []byte) []byte {
	if len(f) < 60 {
		f = append(f, make([]byte, 60-len(f))...)
	}
	return f
}

// hdr is an IP header: addresses of either family, TTL or hop limit, IPv4 ID.
type hdr struct {
	src, dst string
	ttl      uint8
	id       uint16
	tos      uint8
}

func (h hdr) v6() bool { return strings.Contains(h.src, ":") }

func (h hdr) layers(l l2, proto layers.IPProtocol) (ls []gopacket.SerializableLayer, nl gopacket.NetworkLayer) {
	if h.v6() {
		ip6 := &layers.IPv6{Version: 6, HopLimit: h.ttl, NextHeader: proto, SrcIP: ip(h.src), DstIP: ip(h.dst)}
		return []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: hw(l.src), DstMAC: hw(l.dst), EthernetType: layers.EthernetTypeIPv6}, ip6}, ip6
	}
	ip4 := &layers.IPv4{Version: 4, TOS: h.tos, Id: h.id, TTL: h.ttl, Protocol: proto, SrcIP: ip(h.src), DstIP: ip(h.dst)}
	return []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: hw(l.src), DstMAC: hw(l.dst), EthernetType: layers.EthernetTypeIPv4}, ip4}, ip4
}

// tcpSeg describes a TCP segment.
type tcpSeg struct {
	sport, dport uint16
	seq, ack     uint32
	flags        string // of "SAFR"
	win          uint16
	data         []byte
}

func tcp(l l2, h hdr, s tcpSeg) []byte {
	ls, nl := h.layers(l, layers.IPProtocolTCP)
	t := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: s.seq, Ack: s.ack, Window: s.win,
		SYN: strings.Contains(s.flags, "S"), ACK: strings.Contains(s.flags, "A"),
		FIN: strings.Contains(s.flags, "F"), RST: strings.Contains(s.flags, "R")}
	t.SetNetworkLayerForChecksum(nl)
	return pad(serialize(append(ls, t, gopacket.Payload(s.data))...))
}

func udp(l l2, h hdr, sport, dport uint16, data []byte) []byte {
	ls, nl := h.layers(l, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(nl)
	return pad(serialize(append(ls, u, gopacket.Payload(data))...))
}

func echo(l l2, h hdr, reply bool, id, seq uint16) []byte {
	if h.v6() {
		ls, nl := h.layers(l, layers.IPProtocolICMPv6)
		tc := layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)
		if reply {
			tc = layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoReply, 0)
		}
		ic := &layers.ICMPv6{TypeCode: tc}
		ic.SetNetworkLayerForChecksum(nl)
		return pad(serialize(append(ls, ic, &layers.ICMPv6Echo{Identifier: id, SeqNumber: seq}, gopacket.Payload("ping"))...))
	}
	ls, _ := h.layers(l, layers.IPProtocolICMPv4)
	tc := layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0)
	if reply {
		tc = layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0)
	}
	return pad(serialize(append(ls, &layers.ICMPv4{TypeCode: tc, Id: id, Seq: seq}, gopacket.Payload("ping"))...))
}

// icmpErr is an ICMP (or ICMPv6) error of type typ and code quoting the IP
// packet of frame quote (padding cut off).
func icmpErr(l l2, h hdr, typ, code uint8, quote []byte) []byte {
	q := ipOf(quote)
	if h.v6() {
		ls, nl := h.layers(l, layers.IPProtocolICMPv6)
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
		ic.SetNetworkLayerForChecksum(nl)
		return pad(serialize(append(ls, ic, gopacket.Payload(append(make([]byte, 4), q...)))...))
	}
	ls, _ := h.layers(l, layers.IPProtocolICMPv4)
	return pad(serialize(append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}, gopacket.Payload(q))...))
}

// ipOf is a frame's IP packet without link padding.
func ipOf(f []byte) []byte {
	b := f[14:]
	if b[0]>>4 == 6 {
		return b[:40+(int(b[4])<<8|int(b[5]))]
	}
	return b[:int(b[2])<<8|int(b[3])]
}

// basePolicy: lan 192.0.2.1/24 + 2001:db8:1::1/64 (zone inside), wan
// 198.51.100.2/24 + 2001:db8:ff::2/64 (zone outside), default routes via
// 198.51.100.1 / 2001:db8:ff::1; inside may go out, the outside reaches
// the web server 192.0.2.20:80 (and, translated, 198.51.100.2:8080),
// port 25 and UDP 9 are rejected, the rest dropped. nat is the nat
// section, conntrack the conntrack section.
const basePolicy = `appliance: firewall
interfaces:
  - {name: lan, port: mem:lan, address: [192.0.2.1/24, 2001:db8:1::1/64]}
  - {name: wan, port: mem:wan, address: [198.51.100.2/24, 2001:db8:ff::2/64]}
routes:
  - {to: 0.0.0.0/0, via: 198.51.100.1}
  - {to: "::/0", via: 2001:db8:ff::1}
neighbors:
  - {interface: wan, address: 198.51.100.1, mac: "02:00:00:00:01:01"}
  - {interface: wan, address: 2001:db8:ff::1, mac: "02:00:00:00:01:01"}
  - {interface: lan, address: 192.0.2.10, mac: "02:00:00:00:02:0a"}
  - {interface: lan, address: 2001:db8:1::10, mac: "02:00:00:00:02:0a"}
  - {interface: lan, address: 192.0.2.20, mac: "02:00:00:00:02:14"}
zones: {inside: [lan], outside: [wan]}
rules:
  - {from: inside, to: outside, action: accept}
  - {from: outside, to: inside, proto: tcp, dst: 192.0.2.20, dport: 80, action: accept}
  - {from: outside, to: inside, proto: tcp, dport: 25, action: reject}
  - {from: outside, to: inside, proto: udp, dport: 9, action: reject}
  - {from: outside, action: drop}
%s
conntrack: {max: %d, timeouts: {udp: 30s, icmp: 30s}}
`

func policy(nat string, max int) string { return fmt.Sprintf(basePolicy, nat, max) }

const masq = `nat:
  - {type: masquerade, out: wan}
  - {type: dnat, in: wan, proto: tcp, dport: 8080, to: "192.0.2.20:80"}`
