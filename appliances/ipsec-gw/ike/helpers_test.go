package ike

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp/spd"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// The test topology: gateway A (site 10.1/16) and gateway B (site 10.2/16)
// joined by an in-memory network that can lose, duplicate, hold and NAT
// their IKE messages.
var (
	addrA = netip.MustParseAddr("203.0.113.1")
	addrB = netip.MustParseAddr("203.0.113.2")
	siteA = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	siteB = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}
	hostA = netip.MustParseAddr("10.1.0.5")
	hostB = netip.MustParseAddr("10.2.0.9")
)

// logs collects a daemon's log lines.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	var sb strings.Builder
	sb.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, sb.String())
	l.mu.Unlock()
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }

func (l *logs) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.lines, func(s string) bool { return strings.Contains(s, sub) })
}

func (l *logs) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// gw is one gateway: a daemon, its ESP engine and policies.
type gw struct {
	name string
	addr netip.Addr
	d    *Daemon
	e    *esp.Engine
	pols [][]*esp.Policy
	log  *logs
}

// network carries IKE messages between the two gateways.
type network struct {
	mu    sync.Mutex
	gws   map[netip.Addr]*gw
	n     int
	drop  func(n int, from, to netip.AddrPort, msg []byte) bool
	dup   bool
	hold  bool
	held  []func()
	natA  bool // A is behind a NAT that maps its ports
	msgs  [][]byte
	keep  bool
	dead  map[netip.Addr]bool // gateways that no longer receive
	pause time.Duration
}

// natPort is the NAT's mapping of A's port p.
func natPort(p uint16) uint16 { return p + 30000 }

func (nw *network) send(from netip.Addr) func(local, remote netip.AddrPort, msg []byte) {
	return func(local, remote netip.AddrPort, msg []byte) {
		nw.mu.Lock()
		nw.n++
		n := nw.n
		if nw.keep {
			nw.msgs = append(nw.msgs, bytes.Clone(msg))
		}
		if nw.drop != nil && nw.drop(n, local, remote, msg) || nw.dead[remote.Addr()] {
			nw.mu.Unlock()
			return
		}
		src, dst := local, remote
		if nw.natA && from == addrA {
			src = netip.AddrPortFrom(src.Addr(), natPort(src.Port()))
		}
		if nw.natA && remote.Addr() == addrA && remote.Port() >= 30000 {
			dst = netip.AddrPortFrom(dst.Addr(), dst.Port()-30000)
		}
		to := nw.gws[remote.Addr()]
		c := bytes.Clone(msg)
		deliver := func() {
			to.d.Receive(dst, src, c)
			if nw.dup {
				to.d.Receive(dst, src, c)
			}
		}
		if to == nil {
			nw.mu.Unlock()
			return
		}
		if nw.hold {
			nw.held = append(nw.held, deliver)
			nw.mu.Unlock()
			return
		}
		nw.mu.Unlock()
		deliver()
	}
}

// release delivers the held messages and stops holding.
func (nw *network) release() { nw.deliverHeld(false) }

// deliverHeld delivers the held messages; with keep, what they cause is
// held in turn.
func (nw *network) deliverHeld(keep bool) {
	nw.mu.Lock()
	h := nw.held
	nw.held, nw.hold = nil, keep
	nw.mu.Unlock()
	for _, f := range h {
		f()
	}
}

type pairOpts struct {
	propA, propB   []config.IKEProposal
	espA, espB     []config.ESPProposal
	pskA, pskB     string
	startA, startB config.IKEStart
	childrenA      []config.Child
	childrenB      []config.Child
	dpd            time.Duration
	childLife      time.Duration
	rekey          time.Duration
	retransmit     time.Duration
	tries          int
	cookies        int
	natA           bool
	v6             bool // outer IPv6
}

func prop(s string) config.IKEProposal {
	var p config.IKEProposal
	for tok := range strings.SplitSeq(s, "-") {
		switch {
		case strings.HasPrefix(tok, "prf"):
			p.PRF = append(p.PRF, config.PRF(tok))
		case tok == "ecp256" || tok == "x25519":
			p.DH = append(p.DH, config.DHGroup(tok))
		default:
			p.Encr = append(p.Encr, config.Encr(tok))
		}
	}
	return p
}

func espProp(s string) config.ESPProposal {
	var p config.ESPProposal
	for tok := range strings.SplitSeq(s, "-") {
		if tok == "ecp256" || tok == "x25519" {
			p.DH = append(p.DH, config.DHGroup(tok))
		} else {
			p.Encr = append(p.Encr, config.Encr(tok))
		}
	}
	return p
}

