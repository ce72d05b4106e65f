package ipsecgw

import (
	"encoding/binary"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp/spd"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/wireguard"
	"github.com/nfvkit/nfvkit/appliances/router"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// ESP SAs, static (the policy's esp: section) or negotiated by IKE (each
// child of an ike: connection), ride the same seams as the WireGuard
// tunnels: each SA pair or child is a virtual interface of the router,
// named esp/NAME, whose routes are its remote traffic selectors. What
// the router sends there is checked against the SPD and encapsulated in
// place (package esp's Worker, in the loop's goroutine, no copy), and the
// outer packet goes through the outbox to be routed to the peer like the
// appliance's other packets. ESP (or ESP in UDP 4500) to the gateway's
// addresses is punted by the router; Deliver decapsulates it in place and
// the inner packet goes through the outbox into the router as received on
// its SA's virtual interface.

// Drop reasons of the ESP path.
var (
	// ReasonESPNoPolicy: routed to an SA whose selectors do not cover the
	// packet (its source is outside local_ts).
	ReasonESPNoPolicy = dataplane.NewReason("esp-no-policy")
	// ReasonIKE: an IKE message, and this gateway runs no IKE (no ike:
	// section).
	ReasonIKE = dataplane.NewReason("ike-not-running")
)

// espVirtualName is the router's name of a static SA's or an IKE child's
// virtual interface.
func espVirtualName(name string) string { return "esp/" + name }

// espVirtuals are the router's virtual interfaces of the static SAs, then
// of the IKE connections' children, in policy order.
func espVirtuals(p *config.Policy) []router.Virtual {
	var vs []router.Virtual
	for _, s := range p.ESP {
		vs = append(vs, router.Virtual{Name: espVirtualName(s.Name), MTU: config.DefaultMTU - 80, Routes: s.RemoteTS})
	}
	for _, k := range p.IKE {
		for _, ch := range k.Children {
			vs = append(vs, router.Virtual{Name: espVirtualName(ch.Name), MTU: config.DefaultMTU - 80, Routes: ch.Remote})
		}
	}
	return vs
}

// espState is the gateway's ESP state: the engine holding every SA, static
// or negotiated by IKE, and the virtual interfaces of the SPD entries.
type espState struct {
	engine *esp.Engine
	w      *esp.Worker
	first  int            // the router's virtual port of the first entry
	n      int            // entries: static SAs, then IKE children
	portOf map[string]int // virtual port by SA name (a static entry's or a child's)
	// children[i][j] is the SPD entry of IKE connection i's child j.
	children [][]*esp.Policy
	// Per-burst scratch.
	enc, dec dataplane.Batch
	sas      []*esp.SA
}

// loadESP installs the policy's static SAs and makes the SPD entries of
// its IKE children (without SAs until IKE negotiates them); their virtual
// interfaces start at the router's virtual port first.
func (g *Gateway) loadESP(p *config.Policy, first int, now int64) error {
	if len(p.ESP) == 0 && len(p.IKE) == 0 {
		return nil
	}
	e := esp.NewEngine(esp.Options{})
	ps, err := e.LoadStatic(p.ESP, esp.StaticOptions{LocalFor: g.r.SourceFor}, now)
	if err != nil {
		return err
	}
	s := &espState{engine: e, w: e.NewWorker(), first: first, portOf: map[string]int{}}
	for i := range p.ESP {
		s.portOf[p.ESP[i].Name] = first + s.n
		s.n++
	}
	for _, k := range p.IKE {
		var cps []*esp.Policy
		for _, ch := range k.Children {
			pol := esp.NewPolicy(ch.Name, spd.Selector{Local: ch.Local, Remote: ch.Remote}, nil)
			cps = append(cps, pol)
			ps = append(ps, pol)
			s.portOf[ch.Name] = first + s.n
			s.n++
		}
		s.children = append(s.children, cps)
	}
	if err := e.SetPolicies(ps); err != nil {
		return err
	}
	n := 2 * dataplane.DefaultBurst
	s.enc.Pkts = make([]dataplane.Packet, 0, n)
	s.dec.Pkts = make([]dataplane.Packet, 0, n)
	s.sas = make([]*esp.SA, n)
	g.esp = s
	for _, sa := range e.SAs() {
		g.log.Info("esp SA installed", "sa", sa.String())
	}
	return nil
}

// isSA reports whether port is the virtual port of a static SA or an IKE
// child.
func (s *espState) isSA(port uint16) bool {
	return s != nil && int(port) >= s.first && int(port) < s.first+s.n
}

// encap encapsulates the packets routed to SAs, collected in s.enc, and
// queues the outer packets for routing; it empties s.enc.
func (g *Gateway) encap(now int64) {
	s := g.esp
	b := &s.enc
	if len(b.Pkts) == 0 {
		return
	}
	b.Now = now
	s.w.Classify(b, s.sas)
	for i := range b.Pkts {
		if s.sas[i] == nil && b.Pkts[i].Verdict != dataplane.Drop {
			b.Pkts[i].Drop(ReasonESPNoPolicy)
		}
	}
	s.w.Encap(b, s.sas)
	g.toOutbox(b, uint16(g.r.LocalPort()), nil)
}

// decap decapsulates the datagrams collected in s.dec and queues the inner
// packets for routing, each as received on its SA's interface; IKE
// messages on port 4500 go to the IKE daemon. It empties s.dec.
func (g *Gateway) decap(now int64) {
	s := g.esp
	b := &s.dec
	if len(b.Pkts) == 0 {
		return
	}
	b.Now = now
	s.w.Decap(b, s.sas)
	for i := range b.Pkts {
		p := &b.Pkts[i]
		// Decap leaves the verdict (Punt, as the router gave it) of what
		// it decapsulated, and punts IKE.
		if s.sas[i] != nil || p.Verdict == dataplane.Drop {
			continue
		}
		if g.ike == nil {
			p.Drop(ReasonIKE)
			continue
		}
		g.receiveIKE(p, true)
		p.Drop(0) // handed over (copied): freed below without counting
	}
	g.toOutbox(b, 0, s.sas)
}

// toOutbox moves the packets of b that are not dropped to the outbox, with
// InPort port, or their inbound SA's virtual port when sas is given; it
// frees the dropped ones and empties b.
func (g *Gateway) toOutbox(b *dataplane.Batch, port uint16, sas []*esp.SA) {
	w := 0
	for i := range b.Pkts {
		p := &b.Pkts[i]
		if p.Verdict == dataplane.Drop {
			if p.Reason != 0 {
				g.stats.Drop(p.Reason)
			}
			g.pool.Put(*p)
			continue
		}
		p.InPort = port
		if sas != nil {
			p.InPort = uint16(g.esp.portOf[sas[i].Name()])
		}
		p.Verdict, p.Reason = dataplane.Drop, 0
		b.Pkts[w] = *p
		w++
	}
	n := g.out.Push(b.Pkts[:w])
	for i := n; i < w; i++ {
		g.stats.Drop(wireguard.ReasonQueueFull)
		g.pool.Put(b.Pkts[i])
	}
	b.Pkts = b.Pkts[:0]
}

// isESP reports whether the IP packet ip (its link header off) is ESP or
// UDP to port 4500 (ESP in UDP, or IKE's NAT-T port).
func isESP(ip []byte) bool {
	switch {
	case len(ip) >= packet.IPv4MinLen && ip[0]>>4 == 4:
		hl := int(ip[0]&0xf) * 4
		switch ip[9] {
		case uint8(packet.IPProtoESP):
			return true
		case uint8(packet.IPProtoUDP):
			return len(ip) >= hl+8 && binary.BigEndian.Uint16(ip[hl+2:]) == 4500
		}
	case len(ip) >= packet.IPv6Len+8 && ip[0]>>4 == 6:
		switch ip[6] {
		case uint8(packet.IPProtoESP):
			return true
		case uint8(packet.IPProtoUDP):
			return binary.BigEndian.Uint16(ip[packet.IPv6Len+2:]) == 4500
		}
	}
	return false
}

// tickESP runs the SAs' lifetimes and NAT keepalives. The IKE daemon, when
// there is one, reads the engine's events; otherwise they are logged.
func (g *Gateway) tickESP(now int64) {
	s := g.esp
	if s == nil {
		return
	}
	s.engine.Expire(now)
	s.enc.Now = now
	s.w.Keepalives(&s.enc, g.pool)
	for i := range s.enc.Pkts {
		s.enc.Pkts[i].Verdict = dataplane.Forward // not a drop: routed next
	}
	g.toOutbox(&s.enc, uint16(g.r.LocalPort()), nil)
	if g.ike != nil {
		return
	}
	for {
		select {
		case ev := <-s.engine.Events():
			g.log.Info("esp event", "event", ev.String())
		default:
			return
		}
	}
}
