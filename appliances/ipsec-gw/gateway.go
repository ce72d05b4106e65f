package ipsecgw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/wireguard"
	"github.com/nfvkit/nfvkit/appliances/router"
	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

func init() {
	appliance.Register(string(config.IPsecGW), func(p *config.Policy, env *appliance.Env) (dataplane.Stage, error) {
		return New(p, env, Options{})
	})
}

// Drop reasons of the gateway itself.
var (
	// ReasonNotForTunnel: a packet to the gateway's own address that no
	// tunnel listens for (the gateway has no other local service yet).
	ReasonNotForTunnel = dataplane.NewReason("local-no-listener")
)

// Options tune a Gateway.
type Options struct {
	// Router tunes the clear-text engine.
	Router router.Options
	// OutboxSize bounds the packets the tunnels' devices may have waiting
	// for the loop (default 4096).
	OutboxSize int
}

// Gateway is the ipsec-gw's stage. Process, Poll, Tick, Deliver and
// Release are called by the loop's goroutine; Reload from any.
type Gateway struct {
	r     *router.Router
	pool  *dataplane.Pool
	stats *dataplane.Stats
	log   *slog.Logger
	env   *appliance.Env

	out     *wireguard.Queue
	tunnels []*wireguard.Tunnel // tunnel k is the router's VirtualPort(k)
	first   int                 // VirtualPort(0)
	esp     *espState           // nil without esp: or ike: entries
	ike     ikeDaemon           // nil without ike: entries
	spec    *config.Policy      // the policy running

	// Per-burst scratch, per tunnel: packets for its device, datagrams for
	// its listen port.
	toTun  [][]dataplane.Packet
	toBind [][]dataplane.Packet
}

var (
	_ dataplane.Stage      = (*Gateway)(nil)
	_ dataplane.Ticker     = (*Gateway)(nil)
	_ dataplane.Releaser   = (*Gateway)(nil)
	_ dataplane.Source     = (*Gateway)(nil)
	_ dataplane.Drainer    = (*Gateway)(nil)
	_ dataplane.LocalStack = (*Gateway)(nil)
)

// New builds the gateway of policy p over the ports of env and starts its
// tunnels.
func New(p *config.Policy, env *appliance.Env, o Options) (*Gateway, error) {
	if p.Appliance != config.IPsecGW {
		return nil, fmt.Errorf("policy is for %s, not %s", p.Appliance, config.IPsecGW)
	}
	g := &Gateway{pool: env.Pool, stats: env.Stats, log: env.Log, env: env, spec: p}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	ro := o.Router
	ro.Appliance = config.IPsecGW
	ro.Virtual = virtuals
	r, err := router.New(p, env, ro)
	if err != nil {
		return nil, err
	}
	g.r = r
	g.first = r.VirtualPort(0)
	size := o.OutboxSize
	if size <= 0 {
		size = 4096
	}
	g.out = wireguard.NewQueue(size)
	for k := range p.WireGuard {
		t, err := wireguard.New(wireguard.Config{
			Spec: &p.WireGuard[k], Pool: env.Pool, Stats: env.Stats, Log: g.log,
			Port: uint16(r.VirtualPort(k)), Local: uint16(r.LocalPort()),
			Out: g.out, SourceFor: r.SourceFor,
		})
		if err != nil {
			g.closeTunnels()
			return nil, err
		}
		g.tunnels = append(g.tunnels, t)
	}
	if err := g.loadESP(p, r.VirtualPort(len(p.WireGuard)), dataplane.MonoClock()); err != nil {
		g.closeTunnels()
		return nil, err
	}
	if err := g.startIKE(p); err != nil {
		g.closeTunnels()
		return nil, err
	}
	g.grow(2 * dataplane.DefaultBurst)
	return g, nil
}

// virtuals is the router's view of the policy's tunnels: one virtual
// interface each, with the tunnel's addresses and its peers' allowed IPs;
// then one per static ESP SA and one per IKE child.
func virtuals(p *config.Policy) ([]router.Virtual, error) {
	var vs []router.Virtual
	for _, w := range p.WireGuard {
		v := router.Virtual{Name: w.Name, MTU: w.MTU, Address: w.Address}
		for _, peer := range w.Peers {
			for _, a := range peer.AllowedIPs {
				v.Routes = append(v.Routes, a.Masked())
			}
		}
		vs = append(vs, v)
	}
	return append(vs, espVirtuals(p)...), nil
}

func (g *Gateway) grow(n int) {
	if len(g.toTun) == len(g.tunnels) && (len(g.toTun) == 0 || cap(g.toTun[0]) >= n) {
		return
	}
	g.toTun = make([][]dataplane.Packet, len(g.tunnels))
	g.toBind = make([][]dataplane.Packet, len(g.tunnels))
	for k := range g.tunnels {
		g.toTun[k] = make([]dataplane.Packet, 0, n)
		g.toBind[k] = make([]dataplane.Packet, 0, n)
	}
}

// Router is the gateway's clear-text engine.
func (g *Gateway) Router() *router.Router { return g.r }

