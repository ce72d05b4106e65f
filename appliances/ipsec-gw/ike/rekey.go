package ike

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/suite"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
)

// CREATE_CHILD_SA (RFC 7296 sections 1.3, 2.8, 2.18, 2.25): new children,
// rekeyed children and rekeyed IKE SAs, and the collisions between them.

// rekeyChild starts rekeying c (its soft lifetime passed).
func (d *Daemon) rekeyChild(c *child) {
	if c.state != childActive || c.ike.state != stEstablished {
		return
	}
	c.state = childRekeying
	r := &childReq{cfgIdx: c.idx, rekeyOf: c}
	d.enqueue(c.ike, d.childExchange(c.ike, r, 0))
}

// rekeyedChild finishes our rekey of old, replaced by nc (installed, the
// policy already sending with it): delete old, or, when the peer rekeyed
// old at the same time, keep the SA of the exchange without the lowest
// nonce (RFC 7296 section 2.8.1).
func (d *Daemon) rekeyedChild(old, nc *child, ni, nr []byte) {
	d.childRekeys.Add(1)
	sa := nc.ike
	d.log.Info("ike: child SA rekeyed", append(sa.logAttrs(), "child", nc.cfg.Name,
		"old_spi_in", fmt.Sprintf("%08x", old.spiIn), "spi_in", fmt.Sprintf("%08x", nc.spiIn))...)
	old.rekey = nil
	theirs := old.collision
	old.collision = nil
	// The peer may have deleted old already (it won the collision, or
	// did not see one): what is left to settle is which new SA stays.
	if theirs != nil && theirs.state != childGone {
		if lowestNonce(ni, nr, old.peerNi, old.peerNr) {
			// Ours is redundant: we delete it, the peer deletes old.
			d.log.Info("ike: simultaneous child rekey, ours is redundant", append(sa.logAttrs(), "child", nc.cfg.Name)...)
			if p := d.policy(theirs.connIdx, theirs.idx); p != nil {
				p.SetSA(theirs.out)
			}
			if old.state != childGone {
				old.state = childRekeyed
			}
			d.deleteChild(nc, "redundant")
			return
		}
		d.log.Info("ike: simultaneous child rekey, the peer's is redundant", append(sa.logAttrs(), "child", nc.cfg.Name)...)
		theirs.state = childRekeyed
	}
	if old.state == childGone {
		return
	}
	old.state = childActive
	d.deleteChild(old, "rekeyed")
}

// createChildRequest answers the peer's CREATE_CHILD_SA.
func (d *Daemon) createChildRequest(sa *ikeSA, in inbound, h wire.Header, hash [32]byte, m *wire.Message) {
	answer := func(pl ...wire.Payload) { d.respond(sa, in, h, hash, pl) }
	sap, _ := m.Find(wire.PayloadSA).(*wire.SA)
	nonce, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	if sap == nil || nonce == nil || len(sap.Proposals) == 0 {
		d.drop("malformed-inner")
		answer(&wire.Notify{Type: wire.InvalidSyntax})
		return
	}
	if sap.Proposals[0].Protocol == wire.ProtoIKE {
		d.ikeRekeyRequest(sa, in, h, hash, m, sap, nonce.Data)
		return
	}
	ni := slices.Clone(nonce.Data)
	nr := suite.NewNonce(nonceLen)
	var old *child
	if n := m.Notify(wire.RekeySA); n != nil {
		if n.Protocol != wire.ProtoESP || len(n.SPI) != 4 {
			answer(&wire.Notify{Type: wire.ChildSANotFound})
			return
		}
		old = sa.childByOut(binary.BigEndian.Uint32(n.SPI))
		if old == nil {
			answer(&wire.Notify{Protocol: wire.ProtoESP, SPI: n.SPI, Type: wire.ChildSANotFound})
			return
		}
		if old.state == childDeleting || old.state == childRekeyed {
			answer(&wire.Notify{Type: wire.TemporaryFailure})
			return
		}
	}
	cp, nc, errN := d.acceptChild(sa, m, ni, nr, true, old)
	if errN != nil {
		answer(errN)
		return
	}
	pl := []wire.Payload{cp.sa, &wire.Nonce{Data: nr}}
	if cp.ke != nil {
		pl = append(pl, cp.ke)
	}
	answer(append(pl, cp.tsi, cp.tsr)...)
	if old == nil {
		return
	}
	d.childRekeys.Add(1)
	d.log.Info("ike: child SA rekeyed by peer", append(sa.logAttrs(), "child", nc.cfg.Name,
		"old_spi_in", fmt.Sprintf("%08x", old.spiIn), "spi_in", fmt.Sprintf("%08x", nc.spiIn))...)
	if old.state == childRekeying && old.rekey != nil && old.rekey.ni != nil {
		// Both rekey it: decided when our answer comes.
		old.collision, old.peerNi, old.peerNr = nc, ni, nr
		return
	}
	// Ours (if queued) is moot now; the peer deletes old.
	old.state, old.rekey = childRekeyed, nil
}

