package firewall

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// FuzzFilter feeds arbitrary bursts from both sides to the firewall, with
// masquerade and port forwarding, a small connection table and the burst
// paths on (the prefetch and Prepare's classification together, which
// otherwise wait for a big table and rule set), with clock steps between
// bursts: it must never panic, never forward a frame shorter than an
// Ethernet header, and account for every frame: after Release, all are
// back in the pool. The input is per frame a side byte (bit 0: lan or
// wan; bit 1: the burst ends after it), a 2-byte length and the bytes.
func FuzzFilter(f *testing.F) {
	defer func(n, m int) { prefetchMin, burstMin = n, m }(prefetchMin, burstMin)
	prefetchMin, burstMin = 0, 0
	enc := func(side byte, frame []byte) []byte {
		b := []byte{side}
		b = binary.BigEndian.AppendUint16(b, uint16(len(frame)))
		return append(b, frame...)
	}
	syn := tcpSeg{sport: 40000, dport: 80, seq: 1000, flags: "S", win: 65535}
	out := tcp(fromHost, hdr{src: "192.0.2.10", dst: "203.0.113.5", ttl: 64}, syn)
	q := udp(fromHost, hdr{src: "192.0.2.10", dst: "203.0.113.6", ttl: 64}, 5000, 53, []byte("q"))
	a := udp(fromGW, hdr{src: "203.0.113.6", dst: "198.51.100.2", ttl: 50}, 53, 1024, []byte("a"))
	dnat := tcp(fromGW, hdr{src: "203.0.113.9", dst: "198.51.100.2", ttl: 50}, tcpSeg{sport: 5555, dport: 8080, seq: 7, flags: "S", win: 1024})
	ping6 := echo(fromHost, hdr{src: "2001:db8:1::10", dst: "2001:db8:9::1", ttl: 64}, false, 7, 1)
	reject := tcp(fromGW, hdr{src: "203.0.113.9", dst: "192.0.2.10", ttl: 50}, tcpSeg{sport: 5555, dport: 25, seq: 7, flags: "S", win: 1024})
	err := icmpErr(fromGW, hdr{src: "203.0.113.1", dst: "198.51.100.2", ttl: 50}, 3, 1, q)
	seeds := [][]byte{
		append(enc(0, out), enc(2, q)...),
		append(append(enc(0, q), enc(1, a)...), enc(3, err)...),
		append(enc(1, dnat), enc(1, reject)...),
		enc(0, ping6),
	}
	for i, s := range seeds {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, blob []byte, steps uint8) {
		g := newRig(t, parse(t, policy(masq, 64)), 512)
		g.record = false
		now := int64(time.Hour)
		for len(blob) >= 3 {
			for k := 0; k < dataplane.DefaultBurst && len(blob) >= 3; k++ {
				side := blob[0]
				n := min(int(binary.BigEndian.Uint16(blob[1:3])), len(blob)-3, 1600)
				g.add(int(side&1), blob[3:3+n])
				blob = blob[3+n:]
				if side&2 != 0 {
					break
				}
			}
			g.b.Now = now
			g.f.Process(g.b)
			for i := range g.b.Pkts {
				p := &g.b.Pkts[i]
				if p.Verdict == dataplane.Forward && len(p.Data()) < 14 {
					t.Fatalf("a %d-byte frame forwarded", len(p.Data()))
				}
				if p.Verdict != dataplane.Consumed {
					g.pool.Put(*p)
				}
			}
			g.b.Reset()
			now += int64(steps%16+1) * int64(3*time.Second)
			g.b.Now = now
			g.f.Tick(g.b)
			for i := range g.b.Pkts {
				if p := &g.b.Pkts[i]; p.Verdict != dataplane.Consumed {
					g.pool.Put(*p)
				}
			}
			g.b.Reset()
		}
		g.f.Release()
		if err := g.pool.CheckAllReturned(); err != nil {
			t.Fatal(err)
		}
	})
}
