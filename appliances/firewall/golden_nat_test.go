package firewall

import "testing"

func h(src, dst string, ttl uint8) hdr { return hdr{src: src, dst: dst, ttl: ttl} }

// TestGoldenMasquerade: connections from inside leave with the wan
// address (source ports kept while free), IPv4 and IPv6, UDP, TCP and ICMP
// echo; replies are translated back; an ICMP error about a masqueraded
// datagram reaches the inside host with its quote translated back too. All
// checksums are gopacket's.
func TestGoldenMasquerade(t *testing.T) {
	q4 := udp(fromHost, h("192.0.2.10", "203.0.113.5", 64), 5000, 53, []byte("q4"))
	q4out := udp(toGW, h("198.51.100.2", "203.0.113.5", 63), 5000, 53, []byte("q4"))
	q4seen := udp(toGW, h("192.0.2.10", "203.0.113.5", 63), 5000, 53, []byte("q4")) // the quote, translated back
	syn := tcpSeg{sport: 40000, dport: 443, seq: 1, flags: "S", win: 65535}
	synAck := tcpSeg{sport: 443, dport: 40000, seq: 9, ack: 2, flags: "SA", win: 65535}
	golden{
		policy: policy(masq, 64),
		in: map[string][]frame{
			"lan": {
				{at(0), q4},
				{at(1), udp(fromHost, h("2001:db8:1::10", "2001:db8:9::5", 64), 5000, 53, []byte("q6"))},
				{at(2), tcp(fromHost, h("192.0.2.10", "203.0.113.7", 64), syn)},
				{at(3), echo(fromHost, h("192.0.2.10", "203.0.113.8", 64), false, 77, 1)},
			},
			"wan": {
				{at(10), udp(fromGW, h("203.0.113.5", "198.51.100.2", 50), 53, 5000, []byte("a4"))},
				{at(11), udp(fromGW, h("2001:db8:9::5", "2001:db8:ff::2", 50), 53, 5000, []byte("a6"))},
				{at(12), tcp(fromGW, h("203.0.113.7", "198.51.100.2", 50), synAck)},
				{at(13), echo(fromGW, h("203.0.113.8", "198.51.100.2", 50), true, 77, 1)},
				{at(14), icmpErr(fromGW, h("203.0.113.5", "198.51.100.2", 50), 3, 3, q4out)},
			},
		},
		out: map[string][]frame{
			"wan": {
				{at(0), q4out},
				{at(1), udp(toGW, h("2001:db8:ff::2", "2001:db8:9::5", 63), 5000, 53, []byte("q6"))},
				{at(2), tcp(toGW, h("198.51.100.2", "203.0.113.7", 63), syn)},
				{at(3), echo(toGW, h("198.51.100.2", "203.0.113.8", 63), false, 77, 1)},
			},
			"lan": {
				{at(10), udp(toHost, h("203.0.113.5", "192.0.2.10", 49), 53, 5000, []byte("a4"))},
				{at(11), udp(toHost, h("2001:db8:9::5", "2001:db8:1::10", 49), 53, 5000, []byte("a6"))},
				{at(12), tcp(toHost, h("203.0.113.7", "192.0.2.10", 49), synAck)},
				{at(13), echo(toHost, h("203.0.113.8", "192.0.2.10", 49), true, 77, 1)},
				{at(14), icmpErr(toHost, h("203.0.113.5", "192.0.2.10", 49), 3, 3, q4seen)},
			},
		},
	}.run(t)
}

// TestGoldenDNAT: a connection to the wan address's port 8080 is
// forwarded to the inside server 192.0.2.20:80 (and judged by the rules
// as such); its replies leave from 198.51.100.2:8080. A connection to
// another port of the wan address is not forwarded (zone self accepts
// nothing).
func TestGoldenDNAT(t *testing.T) {
	syn := tcpSeg{sport: 1234, dport: 8080, seq: 100, flags: "S", win: 65535}
	synT := tcpSeg{sport: 1234, dport: 80, seq: 100, flags: "S", win: 65535}
	synAck := tcpSeg{sport: 80, dport: 1234, seq: 500, ack: 101, flags: "SA", win: 65535}
	synAckT := tcpSeg{sport: 8080, dport: 1234, seq: 500, ack: 101, flags: "SA", win: 65535}
	golden{
		policy: policy(masq, 64),
		in: map[string][]frame{
			"wan": {
				{at(0), tcp(fromGW, h("203.0.113.9", "198.51.100.2", 50), syn)},
				{at(2), tcp(fromGW, h("203.0.113.9", "198.51.100.2", 50), tcpSeg{sport: 1234, dport: 8081, seq: 1, flags: "S", win: 1})},
			},
			"lan": {
				{at(1), tcp(fromSrv, h("192.0.2.20", "203.0.113.9", 64), synAck)},
			},
		},
		out: map[string][]frame{
			"lan": {
				{at(0), tcp(toSrv, h("203.0.113.9", "192.0.2.20", 49), synT)},
			},
			"wan": {
				{at(1), tcp(toGW, h("198.51.100.2", "203.0.113.9", 63), synAckT)},
			},
		},
		drops: map[string]uint64{"rule-drop": 1},
	}.run(t)
}

// TestGoldenFullTable: with room for two connections, both answered, a
// third is refused (conntrack-full) while the two keep working.
func TestGoldenFullTable(t *testing.T) {
	q := func(dst string) []byte { return udp(fromHost, h("192.0.2.10", dst, 64), 5000, 53, []byte("q")) }
	qo := func(dst string) []byte { return udp(toGW, h("192.0.2.10", dst, 63), 5000, 53, []byte("q")) }
	a := func(src string) []byte { return udp(fromGW, h(src, "192.0.2.10", 50), 53, 5000, []byte("a")) }
	ao := func(src string) []byte { return udp(toHost, h(src, "192.0.2.10", 49), 53, 5000, []byte("a")) }
	golden{
		policy: policy("", 2),
		in: map[string][]frame{
			"lan": {{at(0), q("203.0.113.1")}, {at(0), q("203.0.113.2")}, {at(2), q("203.0.113.3")}, {at(3), q("203.0.113.1")}},
			"wan": {{at(1), a("203.0.113.1")}, {at(1), a("203.0.113.2")}, {at(4), a("203.0.113.2")}},
		},
		out: map[string][]frame{
			"wan": {{at(0), qo("203.0.113.1")}, {at(0), qo("203.0.113.2")}, {at(3), qo("203.0.113.1")}},
			"lan": {{at(1), ao("203.0.113.1")}, {at(1), ao("203.0.113.2")}, {at(4), ao("203.0.113.2")}},
		},
		drops: map[string]uint64{"conntrack-full": 1},
	}.run(t)
}