// ikeRekey is an IKE SA rekey, ours or the peer's.
type ikeRekey struct {
	spi     uint64
	ni, nr  []byte
	dh      *suite.DH
	sent    []wire.Proposal
	retries int
	newSA   *ikeSA
}

// rekeyIKE starts rekeying sa (RFC 7296 section 2.18).
func (d *Daemon) rekeyIKE(sa *ikeSA) {
	if sa.state != stEstablished || sa.rekey != nil {
		return
	}
	r := &ikeRekey{}
	sa.rekey = r
	d.enqueue(sa, d.ikeRekeyExchange(sa, r, 0))
}

func (d *Daemon) ikeRekeyExchange(sa *ikeSA, r *ikeRekey, group uint16) *exchange {
	return &exchange{
		build: func() (wire.Exchange, []wire.Payload, bool) {
			if sa.state != stEstablished || sa.rekey != r {
				return 0, nil, false
			}
			g := group
			if g == 0 {
				g = sa.algs.DH
			}
			dh, err := suite.NewDH(g)
			if err != nil {
				sa.rekey = nil
				return 0, nil, false
			}
			r.dh = dh
			r.spi = d.newIKESPI()
			r.ni = suite.NewNonce(nonceLen)
			var spi [8]byte
			binary.BigEndian.PutUint64(spi[:], r.spi)
			r.sent = ikeProposals(sa.conn.cfg, spi[:])
			return wire.CreateChildSA, []wire.Payload{
				&wire.SA{Proposals: r.sent}, &wire.Nonce{Data: r.ni}, &wire.KE{Group: g, Data: dh.Public()},
			}, true
		},
		done: func(m *wire.Message) { d.ikeRekeyAnswer(sa, r, m) },
	}
}

