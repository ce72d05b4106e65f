package router

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
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

// Golden tests: a policy, input captures built with gopacket, the captures
// the router must send (also built with gopacket, independently of the
// router's code) and the drop summary, compared frame by frame, bytes and
// timestamps, after a run of pkg/replay, the engine of nfv replay.

// t0 is the time of the first frame of every golden capture.
var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

type frame struct {
	t    time.Time
	data []byte
}

type golden struct {
	policy string
	in     map[string][]frame
	out    map[string][]frame // every port-owning interface; missing means none
	drops  map[string]uint64  // the whole drop summary
}

// run replays g.in through g.policy and checks the outputs and drops.
func (g golden) run(t *testing.T) *replay.Summary {
	t.Helper()
	p, sum := g.replay(t, t.TempDir())
	for _, name := range appliance.PortNames(p) {
		got := readCapture(t, filepath.Join(sum.outDir, name+".pcap"))
		compareFrames(t, name, got, g.out[name])
	}
	gotDrops := map[string]uint64{}
	for _, d := range sum.Drops {
		gotDrops[d.Reason] = d.Count
	}
	if g.drops == nil {
		g.drops = map[string]uint64{}
	}
	if !maps.Equal(gotDrops, g.drops) {
		t.Errorf("drops %v, want %v", gotDrops, g.drops)
	}
	return sum.Summary
}

// runLoose replays into dir/out and checks nothing: the caller does.
func (g golden) runLoose(t *testing.T, dir string) *replay.Summary {
	t.Helper()
	_, sum := g.replay(t, dir)
	return sum.Summary
}

type summary struct {
	*replay.Summary
	outDir string
}

func (g golden) replay(t *testing.T, dir string) (*config.Policy, summary) {
	t.Helper()
	p, err := config.Parse("golden.yaml", []byte(g.policy))
	if err != nil {
		t.Fatal(err)
	}
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
	if sum.Stage != "router" {
		t.Fatalf("stage %q ran, not the router", sum.Stage)
	}
	return p, summary{sum, out}
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
	gwMAC   = packet.MAC{0x02, 0, 0, 0, 0x01, 0x01} // 198.51.100.1, 2001:db8:ff::1 on wan
	gw2MAC  = packet.MAC{0x02, 0, 0, 0, 0x01, 0x03} // 198.51.100.3 on wan
	peerMAC = packet.MAC{0x02, 0, 0, 0, 0x01, 0x07} // 198.51.100.7, 2001:db8:ff::7 on wan, not static
	bcast   = packet.BroadcastMAC
)

func hw(m packet.MAC) net.HardwareAddr { return net.HardwareAddr(m[:]) }

func ip(s string) net.IP { return net.IP(netip.MustParseAddr(s).AsSlice()) }

// l2 is a frame's link header: source, destination, VLAN (0: untagged).
type l2 struct {
	src, dst packet.MAC
	vlan     uint16
}

func (l l2) layers(et layers.EthernetType) []gopacket.SerializableLayer {
	if l.vlan != 0 {
		return []gopacket.SerializableLayer{
			&layers.Ethernet{SrcMAC: hw(l.src), DstMAC: hw(l.dst), EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: l.vlan, Type: et},
		}
	}
	return []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: hw(l.src), DstMAC: hw(l.dst), EthernetType: et}}
}

type payloadBytes = gopacket.Payload

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return slices.Clone(buf.Bytes())
}

// v4 describes an IPv4 header.
type v4 struct {
	src, dst string
	ttl      uint8
	id       uint16
	df       bool
	tos      uint8
	options  []layers.IPv4Option
}

func (h v4) layer(proto layers.IPProtocol) *layers.IPv4 {
	l := &layers.IPv4{Version: 4, TOS: h.tos, Id: h.id, TTL: h.ttl, Protocol: proto,
		SrcIP: ip(h.src), DstIP: ip(h.dst), Options: h.options}
	if h.df {
		l.Flags = layers.IPv4DontFragment
	}
	return l
}

// v6 describes an IPv6 header.
type v6 struct {
	src, dst string
	hlim     uint8
	flow     uint32
}

func (h v6) layer(nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, FlowLabel: h.flow, HopLimit: h.hlim, NextHeader: nh, SrcIP: ip(h.src), DstIP: ip(h.dst)}
}

func udp4(l l2, h v4, sport, dport uint16, payload []byte) []byte {
	ipl := h.layer(layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ipl)
	return serialize(append(l.layers(layers.EthernetTypeIPv4), ipl, u, gopacket.Payload(payload))...)
}

func udp6(l l2, h v6, sport, dport uint16, payload []byte) []byte {
	ipl := h.layer(layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ipl)
	return serialize(append(l.layers(layers.EthernetTypeIPv6), ipl, u, gopacket.Payload(payload))...)
}

func echo4(l l2, h v4, reply bool, id, seq uint16, payload []byte) []byte {
	tc := layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0)
	if reply {
		tc = layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0)
	}
	return serialize(append(l.layers(layers.EthernetTypeIPv4), h.layer(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: tc, Id: id, Seq: seq}, gopacket.Payload(payload))...)
}

