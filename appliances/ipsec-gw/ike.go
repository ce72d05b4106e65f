package ipsecgw

import (
	"net/netip"
	"sync/atomic"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// IKE rides the dataplane like WireGuard's outer side: the router punts
// UDP 500 to the gateway's addresses, and the ESP path punts what arrives
// on UDP 4500 with the non-ESP marker (RFC 3948 section 2.2); Deliver
// copies each message into the daemon's queue. The daemon's own goroutine
// negotiates and installs SAs into the ESP engine the dataplane uses, and
// its messages go out as the appliance's own datagrams through the outbox.

const ikePort = ike.Port

// Drop reasons of the IKE transport.
var (
	// ReasonIKEMalformed: a datagram to the IKE ports too short or
	// truncated to carry a message.
	ReasonIKEMalformed = dataplane.NewReason("ike-malformed")
	// ReasonIKESendFailed: a message the daemon sent found no room (too
	// big, or the outbox full).
	ReasonIKESendFailed = dataplane.NewReason("ike-send-failed")
)

// ikeDaemon is what the gateway needs of the IKE daemon.
type ikeDaemon interface {
	Receive(local, remote netip.AddrPort, msg []byte)
	Close()
}

// Daemon is the gateway's IKE daemon, nil without ike: entries.
func (g *Gateway) Daemon() *ike.Daemon {
	d, _ := g.ike.(*ike.Daemon)
	return d
}

// startIKE starts the daemon of p's ike: section, if any.
func (g *Gateway) startIKE(p *config.Policy) error {
	if len(p.IKE) == 0 {
		return nil
	}
	d, err := ike.New(ike.Config{
		Conns:    p.IKE,
		Engine:   g.esp.engine,
		Policies: g.esp.children,
		LocalFor: g.r.SourceFor,
		Send:     g.sendIKE,
		Log:      g.log.With("component", "ike"),
	})
	if err != nil {
		return err
	}
	g.ike = d
	d.Start()
	return nil
}

// receiveIKE hands the IKE message in the datagram p (IP at the data
// start) to the daemon, which copies it; natt says it came on port 4500,
// after the non-ESP marker. The caller frees p.
func (g *Gateway) receiveIKE(p *dataplane.Packet, natt bool) {
	src, dst, msg, ok := packet.ParseDatagram(p.Data())
	if natt {
		ok = ok && len(msg) >= 4
		if ok {
			msg = msg[4:]
		}
	}
	if !ok {
		g.stats.Drop(ReasonIKEMalformed)
		return
	}
	g.ike.Receive(dst, src, msg)
}

var ikeIPID atomic.Uint32

// sendIKE is the daemon's transport: msg in UDP (after the non-ESP marker
// on port 4500) and IP from local to remote, routed as the appliance's own
// packet. It is called from the daemon's goroutine.
func (g *Gateway) sendIKE(local, remote netip.AddrPort, msg []byte) {
	marker := 0
	if local.Port() == ike.NATTPort || remote.Port() == ike.NATTPort {
		marker = 4
	}
	hl := packet.DatagramHeaderLen(remote.Addr())
	p, ok := g.pool.Get()
	if !ok {
		g.stats.Drop(dataplane.ReasonNoBuffer)
		return
	}
	if local.Addr().Is4() != remote.Addr().Is4() || packet.UDPHeaderLen+marker+len(msg) > 0xffff || p.Append(hl+marker+len(msg)) == nil {
		g.stats.Drop(ReasonIKESendFailed)
		g.pool.Put(p)
		return
	}
	d := p.Data()
	clear(d[hl : hl+marker])
	copy(d[hl+marker:], msg)
	// IKE messages are authenticated (or, in IKE_SA_INIT, checked by
	// what follows), but a UDP checksum is cheap at this rate.
	packet.PutDatagram(d, local, remote, uint16(ikeIPID.Add(1)), true)
	p.InPort = uint16(g.r.LocalPort())
	p.Verdict, p.Reason = dataplane.Drop, 0
	if g.out.Push([]dataplane.Packet{p}) != 1 {
		g.stats.Drop(ReasonIKESendFailed)
		g.pool.Put(p)
	}
}
