// Package captures builds the example captures under examples/captures,
// which the demo, the README and the replay tests use. The frames are built
// with gopacket, with fixed addresses, MACs and timestamps, so the files are
// the same bytes on every run; a test fails when a committed file differs
// from what this package builds. Regenerate them with
//
//	go generate ./examples/captures
//
// This package is for tests and tools only; no appliance imports it.
package captures

//go:generate go run ./gen

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/nfvkit/nfvkit/pkg/appliance"
)

// Frame is one frame of an example capture.
type Frame struct {
	Time time.Time
	// What says what the frame is, for people reading tests.
	What string
	Data []byte
}

// Files are the example captures: file name -> frames.
var Files = map[string]func() ([]Frame, error){
	"router-lan.pcap": RouterLAN,
}

// Addresses of examples/router.yaml's lan side.
var (
	// Host is a machine on the lan, 192.0.2.10 with a fixed MAC.
	HostMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x02, 0x0a}
	HostIP  = net.IPv4(192, 0, 2, 10).To4()
	// RouterLANIP is the router's lan address; its MAC is the one
	// appliance.LocalMAC gives the interface lan.
	RouterLANIP = net.IPv4(192, 0, 2, 1).To4()
	// RemoteIP is a host behind the router, reached by the default route
	// through wan.
	RemoteIP = net.IPv4(203, 0, 113, 10).To4()
	// Start is the time of the first frame.
	Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
)

// RouterLAN is what a host on the lan of examples/router.yaml sends: an ARP
// request for the router, then (having the answer) an ICMP echo request, a
// UDP datagram and a TCP SYN to a host behind the router.
func RouterLAN() ([]Frame, error) {
	routerMAC := appliance.LocalMAC("lan")
	toRouter := &layers.Ethernet{SrcMAC: HostMAC, DstMAC: routerMAC[:], EthernetType: layers.EthernetTypeIPv4}
	ip := func(proto layers.IPProtocol, id uint16) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Flags: layers.IPv4DontFragment,
			Protocol: proto, SrcIP: HostIP, DstIP: RemoteIP}
	}
	var frames []Frame
	add := func(ms int, what string, ls ...gopacket.SerializableLayer) error {
		data, err := serialize(ls...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		frames = append(frames, Frame{Start.Add(time.Duration(ms) * time.Millisecond), what, data})
		return nil
	}

	ping := make([]byte, 56) // what ping sends: 56 bytes of pattern
	for i := range ping {
		ping[i] = byte(i)
	}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 7}
	tcpIP := ip(layers.IPProtocolTCP, 0x1003)
	udpIP := ip(layers.IPProtocolUDP, 0x1002)
	tcp := &layers.TCP{SrcPort: 40001, DstPort: 443, Seq: 1000, SYN: true, Window: 64240, Options: []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 0}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}}
	if err := udp.SetNetworkLayerForChecksum(udpIP); err != nil {
		return nil, err
	}
	if err := tcp.SetNetworkLayerForChecksum(tcpIP); err != nil {
		return nil, err
	}
	for _, err := range []error{
		add(0, "ARP who-has 192.0.2.1 tell 192.0.2.10",
			&layers.Ethernet{SrcMAC: HostMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPRequest, SourceHwAddress: HostMAC, SourceProtAddress: HostIP,
				DstHwAddress: make([]byte, 6), DstProtAddress: RouterLANIP}),
		add(1, "ICMP echo request 192.0.2.10 > 203.0.113.10",
			toRouter, ip(layers.IPProtocolICMPv4, 0x1001),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 0x4e46, Seq: 1},
			gopacket.Payload(ping)),
		add(2, "UDP 192.0.2.10:40000 > 203.0.113.10:7",
			toRouter, udpIP, udp, gopacket.Payload("nfvkit replay demo")),
		add(3, "TCP SYN 192.0.2.10:40001 > 203.0.113.10:443",
			toRouter, tcpIP, tcp),
	} {
		if err != nil {
			return nil, err
		}
	}
	return frames, nil
}

// serialize builds a frame with lengths and checksums filled in, padded to
// Ethernet's 60-byte minimum as it arrives off the wire (without FCS).
func serialize(ls ...gopacket.SerializableLayer) ([]byte, error) {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	if len(data) < 60 {
		data = append(data, make([]byte, 60-len(data))...)
	}
	return data, nil
}

// Write writes frames as a microsecond pcap capture (the most widely read
// form) with gopacket's writer.
func Write(w io.Writer, frames []Frame) error {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: f.Time, CaptureLength: len(f.Data), Length: len(f.Data)}
		if err := pw.WritePacket(ci, f.Data); err != nil {
			return err
		}
	}
	return nil
}

// Build returns the bytes of the example capture called name.
func Build(name string) ([]byte, error) {
	mk, ok := Files[name]
	if !ok {
		return nil, fmt.Errorf("no example capture %s", name)
	}
	frames, err := mk()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := Write(&b, frames); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