func (d *Daemon) ikeRekeyAnswer(sa *ikeSA, r *ikeRekey, m *wire.Message) {
	if sa.rekey != r {
		return
	}
	if n := m.ErrorNotify(); n != nil {
		switch n.Type {
		case wire.InvalidKEPayload:
			if len(n.Data) == 2 && r.retries < 2 {
				g := binary.BigEndian.Uint16(n.Data)
				if slices.Contains(offeredGroups(sa.conn.cfg), g) {
					r.retries++
					d.enqueue(sa, d.ikeRekeyExchange(sa, r, g))
					return
				}
			}
		case wire.TemporaryFailure:
			if r.retries < 5 {
				r.retries++
				d.after(d.c.RetransmitBase+jitter(2*d.c.RetransmitBase, 1), func() {
					if sa.rekey == r && sa.state == stEstablished {
						d.enqueue(sa, d.ikeRekeyExchange(sa, r, 0))
					}
				})
				return
			}
		}
		d.log.Warn("ike: IKE SA rekey failed", append(sa.logAttrs(), "err", n.Type.String())...)
		sa.rekey = nil
		return
	}
	sap, _ := m.Find(wire.PayloadSA).(*wire.SA)
	ke, _ := m.Find(wire.PayloadKE).(*wire.KE)
	nonce, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	fail := func(err error) {
		d.log.Warn("ike: IKE SA rekey failed", append(sa.logAttrs(), "err", err)...)
		sa.rekey = nil
	}
	if sap == nil || ke == nil || nonce == nil {
		fail(fmt.Errorf("no SA, KE or nonce in the answer"))
		return
	}
	algs, chosen, err := checkIKEChoice(r.sent, sap, 8)
	if err != nil || ke.Group != r.dh.Group() || algs.DH != ke.Group {
		fail(fmt.Errorf("bad proposal choice: %v", cmpErr(err, "DH group of KE")))
		return
	}
	gir, err := r.dh.Shared(ke.Data)
	if err != nil {
		fail(err)
		return
	}
	defer clear(gir)
	peerSPI := binary.BigEndian.Uint64(chosen.SPI)
	r.nr = slices.Clone(nonce.Data)
	ns, err := d.rekeyedSA(sa, algs, true, r.spi, peerSPI, r.ni, r.nr, gir)
	if err != nil {
		fail(err)
		return
	}
	sa.rekey = nil
	d.sas[ns.ourSPI()] = ns
	d.ikeRekeys.Add(1)
	d.log.Info("ike: IKE SA rekeyed", append(ns.logAttrs(), "algs", algs.String(),
		"old_spi_i", fmt.Sprintf("%016x", sa.spiI), "old_spi_r", fmt.Sprintf("%016x", sa.spiR))...)
	pr := sa.peerRekey
	sa.peerRekey = nil
	if pr != nil {
		// Both rekeyed sa (RFC 7296 section 2.8.2). The children stayed
		// on sa until now; the exchange with the lowest nonce made the
		// redundant SA, which its initiator deletes, while the other
		// initiator deletes sa.
		alive := pr.newSA.state == stEstablished
		if lowestNonce(r.ni, r.nr, pr.ni, pr.nr) && alive {
			d.log.Info("ike: simultaneous IKE rekey, ours is redundant", ns.logAttrs()...)
			d.moveChildren(sa, pr.newSA)
			d.establish(ns)
			d.deleteIKE(ns, "redundant")
			d.replaced(sa, false)
			return
		}
		d.log.Info("ike: simultaneous IKE rekey, the peer's is redundant", ns.logAttrs()...)
		if alive {
			d.awaitDelete(pr.newSA)
		}
	}
	d.moveChildren(sa, ns)
	d.establish(ns)
	d.replaced(sa, true)
}

// replaced retires an IKE SA our rekey replaced: we delete it (when our
// exchange survived), or wait for the peer to; unless the peer deleted
// it already.
func (d *Daemon) replaced(sa *ikeSA, deleteIt bool) {
	switch {
	case sa.deletedByPeer:
		d.teardown(sa, "deleted by peer", true)
	case deleteIt:
		d.awaitDelete(sa)
		d.deleteIKE(sa, "rekeyed")
	default:
		d.awaitDelete(sa)
	}
}

// cancelLife stops the timers of an IKE SA that was replaced.
func (d *Daemon) cancelLife(sa *ikeSA) {
	for _, t := range []*timer{sa.dpdTimer, sa.rekeyTimer, sa.lifeTimer} {
		d.cancel(t)
	}
}

// rekeyedSA makes the IKE SA that replaces old (RFC 7296 section 2.18).
func (d *Daemon) rekeyedSA(old *ikeSA, algs suite.Algs, initiator bool, spiI, spiR uint64, ni, nr, gir []byte) (*ikeSA, error) {
	if !initiator {
		spiI, spiR = spiR, spiI
	}
	keys, err := suite.RekeyKeys(old.algs.PRF, old.keys.SKd, algs, ni, nr, gir, spiI, spiR)
	if err != nil {
		return nil, err
	}
	out, in, err := keys.Crypters(algs, initiator)
	if err != nil {
		keys.Wipe()
		return nil, err
	}
	ns := d.newSA()
	ns.conn = old.conn
	ns.initiator = initiator
	ns.spiI, ns.spiR = spiI, spiR
	ns.state = stAuth
	ns.local, ns.remote = old.local, old.remote
	ns.natUs, ns.natPeer, ns.natt = old.natUs, old.natPeer, old.natt
	ns.peerID, ns.peerChildless = old.peerID, old.peerChildless
	ns.algs, ns.keys, ns.out, ns.in = algs, keys, out, in
	return ns, nil
}

