package firewall

import (
	"testing"
	"time"
)

// TestGoldenHandshake: an outbound TCP handshake, IPv4 and IPv6, is let
// through both ways (replies pass as established); unsolicited inbound
// packets do not: a SYN no rule accepts (rule-drop) and a SYN-ACK of no
// connection (ct-no-connection).
func TestGoldenHandshake(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		host, srv, stranger := "192.0.2.10", "203.0.113.5", "203.0.113.9"
		if v6 {
			host, srv, stranger = "2001:db8:1::10", "2001:db8:9::5", "2001:db8:9::9"
		}
		h := func(src, dst string, ttl uint8) hdr { return hdr{src: src, dst: dst, ttl: ttl} }
		syn := tcpSeg{sport: 40000, dport: 80, seq: 1000, flags: "S", win: 65535}
		synAck := tcpSeg{sport: 80, dport: 40000, seq: 5000, ack: 1001, flags: "SA", win: 65535}
		ack := tcpSeg{sport: 40000, dport: 80, seq: 1001, ack: 5001, flags: "A", win: 65535}
		data := tcpSeg{sport: 80, dport: 40000, seq: 5001, ack: 1001, flags: "A", win: 65535, data: []byte("hello")}
		inSyn := tcpSeg{sport: 1234, dport: 22, seq: 7, flags: "S", win: 1024}
		inSynAck := tcpSeg{sport: 1234, dport: 40001, seq: 7, ack: 99, flags: "SA", win: 1024}
		t.Run(map[bool]string{false: "ipv4", true: "ipv6"}[v6], func(t *testing.T) {
			golden{
				policy: policy("", 64),
				in: map[string][]frame{
					"lan": {
						{at(0), tcp(fromHost, h(host, srv, 64), syn)},
						{at(2), tcp(fromHost, h(host, srv, 64), ack)},
					},
					"wan": {
						{at(1), tcp(fromGW, h(srv, host, 50), synAck)},
						{at(3), tcp(fromGW, h(srv, host, 50), data)},
						{at(4), tcp(fromGW, h(stranger, host, 50), inSyn)},
						{at(5), tcp(fromGW, h(stranger, host, 50), inSynAck)},
					},
				},
				out: map[string][]frame{
					"wan": {
						{at(0), tcp(toGW, h(host, srv, 63), syn)},
						{at(2), tcp(toGW, h(host, srv, 63), ack)},
					},
					"lan": {
						{at(1), tcp(toHost, h(srv, host, 49), synAck)},
						{at(3), tcp(toHost, h(srv, host, 49), data)},
					},
				},
				drops: map[string]uint64{"rule-drop": 1, "ct-no-connection": 1},
			}.run(t)
		})
	}
}

// TestGoldenReject: a rejected TCP SYN is answered with a reset from the
// address it was sent to (RST+ACK acknowledging the SYN), a rejected UDP
// datagram with an ICMP destination unreachable, administratively
// prohibited, from the firewall, quoting it; IPv6 likewise.
func TestGoldenReject(t *testing.T) {
	syn := tcpSeg{sport: 1234, dport: 25, seq: 777, flags: "S", win: 1024}
	rst := tcpSeg{sport: 25, dport: 1234, seq: 0, ack: 778, flags: "RA"}
	u4 := udp(fromGW, hdr{src: "203.0.113.9", dst: "192.0.2.10", ttl: 50, id: 3}, 5555, 9, []byte("discard"))
	u6 := udp(fromGW, hdr{src: "2001:db8:9::9", dst: "2001:db8:1::10", ttl: 50}, 5555, 9, []byte("discard"))
	golden{
		policy: policy("", 64),
		in: map[string][]frame{
			"wan": {
				{at(0), tcp(fromGW, hdr{src: "203.0.113.9", dst: "192.0.2.10", ttl: 50}, syn)},
				{at(1), tcp(fromGW, hdr{src: "2001:db8:9::9", dst: "2001:db8:1::10", ttl: 50}, syn)},
				{at(2), u4},
				{at(3), u6},
			},
		},
		out: map[string][]frame{
			"wan": {
				{at(0), tcp(toGW, hdr{src: "192.0.2.10", dst: "203.0.113.9", ttl: 64}, rst)},
				{at(1), tcp(toGW, hdr{src: "2001:db8:1::10", dst: "2001:db8:9::9", ttl: 64}, rst)},
				{at(2), icmpErr(toGW, hdr{src: "198.51.100.2", dst: "203.0.113.9", ttl: 64, id: 1, tos: 0xc0}, 3, 13, u4)},
				{at(3), icmpErr(toGW, hdr{src: "2001:db8:ff::2", dst: "2001:db8:9::9", ttl: 64}, 1, 1, u6)},
			},
		},
		drops: map[string]uint64{"rule-reject": 4},
	}.run(t)
}

// TestGoldenTimeouts: UDP and ICMP connections time out by the capture's
// clock: an answer within the timeout (30 s) passes, one after it is a
// packet of no connection.
func TestGoldenTimeouts(t *testing.T) {
	s := func(d time.Duration) time.Time { return t0.Add(d) }
	h := func(src, dst string, ttl uint8) hdr { return hdr{src: src, dst: dst, ttl: ttl} }
	golden{
		policy: policy("", 64),
		in: map[string][]frame{
			"lan": {
				{s(0), udp(fromHost, h("192.0.2.10", "203.0.113.5", 64), 5000, 53, []byte("q1"))},
				{s(0), udp(fromHost, h("192.0.2.10", "203.0.113.6", 64), 5000, 53, []byte("q2"))},
				{s(0), echo(fromHost, h("192.0.2.10", "203.0.113.5", 64), false, 9, 1)},
				{s(0), echo(fromHost, h("192.0.2.10", "203.0.113.6", 64), false, 9, 1)},
			},
			"wan": {
				{s(29 * time.Second), udp(fromGW, h("203.0.113.5", "192.0.2.10", 50), 53, 5000, []byte("a1"))},
				{s(29 * time.Second), echo(fromGW, h("203.0.113.5", "192.0.2.10", 50), true, 9, 1)},
				{s(31 * time.Second), udp(fromGW, h("203.0.113.6", "192.0.2.10", 50), 53, 5000, []byte("a2"))},
				{s(31 * time.Second), echo(fromGW, h("203.0.113.6", "192.0.2.10", 50), true, 9, 1)},
			},
		},
		out: map[string][]frame{
			"wan": {
				{s(0), udp(toGW, h("192.0.2.10", "203.0.113.5", 63), 5000, 53, []byte("q1"))},
				{s(0), udp(toGW, h("192.0.2.10", "203.0.113.6", 63), 5000, 53, []byte("q2"))},
				{s(0), echo(toGW, h("192.0.2.10", "203.0.113.5", 63), false, 9, 1)},
				{s(0), echo(toGW, h("192.0.2.10", "203.0.113.6", 63), false, 9, 1)},
			},
			"lan": {
				{s(29 * time.Second), udp(toHost, h("203.0.113.5", "192.0.2.10", 49), 53, 5000, []byte("a1"))},
				{s(29 * time.Second), echo(toHost, h("203.0.113.5", "192.0.2.10", 49), true, 9, 1)},
			},
		},
		drops: map[string]uint64{"rule-drop": 1, "ct-icmp-no-request": 1},
	}.run(t)
}
