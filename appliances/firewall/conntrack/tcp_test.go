package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// rig feeds frames to a Table the way the firewall stage will: Track, and
// Create for a new connection the rules accept (here, every one).
type rig struct {
	t   testing.TB
	ct  *Table
	now int64
	r   Result
	p   packet.Parsed
}

func newRig(t testing.TB, o Options) *rig {
	t.Helper()
	if o.Max == 0 {
		o.Max = 64
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	ct, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, ct: ct, now: int64(time.Hour)}
}

// track tracks a frame without creating anything.
func (g *rig) track(f []byte) State {
	g.t.Helper()
	if err := g.p.Decode(f); err != nil {
		g.t.Fatalf("decode: %v", err)
	}
	return g.ct.Track(&g.p, g.now, &g.r)
}

// pass tracks a frame and creates the entry of a new connection.
func (g *rig) pass(f []byte) State {
	g.t.Helper()
	s := g.track(f)
	if s == StateNew && g.r.Entry == nil && !g.r.Untracked() {
		if _, err := g.ct.Create(&g.r, nil, g.now); err != nil {
			g.t.Fatalf("create: %v", err)
		}
	}
	if err := g.ct.check(); err != nil {
		g.t.Fatal(err)
	}
	return s
}

// want tracks (and creates) and checks state and direction.
func (g *rig) want(f []byte, state State, dir Dir) {
	g.t.Helper()
	if s := g.pass(f); s != state || g.r.Dir != dir {
		g.t.Fatalf("got %v %v (reason %v), want %v %v", s, g.r.Dir, g.r.Reason, state, dir)
	}
}

func (g *rig) wantInvalid(f []byte, why Reason) {
	g.t.Helper()
	if s := g.pass(f); s != StateInvalid || g.r.Reason != why {
		g.t.Fatalf("got %v (reason %v), want invalid (%v)", s, g.r.Reason, why)
	}
}

func (g *rig) advance(d time.Duration) { g.now += int64(d) }

var (
	cli4 = cttest.AP("192.0.2.10:40000")
	srv4 = cttest.AP("198.51.100.80:80")
	cli6 = cttest.AP("[2001:db8:1::10]:40000")
	srv6 = cttest.AP("[2001:db8:2::80]:443")
)

const (
	syn    = packet.TCPSyn
	ack    = packet.TCPAck
	fin    = packet.TCPFin
	rst    = packet.TCPRst
	psh    = packet.TCPPsh
	synack = packet.TCPSyn | packet.TCPAck
)

func seg(src, dst netip.AddrPort, f packet.TCPFlags, seq, ackn uint32, win uint16, n int) []byte {
	return cttest.TCP(cttest.Seg{Src: src, Dst: dst, Flags: f, Seq: seq, Ack: ackn, Win: win, Len: n})
}

// TestTCPLifecycle walks a connection through the handshake, data and an
// orderly close, checking the state, the direction and the timeout each
// segment leaves.
func TestTCPLifecycle(t *testing.T) {
	for _, fam := range []struct {
		name     string
		cli, srv netip.AddrPort
	}{{"ipv4", cli4, srv4}, {"ipv6", cli6, srv6}} {
		t.Run(fam.name, func(t *testing.T) {
			g := newRig(t, Options{})
			c, s := fam.cli, fam.srv
			const ci, si = 1000, 5000
			steps := []struct {
				f     []byte
				state State
				dir   Dir
				tcp   TCPState
				to    time.Duration
			}{
				{seg(c, s, syn, ci, 0, 64240, 0), StateNew, Original, TCPSynSent, 30 * time.Second},
				{seg(c, s, syn, ci, 0, 64240, 0), StateNew, Original, TCPSynSent, 30 * time.Second}, // retransmitted
				{seg(s, c, synack, si, ci+1, 65160, 0), StateEstablished, Reply, TCPSynRecv, 30 * time.Second},
				{seg(c, s, ack, ci+1, si+1, 502, 0), StateEstablished, Original, TCPEstablished, 24 * time.Hour},
				{seg(c, s, ack|psh, ci+1, si+1, 502, 100), StateEstablished, Original, TCPEstablished, 5 * time.Minute},
				{seg(s, c, ack|psh, si+1, ci+101, 509, 300), StateEstablished, Reply, TCPEstablished, 5 * time.Minute},
				{seg(c, s, ack, ci+101, si+301, 500, 0), StateEstablished, Original, TCPEstablished, 24 * time.Hour},
				{seg(c, s, fin|ack, ci+101, si+301, 500, 0), StateEstablished, Original, TCPFinWait, 2 * time.Minute},
				{seg(s, c, ack, si+301, ci+102, 509, 0), StateEstablished, Reply, TCPCloseWait, 2 * time.Minute},
				{seg(s, c, fin|ack, si+301, ci+102, 509, 0), StateEstablished, Reply, TCPLastAck, 2 * time.Minute},
				{seg(c, s, ack, ci+102, si+302, 500, 0), StateEstablished, Original, TCPTimeWait, 2 * time.Minute},
			}
			for i, st := range steps {
				g.advance(time.Millisecond)
				got := g.pass(st.f)
				e := g.r.Entry
				if got != st.state || g.r.Dir != st.dir || e == nil || e.TCPState() != st.tcp {
					t.Fatalf("step %d: got %v %v %v (reason %v), want %v %v %v", i, got, g.r.Dir, e.TCPState(), g.r.Reason, st.state, st.dir, st.tcp)
				}
				if to := time.Duration(e.Expires() - g.now); to != st.to {
					t.Errorf("step %d: timeout %v, want %v", i, to, st.to)
				}
				if want := i >= 3; e.Assured() != want {
					t.Errorf("step %d: assured %v, want %v", i, e.Assured(), want)
				}
			}
			// A new SYN on the TIME_WAIT connection replaces it.
			g.advance(time.Second)
			g.want(seg(c, s, syn, ci+100000, 0, 64240, 0), StateNew, Original)
			if st := g.ct.Stats(); st.Reopened != 1 || st.Created != 2 || st.Entries != 1 {
				t.Errorf("stats after reopen: %+v", st)
			}
		})
	}
}