// moveChildren hands from's children (and its queued requests) to to.
func (d *Daemon) moveChildren(from, to *ikeSA) {
	for _, c := range from.children {
		c.ike = to
	}
	to.children = append(to.children, from.children...)
	from.children = nil
	to.queue = append(to.queue, from.queue...)
	from.queue = nil
	d.kick(to)
}

// ikeRekeyRequest answers the peer's rekey of sa.
func (d *Daemon) ikeRekeyRequest(sa *ikeSA, in inbound, h wire.Header, hash [32]byte, m *wire.Message, sap *wire.SA, ni []byte) {
	answer := func(pl ...wire.Payload) { d.respond(sa, in, h, hash, pl) }
	ke, _ := m.Find(wire.PayloadKE).(*wire.KE)
	if ke == nil {
		answer(&wire.Notify{Type: wire.InvalidSyntax})
		return
	}
	for _, c := range sa.children {
		if c.state == childRekeying && c.rekey != nil && c.rekey.ni != nil {
			// A child rekey of ours is in flight (RFC 7296 section
			// 2.25.2): the peer tries again later.
			answer(&wire.Notify{Type: wire.TemporaryFailure})
			return
		}
	}
	algs, ans, ok := chooseIKE(sa.conn.cfg.Proposals, sap.Proposals, ke.Group, 8)
	if !ok {
		d.log.Warn("ike: no proposal chosen for the peer's IKE rekey", sa.logAttrs()...)
		answer(&wire.Notify{Type: wire.NoProposalChosen})
		return
	}
	if ke.Group != algs.DH {
		var g [2]byte
		binary.BigEndian.PutUint16(g[:], algs.DH)
		answer(&wire.Notify{Type: wire.InvalidKEPayload, Data: g[:]})
		return
	}
	var peerSPI uint64
	for _, p := range sap.Proposals {
		if p.Num == ans.Num && len(p.SPI) == 8 {
			peerSPI = binary.BigEndian.Uint64(p.SPI)
			break
		}
	}
	dh, err := suite.NewDH(algs.DH)
	if err != nil || peerSPI == 0 {
		answer(&wire.Notify{Type: wire.NoProposalChosen})
		return
	}
	gir, err := dh.Shared(ke.Data)
	if err != nil {
		answer(&wire.Notify{Type: wire.InvalidSyntax})
		return
	}
	defer clear(gir)
	ni = slices.Clone(ni)
	nr := suite.NewNonce(nonceLen)
	spi := d.newIKESPI()
	ns, err := d.rekeyedSA(sa, algs, false, spi, peerSPI, ni, nr, gir)
	if err != nil {
		answer(&wire.Notify{Type: wire.NoProposalChosen})
		return
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], spi)
	ans.SPI = b[:]
	answer(&wire.SA{Proposals: []wire.Proposal{ans}}, &wire.Nonce{Data: nr}, &wire.KE{Group: algs.DH, Data: dh.Public()})
	d.sas[spi] = ns
	d.ikeRekeys.Add(1)
	d.log.Info("ike: IKE SA rekeyed by peer", append(ns.logAttrs(), "algs", algs.String(),
		"old_spi_i", fmt.Sprintf("%016x", sa.spiI), "old_spi_r", fmt.Sprintf("%016x", sa.spiR))...)
	d.establish(ns)
	if sa.rekey != nil && sa.rekey.ni != nil {
		// Both rekey it: decided when our answer comes; the children
		// stay on sa until then.
		sa.peerRekey = &ikeRekey{ni: ni, nr: nr, newSA: ns}
		return
	}
	d.moveChildren(sa, ns)
	sa.rekey = nil
	d.awaitDelete(sa)
}

// awaitDelete waits for the peer to delete sa, which it replaced by
// rekeying; a peer that never does is not waited for longer than its
// retransmissions of the Delete could take.
func (d *Daemon) awaitDelete(sa *ikeSA) {
	sa.state = stRekeyed
	d.cancelLife(sa)
	grace := d.c.RetransmitBase * time.Duration(2<<min(d.c.RetransmitTries, 16))
	sa.lifeTimer = d.after(grace, func() {
		if sa.state == stRekeyed {
			d.teardown(sa, "rekeyed, not deleted by the peer", true)
		}
	})
}
