package conntrack

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// tcpEnd is one endpoint of a simulated TCP connection that follows the
// rules: it sends only inside the window its peer advertised, acknowledges
// only what it received, and may retransmit what is not acknowledged yet.
type tcpEnd struct {
	ap       netip.AddrPort
	isn      uint32
	nxt, una uint32 // next to send; oldest not acknowledged by the peer
	rcv      uint32 // next expected from the peer: what it acknowledges
	wnd      uint32 // the window it advertises, in bytes
	scale    uint8  // its receive window scale (0 when scaling is off)
	peerWnd  uint32 // the window the peer last advertised, in bytes
	mss      int
}

func (e *tcpEnd) winField() uint16 { return uint16(min(e.wnd>>e.scale, 65535)) }

// TestTCPRandomConversations runs thousands of simulated connections with
// random windows, scales, segment sizes, retransmissions and pure ACKs
// through the tracker: no segment a correct TCP sends may be Invalid, and
// segments past the window or acknowledging unsent data, slipped in at
// random, must be.
func TestTCPRandomConversations(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewPCG(1, 2))
	g := newRig(t, Options{Max: 1024})
	var good, bad int
	for conv := range n {
		v6 := rng.IntN(2) == 0
		a, b := randEnds(rng, v6, conv)
		scaling := rng.IntN(3) != 0
		if !scaling {
			a.scale, b.scale = 0, 0
		}
		opts := func(e *tcpEnd) *cttest.TCPOptions {
			o := &cttest.TCPOptions{MSS: uint16(e.mss), SACKPerm: rng.IntN(2) == 0, Timestamp: rng.IntN(2) == 0}
			if scaling {
				o.HasWScale, o.WScale = true, int(e.scale)
			}
			return o
		}
		send := func(from, to *tcpEnd, f packet.TCPFlags, seq uint32, n int) {
			t.Helper()
			fr := cttest.TCP(cttest.Seg{Src: from.ap, Dst: to.ap, Flags: f, Seq: seq, Ack: from.rcv, Win: from.winField(), Len: n})
			if s := g.track(fr); s == StateInvalid {
				t.Fatalf("conversation %d: valid segment %v seq %d len %d ack %d win %d invalid: %v (state %v)",
					conv, f, seq, n, from.rcv, from.winField(), g.r.Reason, g.r.Entry.TCPState())
			}
			good++
			// Deliver: the peer takes in-order data and learns the
			// window and the acknowledgment.
			if seq == to.rcv {
				to.rcv += uint32(n)
			}
			if f&packet.TCPFin != 0 && seq+uint32(n) == to.rcv {
				to.rcv++
			}
			if after(from.rcv, to.una) {
				to.una = from.rcv
			}
			to.peerWnd = uint32(from.winField()) << from.scale
		}
		// Handshake.
		sf := cttest.TCP(cttest.Seg{Src: a.ap, Dst: b.ap, Flags: syn, Seq: a.isn, Win: uint16(min(a.wnd, 65535)), Opts: opts(a)})
		if s := g.pass(sf); s != StateNew {
			t.Fatalf("conversation %d: SYN %v %v", conv, s, g.r.Reason)
		}
		e := g.r.Entry
		a.nxt, a.una = a.isn+1, a.isn+1
		b.rcv = a.isn + 1
		saf := cttest.TCP(cttest.Seg{Src: b.ap, Dst: a.ap, Flags: synack, Seq: b.isn, Ack: b.rcv, Win: uint16(min(b.wnd, 65535)), Opts: opts(b)})
		if s := g.pass(saf); s != StateEstablished {
			t.Fatalf("conversation %d: SYN/ACK %v %v", conv, s, g.r.Reason)
		}
		b.nxt, b.una = b.isn+1, b.isn+1
		a.rcv = b.isn + 1
		a.peerWnd = uint32(min(b.wnd, 65535)) // unscaled in a SYN
		send(a, b, ack, a.nxt, 0)
		if e.TCPState() != TCPEstablished {
			t.Fatalf("conversation %d: %v after handshake", conv, e.TCPState())
		}
		// Data.
		for range 20 + rng.IntN(150) {
			from, to := a, b
			if rng.IntN(2) == 0 {
				from, to = b, a
			}
			switch r := rng.IntN(100); {
			case r < 55: // new data inside the window
				room := int(from.una + from.peerWnd - from.nxt)
				if room <= 0 {
					send(from, to, ack, from.nxt, 0)
					continue
				}
				n := 1 + rng.IntN(min(room, from.mss))
				send(from, to, ack|psh, from.nxt, n)
				from.nxt += uint32(n)
			case r < 80: // pure ACK
				send(from, to, ack, from.nxt, 0)
			case r < 90: // retransmit unacknowledged data
				if from.nxt == from.una {
					continue
				}
				n := 1 + rng.IntN(int(min(from.nxt-from.una, uint32(from.mss))))
				send(from, to, ack, from.una, n)
			case r < 95: // a segment past the window: invalid
				edge := from.una + from.peerWnd
				seq := edge + 2*max(from.peerWnd, to.wnd) + 70000 + uint32(rng.IntN(1<<20))
				fr := cttest.TCP(cttest.Seg{Src: from.ap, Dst: to.ap, Flags: ack, Seq: seq, Ack: from.rcv, Win: from.winField(), Len: 1 + rng.IntN(100)})
				if s := g.track(fr); s != StateInvalid || g.r.Reason != ReasonSeqOverWindow {
					t.Fatalf("conversation %d: segment %d past the edge %d: %v %v", conv, seq-edge, edge, s, g.r.Reason)
				}
				bad++
			default: // acknowledging data never sent: invalid
				fr := cttest.TCP(cttest.Seg{Src: from.ap, Dst: to.ap, Flags: ack, Seq: from.nxt, Ack: to.nxt + 1 + uint32(rng.IntN(1<<20)), Win: from.winField()})
				if s := g.track(fr); s != StateInvalid || g.r.Reason != ReasonAckOverWindow {
					t.Fatalf("conversation %d: ack past sent data: %v %v", conv, s, g.r.Reason)
				}
				bad++
			}
		}
		// Close: both FIN, both ACK.
		send(a, b, fin|ack, a.nxt, 0)
		a.nxt++
		send(b, a, ack, b.nxt, 0)
		send(b, a, fin|ack, b.nxt, 0)
		b.nxt++
		send(a, b, ack, a.nxt, 0)
		if e.TCPState() != TCPTimeWait {
			t.Fatalf("conversation %d: %v after close", conv, e.TCPState())
		}
		g.advance(time.Second)
	}
	if err := g.ct.check(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d valid segments passed, %d invalid ones caught", good, bad)
}