func TestTCPInvalid(t *testing.T) {
	c, s := cli4, srv4
	open := func(t *testing.T, o Options) *rig {
		g := newRig(t, o)
		g.want(seg(c, s, syn, 1000, 0, 1000, 0), StateNew, Original)
		g.want(seg(s, c, synack, 5000, 1001, 2000, 0), StateEstablished, Reply)
		g.want(seg(c, s, ack, 1001, 5001, 1000, 0), StateEstablished, Original)
		return g
	}
	t.Run("no-connection", func(t *testing.T) {
		g := newRig(t, Options{})
		g.wantInvalid(seg(c, s, ack, 1, 1, 1000, 10), ReasonNoConnection)
		g.wantInvalid(seg(c, s, synack, 1, 1, 1000, 0), ReasonNoConnection)
		g.wantInvalid(seg(c, s, fin|ack, 1, 1, 1000, 0), ReasonNoConnection)
		g.wantInvalid(seg(c, s, rst, 1, 0, 0, 0), ReasonNoConnection)
	})
	t.Run("flags", func(t *testing.T) {
		g := newRig(t, Options{})
		g.wantInvalid(seg(c, s, syn|fin, 1, 0, 1000, 0), ReasonTCPFlags)
		g.wantInvalid(seg(c, s, 0, 1, 0, 1000, 0), ReasonTCPFlags)
		g.wantInvalid(seg(c, s, syn|rst, 1, 0, 1000, 0), ReasonTCPFlags)
		g.wantInvalid(seg(c, s, fin, 1, 0, 1000, 0), ReasonTCPFlags) // FIN without ACK
	})
	t.Run("state", func(t *testing.T) {
		g := newRig(t, Options{})
		g.want(seg(c, s, syn, 1000, 0, 1000, 0), StateNew, Original)
		// The client cannot ACK before the SYN/ACK.
		g.wantInvalid(seg(c, s, ack, 1001, 5001, 1000, 0), ReasonTCPState)
		// Nor can the server FIN.
		g.wantInvalid(seg(s, c, fin|ack, 5000, 1001, 1000, 0), ReasonTCPState)
	})
	t.Run("seq-over-window", func(t *testing.T) {
		g := open(t, Options{})
		// The server advertised 2000 bytes: 1001+2000 is the edge.
		g.want(seg(c, s, ack, 1001, 5001, 1000, 2000), StateEstablished, Original)
		g.wantInvalid(seg(c, s, ack, 1001+2000+5000, 5001, 1000, 10), ReasonSeqOverWindow)
		g.wantInvalid(seg(c, s, ack, 1001+100000, 5001, 1000, 0), ReasonSeqOverWindow)
	})
	t.Run("ack-over-window", func(t *testing.T) {
		g := open(t, Options{})
		// The server has sent nothing past its SYN: acking more is bogus.
		g.wantInvalid(seg(c, s, ack, 1001, 5001+10, 1000, 0), ReasonAckOverWindow)
	})
	t.Run("old-retransmission-passes", func(t *testing.T) {
		g := open(t, Options{})
		g.want(seg(c, s, ack, 1001, 5001, 1000, 1000), StateEstablished, Original)
		g.want(seg(s, c, ack, 5001, 2001, 2000, 0), StateEstablished, Reply)
		g.want(seg(c, s, ack, 2001, 5001, 1000, 1000), StateEstablished, Original)
		g.want(seg(s, c, ack, 5001, 3001, 2000, 0), StateEstablished, Reply)
		// Far below the window now: a duplicate, ignored, not invalid.
		e := g.r.Entry
		before := *g.ct.tcpOf(e)
		exp := e.Expires()
		g.advance(time.Second)
		old := uint32(1001)
		g.want(seg(c, s, ack, old-70000, 5001, 1000, 100), StateEstablished, Original)
		if *g.ct.tcpOf(e) != before || e.Expires() != exp {
			t.Errorf("an ignored segment changed the tracking")
		}
	})
	t.Run("bad-rst", func(t *testing.T) {
		g := open(t, Options{})
		g.want(seg(s, c, ack, 5001, 1001, 2000, 500), StateEstablished, Reply)
		g.want(seg(c, s, ack, 1001, 5501, 1000, 0), StateEstablished, Original)
		// The client acked up to 5501: a server RST below it is stale.
		g.wantInvalid(seg(s, c, rst, 5100, 0, 0, 0), ReasonBadRST)
		// Exactly at it closes.
		g.want(seg(s, c, rst, 5501, 0, 0, 0), StateEstablished, Reply)
		if st := g.r.Entry.TCPState(); st != TCPClose {
			t.Errorf("state after RST %v, want CLOSE", st)
		}
		if to := time.Duration(g.r.Entry.Expires() - g.now); to != 10*time.Second {
			t.Errorf("CLOSE timeout %v", to)
		}
	})
	t.Run("rst-in-window-challenged", func(t *testing.T) {
		g := open(t, Options{})
		g.want(seg(s, c, ack, 5001, 1001, 2000, 0), StateEstablished, Reply)
		g.want(seg(c, s, ack, 1001, 5001, 1000, 0), StateEstablished, Original)
		// In the window but not at the expected sequence: RFC 5961
		// says challenge it, so the connection stays.
		g.want(seg(s, c, rst, 5001+10, 0, 0, 0), StateEstablished, Reply)
		if st := g.r.Entry.TCPState(); st != TCPEstablished {
			t.Errorf("state after in-window RST %v, want ESTABLISHED", st)
		}
	})
}