func secret(t testing.TB, s string) config.Secret {
	sec, err := config.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func newGW(t testing.TB, nw *network, name string, addr, peer netip.Addr, o pairOpts, a bool) *gw {
	t.Helper()
	props, esps, psk, start, children := o.propA, o.espA, o.pskA, o.startA, o.childrenA
	local, remote := siteA, siteB
	if !a {
		props, esps, psk, start, children = o.propB, o.espB, o.pskB, o.startB, o.childrenB
		local, remote = siteB, siteA
	}
	if props == nil {
		props = []config.IKEProposal{prop("aes256gcm16-prfsha256-x25519")}
	}
	if esps == nil {
		esps = []config.ESPProposal{espProp("aes256gcm16")}
	}
	if psk == "" {
		psk = "a-test-key-of-some-length"
	}
	if start == "" {
		start = config.StartNone
	}
	life := o.childLife
	if life == 0 {
		life = time.Hour
	}
	if children == nil {
		children = []config.Child{{Name: name + "-net", Local: local, Remote: remote, ESP: esps, Lifetime: life}}
	}
	for i := range children {
		if children[i].ESP == nil {
			children[i].ESP = esps
		}
		if children[i].Lifetime == 0 {
			children[i].Lifetime = life
		}
	}
	rekey := o.rekey
	if rekey == 0 {
		rekey = 4 * time.Hour
	}
	conn := config.IKEConn{Name: "to-" + peerName(name), Peer: peer, Local: addr, Auth: config.IKEAuth{PSK: secret(t, psk)},
		Proposals: props, Lifetime: 2 * rekey, Rekey: rekey, DPD: o.dpd, Start: start, Children: children}
	e := esp.NewEngine(esp.Options{AcquireInterval: 50 * time.Millisecond})
	var pols []*esp.Policy
	for _, ch := range children {
		pols = append(pols, esp.NewPolicy(ch.Name, spd.Selector{Local: ch.Local, Remote: ch.Remote}, nil))
	}
	if err := e.SetPolicies(pols); err != nil {
		t.Fatal(err)
	}
	l := &logs{}
	base := o.retransmit
	if base == 0 {
		base = 100 * time.Millisecond
	}
	tries := o.tries
	if tries == 0 {
		tries = 5
	}
	d, err := New(Config{
		Conns: []config.IKEConn{conn}, Engine: e, Policies: [][]*esp.Policy{pols},
		Send: nw.send(addr), Log: slog.New(l),
		RetransmitBase: base, RetransmitTries: tries, HalfOpenCookies: o.cookies,
	})
	if err != nil {
		t.Fatal(err)
	}
	d.expireEvery = 20 * time.Millisecond
	g := &gw{name: name, addr: addr, d: d, e: e, pols: [][]*esp.Policy{pols}, log: l}
	nw.gws[addr] = g
	return g
}

func peerName(n string) string {
	if n == "a" {
		return "b"
	}
	return "a"
}

// newPair makes gateways A and B and starts them.
func newPair(t testing.TB, o pairOpts) (*network, *gw, *gw) {
	t.Helper()
	nw := &network{gws: map[netip.Addr]*gw{}, natA: o.natA, dead: map[netip.Addr]bool{}}
	aAddr, bAddr := addrA, addrB
	if o.v6 {
		aAddr, bAddr = netip.MustParseAddr("2001:db8::a"), netip.MustParseAddr("2001:db8::b")
	}
	a := newGW(t, nw, "a", aAddr, bAddr, o, true)
	b := newGW(t, nw, "b", bAddr, aAddr, o, false)
	a.d.Start()
	b.d.Start()
	t.Cleanup(func() {
		a.d.Close()
		b.d.Close()
		if t.Failed() {
			t.Logf("A's log:\n%s", a.log.all())
			t.Logf("B's log:\n%s", b.log.all())
		}
	})
	return nw, a, b
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const long = 10 * time.Second

// up reports whether g has an established IKE SA with n children.
func (g *gw) up(n int) bool {
	for _, s := range g.d.Status() {
		if s.State == "established" && len(s.Children) == n {
			return true
		}
	}
	return false
}

func (g *gw) established() []SAStatus {
	var out []SAStatus
	for _, s := range g.d.Status() {
		if s.State == "established" {
			out = append(out, s)
		}
	}
	return out
}

// udpPacket is an IPv4 UDP packet from src to dst.
func udpPacket(src, dst netip.Addr, size int, seed byte) []byte {
	b := make([]byte, size)
	for i := 28; i < size; i++ {
		b[i] = seed + byte(i)
	}
	ip := packet.IPv4(b)
	ip.SetVersionIHL(5)
	ip.SetTotalLen(uint16(size))
	ip.SetTTL(64)
	ip.SetProtocol(packet.IPProtoUDP)
	ip.SetSrc(src)
	ip.SetDst(dst)
	ip.FillChecksum()
	u := packet.UDP(b[20:])
	u.SetSrcPort(1000)
	u.SetDstPort(53)
	u.SetLength(uint16(size - 20))
	return b
}

func newPool(t testing.TB) *dataplane.Pool {
	t.Helper()
	r, err := dataplane.NewRegion(64, dataplane.DefaultFrameSize, dataplane.DefaultHeadroom)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return dataplane.NewPool(r)
}

// carry encrypts a packet from src to dst with from's outbound SA and
// decrypts it with to's engine; it returns an error saying where it failed.
// The outer packet reaches to as from sent it (through the NAT when A is
// behind one).
func carry(t testing.TB, pool *dataplane.Pool, from, to *gw, src, dst netip.Addr, nat bool) error {
	t.Helper()
	pkt := udpPacket(src, dst, 200, byte(src.As4()[3]))
	b := dataplane.NewBatch(4)
	b.Now = dataplane.MonoClock()
	defer pool.PutBatch(b)
	p, ok := pool.Get()
	if !ok {
		return fmt.Errorf("pool empty")
	}
	copy(p.Append(len(pkt)), pkt)
	p.Forward(1)
	b.Add(p)
	sas := make([]*esp.SA, 4)
	w := from.e.NewWorker()
	w.Classify(b, sas)
	if sas[0] == nil {
		return fmt.Errorf("%s: no outbound SA (%v)", from.name, b.Pkts[0].Reason)
	}
	w.Encap(b, sas)
	if sas[0] == nil {
		return fmt.Errorf("%s: encap failed (%v)", from.name, b.Pkts[0].Reason)
	}
	outer := bytes.Clone(b.Pkts[0].Data())
	if nat && from.addr == addrA {
		// The NAT maps A's source port.
		var pp packet.Parsed
		if err := pp.DecodeIP(outer); err != nil || pp.IPProto != packet.IPProtoUDP {
			return fmt.Errorf("A's packet is not UDP behind the NAT")
		}
		u := packet.UDP(outer[20:])
		u.SetSrcPort(natPort(u.SrcPort()))
		u.SetChecksum(0)
	}
	if nat && to.addr == addrA {
		u := packet.UDP(outer[20:])
		u.SetDstPort(u.DstPort() - 30000)
	}
	b2 := dataplane.NewBatch(4)
	b2.Now = dataplane.MonoClock()
	defer pool.PutBatch(b2)
	p2, ok := pool.Get()
	if !ok {
		return fmt.Errorf("pool empty")
	}
	copy(p2.Append(len(outer)), outer)
	p2.Forward(1)
	b2.Add(p2)
	in := make([]*esp.SA, 4)
	to.e.NewWorker().Decap(b2, in)
	if b2.Pkts[0].Verdict != dataplane.Forward || in[0] == nil {
		return fmt.Errorf("%s: decap failed (%v)", to.name, b2.Pkts[0].Reason)
	}
	if !bytes.Equal(b2.Pkts[0].Data(), pkt) {
		return fmt.Errorf("%s: decrypted packet differs", to.name)
	}
	return nil
}

// traffic checks packets pass both ways.
func traffic(t testing.TB, a, b *gw, nat bool) {
	t.Helper()
	pool := newPool(t)
	if err := carry(t, pool, a, b, hostA, hostB, nat); err != nil {
		t.Fatal(err)
	}
	if err := carry(t, pool, b, a, hostB, hostA, nat); err != nil {
		t.Fatal(err)
	}
}

func (nw *network) heldN() int {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return len(nw.held)
}

// crossRequests delivers the two held requests so that each side sees the
// other's while its own is outstanding, then the two answers.
func crossRequests(t testing.TB, nw *network) {
	t.Helper()
	waitFor(t, "both requests out", long, func() bool { return nw.heldN() >= 2 })
	nw.deliverHeld(true)
	waitFor(t, "both answers out", long, func() bool { return nw.heldN() >= 2 })
	nw.release()
}

// espSAs counts the SAs installed in g's engine.
func (g *gw) espSAs() int { return len(g.e.SAs()) }
