package ike

import (
	"bytes"
	"log/slog"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp/spd"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// syncPair is two daemons whose goroutines never run: messages queue up
// and pump hands them over one by one on the caller's goroutine, so a
// fuzz target or a benchmark drives the protocol deterministically.
type syncPair struct {
	a, b  *Daemon
	queue []syncMsg
	rec   [][]byte // every message sent, when recording
	keep  bool
}

type syncMsg struct {
	to            *Daemon
	local, remote netip.AddrPort
	msg           []byte
}

func newSyncDaemon(t testing.TB, p *syncPair, self, peer netip.Addr, local, remote []netip.Prefix, start config.IKEStart) *Daemon {
	t.Helper()
	ch := config.Child{Name: "net", Local: local, Remote: remote, ESP: []config.ESPProposal{espProp("aes256gcm16")}, Lifetime: time.Hour}
	conn := config.IKEConn{Name: "peer", Peer: peer, Local: self, Auth: config.IKEAuth{PSK: secret(t, "a-test-key-of-some-length")},
		Proposals: []config.IKEProposal{prop("aes256gcm16-prfsha256-x25519")}, Lifetime: 8 * time.Hour, Rekey: 4 * time.Hour,
		Start: start, Children: []config.Child{ch}}
	e := esp.NewEngine(esp.Options{})
	pol := esp.NewPolicy("net", spd.Selector{Local: local, Remote: remote}, nil)
	if err := e.SetPolicies([]*esp.Policy{pol}); err != nil {
		t.Fatal(err)
	}
	var d *Daemon
	d, err := New(Config{Conns: []config.IKEConn{conn}, Engine: e, Policies: [][]*esp.Policy{{pol}},
		Log: slog.New(slog.DiscardHandler), HalfOpenCookies: 16,
		Send: func(l, r netip.AddrPort, msg []byte) {
			to := p.a
			if d == p.a {
				to = p.b
			}
			c := bytes.Clone(msg)
			if p.keep {
				p.rec = append(p.rec, c)
			}
			p.queue = append(p.queue, syncMsg{to, r, l, c})
		}})
	if err != nil {
		t.Fatal(err)
	}
	d.maxHalfOpen = 64
	return d
}

func newSyncPair(t testing.TB) *syncPair {
	p := &syncPair{}
	p.a = newSyncDaemon(t, p, addrA, addrB, siteA, siteB, config.StartNone)
	p.b = newSyncDaemon(t, p, addrB, addrA, siteB, siteA, config.StartNone)
	return p
}

// pump delivers queued messages until none is left.
func (p *syncPair) pump() {
	for len(p.queue) > 0 {
		m := p.queue[0]
		p.queue = p.queue[1:]
		m.to.mu.Lock()
		m.to.handle(inbound{m.local, m.remote, m.msg})
		m.to.mu.Unlock()
	}
}

// setup runs one IKE_SA_INIT + IKE_AUTH from a to b.
func (p *syncPair) setup(t testing.TB) {
	p.a.mu.Lock()
	err := p.a.initiate(p.a.conns[0], "bench")
	p.a.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	p.pump()
}

// reset forgets every SA of both, without messages.
func (p *syncPair) reset() {
	for _, d := range []*Daemon{p.a, p.b} {
		d.mu.Lock()
		for _, sa := range d.allSAs() {
			d.teardown(sa, "reset", true)
		}
		d.mu.Unlock()
	}
}

func FuzzResponder(f *testing.F) {
	p := newSyncPair(f)
	p.keep = true
	p.setup(f)
	if len(p.b.Status()) != 1 || p.b.Status()[0].State != "established" {
		f.Fatal("setup failed")
	}
	// More exchanges for the corpus: a child rekey, an IKE rekey, a DPD.
	p.a.mu.Lock()
	for _, sa := range p.a.allSAs() {
		for _, c := range sa.children {
			p.a.rekeyChild(c)
		}
		p.a.enqueue(sa, &exchange{build: func() (wire.Exchange, []wire.Payload, bool) { return wire.Informational, nil, true }})
	}
	p.a.mu.Unlock()
	p.pump()
	p.a.mu.Lock()
	for _, sa := range p.a.allSAs() {
		if sa.state == stEstablished {
			p.a.rekeyIKE(sa)
		}
	}
	p.a.mu.Unlock()
	p.pump()
	for _, m := range p.rec {
		f.Add(m)
	}
	from, to := netip.AddrPortFrom(addrA, Port), netip.AddrPortFrom(addrB, Port)
	f.Add(initMsg(f, 99, from, to, nil, wire.DHECP256))
	f.Add([]byte{})
	p.keep = false
	d := p.b
	goroutines := 0 // measured in the first call: the fuzzing engine has its own
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > wire.MaxMessage {
			return
		}
		d.mu.Lock()
		d.handle(inbound{to, from, bytes.Clone(msg)})
		sas, timers, half := len(d.sas), len(d.timers), d.halfOpen
		d.mu.Unlock()
		p.queue = p.queue[:0] // answers go nowhere
		if half > d.maxHalfOpen || sas > d.maxHalfOpen+4 || timers > 8*(d.maxHalfOpen+4) {
			t.Fatalf("state grows: %d SAs, %d half-open, %d timers", sas, half, timers)
		}
		if goroutines == 0 {
			goroutines = runtime.NumGoroutine()
		}
		if n := runtime.NumGoroutine(); n > goroutines+2 {
			t.Fatalf("%d goroutines, started with %d", n, goroutines)
		}
	})
}

func BenchmarkIKESASetup(b *testing.B) {
	p := newSyncPair(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		p.setup(b)
		p.reset()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "setups/s")
	if n := p.a.Stats().IKESAsEstablished; n != uint64(b.N) {
		b.Fatalf("%d of %d setups established", n, b.N)
	}
}
