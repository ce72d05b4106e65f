package ipsecgw

import (
	"encoding/binary"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/wireguard"
	"github.com/nfvkit/nfvkit/appliances/router"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Static ESP SAs (the policy's esp: section) ride the same seams as the
// WireGuard tunnels: each SA pair is a virtual interface of the router,
// named esp/NAME, whose routes are the SA's remote traffic selectors. What
// the router sends there is checked against the SPD and encapsulated in
// place (package esp's Worker, in the loop's goroutine, no copy), and the
// outer packet goes through the outbox to be routed to the peer like the
// appliance's other packets. ESP (or ESP in UDP 4500) to the gateway's
// addresses is punted by the router; Deliver decapsulates it in place and
// the inner packet goes through the outbox into the router as received on
// its SA's virtual interface.

// Drop reasons of the static ESP path.
var (
	// ReasonESPNoPolicy: routed to an SA whose selectors do not cover the
	// packet (its source is outside local_ts).
	ReasonESPNoPolicy = dataplane.NewReason("esp-no-policy")
	// ReasonIKE: an IKE message, and this gateway runs no IKE yet.
	ReasonIKE = dataplane.NewReason("ike-not-running")
)

// espVirtualName is the router's name of a static SA's virtual interface.
func espVirtualName(name string) string { return "esp/" + name }

// espVirtuals are the router's virtual interfaces of the static SAs.
func espVirtuals(p *config.Policy) []router.Virtual {
	var vs []router.Virtual
	for _, s := range p.ESP {
		vs = append(vs, router.Virtual{Name: espVirtualName(s.Name), MTU: config.DefaultMTU - 80, Routes: s.RemoteTS})
	}
	return vs
}

// staticSAs is the gateway's ESP state.
type staticSAs struct {
	engine *esp.Engine
	w      *esp.Worker
	first  int       // the router's virtual port of the first SA
	in     []*esp.SA // inbound SA of entry k
	// Per-burst scratch.
	enc, dec dataplane.Batch
	sas      []*esp.SA
}

// loadStatic installs the policy's static SAs; their virtual interfaces
// start at the router's virtual port first.
func (g *Gateway) loadStatic(p *config.Policy, first int, now int64) error {
	if len(p.ESP) == 0 {
		return nil
	}
	e := esp.NewEngine(esp.Options{})
	ps, err := e.LoadStatic(p.ESP, esp.StaticOptions{LocalFor: g.r.SourceFor}, now)
	if err != nil {
		return err
	}
	if err := e.SetPolicies(ps); err != nil {
		return err
	}
	s := &staticSAs{engine: e, w: e.NewWorker(), first: first}
	for i := range p.ESP {
		s.in = append(s.in, e.Lookup(uint32(p.ESP[i].SPIIn)))
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

// isSA reports whether port is a static SA's virtual port.
func (s *staticSAs) isSA(port uint16) bool {
	return s != nil && int(port) >= s.first && int(port) < s.first+len(s.in)
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
// packets for routing, each as received on its SA's interface; it empties
// s.dec.
func (g *Gateway) decap(now int64) {
	s := g.esp
	b := &s.dec
	if len(b.Pkts) == 0 {
		return
	}
	b.Now = now
	s.w.Decap(b, s.sas)
	for i := range b.Pkts {
		// Decap leaves the verdict (Punt, as the router gave it) of what
		// it decapsulated, and punts IKE.
		if s.sas[i] == nil && b.Pkts[i].Verdict != dataplane.Drop {
			b.Pkts[i].Drop(ReasonIKE)
		}
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
			g.stats.Drop(p.Reason)
			g.pool.Put(*p)
			continue
		}
		p.InPort = port
		if sas != nil {
			p.InPort = g.esp.portOf(sas[i])
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

// portOf is the virtual port of inbound SA sa.
func (s *staticSAs) portOf(sa *esp.SA) uint16 {
	for k, in := range s.in {
		if in == sa {
			return uint16(s.first + k)
		}
	}
	return uint16(s.first) // not reached: Decap found sa among ours
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

// tickESP runs the SAs' lifetimes and NAT keepalives, and logs the
// engine's events (no IKE acts on them yet).
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
	for {
		select {
		case ev := <-s.engine.Events():
			g.log.Info("esp event", "event", ev.String())
		default:
			return
		}
	}
}
