package router

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// fuzzPolicy has a VLAN, a small MTU, ECMP and unresolved neighbours, so
// that arbitrary frames reach every path.
var fuzzPolicy = func() string {
	pol := policy("\n    mtu: 576", `
  - {to: 203.0.113.0/24, via: [198.51.100.1, 198.51.100.3]}
  - {to: 10.99.0.0/16, blackhole: true}
  - {to: "2001:db8:77::/48", via: [2001:db8:ff::1, 2001:db8:ff::7]}`)
	const head = "appliance: router\ninterfaces:\n"
	return head + "  - {name: v100, parent: lan, vlan: 100, address: [10.100.0.1/24, 2001:db8:64::1/64], mtu: 1280}\n" + pol[len(head):]
}()

// encodeFrames packs frames for FuzzProcess: per frame a port byte, a
// 2-byte length and the bytes.
func encodeFrames(frames ...inFrame) []byte {
	var b []byte
	for _, f := range frames {
		b = append(b, byte(f.port))
		b = binary.BigEndian.AppendUint16(b, uint16(len(f.data)))
		b = append(b, f.data...)
	}
	return b
}

// FuzzProcess feeds arbitrary bursts to the router, with timer ticks
// between them: it must never panic, never send a frame out of a port that
// does not exist, and account for every frame: after Release, all are back
// in the pool.
func FuzzProcess(f *testing.F) {
	lanLL := linkLocalFrom(lanMAC).String()
	h := hostMAC
	seeds := [][]inFrame{
		{in(0, udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64}, 1, 2, payload(20, 0)))},
		{in(0, udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:77::5", hlim: 64}, 1, 2, payload(20, 0)))},
		{in(0, udp4(fromHost, v4{src: "192.0.2.10", dst: "198.51.100.7", ttl: 64}, 1, 2, payload(1000, 0))),
			in(1, arpFrame(fromPeer, layers.ARPReply, peerMAC, "198.51.100.7", wanMAC, "198.51.100.2"))},
		{in(0, udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:ff::7", hlim: 64}, 1, 2, payload(20, 0))),
			in(1, naFrame(fromPeer, "2001:db8:ff::7", "2001:db8:ff::2", "2001:db8:ff::7", naS|naO, peerMAC))},
		{in(0, arpFrame(hostBcast, layers.ARPRequest, hostMAC, "192.0.2.10", packet.MAC{}, "192.0.2.1"))},
		{in(0, nsFrame(l2{src: hostMAC, dst: packet.MAC{0x33, 0x33, 0xff, 0, 0, 1}}, "2001:db8:1::20", "ff02::1:ff00:1", "2001:db8:1::1", &h))},
		{in(0, nsFrame(fromHost, "fe80::20", lanLL, lanLL, &h))},
		{in(0, echo4(fromHost, v4{src: "192.0.2.10", dst: "192.0.2.1", ttl: 64}, false, 1, 1, payload(56, 0)))},
		{in(0, echo6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:ff::2", hlim: 64}, false, 1, 1, payload(56, 0)))},
		{in(0, udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 1}, 1, 2, payload(20, 0)))},
		{in(0, udp4(fromHost, v4{src: "192.0.2.10", dst: "8.8.8.8", ttl: 64, df: true, options: []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}}, 1, 2, payload(1200, 0)))},
		{in(0, udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:9::1", hlim: 64}, 1, 2, payload(1200, 0)))},
		{in(0, udp4(l2{src: hostMAC, dst: lanMAC, vlan: 100}, v4{src: "10.100.0.5", dst: "192.0.2.10", ttl: 64}, 1, 2, payload(20, 0)))},
		{in(1, udp4(fromGW, v4{src: "203.0.113.9", dst: "10.100.0.9", ttl: 64}, 1, 2, payload(20, 0)))},
		{in(0, udp4(hostBcast, v4{src: "192.0.2.10", dst: "192.0.2.255", ttl: 64}, 1, 2, payload(20, 0)))},
	}
	for i, s := range seeds {
		f.Add(encodeFrames(s...), uint8(i))
	}
	f.Fuzz(func(t *testing.T, blob []byte, ticks uint8) {
		g := newRig(t, parse(t, fuzzPolicy), 512, Options{Neighbors: 16, QueuePerNeighbor: 4, QueueTotal: 16})
		now := int64(time.Hour)
		for burst := 0; len(blob) >= 3; burst++ {
			var frames []inFrame
			for len(frames) < dataplane.DefaultBurst && len(blob) >= 3 {
				port := int(blob[0]) % 3
				n := min(int(binary.BigEndian.Uint16(blob[1:3])), len(blob)-3, 1600)
				frames = append(frames, inFrame{port, blob[3 : 3+n]})
				blob = blob[3+n:]
				if port == 2 {
					break // a burst boundary
				}
			}
			for k := range frames {
				frames[k].port %= 2
			}
			g.process(now, frames...)
			for k := range int(ticks%8) + 1 {
				g.tick(now + int64(k+1)*int64(700*time.Millisecond))
			}
			now += int64(ticks%8+1) * int64(700*time.Millisecond)
		}
		// Let every resolution run its course.
		for k := range 10 {
			g.tick(now + int64(k+1)*int64(time.Second))
		}
		for port, s := range g.sent {
			for _, fr := range s {
				if len(fr.data) < packet.EthernetLen {
					t.Fatalf("port %d: a %d-byte frame sent", port, len(fr.data))
				}
			}
		}
		g.r.Release()
		if err := g.pool.CheckAllReturned(); err != nil {
			t.Fatal(err)
		}
	})
}