func echo6(l l2, h v6, reply bool, id, seq uint16, payload []byte) []byte {
	ipl := h.layer(layers.IPProtocolICMPv6)
	tc := layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)
	if reply {
		tc = layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoReply, 0)
	}
	ic := &layers.ICMPv6{TypeCode: tc}
	ic.SetNetworkLayerForChecksum(ipl)
	return serialize(append(l.layers(layers.EthernetTypeIPv6), ipl, ic,
		&layers.ICMPv6Echo{Identifier: id, SeqNumber: seq}, gopacket.Payload(payload))...)
}

// icmp4Err is an ICMP error from the router: TOS 0xc0, TTL 64, the given
// IP ID, quoting quote (the offending IP packet, cut by the caller).
func icmp4Err(l l2, src, dst string, id uint16, typ, code uint8, rest uint32, quote []byte) []byte {
	h := v4{src: src, dst: dst, ttl: 64, id: id, tos: 0xc0}
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: uint16(rest >> 16), Seq: uint16(rest)}
	return serialize(append(l.layers(layers.EthernetTypeIPv4), h.layer(layers.IPProtocolICMPv4), ic, gopacket.Payload(quote))...)
}

func icmp6Err(l l2, src, dst string, typ, code uint8, rest uint32, quote []byte) []byte {
	ipl := v6{src: src, dst: dst, hlim: 64}.layer(layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	ic.SetNetworkLayerForChecksum(ipl)
	body := binary.BigEndian.AppendUint32(nil, rest)
	return serialize(append(l.layers(layers.EthernetTypeIPv6), ipl, ic, gopacket.Payload(append(body, quote...)))...)
}

func arpFrame(l l2, op uint16, sha packet.MAC, spa string, tha packet.MAC, tpa string) []byte {
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: hw(sha), SourceProtAddress: ip(spa), DstHwAddress: hw(tha), DstProtAddress: ip(tpa)}
	return serialize(append(l.layers(layers.EthernetTypeARP), a)...)
}

func nsFrame(l l2, src, dst, target string, slla *packet.MAC) []byte {
	ipl := v6{src: src, dst: dst, hlim: 255}.layer(layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	ic.SetNetworkLayerForChecksum(ipl)
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: ip(target)}
	if slla != nil {
		ns.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: hw(*slla)}}
	}
	return serialize(append(l.layers(layers.EthernetTypeIPv6), ipl, ic, ns)...)
}

func naFrame(l l2, src, dst, target string, flags uint8, tlla packet.MAC) []byte {
	ipl := v6{src: src, dst: dst, hlim: 255}.layer(layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)}
	ic.SetNetworkLayerForChecksum(ipl)
	na := &layers.ICMPv6NeighborAdvertisement{Flags: flags, TargetAddress: ip(target),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: hw(tlla)}}}
	return serialize(append(l.layers(layers.EthernetTypeIPv6), ipl, ic, na)...)
}

// NA flags as gopacket's ICMPv6NeighborAdvertisement.Flags holds them.
const (
	naR = 0x80
	naS = 0x40
	naO = 0x20
)

// l3 returns the IP packet of an untagged or single-tagged frame.
func l3(f []byte) []byte {
	if binary.BigEndian.Uint16(f[12:]) == 0x8100 {
		return f[18:]
	}
	return f[14:]
}

// payload returns n bytes of a recognisable pattern.
func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

// pad pads a frame to the 60-byte Ethernet minimum, as a NIC does.
func pad(f []byte) []byte {
	if len(f) < 60 {
		f = append(f, make([]byte, 60-len(f))...)
	}
	return f
}

// basePolicy: lan 192.0.2.1/24 + 2001:db8:1::1/64, wan 198.51.100.2/24 +
// 2001:db8:ff::2/64, default routes via 198.51.100.1 / 2001:db8:ff::1, the
// gateway and one lan host static. extra is appended (more routes,
// neighbours).
const basePolicy = `appliance: router
interfaces:
  - name: lan
    port: mem:lan
    address: [192.0.2.1/24, 2001:db8:1::1/64]
  - name: wan
    port: mem:wan
    address: [198.51.100.2/24, 2001:db8:ff::2/64]%s
routes:
  - {to: 0.0.0.0/0, via: 198.51.100.1}
  - {to: "::/0", via: 2001:db8:ff::1}%s
neighbors:
  - {interface: wan, address: 198.51.100.1, mac: "02:00:00:00:01:01"}
  - {interface: wan, address: 2001:db8:ff::1, mac: "02:00:00:00:01:01"}
  - {interface: lan, address: 192.0.2.10, mac: "02:00:00:00:02:0a"}
  - {interface: lan, address: 2001:db8:1::10, mac: "02:00:00:00:02:0a"}
`

func policy(wanExtra, routesExtra string) string {
	return fmt.Sprintf(basePolicy, wanExtra, routesExtra)
}

// Directions of travel in the base policy.
var (
	fromHost  = l2{src: hostMAC, dst: lanMAC} // a lan host to the router
	toGW      = l2{src: wanMAC, dst: gwMAC}   // the router to the wan gateway
	fromGW    = l2{src: gwMAC, dst: wanMAC}
	toHost    = l2{src: lanMAC, dst: hostMAC}
	toPeer    = l2{src: wanMAC, dst: peerMAC}
	fromPeer  = l2{src: peerMAC, dst: wanMAC}
	wanBcast  = l2{src: wanMAC, dst: bcast}
	hostBcast = l2{src: hostMAC, dst: bcast}
)
