package router

import (
	"testing"

	"github.com/google/gopacket/layers"
)

// TestGoldenForward: IPv4 and IPv6 in both directions, TTL and hop limit
// decremented (IPv4 checksum updated), MACs rewritten, link padding
// stripped; next hops from static neighbours.
func TestGoldenForward(t *testing.T) {
	golden{
		policy: policy("", ""),
		in: map[string][]frame{
			"lan": {
				{at(0), pad(udp4(fromHost, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64, id: 7}, 1000, 53, payload(4, 1)))},
				{at(1), udp6(fromHost, v6{src: "2001:db8:1::10", dst: "2001:db8:9::5", hlim: 64, flow: 0x12345}, 1000, 53, payload(30, 2))},
				{at(3), udp4(fromHost, v4{src: "192.0.2.10", dst: "198.51.100.1", ttl: 2, id: 8, df: true}, 1, 2, payload(1400, 3))},
			},
			"wan": {
				{at(2), udp4(fromGW, v4{src: "203.0.113.5", dst: "192.0.2.10", ttl: 250, id: 9}, 53, 1000, payload(100, 4))},
				{at(2), udp6(fromGW, v6{src: "2001:db8:9::5", dst: "2001:db8:1::10", hlim: 255}, 53, 1000, payload(100, 5))},
			},
		},
		out: map[string][]frame{
			"wan": {
				{at(0), udp4(toGW, v4{src: "192.0.2.10", dst: "203.0.113.5", ttl: 63, id: 7}, 1000, 53, payload(4, 1))},
				{at(1), udp6(toGW, v6{src: "2001:db8:1::10", dst: "2001:db8:9::5", hlim: 63, flow: 0x12345}, 1000, 53, payload(30, 2))},
				{at(3), udp4(toGW, v4{src: "192.0.2.10", dst: "198.51.100.1", ttl: 1, id: 8, df: true}, 1, 2, payload(1400, 3))},
			},
			"lan": {
				{at(2), udp4(toHost, v4{src: "203.0.113.5", dst: "192.0.2.10", ttl: 249, id: 9}, 53, 1000, payload(100, 4))},
				{at(2), udp6(toHost, v6{src: "2001:db8:9::5", dst: "2001:db8:1::10", hlim: 254}, 53, 1000, payload(100, 5))},
			},
		},
	}.run(t)
}

// TestGoldenARP: the router answers ARP for its own address on the
// interface asked (and not for another interface's, nor anyone else's),
// and resolves a connected next hop: request out, reply in, the queued
// packet released at the reply's time.
func TestGoldenARP(t *testing.T) {
	fwd := func(l l2, ttl uint8) []byte {
		return udp4(l, v4{src: "192.0.2.10", dst: "198.51.100.7", ttl: ttl, id: 1}, 5000, 6000, payload(20, 9))
	}
	golden{
		policy: policy("", ""),
		in: map[string][]frame{
			"lan": {
				{at(0), pad(arpFrame(hostBcast, layers.ARPRequest, hostMAC, "192.0.2.10", [6]byte{}, "192.0.2.1"))},
				{at(1), pad(arpFrame(hostBcast, layers.ARPRequest, hostMAC, "192.0.2.10", [6]byte{}, "198.51.100.2"))},
				{at(1), pad(arpFrame(hostBcast, layers.ARPRequest, hostMAC, "192.0.2.10", [6]byte{}, "192.0.2.99"))},
				{at(2), fwd(fromHost, 64)},
				{at(3), fwd(fromHost, 64)},
			},
			"wan": {
				{at(5), pad(arpFrame(l2{src: peerMAC, dst: wanMAC}, layers.ARPReply, peerMAC, "198.51.100.7", wanMAC, "198.51.100.2"))},
			},
		},
		out: map[string][]frame{
			"lan": {
				{at(0), arpFrame(l2{src: lanMAC, dst: hostMAC}, layers.ARPReply, lanMAC, "192.0.2.1", hostMAC, "192.0.2.10")},
			},
			"wan": {
				{at(2), arpFrame(wanBcast, layers.ARPRequest, wanMAC, "198.51.100.2", [6]byte{}, "198.51.100.7")},
				{at(5), fwd(toPeer, 63)},
				{at(5), fwd(toPeer, 63)},
			},
		},
		drops: map[string]uint64{"arp-ignored": 2},
	}.run(t)
}