func TestTCPWindowScaling(t *testing.T) {
	c, s := cli6, srv6
	g := newRig(t, Options{})
	ws := func(shift int) *cttest.TCPOptions {
		return &cttest.TCPOptions{MSS: 1460, HasWScale: true, WScale: shift, SACKPerm: true, Timestamp: true}
	}
	g.want(cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: syn, Seq: 100, Win: 65535, Opts: ws(7)}), StateNew, Original)
	g.want(cttest.TCP(cttest.Seg{Src: s, Dst: c, Flags: synack, Seq: 9000, Ack: 101, Win: 65535, Opts: ws(9)}), StateEstablished, Reply)
	e := g.r.Entry
	if w := g.ct.tcpOf(e); w[Original].scale != 7 || w[Reply].scale != 9 {
		t.Fatalf("scales %d %d, want 7 9", w[0].scale, w[1].scale)
	}
	// The server's window of 1000 scaled by 2^9 allows 512000 bytes.
	g.want(seg(c, s, ack, 101, 9001, 1000, 0), StateEstablished, Original)
	g.want(seg(s, c, ack, 9001, 101, 1000, 0), StateEstablished, Reply)
	g.want(seg(c, s, ack, 101+400000, 9001, 1000, 1000), StateEstablished, Original)
	// Past the window by less than a window: tolerated, as Linux does for
	// stacks that overshoot.
	g.want(seg(c, s, ack, 101+600000, 9001, 1000, 1000), StateEstablished, Original)
	g.wantInvalid(seg(c, s, ack, 101+1100000, 9001, 1000, 1000), ReasonSeqOverWindow)

	// Scaling needs both sides: with one, neither scales.
	g2 := newRig(t, Options{})
	g2.want(cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: syn, Seq: 100, Win: 65535, Opts: ws(7)}), StateNew, Original)
	g2.want(cttest.TCP(cttest.Seg{Src: s, Dst: c, Flags: synack, Seq: 9000, Ack: 101, Win: 65535}), StateEstablished, Reply)
	if w := g2.ct.tcpOf(g2.r.Entry); w[0].scale != 0 || w[1].scale != 0 {
		t.Fatalf("one-sided scaling: scales %d %d, want 0 0", w[0].scale, w[1].scale)
	}
}