// Tunnels are the gateway's WireGuard tunnels, in policy order.
func (g *Gateway) Tunnels() []*wireguard.Tunnel { return g.tunnels }

// Process routes a burst from the ports.
func (g *Gateway) Process(b *dataplane.Batch) {
	g.r.Process(b)
	g.divert(b)
}

// Tick runs the router's timers, and the ESP SAs' lifetimes and NAT
// keepalives.
func (g *Gateway) Tick(b *dataplane.Batch) {
	g.r.Tick(b)
	g.divert(b)
	g.tickESP(b.Now)
}

// Poll takes what the tunnels' devices produced, up to half of b's room
// (the router may add packets while routing them), and routes it. b is
// empty, as the loop passes it: the router routes the whole batch.
func (g *Gateway) Poll(b *dataplane.Batch) int {
	k := len(b.Pkts)
	n := g.out.Pop(b.Pkts[k : k+b.Room()/2])
	if n == 0 {
		return 0
	}
	b.Pkts = b.Pkts[:k+n]
	for i := k; i < k+n; i++ {
		b.Pkts[i].Verdict, b.Pkts[i].Reason = dataplane.Drop, 0
	}
	g.r.Process(b)
	g.divert(b)
	return n
}

// Arm asks the outbox to wake the loop; see dataplane.Source.
func (g *Gateway) Arm(bell *dataplane.Bell) bool { return g.out.Arm(bell) }

// Disarm cancels Arm.
func (g *Gateway) Disarm() { g.out.Disarm() }

// divert takes the packets the router sent to a tunnel or an SA off b
// (they become Consumed): a tunnel's are queued for its device, an SA's
// encapsulated.
func (g *Gateway) divert(b *dataplane.Batch) {
	nt := len(g.tunnels)
	if nt == 0 && g.esp == nil {
		return
	}
	g.grow(cap(b.Pkts))
	found := false
	for i := range b.Pkts {
		p := &b.Pkts[i]
		if p.Verdict != dataplane.Forward {
			continue
		}
		if k := int(p.OutPort) - g.first; k >= 0 && k < nt {
			g.toTun[k] = append(g.toTun[k], *p)
			p.Consume()
			found = true
		} else if g.esp.isSA(p.OutPort) {
			g.esp.enc.Pkts = append(g.esp.enc.Pkts, *p)
			p.Consume()
		}
	}
	if g.esp != nil {
		g.encap(b.Now)
	}
	if !found {
		return
	}
	for k, ps := range g.toTun {
		if len(ps) == 0 {
			continue
		}
		n := g.tunnels[k].Enqueue(ps)
		g.free(ps[n:], wireguard.ReasonQueueFull)
		g.toTun[k] = ps[:0]
	}
}

// free drops ps for reason.
func (g *Gateway) free(ps []dataplane.Packet, reason dataplane.Reason) {
	for i := range ps {
		g.stats.Drop(reason)
		g.pool.Put(ps[i])
	}
}

// Deliver takes the packets the router punted (to the gateway's own
// addresses, or link broadcasts): UDP to a tunnel's listen port goes to
// its device, IKE (UDP 500) to the IKE daemon, ESP and UDP 4500 to the ESP
// path (which hands IKE on 4500 to the daemon); the rest is dropped.
func (g *Gateway) Deliver(b *dataplane.Batch) {
	for i := range b.Pkts {
		p := &b.Pkts[i]
		k, l2 := -1, 0
		isESPPkt, isIKE := false, false
		if int(p.InPort) < g.env.Ports {
			var port uint16
			var udp, ok bool
			if l2, udp, port, ok = ipOf(p.Data()); ok {
				if udp {
					k = g.tunnelOn(port)
					isIKE = k < 0 && port == ikePort && g.ike != nil
				}
				isESPPkt = k < 0 && !isIKE && g.esp != nil && isESP(p.Data()[l2:])
			}
		}
		switch {
		case isIKE:
			p.Pull(l2)
			g.receiveIKE(p, false)
			g.pool.Put(*p)
		case k >= 0:
			p.Pull(l2)
			g.toBind[k] = append(g.toBind[k], *p)
		case isESPPkt && len(g.esp.dec.Pkts) < cap(g.esp.dec.Pkts):
			p.Pull(l2)
			g.esp.dec.Pkts = append(g.esp.dec.Pkts, *p)
		default:
			g.stats.Drop(ReasonNotForTunnel)
			g.pool.Put(*p)
		}
	}
	if g.esp != nil {
		g.decap(b.Now)
	}
	for k, ps := range g.toBind {
		if len(ps) == 0 {
			continue
		}
		n := g.tunnels[k].Deliver(ps)
		g.free(ps[n:], wireguard.ReasonQueueFull)
		g.toBind[k] = ps[:0]
	}
}

// tunnelOn is the tunnel listening on UDP port, or -1.
func (g *Gateway) tunnelOn(port uint16) int {
	for k, t := range g.tunnels {
		if t.Port() == port {
			return k
		}
	}
	return -1
}

