package wireguard

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
	"golang.zx2c4.com/wireguard/conn"
)

func newPool(t testing.TB, n int) (*dataplane.Pool, *dataplane.Stats) {
	t.Helper()
	pool, err := dataplane.NewMemPool(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Region().Close() })
	return pool, dataplane.NewStats("p0")
}

func pkt(t testing.TB, pool *dataplane.Pool, data []byte) dataplane.Packet {
	p, ok := pool.Get()
	if !ok {
		t.Fatal("pool empty")
	}
	copy(p.Append(len(data)), data)
	return p
}

func TestQueue(t *testing.T) {
	pool, _ := newPool(t, 16)
	q := NewQueue(4)
	var in [6]dataplane.Packet
	for i := range in {
		in[i] = pkt(t, pool, []byte{byte(i)})
	}
	if n := q.Push(in[:3]); n != 3 {
		t.Fatalf("push 3: %d", n)
	}
	var out [8]dataplane.Packet
	if n := q.Pop(out[:2]); n != 2 || out[0].Data()[0] != 0 || out[1].Data()[0] != 1 {
		t.Fatalf("pop 2: %d", n)
	}
	// Wraps around; full after 4.
	if n := q.Push(in[3:6]); n != 3 {
		t.Fatalf("push 3 more: %d", n)
	}
	if n := q.Push(out[:1]); n != 0 {
		t.Fatalf("push into a full queue: %d", n)
	}
	if n := q.Pop(out[2:]); n != 4 || out[2].Data()[0] != 2 || out[5].Data()[0] != 5 {
		t.Fatalf("pop rest: %d", n)
	}
	// A bell armed on an empty queue rings at the next push; not armed on
	// a non-empty one.
	bell := dataplane.NewBell()
	if !q.Arm(bell) {
		t.Fatal("arm on empty")
	}
	q.Push(out[:1])
	select {
	case <-bell.C():
	default:
		t.Fatal("bell not rung")
	}
	q.Disarm()
	if q.Arm(bell) {
		t.Fatal("armed on a non-empty queue")
	}
	// Close frees what is queued and refuses more.
	q.Close(pool)
	if n := q.Push(out[1:2]); n != 0 {
		t.Fatal("closed queue took a packet")
	}
	for i := 1; i < 6; i++ {
		pool.Put(out[i])
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

// TestTun: packets routed into the tunnel come out of Read at the offset
// the device asks for, their frames freed; what the device writes becomes
// packets of the tunnel's port; neither allocates.
func TestTun(t *testing.T) {
	pool, stats := newPool(t, 256)
	in, out := NewQueue(64), NewQueue(64)
	tn := NewTun("wg0", 1420, 7, pool, stats, in, out)
	if ev := <-tn.Events(); ev != 1 { // tun.EventUp
		t.Fatalf("first event %v", ev)
	}
	const off = 16
	bufs := make([][]byte, BatchSize)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	sizes := make([]int, BatchSize)
	msgs := [][]byte{bytes.Repeat([]byte{0x45}, 100), bytes.Repeat([]byte{0x46}, 1400)}
	ps := make([]dataplane.Packet, len(msgs))
	roundTrip := func() {
		for i, m := range msgs {
			ps[i] = pkt(t, pool, m)
		}
		if n := tn.Enqueue(ps); n != len(ps) {
			t.Fatalf("enqueue: %d", n)
		}
		n, err := tn.Read(bufs, sizes, off)
		if err != nil || n != len(msgs) {
			t.Fatalf("read: %d, %v", n, err)
		}
		for i, m := range msgs {
			if !bytes.Equal(bufs[i][off:off+sizes[i]], m) {
				t.Fatalf("read packet %d differs", i)
			}
		}
		// The device writes them back (decrypted, say).
		wb := [][]byte{bufs[0][:off+sizes[0]], bufs[1][:off+sizes[1]]}
		if n, err := tn.Write(wb, off); err != nil || n != 2 {
			t.Fatalf("write: %d, %v", n, err)
		}
		got := out.Pop(ps)
		if got != 2 {
			t.Fatalf("outbox has %d", got)
		}
		for i, m := range msgs {
			if ps[i].InPort != 7 || !bytes.Equal(ps[i].Data(), m) {
				t.Fatalf("written packet %d: port %d", i, ps[i].InPort)
			}
			pool.Put(ps[i])
		}
	}
	roundTrip()
	if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
		t.Errorf("%v allocations per round trip", n)
	}
	// Close ends a blocked Read.
	done := make(chan error)
	go func() { _, err := tn.Read(bufs, sizes, off); done <- err }()
	tn.Close()
	if err := <-done; err != os.ErrClosed {
		t.Fatalf("read after close: %v", err)
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

// TestBind: Send writes well-formed IPv4 and IPv6 datagrams for the router
// from the listen port; what is delivered comes out of the ReceiveFunc
// with the sender's endpoint (cached) and our address; nothing allocates
// once the endpoint is known.
func TestBind(t *testing.T) {
	pool, stats := newPool(t, 256)
	in, out := NewQueue(64), NewQueue(64)
	src4, src6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	b := NewBind(pool, stats, in, out, 5, func(dst netip.Addr) (netip.Addr, bool) {
		if dst.Is4() {
			return src4, true
		}
		return src6, true
	})
	fns, port, err := b.Open(51820)
	if err != nil || port != 51820 || len(fns) != 1 {
		t.Fatalf("open: %v %d", err, port)
	}
	if _, _, err := b.Open(1); err != conn.ErrBindAlreadyOpen {
		t.Fatalf("second open: %v", err)
	}
	msg := bytes.Repeat([]byte{4, 0, 0, 0}, 37)
	var ps [4]dataplane.Packet
	var pp packet.Parsed
	for _, peer := range []string{"198.51.100.9:51821", "[2001:db8::9]:51821"} {
		ep, err := b.ParseEndpoint(peer)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Send([][]byte{msg, msg}, ep); err != nil {
			t.Fatal(err)
		}
		if n := out.Pop(ps[:]); n != 2 {
			t.Fatalf("%s: %d datagrams", peer, n)
		}
		for _, p := range ps[:2] {
			if p.InPort != 5 {
				t.Fatalf("in port %d", p.InPort)
			}
			if err := pp.DecodeIP(p.Data()); err != nil {
				t.Fatalf("%s: %v", peer, err)
			}
			u := pp.UDP()
			if u == nil || u.SrcPort() != 51820 || u.DstPort() != 51821 || !bytes.Equal(p.Data()[pp.PayloadOff:pp.End], msg) {
				t.Fatalf("%s: bad datagram %x", peer, p.Data())
			}
			if pp.IPVersion == 4 && !packet.IPv4(pp.IPv4()).IsChecksumValid() {
				t.Fatal("IPv4 header checksum")
			}
			if pp.IPVersion == 6 && pp.VerifyL4Checksum() != nil {
				t.Fatal("UDP checksum over IPv6")
			}
			if got := netip.AddrFrom16([16]byte(p.Data()[8:24])); pp.IPVersion == 6 && got != src6 {
				t.Fatalf("IPv6 source %v", got)
			}
			// Loop it back as if the peer had sent it to us.
			swapUDP(p.Data())
		}
		if n := b.Deliver(ps[:2]); n != 2 {
			t.Fatalf("deliver: %d", n)
		}
		bufs := [][]byte{make([]byte, 2048), make([]byte, 2048)}
		sizes := make([]int, 2)
		eps := make([]conn.Endpoint, 2)
		n, err := fns[0](bufs, sizes, eps)
		if err != nil || n != 2 {
			t.Fatalf("receive: %d %v", n, err)
		}
		if !bytes.Equal(bufs[0][:sizes[0]], msg) || eps[0].DstToString() != peer || eps[0] != eps[1] {
			t.Fatalf("received %d bytes from %v", sizes[0], eps[0].DstToString())
		}
		if eps[0].SrcIP().Is4() != (peer[0] != '[') {
			t.Fatalf("our address %v", eps[0].SrcIP())
		}
		// Steady state: send and receive without allocating.
		ep = eps[0]
		one := [][]byte{msg}
		run := func() {
			b.Send(one, ep)
			out.Pop(ps[:1])
			swapUDP(ps[0].Data())
			b.Deliver(ps[:1])
			fns[0](bufs[:1], sizes, eps)
		}
		if a := testing.AllocsPerRun(200, run); a != 0 {
			t.Errorf("%s: %v allocations per datagram", peer, a)
		}
	}
	b.Close()
	if _, err := fns[0](make([][]byte, 1), make([]int, 1), make([]conn.Endpoint, 1)); err == nil {
		t.Fatal("receive after close")
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

// swapUDP swaps the addresses and ports of an IP/UDP packet.
func swapUDP(d []byte) {
	a, l, hl := 12, 4, ipv4Len
	if d[0]>>4 == 6 {
		a, l, hl = 8, 16, ipv6Len
	}
	var tmp [16]byte
	copy(tmp[:], d[a:a+l])
	copy(d[a:a+l], d[a+l:a+2*l])
	copy(d[a+l:a+2*l], tmp[:l])
	s, t := binary.BigEndian.Uint16(d[hl:]), binary.BigEndian.Uint16(d[hl+2:])
	binary.BigEndian.PutUint16(d[hl:], t)
	binary.BigEndian.PutUint16(d[hl+2:], s)
}
