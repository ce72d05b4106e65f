package conntrack

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

func TestUDP(t *testing.T) {
	for _, fam := range []struct {
		name     string
		cli, srv netip.AddrPort
	}{{"ipv4", cttest.AP("10.0.0.1:5353"), cttest.AP("192.0.2.53:53")}, {"ipv6", cttest.AP("[fd00::1]:5353"), cttest.AP("[2001:db8::53]:53")}} {
		t.Run(fam.name, func(t *testing.T) {
			g := newRig(t, Options{})
			q, a := cttest.UDP(fam.cli, fam.srv, 40), cttest.UDP(fam.srv, fam.cli, 200)
			g.want(q, StateNew, Original)
			e := g.r.Entry
			if to := time.Duration(e.Expires() - g.now); to != 30*time.Second {
				t.Errorf("unreplied timeout %v", to)
			}
			g.advance(time.Second)
			g.want(q, StateNew, Original) // not answered yet: still new
			if g.r.Entry != e {
				t.Fatal("second datagram got another entry")
			}
			g.want(a, StateEstablished, Reply)
			if !e.SeenReply() || !e.Assured() {
				t.Error("reply not recorded")
			}
			if to := time.Duration(e.Expires() - g.now); to != 3*time.Minute {
				t.Errorf("stream timeout %v", to)
			}
			g.want(q, StateEstablished, Original)
			// Idle past the timeout: the next datagram starts afresh.
			g.advance(3*time.Minute + 1)
			g.want(q, StateNew, Original)
			if e.Gen() == g.r.Entry.Gen() && g.r.Entry.SeenReply() {
				t.Error("expired entry was reused as is")
			}
			if st := g.ct.Stats(); st.Expired != 1 || st.Created != 2 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestICMPEcho(t *testing.T) {
	for _, fam := range []struct {
		name     string
		cli, srv netip.Addr
	}{{"ipv4", cttest.A("10.0.0.1"), cttest.A("192.0.2.1")}, {"ipv6", cttest.A("fd00::1"), cttest.A("2001:db8::1")}} {
		t.Run(fam.name, func(t *testing.T) {
			g := newRig(t, Options{})
			c, s := fam.cli, fam.srv
			g.wantInvalid(cttest.Echo(s, c, true, 7, 1), ReasonICMPNoRequest)
			g.want(cttest.Echo(c, s, false, 7, 1), StateNew, Original)
			g.want(cttest.Echo(s, c, true, 7, 1), StateEstablished, Reply)
			g.want(cttest.Echo(c, s, false, 7, 2), StateEstablished, Original)
			// Another identifier is another exchange.
			g.want(cttest.Echo(c, s, false, 8, 1), StateNew, Original)
			// A request the other way is not a reply to ours.
			g.want(cttest.Echo(s, c, false, 7, 1), StateNew, Original)
			if n := g.ct.Len(); n != 3 {
				t.Errorf("%d entries, want 3", n)
			}
		})
	}
}

func TestICMPUntracked(t *testing.T) {
	g := newRig(t, Options{})
	ns := cttest.ICMP(cttest.A("fe80::1"), cttest.A("ff02::1:ff00:2"), 135, 0, 0, make([]byte, 16))
	if s := g.track(ns); s != StateNew || !g.r.Untracked() || g.r.Entry != nil {
		t.Fatalf("neighbour solicitation: %v untracked=%v", s, g.r.Untracked())
	}
	if _, err := g.ct.Create(&g.r, nil, g.now); !errors.Is(err, ErrNotNew) {
		t.Fatalf("Create of an untracked packet: %v", err)
	}
	rs := cttest.ICMP(cttest.A("10.0.0.1"), cttest.A("224.0.0.2"), 10, 0, 0, nil)
	if s := g.track(rs); s != StateNew || !g.r.Untracked() {
		t.Fatalf("router solicitation: %v", s)
	}
}

func TestOtherProtocols(t *testing.T) {
	g := newRig(t, Options{})
	a, b := cttest.A("192.0.2.1"), cttest.A("198.51.100.1")
	g.want(cttest.Proto(a, b, packet.IPProtoGRE, 24), StateNew, Original)
	g.want(cttest.Proto(b, a, packet.IPProtoGRE, 24), StateEstablished, Reply)
	if to := time.Duration(g.r.Entry.Expires() - g.now); to != 10*time.Minute {
		t.Errorf("generic timeout %v", to)
	}
	g.wantInvalid(cttest.Proto(a, a, packet.IPProtoGRE, 24), ReasonLand)
	g.wantInvalid(cttest.UDP(cttest.AP("192.0.2.1:7"), cttest.AP("192.0.2.1:7"), 4), ReasonLand)
}

// TestRelated checks that ICMP errors find the connection they quote, both
// ways, in both families, and for TCP, UDP and echo.
func TestRelated(t *testing.T) {
	for _, fam := range []struct {
		name     string
		cli, srv netip.AddrPort
		router   netip.Addr
	}{
		{"ipv4", cli4, srv4, cttest.A("203.0.113.1")},
		{"ipv6", cli6, srv6, cttest.A("2001:db8:ff::1")},
	} {
		t.Run(fam.name, func(t *testing.T) {
			c, s, rtr := fam.cli, fam.srv, fam.router
			g := newRig(t, Options{})
			synf := seg(c, s, syn, 1000, 0, 1000, 0)
			g.want(synf, StateNew, Original)
			e := g.r.Entry
			// The router in front of the server cannot reach it: the
			// error goes back to the client, the reply way.
			g.want(cttest.Unreachable(rtr, synf), StateRelated, Reply)
			if g.r.Entry != e || g.r.Inner.Tuple != e.orig {
				t.Fatalf("related to %v, quote %v", g.r.Entry, g.r.Inner.Tuple)
			}
			saf := seg(s, c, synack, 5000, 1001, 1000, 0)
			g.want(saf, StateEstablished, Reply)
			// An error about the server's packet goes the original way.
			g.want(cttest.Unreachable(rtr, saf), StateRelated, Original)
			// Quoting only the IP header and 8 bytes, as RFC 792 asks.
			ipLen := packet.IPv4MinLen
			if c.Addr().Is6() {
				ipLen = packet.IPv6Len
			}
			g.want(cttest.Error(rtr, c.Addr(), errType(c.Addr()), 0, synf, ipLen+8), StateRelated, Reply)
			// Too short a quote, or one about nothing tracked.
			g.wantInvalid(cttest.Error(rtr, c.Addr(), errType(c.Addr()), 0, synf, ipLen+4), ReasonICMPBadQuote)
			other := seg(c, cttest.AP(netip.AddrPortFrom(s.Addr(), 81).String()), syn, 1, 0, 1000, 0)
			g.wantInvalid(cttest.Unreachable(rtr, other), ReasonICMPNoConnection)

			// UDP and echo.
			u := cttest.UDP(c, s, 10)
			g.want(u, StateNew, Original)
			g.want(cttest.Unreachable(s.Addr(), u), StateRelated, Reply)
			ping := cttest.Echo(c.Addr(), s.Addr(), false, 99, 1)
			g.want(ping, StateNew, Original)
			g.want(cttest.Unreachable(rtr, ping), StateRelated, Reply)
			pong := cttest.Echo(s.Addr(), c.Addr(), true, 99, 1)
			g.want(pong, StateEstablished, Reply)
			g.want(cttest.Unreachable(rtr, pong), StateRelated, Original)
			// An error about an error is not related to anything.
			g.wantInvalid(cttest.Unreachable(rtr, cttest.Unreachable(rtr, u)), ReasonICMPBadQuote)
			if st := g.ct.Stats(); st.Related != 6 {
				t.Errorf("related count %d, want 6", st.Related)
			}
		})
	}
}

func errType(a netip.Addr) uint8 {
	if a.Is6() {
		return 1
	}
	return 3
}

func TestRelatedIPv6ExtensionHeaders(t *testing.T) {
	g := newRig(t, Options{})
	u := cttest.UDP(cli6, srv6, 10)
	g.want(u, StateNew, Original)
	// Insert a destination options header into a copy of the datagram.
	ip := append([]byte(nil), u[packet.EthernetLen:]...)
	opts := []byte{uint8(packet.IPProtoUDP), 0, 1, 4, 0, 0, 0, 0}
	quoted := append(append(append([]byte(nil), ip[:40]...), opts...), ip[40:]...)
	quoted[6] = uint8(packet.IPProtoDestOpts)
	err := cttest.ICMP(cttest.A("2001:db8:ff::1"), cli6.Addr(), 1, 4, 0, quoted)
	g.want(err, StateRelated, Reply)
	if off := g.r.Inner.L4Off - g.r.Inner.L3Off; off != 48 {
		t.Errorf("quoted transport header at %d, want 48", off)
	}
}

func TestFragments(t *testing.T) {
	for _, fam := range []struct {
		name     string
		cli, srv netip.AddrPort
	}{{"ipv4", cttest.AP("10.0.0.1:4500"), cttest.AP("192.0.2.9:4500")}, {"ipv6", cttest.AP("[fd00::1]:4500"), cttest.AP("[2001:db8::9]:4500")}} {
		t.Run(fam.name, func(t *testing.T) {
			g := newRig(t, Options{})
			frags := cttest.Fragments(cttest.UDP(fam.cli, fam.srv, 3000), 1200, 77)
			if len(frags) != 3 {
				t.Fatalf("%d fragments", len(frags))
			}
			// A later fragment before the first is unknown.
			g.wantInvalid(frags[1], ReasonFragment)
			g.want(frags[0], StateNew, Original)
			e := g.r.Entry
			g.want(frags[1], StateNew, Original)
			g.want(frags[2], StateNew, Original)
			if g.r.Entry != e {
				t.Fatal("fragment matched another entry")
			}
			back := cttest.Fragments(cttest.UDP(fam.srv, fam.cli, 3000), 1200, 78)
			g.want(back[0], StateEstablished, Reply)
			g.want(back[2], StateEstablished, Reply)
			// Once the entry is gone, its fragments are unknown even if
			// the slot is reused.
			g.ct.Delete(e)
			g.want(cttest.UDP(fam.cli, cttest.AP(netip.AddrPortFrom(fam.srv.Addr(), 1).String()), 1), StateNew, Original)
			g.wantInvalid(frags[1], ReasonFragment)
			if st := g.ct.Stats(); st.FragHits != 3 {
				t.Errorf("fragment hits %d, want 3", st.FragHits)
			}
		})
	}
}

func udpFlow(i int) (q, a []byte) {
	c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(1024+i))
	s := cttest.AP("192.0.2.53:53")
	return cttest.UDP(c, s, 8), cttest.UDP(s, c, 8)
}

func TestFull(t *testing.T) {
	t.Run("early-drop", func(t *testing.T) {
		g := newRig(t, Options{Max: 8})
		// Four answered (assured), four not.
		for i := range 8 {
			q, a := udpFlow(i)
			g.want(q, StateNew, Original)
			if i < 4 {
				g.want(a, StateEstablished, Reply)
			}
		}
		// Each new flow pushes out an unanswered one, never an
		// answered one.
		for i := 8; i < 12; i++ {
			q, _ := udpFlow(i)
			g.want(q, StateNew, Original)
		}
		for i := range 4 {
			q, _ := udpFlow(i)
			if s := g.track(q); s != StateEstablished {
				t.Errorf("assured flow %d: %v", i, s)
			}
		}
		// Now every entry is either assured or one of the four new
		// ones; those go next, then nothing can.
		for i := 12; i < 16; i++ {
			q, _ := udpFlow(i)
			g.want(q, StateNew, Original)
		}
		st := g.ct.Stats()
		if st.EarlyDrop != 8 || st.Full != 0 || st.Entries != 8 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("no-early-drop", func(t *testing.T) {
		g := newRig(t, Options{Max: 8, NoEarlyDrop: true})
		for i := range 8 {
			q, _ := udpFlow(i)
			g.want(q, StateNew, Original)
		}
		q, _ := udpFlow(100)
		if s := g.track(q); s != StateNew {
			t.Fatal(s)
		}
		if _, err := g.ct.Create(&g.r, nil, g.now); !errors.Is(err, ErrFull) {
			t.Fatalf("Create on a full table: %v", err)
		}
		// Existing flows keep working.
		q0, a0 := udpFlow(0)
		g.want(a0, StateEstablished, Reply)
		g.want(q0, StateEstablished, Original)
		// Expired entries are reclaimed.
		g.advance(31 * time.Second)
		g.want(q, StateNew, Original)
		if st := g.ct.Stats(); st.Full != 1 || st.Expired != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestClash(t *testing.T) {
	g := newRig(t, Options{})
	q, _ := udpFlow(1)
	g.want(q, StateNew, Original)
	reply := g.r.Entry.reply
	q2, _ := udpFlow(2)
	if s := g.track(q2); s != StateNew {
		t.Fatal(s)
	}
	// A translation onto the first flow's reply tuple is refused.
	if _, err := g.ct.Create(&g.r, &reply, g.now); !errors.Is(err, ErrClash) {
		t.Fatalf("got %v, want ErrClash", err)
	}
	// And on the first flow's original tuple too: it is a key as well.
	orig := g.ct.entries[0].orig
	if _, err := g.ct.Create(&g.r, &orig, g.now); !errors.Is(err, ErrClash) {
		t.Fatalf("got %v, want ErrClash", err)
	}
	if _, err := g.ct.Create(&g.r, nil, g.now); err != nil {
		t.Fatal(err)
	}
	if _, err := g.ct.Create(&g.r, nil, g.now); !errors.Is(err, ErrNotNew) {
		t.Fatalf("second Create: %v", err)
	}
	if err := g.ct.check(); err != nil {
		t.Fatal(err)
	}
}

func TestExpireHand(t *testing.T) {
	var removed []uint32
	g := newRig(t, Options{Max: 100, OnRemove: func(e *Entry) { removed = append(removed, e.Gen()) }})
	for i := range 100 {
		q, _ := udpFlow(i)
		g.want(q, StateNew, Original)
		g.advance(time.Second)
	}
	// At now, flows 0..70 have been idle 30 s or more.
	n := 0
	for range 10 {
		n += g.ct.Expire(g.now, 10)
	}
	if n != 71 || g.ct.Len() != 29 || len(removed) != 71 {
		t.Fatalf("expired %d (hook %d), %d left", n, len(removed), g.ct.Len())
	}
	if err := g.ct.check(); err != nil {
		t.Fatal(err)
	}
	if st := g.ct.LoadStats(); st.Expired != 71 || st.Entries != 29 {
		t.Errorf("published stats %+v", st)
	}
	g.ct.Flush()
	if g.ct.Len() != 0 || len(removed) != 100 {
		t.Fatalf("after flush: %d entries, %d removed", g.ct.Len(), len(removed))
	}
}

func TestNewOptions(t *testing.T) {
	for _, m := range []int{0, -1, MaxEntries + 1} {
		if _, err := New(Options{Max: m}); err == nil {
			t.Errorf("New(Max %d) succeeded", m)
		}
	}
	o := OptionsFrom(nil)
	if o.Max != 262144 || o.Timeouts.TCPEstablished != 24*time.Hour {
		t.Errorf("defaults: %+v", o)
	}
}

func TestTupleReverse(t *testing.T) {
	var tu Tuple
	tu.SetSrcAddr(cttest.A("192.0.2.1"))
	tu.SetDstAddr(cttest.A("192.0.2.2"))
	tu.Proto, tu.SrcPort, tu.DstPort = packet.IPProtoICMPv4, 9, 8
	r := tu.Reverse()
	if r.DstPort != 0 || r.SrcPort != 9 || r.SrcAddr() != tu.DstAddr() {
		t.Errorf("reverse of echo request: %v", r)
	}
	if rr := r.Reverse(); rr != tu {
		t.Errorf("reverse twice: %v, want %v", rr, tu)
	}
	if s := tu.String(); s != "ICMPv4 192.0.2.1 > 192.0.2.2 id 9 type 8" {
		t.Errorf("String: %q", s)
	}
}

// TestZeroAllocs checks that tracking, creating and expiring allocate
// nothing.
func TestZeroAllocs(t *testing.T) {
	g := newRig(t, Options{Max: 1 << 12})
	frames := [][]byte{
		seg(cli4, srv4, syn, 1000, 0, 1000, 0),
		seg(srv4, cli4, synack, 5000, 1001, 1000, 0),
		seg(cli4, srv4, ack, 1001, 5001, 1000, 0),
	}
	ps := make([]packet.Parsed, len(frames))
	for i, f := range frames {
		if err := ps[i].Decode(f); err != nil {
			t.Fatal(err)
		}
	}
	var r Result
	allocs := testing.AllocsPerRun(100, func() {
		g.now += int64(time.Minute) // each round finds the last one's entry gone
		for i := range ps {
			if g.ct.Track(&ps[i], g.now, &r) == StateNew && r.Entry == nil {
				if _, err := g.ct.Create(&r, nil, g.now); err != nil {
					t.Fatal(err)
				}
			}
		}
		g.ct.Expire(g.now, 64)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round, want 0", allocs)
	}
	q, a := udpFlow(1)
	var pq, pa packet.Parsed
	_ = pq.Decode(q)
	_ = pa.Decode(a)
	rel := cttest.Unreachable(cttest.A("192.0.2.53"), q)
	var prel packet.Parsed
	_ = prel.Decode(rel)
	allocs = testing.AllocsPerRun(100, func() {
		if g.ct.Track(&pq, g.now, &r) == StateNew && r.Entry == nil {
			_, _ = g.ct.Create(&r, nil, g.now)
		}
		g.ct.Track(&pa, g.now, &r)
		g.ct.Track(&prel, g.now, &r)
		_ = g.ct.LoadStats()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per UDP round, want 0", allocs)
	}
}

// TestExpireDue: the hand removes exactly the entries whose time is up,
// whether packets pushed their expiry later since they were created
// (answered UDP flows) or earlier (a TCP connection reset), however the
// hand reads them (see Table.due).
func TestExpireDue(t *testing.T) {
	g := newRig(t, Options{Max: 64})
	for i := range 40 {
		q, a := udpFlow(i)
		g.want(q, StateNew, Original)
		if i%2 == 0 {
			g.want(a, StateEstablished, Reply) // expiry moves later
		}
	}
	// A TCP connection, established, then reset: its expiry moves from
	// days away to 10 s away.
	g.want(seg(cli4, srv4, syn, 1000, 0, 1000, 0), StateNew, Original)
	g.want(seg(srv4, cli4, synack, 5000, 1001, 1000, 0), StateEstablished, Reply)
	g.want(seg(cli4, srv4, ack, 1001, 5001, 1000, 0), StateEstablished, Original)
	// One round of the hand before the reset, so that it has read the
	// connection's long expiry.
	g.ct.Expire(g.now, 64)
	g.want(seg(cli4, srv4, rst|ack, 1001, 5001, 0, 0), StateEstablished, Original)
	if err := g.ct.check(); err != nil {
		t.Fatal(err)
	}
	for _, step := range []time.Duration{5 * time.Second, 6 * time.Second, 20 * time.Second, 10 * time.Minute} {
		g.advance(step)
		want := 0
		g.ct.Range(func(e *Entry) bool {
			if e.Expires() <= g.now {
				want++
			}
			return true
		})
		got := 0
		for range 4 {
			got += g.ct.Expire(g.now, 16)
		}
		if got != want {
			t.Fatalf("after %v: the hand removed %d entries, %d had expired", step, got, want)
		}
		if err := g.ct.check(); err != nil {
			t.Fatal(err)
		}
	}
	if g.ct.Len() != 0 {
		t.Fatalf("%d entries left", g.ct.Len())
	}
}

// TestEntryAlignment: a table's entries start on a 128-byte boundary, so
// that each entry is two whole cache lines (see Entry).
func TestEntryAlignment(t *testing.T) {
	for _, n := range []int{1, 3, 100, 4096} {
		g := newRig(t, Options{Max: n})
		if a := uintptrOf(&g.ct.entries[0]) % 128; a != 0 {
			t.Errorf("max %d: entries at %d mod 128", n, a)
		}
	}
}

// TestPrefetchSeen: Prefetch reports which packets of a burst belong to a
// connection, either way, and which are first packets.
func TestPrefetchSeen(t *testing.T) {
	g := newRig(t, Options{Max: 1 << 12})
	for i := range 100 {
		q, a := udpFlow(i)
		g.want(q, StateNew, Original)
		if i%2 == 0 {
			g.want(a, StateEstablished, Reply)
		}
	}
	var ps []packet.Parsed
	var want []bool
	for i := range 150 { // flows 100-149 are new
		q, a := udpFlow(i)
		for _, f := range [][]byte{q, a} {
			var p packet.Parsed
			if err := p.Decode(f); err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
			want = append(want, i < 100)
		}
	}
	seen := make([]bool, len(ps))
	g.ct.Prefetch(ps, seen)
	for i := range ps {
		if seen[i] != want[i] {
			t.Errorf("packet %d (flow %d): seen %v, want %v", i, i/2, seen[i], want[i])
		}
	}
	if st := g.ct.Stats(); st.Created != 100 || st.Found != 50 {
		t.Errorf("Prefetch changed the table: %+v", st)
	}
}
