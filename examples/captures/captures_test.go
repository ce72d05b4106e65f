package captures

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// TestUpToDate fails when a committed capture is not what this package
// builds: after changing the frames (or appliance.LocalMAC), run
// go generate ./examples/captures.
func TestUpToDate(t *testing.T) {
	for name := range Files {
		want, err := Build(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%v (run: go generate ./examples/captures)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./examples/captures", name)
		}
		again, _ := Build(name)
		if !bytes.Equal(again, want) {
			t.Errorf("%s: two builds differ", name)
		}
	}
}

// TestRouterLAN checks the frames decode as what they claim to be.
func TestRouterLAN(t *testing.T) {
	f, err := os.Open("router-lan.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []gopacket.LayerType{layers.LayerTypeARP, layers.LayerTypeICMPv4, layers.LayerTypeUDP, layers.LayerTypeTCP}
	for i, lt := range want {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatal(err)
		}
		if len(data) < 60 || ci.Timestamp.Before(Start) {
			t.Errorf("frame %d: %d bytes at %v", i, len(data), ci.Timestamp)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("frame %d: %v", i, el.Error())
		}
		if p.Layer(lt) == nil {
			t.Errorf("frame %d has no %v layer: %v", i, lt, p)
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && (!tcp.SYN || tcp.ACK) {
			t.Errorf("frame %d is not a SYN", i)
		}
	}
}