func randEnds(rng *rand.Rand, v6 bool, i int) (*tcpEnd, *tcpEnd) {
	addr := func(net byte) netip.Addr {
		if v6 {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, net, 15: byte(i), 14: byte(i >> 8)})
		}
		return netip.AddrFrom4([4]byte{10, net, byte(i >> 8), byte(i)})
	}
	mk := func(a netip.Addr, port uint16) *tcpEnd {
		e := &tcpEnd{ap: netip.AddrPortFrom(a, port), isn: rng.Uint32(), scale: uint8(rng.IntN(15)), mss: 1 + rng.IntN(1460)}
		e.wnd = uint32(1+rng.IntN(65535)) << e.scale
		return e
	}
	return mk(addr(1), uint16(1024+rng.IntN(60000))), mk(addr(2), 443)
}

// model is the reference for TestTableModel: what a table with room for
// every flow must say.
type modelFlow struct {
	expires int64
	replied bool
}

// TestTableModel drives a table with random UDP traffic over a pool of
// flows, random idle times and random Expire calls, against a map-based
// model, checking every state and the table's structure as it goes.
func TestTableModel(t *testing.T) {
	for _, size := range []int{512, 16} {
		t.Run(fmt.Sprint("max=", size), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(size)))
			g := newRig(t, Options{Max: size, Timeouts: Timeouts{UDP: 10 * time.Second, UDPStream: 40 * time.Second}})
			const flows = 300
			frames := make([][2][]byte, flows)
			for i := range frames {
				q, a := udpFlow(i)
				if i%3 == 0 {
					s := netip.AddrPortFrom(netip.AddrFrom16([16]byte{0xfd, 15: byte(i)}), 53)
					c := netip.AddrPortFrom(netip.AddrFrom16([16]byte{0xfd, 1, 14: byte(i >> 8), 15: byte(i)}), 4000)
					q, a = cttest.UDP(c, s, 4), cttest.UDP(s, c, 4)
				}
				frames[i] = [2][]byte{q, a}
			}
			m := map[int]*modelFlow{}
			for step := range 100000 {
				g.advance(time.Duration(rng.IntN(300)) * time.Millisecond)
				if rng.IntN(50) == 0 {
					g.ct.Expire(g.now, rng.IntN(64))
				}
				i := rng.IntN(flows)
				if i >= 40 && rng.IntN(4) != 0 {
					i = rng.IntN(40) // a few busy flows
				}
				f := m[i]
				if f != nil && f.expires <= g.now {
					delete(m, i)
					f = nil
				}
				dir := Original
				if f != nil && rng.IntN(2) == 0 {
					dir = Reply
				}
				s := g.track(frames[i][dir])
				switch {
				case f == nil && s == StateNew && g.r.Entry == nil:
					if _, err := g.ct.Create(&g.r, nil, g.now); err != nil {
						if size >= flows {
							t.Fatalf("step %d: %v", step, err)
						}
						continue
					}
					m[i] = &modelFlow{expires: g.now + int64(10*time.Second)}
				case f == nil:
					if size >= flows {
						t.Fatalf("step %d: flow %d unknown to the model: %v", step, i, s)
					}
					// The model lost it to early drop; re-learn it.
					continue
				default:
					if g.r.Entry == nil {
						if f.replied || size >= flows {
							t.Fatalf("step %d: flow %d (replied %v) lost: %v", step, i, f.replied, s)
						}
						// Dropped early: forget it.
						delete(m, i)
						if s == StateNew && dir == Original {
							if _, err := g.ct.Create(&g.r, nil, g.now); err == nil {
								m[i] = &modelFlow{expires: g.now + int64(10*time.Second)}
							}
						}
						continue
					}
					if dir == Reply {
						f.replied = true
					}
					want := StateNew
					if f.replied {
						want = StateEstablished
						f.expires = g.now + int64(40*time.Second)
					} else {
						f.expires = g.now + int64(10*time.Second)
					}
					if s != want || g.r.Dir != dir || g.r.Entry.Expires() != f.expires {
						t.Fatalf("step %d: flow %d %v: got %v %v expires %d, want %v expires %d", step, i, dir, s, g.r.Dir, g.r.Entry.Expires(), want, f.expires)
					}
				}
				if step%1000 == 0 {
					if err := g.ct.check(); err != nil {
						t.Fatalf("step %d: %v", step, err)
					}
				}
			}
			// Every live flow of the model is in the table.
			for i, f := range m {
				if f.expires <= g.now {
					continue
				}
				var p packet.Parsed
				_ = p.Decode(frames[i][0])
				var k Tuple
				k.SetSrcAddr(p.Src)
				k.SetDstAddr(p.Dst)
				k.Proto, k.SrcPort, k.DstPort = p.IPProto, p.SrcPort, p.DstPort
				if e, _ := g.ct.Lookup(&k); e == nil {
					t.Errorf("flow %d missing", i)
				}
			}
			if size < flows {
				if st := g.ct.Stats(); st.EarlyDrop == 0 && st.Full == 0 {
					t.Errorf("a table of %d never filled: %+v", size, st)
				}
			}
		})
	}
}
