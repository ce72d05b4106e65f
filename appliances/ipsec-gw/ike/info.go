package ike

import (
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
)

// INFORMATIONAL (RFC 7296 sections 1.4, 2.4): deletes and liveness.

// childByOut finds sa's child by our outbound SPI (the peer's inbound,
// which it names in Delete and REKEY_SA).
func (sa *ikeSA) childByOut(spi uint32) *child {
	for _, c := range sa.children {
		if c.spiOut == spi && c.state != childGone {
			return c
		}
	}
	return nil
}

// infoRequest answers the peer's INFORMATIONAL request.
func (d *Daemon) infoRequest(sa *ikeSA, in inbound, h wire.Header, hash [32]byte, m *wire.Message) {
	var ikeDel, authFailed bool
	var ours []uint32
	for _, p := range m.Payloads {
		switch p := p.(type) {
		case *wire.Delete:
			switch p.Protocol {
			case wire.ProtoIKE:
				ikeDel = true
			case wire.ProtoESP:
				for _, spi := range p.SPIs {
					c := sa.childByOut(spi)
					if c == nil {
						continue
					}
					// RFC 7296 section 1.4.1: answer with the Delete of
					// our half, unless we are deleting it ourselves.
					if c.state != childDeleting {
						ours = append(ours, c.spiIn)
					}
					d.log.Info("ike: peer deletes child SA", append(sa.logAttrs(), "child", c.cfg.Name)...)
					d.removeChild(c)
				}
			}
		case *wire.Notify:
			if p.Type == wire.AuthenticationFailed {
				authFailed = true
			}
		}
	}
	if authFailed {
		d.log.Warn("ike: IKE SA failed", append(sa.logAttrs(), "what", "IKE_AUTH",
			"err", "the peer did not accept our authentication (AUTHENTICATION_FAILED)")...)
		ikeDel = true
	}
	if ikeDel && sa.peerRekey != nil && sa.rekey != nil && sa.pending != nil && sa.peerRekey.newSA.state == stEstablished {
		// Both rekeyed this SA, and the peer, whose rekey won, deletes
		// it before our own rekey's answer came (RFC 7296 section
		// 2.8.2): the children go to the peer's new SA; the answer,
		// still due, settles ours.
		d.respond(sa, in, h, hash, nil)
		d.moveChildren(sa, sa.peerRekey.newSA)
		sa.deletedByPeer = true
		d.awaitDelete(sa)
		return
	}
	if ikeDel {
		d.respond(sa, in, h, hash, nil)
		cn := sa.conn
		live := sa.state == stEstablished
		d.teardown(sa, "deleted by peer", true)
		if cn != nil && live {
			d.scheduleRetry(cn)
		}
		return
	}
	var pl []wire.Payload
	if len(ours) > 0 {
		pl = []wire.Payload{&wire.Delete{Protocol: wire.ProtoESP, SPIs: ours}}
	}
	d.respond(sa, in, h, hash, pl)
}
