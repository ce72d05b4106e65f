package ike

import (
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/pkg/config"
)

// do runs f on g's daemon state, as its goroutine would.
func (g *gw) do(f func(d *Daemon)) {
	g.d.mu.Lock()
	f(g.d)
	g.d.mu.Unlock()
	g.d.poke()
}

func (g *gw) rekeyChildren() {
	g.do(func(d *Daemon) {
		for _, sa := range d.allSAs() {
			for _, c := range sa.children {
				d.rekeyChild(c)
			}
		}
	})
}

func (g *gw) rekeyIKE() {
	g.do(func(d *Daemon) {
		for _, sa := range d.allSAs() {
			if sa.state == stEstablished {
				d.rekeyIKE(sa)
			}
		}
	})
}

// settled reports whether g and h share exactly one IKE SA with one child
// and have nothing else installed.
func settled(g, h *gw) bool {
	sg, sh := g.d.Status(), h.d.Status()
	if len(sg) != 1 || len(sh) != 1 || sg[0].State != "established" || sh[0].State != "established" {
		return false
	}
	if sg[0].SPIi != sh[0].SPIi || sg[0].SPIr != sh[0].SPIr || len(sg[0].Children) != 1 || len(sh[0].Children) != 1 {
		return false
	}
	cg, ch := sg[0].Children[0], sh[0].Children[0]
	return cg.SPIIn == ch.SPIOut && cg.SPIOut == ch.SPIIn && g.espSAs() == 2 && h.espSAs() == 2
}

func childSPIs(g *gw) (in, out uint32) {
	s := g.established()
	if len(s) == 0 || len(s[0].Children) == 0 {
		return 0, 0
	}
	return s[0].Children[0].SPIIn, s[0].Children[0].SPIOut
}

func TestChildRekey(t *testing.T) {
	for _, pfs := range []bool{false, true} {
		name := "nopfs"
		o := pairOpts{}
		if pfs {
			name = "pfs"
			o.espA = []config.ESPProposal{espProp("aes128gcm16-ecp256")}
			o.espB = []config.ESPProposal{espProp("aes128gcm16-ecp256")}
		}
		t.Run(name, func(t *testing.T) {
			_, a, b := newPair(t, o)
			if err := a.d.Initiate("to-b"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "up", long, func() bool { return settled(a, b) })
			oldIn, _ := childSPIs(a)
			for _, g := range []*gw{b, a} {
				g.rekeyChildren()
				waitFor(t, "rekeyed", long, func() bool {
					in, _ := childSPIs(a)
					return in != oldIn && settled(a, b)
				})
				oldIn, _ = childSPIs(a)
				traffic(t, a, b, false)
			}
			if a.d.Stats().ChildRekeys != 2 || b.d.Stats().ChildRekeys != 2 {
				t.Fatalf("rekeys %d %d", a.d.Stats().ChildRekeys, b.d.Stats().ChildRekeys)
			}
			if pfs && !a.log.has("aes128gcm16-ecp256") {
				t.Fatal("no PFS group in the rekeyed child")
			}
		})
	}
}

// TestChildLifetime lets the ESP engine's soft expiry drive the rekeys.
func TestChildLifetime(t *testing.T) {
	_, a, b := newPair(t, pairOpts{childLife: 1500 * time.Millisecond})
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return settled(a, b) })
	waitFor(t, "rekeyed by lifetime", long, func() bool {
		return a.d.Stats().ChildRekeys+b.d.Stats().ChildRekeys >= 2 && settled(a, b)
	})
	traffic(t, a, b, false)
}

func TestIKERekey(t *testing.T) {
	for _, who := range []string{"initiator", "responder"} {
		t.Run(who, func(t *testing.T) {
			_, a, b := newPair(t, pairOpts{})
			if err := a.d.Initiate("to-b"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "up", long, func() bool { return settled(a, b) })
			old := a.established()[0]
			in, out := childSPIs(a)
			g := a
			if who == "responder" {
				g = b
			}
			g.rekeyIKE()
			waitFor(t, "rekeyed", long, func() bool {
				s := a.established()
				return settled(a, b) && s[0].SPIi != old.SPIi && s[0].SPIr != old.SPIr
			})
			// The child moved over untouched.
			if i, o := childSPIs(a); i != in || o != out {
				t.Fatal("child changed")
			}
			traffic(t, a, b, false)
			if g.established()[0].Initiator != true {
				t.Fatal("the rekey's initiator is the new SA's initiator")
			}
			// The new IKE SA works: rekey the child over it, and delete.
			a.rekeyChildren()
			waitFor(t, "child rekeyed", long, func() bool { i, _ := childSPIs(a); return i != in && settled(a, b) })
			traffic(t, a, b, false)
		})
	}
}