func TestTCPSACK(t *testing.T) {
	c, s := cli4, srv4
	g := newRig(t, Options{})
	opts := &cttest.TCPOptions{SACKPerm: true}
	g.want(cttest.TCP(cttest.Seg{Src: c, Dst: s, Flags: syn, Seq: 100, Win: 60000, Opts: opts}), StateNew, Original)
	g.want(cttest.TCP(cttest.Seg{Src: s, Dst: c, Flags: synack, Seq: 9000, Ack: 101, Win: 60000, Opts: opts}), StateEstablished, Reply)
	g.want(seg(c, s, ack, 101, 9001, 60000, 1000), StateEstablished, Original)
	g.want(seg(c, s, ack, 1101, 9001, 60000, 1000), StateEstablished, Original)
	// The server SACKs the second segment (the first was lost beyond us).
	sack := &cttest.TCPOptions{SACK: [][2]uint32{{1101, 2101}}}
	g.want(cttest.TCP(cttest.Seg{Src: s, Dst: c, Flags: ack, Seq: 9001, Ack: 101, Win: 60000, Opts: sack}), StateEstablished, Reply)
	// A SACK block beyond anything sent is over the window.
	bad := &cttest.TCPOptions{SACK: [][2]uint32{{3101, 4101}}}
	g.wantInvalid(cttest.TCP(cttest.Seg{Src: s, Dst: c, Flags: ack, Seq: 9001, Ack: 101, Win: 60000, Opts: bad}), ReasonAckOverWindow)
}

func TestTCPSimultaneousOpen(t *testing.T) {
	a, b := cli4, srv4
	g := newRig(t, Options{})
	g.want(seg(a, b, syn, 100, 0, 5000, 0), StateNew, Original)
	g.want(seg(b, a, syn, 700, 0, 5000, 0), StateEstablished, Reply)
	if st := g.r.Entry.TCPState(); st != TCPSynSent2 {
		t.Fatalf("state %v, want SYN_SENT2", st)
	}
	g.want(seg(a, b, synack, 100, 701, 5000, 0), StateEstablished, Original)
	if st := g.r.Entry.TCPState(); st != TCPSynRecv {
		t.Fatalf("state %v, want SYN_RECV", st)
	}
	// Both sides answer with SYN/ACK; the original side's ACK ends it.
	g.want(seg(b, a, synack, 700, 101, 5000, 0), StateEstablished, Reply)
	g.want(seg(a, b, ack, 101, 701, 5000, 0), StateEstablished, Original)
	if st := g.r.Entry.TCPState(); st != TCPEstablished {
		t.Fatalf("state %v, want ESTABLISHED", st)
	}
}

func TestTCPLoosePickup(t *testing.T) {
	c, s := cli4, srv4
	g := newRig(t, Options{Loose: true})
	g.want(seg(c, s, ack, 123456, 654321, 500, 100), StateNew, Original)
	if st := g.r.Entry.TCPState(); st != TCPEstablished {
		t.Fatalf("picked up in %v", st)
	}
	g.want(seg(s, c, ack, 654321, 123556, 500, 100), StateEstablished, Reply)
	g.want(seg(c, s, ack, 123556, 654421, 500, 100), StateEstablished, Original)
	// Window tracking is liberal on a picked-up connection.
	g.want(seg(c, s, ack, 999999999, 654421, 500, 100), StateEstablished, Original)
}

func TestTCPReopenAfterClose(t *testing.T) {
	c, s := cli4, srv4
	g := newRig(t, Options{})
	g.want(seg(c, s, syn, 1000, 0, 1000, 0), StateNew, Original)
	g.want(seg(s, c, rst|ack, 0, 1001, 0, 0), StateEstablished, Reply)
	if st := g.r.Entry.TCPState(); st != TCPClose {
		t.Fatalf("state %v after RST, want CLOSE", st)
	}
	g.want(seg(c, s, syn, 2000, 0, 1000, 0), StateNew, Original)
	if st := g.r.Entry.TCPState(); st != TCPSynSent {
		t.Fatalf("state %v after new SYN, want SYN_SENT", st)
	}
}