// ipOf reads an Ethernet frame (at most one VLAN tag) carrying an IPv4 or
// IPv6 packet: the link header's length and, for an unfragmented UDP
// datagram, its destination port.
func ipOf(d []byte) (l2 int, udp bool, port uint16, ok bool) {
	if len(d) < packet.EthernetLen {
		return 0, false, 0, false
	}
	l2 = packet.EthernetLen
	et := packet.EtherType(binary.BigEndian.Uint16(d[12:]))
	if et == packet.EtherTypeVLAN {
		if len(d) < l2+packet.VLANLen {
			return 0, false, 0, false
		}
		et = packet.EtherType(binary.BigEndian.Uint16(d[16:]))
		l2 += packet.VLANLen
	}
	ip := d[l2:]
	switch {
	case et == packet.EtherTypeIPv4 && len(ip) >= packet.IPv4MinLen:
		hl := int(ip[0]&0xf) * 4
		if ip[9] == uint8(packet.IPProtoUDP) && binary.BigEndian.Uint16(ip[6:])&0x3fff == 0 && hl >= packet.IPv4MinLen && len(ip) >= hl+8 {
			return l2, true, binary.BigEndian.Uint16(ip[hl+2:]), true
		}
	case et == packet.EtherTypeIPv6 && len(ip) >= packet.IPv6Len:
		if ip[6] == uint8(packet.IPProtoUDP) && len(ip) >= packet.IPv6Len+8 {
			return l2, true, binary.BigEndian.Uint16(ip[packet.IPv6Len+2:]), true
		}
	default:
		return 0, false, 0, false
	}
	return l2, false, 0, true
}

// Drain closes the IKE daemon as the loop stops, so that its Delete
// messages leave while the loop still sends (the peer then tears its side
// down at once instead of by dead peer detection).
func (g *Gateway) Drain() {
	if g.ike != nil {
		g.ike.Close()
	}
}

// Release stops the tunnels, then frees what the router and the outbox
// hold; the loop calls it when it stops.
func (g *Gateway) Release() {
	if g.ike != nil {
		g.ike.Close()
	}
	g.closeTunnels()
	g.r.Release()
	g.out.Close(g.pool)
}

func (g *Gateway) closeTunnels() {
	for _, t := range g.tunnels {
		t.Close()
	}
}

// Reload applies policy p: the router's state is swapped and each tunnel
// reconfigured in place (keys, port, peers; sessions of peers that stay
// live on). Adding, removing, renaming or reordering tunnels needs a
// restart. On error the running policy stays, except that tunnels are
// reconfigured one by one after the router's state is checked.
func (g *Gateway) Reload(p *config.Policy) error {
	if p.Appliance != config.IPsecGW {
		return fmt.Errorf("policy is for %s, not %s", p.Appliance, config.IPsecGW)
	}
	if !sameIKE(p.IKE, g.spec.IKE) {
		return errors.New("the new policy changes ike: connections; restart to apply them")
	}
	if !sameSAs(p.ESP, g.spec.ESP) {
		return errors.New("the new policy changes static ESP SAs; restart to apply them (their sequence numbers and replay windows would restart)")
	}
	names := make([]string, len(g.tunnels))
	for k, t := range g.tunnels {
		names[k] = t.Name()
	}
	if !slices.EqualFunc(names, p.WireGuard, func(n string, w config.WireGuard) bool { return n == w.Name }) {
		return errors.New("the new policy adds, removes or reorders WireGuard tunnels; restart to apply it")
	}
	// Resolve every secret before anything changes.
	for k := range p.WireGuard {
		if _, err := p.WireGuard[k].PrivateKey.ResolveWGKey(); err != nil {
			return fmt.Errorf("tunnel %s: private_key: %w", p.WireGuard[k].Name, err)
		}
	}
	if err := g.r.Reload(p); err != nil {
		return err
	}
	g.spec = p
	var errs []error
	for k, t := range g.tunnels {
		errs = append(errs, t.Reconfigure(&p.WireGuard[k]))
	}
	return errors.Join(errs...)
}

// sameSAs reports whether two esp: sections say the same, wherever they
// are written in their files.
func sameSAs(a, b []config.StaticSA) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	for i := range a {
		a[i].Pos = config.Pos{}
	}
	for i := range b {
		b[i].Pos = config.Pos{}
	}
	return reflect.DeepEqual(a, b)
}

// sameIKE reports whether two ike: sections say the same, wherever they
// are written in their files.
func sameIKE(a, b []config.IKEConn) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	for _, cs := range [][]config.IKEConn{a, b} {
		for i := range cs {
			cs[i].Pos = config.Pos{}
			cs[i].Children = slices.Clone(cs[i].Children)
			for j := range cs[i].Children {
				cs[i].Children[j].Pos = config.Pos{}
			}
		}
	}
	return reflect.DeepEqual(a, b)
}

// SourceFor is the gateway's address towards dst, as the router picks it.
func (g *Gateway) SourceFor(dst netip.Addr) (netip.Addr, bool) { return g.r.SourceFor(dst) }