func TestSimultaneousChildRekey(t *testing.T) {
	for _, pfs := range []bool{false, true} {
		// Slow retransmissions: none may slip between the crossed messages.
		o := pairOpts{retransmit: time.Second}
		if pfs {
			o.espA = []config.ESPProposal{espProp("aes256gcm16-x25519")}
			o.espB = []config.ESPProposal{espProp("aes256gcm16-x25519")}
		}
		t.Run(map[bool]string{false: "nopfs", true: "pfs"}[pfs], func(t *testing.T) {
			nw, a, b := newPair(t, o)
			if err := a.d.Initiate("to-b"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "up", long, func() bool { return settled(a, b) })
			in, _ := childSPIs(a)
			nw.mu.Lock()
			nw.hold = true
			nw.mu.Unlock()
			a.rekeyChildren()
			b.rekeyChildren()
			crossRequests(t, nw)
			waitFor(t, "one child left", long, func() bool {
				i, _ := childSPIs(a)
				return i != in && settled(a, b)
			})
			traffic(t, a, b, false)
			// The side whose answer comes last may find the peer's
			// redundant SA already deleted, which settles it too.
			if !a.log.has("simultaneous child rekey") && !b.log.has("simultaneous child rekey") {
				t.Fatal("no collision seen")
			}
		})
	}
}

func TestSimultaneousIKERekey(t *testing.T) {
	nw, a, b := newPair(t, pairOpts{retransmit: time.Second})
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return settled(a, b) })
	old := a.established()[0]
	nw.mu.Lock()
	nw.hold = true
	nw.mu.Unlock()
	a.rekeyIKE()
	b.rekeyIKE()
	crossRequests(t, nw)
	waitFor(t, "one IKE SA left", long, func() bool {
		s := a.established()
		return settled(a, b) && s[0].SPIi != old.SPIi
	})
	traffic(t, a, b, false)
	if !a.log.has("simultaneous IKE rekey") && !b.log.has("simultaneous IKE rekey") {
		t.Fatal("no collision seen")
	}
	// And it still rekeys.
	in, _ := childSPIs(a)
	a.rekeyChildren()
	waitFor(t, "child rekeyed", long, func() bool { i, _ := childSPIs(a); return i != in && settled(a, b) })
}

// TestRekeyDeleteCollision: the peer deletes a child while we rekey it.
func TestRekeyDeleteCollision(t *testing.T) {
	nw, a, b := newPair(t, pairOpts{})
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return settled(a, b) })
	nw.mu.Lock()
	nw.hold = true
	nw.mu.Unlock()
	a.rekeyChildren()
	b.do(func(d *Daemon) {
		for _, sa := range d.allSAs() {
			for _, c := range sa.children {
				d.deleteChild(c, "test")
			}
		}
	})
	waitFor(t, "both requests out", long, func() bool {
		nw.mu.Lock()
		defer nw.mu.Unlock()
		return len(nw.held) >= 2
	})
	nw.release()
	// Whatever the order, both sides end with the same children, none
	// half-installed.
	waitFor(t, "consistent", long, func() bool {
		sa, sb := a.established(), b.established()
		if len(sa) != 1 || len(sb) != 1 || len(sa[0].Children) != len(sb[0].Children) {
			return false
		}
		return a.espSAs() == 2*len(sa[0].Children) && b.espSAs() == 2*len(sb[0].Children)
	})
}

// TestIKERekeyTimer lets the conns' rekey time drive IKE rekeys, on both
// sides at about the same time (collisions included).
func TestIKERekeyTimer(t *testing.T) {
	_, a, b := newPair(t, pairOpts{rekey: 600 * time.Millisecond})
	if err := a.d.Initiate("to-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", long, func() bool { return settled(a, b) })
	waitFor(t, "rekeyed twice", long, func() bool {
		return a.d.Stats().IKERekeys >= 2 && b.d.Stats().IKERekeys >= 2 && settled(a, b)
	})
	traffic(t, a, b, false)
}
