package ike

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp/spd"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/suite"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// Child SAs: negotiation (RFC 7296 sections 1.3, 2.9, 2.17) and their
// installation into the ESP data path.

type childState uint8

const (
	childActive   childState = iota + 1
	childRekeying            // our rekey is in flight
	childRekeyed             // replaced; the rekey's initiator deletes it
	childDeleting            // our Delete is in flight
	childGone
)

// child is one installed child SA pair.
type child struct {
	ike           *ikeSA
	cfg           *config.Child
	connIdx, idx  int
	spiIn, spiOut uint32
	in, out       *esp.SA
	cipher        esp.Cipher
	dh            uint16 // the PFS group negotiated, 0 without
	tsLocal       []wire.Selector
	tsRemote      []wire.Selector
	sel           spd.Selector
	installed     time.Time
	state         childState

	rekey     *childReq // our rekey in flight
	collision *child    // the new child of the peer's rekey, answered while ours was in flight
	peerNi    []byte    // that rekey's nonces
	peerNr    []byte
}

// childReq is a child we asked for: what we sent, to check the answer.
type childReq struct {
	cfgIdx   int
	spiIn    uint32
	sent     []wire.Proposal
	tsi, tsr []wire.Selector
	ni       []byte
	dh       *suite.DH
	rekeyOf  *child
	retries  int
}

// childOf returns sa's live child for the conn's child idx, or nil.
func (sa *ikeSA) childOf(idx int) *child {
	for _, c := range sa.children {
		if c.idx == idx && (c.state == childActive || c.state == childRekeying) {
			return c
		}
	}
	return nil
}

// childPayloads is the child part of an answer.
type childPayloads struct {
	sa, ke, tsi, tsr wire.Payload
}

// completeChildren asks for the conn's children that sa lacks, each with
// CREATE_CHILD_SA (the first rides IKE_AUTH), except child skip (-1: none),
// which the peer just refused.
func (d *Daemon) completeChildren(sa *ikeSA, skip int) {
	for j := range sa.conn.cfg.Children {
		if j != skip && sa.childOf(j) == nil && !sa.creating(j) {
			d.createChild(sa, j)
		}
	}
}

func (sa *ikeSA) creating(j int) bool { return sa.making != nil && sa.making[j] }

// createChild asks the peer for a new child SA for the conn's child idx.
func (d *Daemon) createChild(sa *ikeSA, idx int) {
	if sa.making == nil {
		sa.making = map[int]bool{}
	}
	sa.making[idx] = true
	r := &childReq{cfgIdx: idx}
	d.enqueue(sa, d.childExchange(sa, r, 0))
}

// childExchange is the CREATE_CHILD_SA of r: a new child, or a rekey when
// r.rekeyOf is set. group overrides the KE's group (after
// INVALID_KE_PAYLOAD).
func (d *Daemon) childExchange(sa *ikeSA, r *childReq, group uint16) *exchange {
	return &exchange{
		build: func() (wire.Exchange, []wire.Payload, bool) {
			old := r.rekeyOf
			if sa.state != stEstablished || old != nil && (old.state != childRekeying || old.ike != sa) {
				if old != nil && old.state == childRekeying && old.ike != sa && old.ike.state == stEstablished {
					// The IKE SA was rekeyed meanwhile: go on there.
					d.enqueue(old.ike, d.childExchange(old.ike, r, group))
				} else if old == nil {
					delete(sa.making, r.cfgIdx)
				}
				return 0, nil, false
			}
			if old == nil && sa.childOf(r.cfgIdx) != nil {
				delete(sa.making, r.cfgIdx)
				return 0, nil, false
			}
			ch := &sa.conn.cfg.Children[r.cfgIdx]
			r.spiIn = d.newChildSPI()
			r.ni = suite.NewNonce(nonceLen)
			g := group
			if g == 0 {
				g = pfsGroup(ch)
				if old != nil && old.dh != 0 {
					g = old.dh
				}
			}
			r.dh = nil
			if g != 0 {
				dh, err := suite.NewDH(g)
				if err != nil {
					return 0, nil, false
				}
				r.dh = dh
			}
			r.sent = espProposals(ch, r.spiIn, true)
			if old != nil {
				r.tsi, r.tsr = old.tsLocal, old.tsRemote
			} else {
				r.tsi, r.tsr = selectorsOf(ch.Local), selectorsOf(ch.Remote)
			}
			var pl []wire.Payload
			if old != nil {
				var spi [4]byte
				binary.BigEndian.PutUint32(spi[:], old.spiIn)
				pl = append(pl, &wire.Notify{Protocol: wire.ProtoESP, SPI: spi[:], Type: wire.RekeySA})
				old.rekey = r
			}
			pl = append(pl, &wire.SA{Proposals: r.sent}, &wire.Nonce{Data: r.ni})
			if r.dh != nil {
				pl = append(pl, &wire.KE{Group: r.dh.Group(), Data: r.dh.Public()})
			}
			pl = append(pl, &wire.TS{Selectors: r.tsi}, &wire.TS{Responder: true, Selectors: r.tsr})
			return wire.CreateChildSA, pl, true
		},
		done: func(m *wire.Message) { d.childAnswer(sa, r, m) },
	}
}

// childAnswer handles the answer to our CREATE_CHILD_SA for a child.
func (d *Daemon) childAnswer(sa *ikeSA, r *childReq, m *wire.Message) {
	old := r.rekeyOf
	name := sa.conn.cfg.Children[r.cfgIdx].Name
	if old == nil {
		delete(sa.making, r.cfgIdx)
	}
	if n := m.ErrorNotify(); n != nil {
		switch n.Type {
		case wire.InvalidKEPayload:
			if len(n.Data) == 2 && r.retries < 2 {
				g := binary.BigEndian.Uint16(n.Data)
				if slices.Contains(childGroups(&sa.conn.cfg.Children[r.cfgIdx]), g) {
					r.retries++
					if old == nil {
						sa.making[r.cfgIdx] = true
					}
					d.enqueue(sa, d.childExchange(sa, r, g))
					return
				}
			}
		case wire.TemporaryFailure:
			// A collision with something the peer does (RFC 7296
			// section 2.25): try again a little later.
			if r.retries < 5 {
				r.retries++
				wait := d.c.RetransmitBase + jitter(2*d.c.RetransmitBase, 1)
				if old == nil {
					sa.making[r.cfgIdx] = true
				}
				d.after(wait, func() {
					if old != nil && old.state != childRekeying {
						return
					}
					d.enqueue(sa, d.childExchange(sa, r, 0))
				})
				return
			}
		case wire.ChildSANotFound:
			if old != nil {
				d.log.Info("ike: peer does not know the child we rekey", append(sa.logAttrs(), "child", name)...)
				d.removeChild(old)
				return
			}
		}
		d.log.Warn("ike: child SA failed", append(sa.logAttrs(), "child", name, "err", n.Type.String())...)
		if old != nil && old.state == childRekeying {
			old.state = childActive
			old.rekey = nil
		}
		return
	}
	nonce, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	if nonce == nil {
		d.log.Warn("ike: child SA failed", append(sa.logAttrs(), "child", name, "err", "no nonce in the answer")...)
		return
	}
	nc, err := d.childFromResponse(sa, r, m, r.ni, nonce.Data)
	if err != nil {
		d.log.Warn("ike: child SA failed", append(sa.logAttrs(), "child", name, "err", err)...)
		if sap, ok := m.Find(wire.PayloadSA).(*wire.SA); ok && len(sap.Proposals) == 1 && len(sap.Proposals[0].SPI) == 4 {
			d.enqueue(sa, deleteSPIs(r.spiIn))
		}
		if old != nil && old.state == childRekeying {
			old.state, old.rekey = childActive, nil
		}
		return
	}
	if old != nil {
		d.rekeyedChild(old, nc, r.ni, nonce.Data)
	}
}

// childGroups lists a child's PFS groups.
func childGroups(ch *config.Child) []uint16 {
	var gs []uint16
	for _, p := range ch.ESP {
		for _, g := range p.DH {
			gs = append(gs, suite.DHOf(g))
		}
	}
	return gs
}

// childFromResponse installs the child the responder agreed to.
func (d *Daemon) childFromResponse(sa *ikeSA, r *childReq, m *wire.Message, ni, nr []byte) (*child, error) {
	sap, _ := m.Find(wire.PayloadSA).(*wire.SA)
	tsi, _ := m.Find(wire.PayloadTSi).(*wire.TS)
	tsr, _ := m.Find(wire.PayloadTSr).(*wire.TS)
	if sap == nil || tsi == nil || tsr == nil {
		return nil, errors.New("no SA or TS payloads in the answer")
	}
	ch, err := checkESPChoice(r.sent, sap)
	if err != nil {
		return nil, err
	}
	var gir []byte
	if r.dh != nil {
		// We asked for PFS: the answer must do it, in our group.
		i := slices.IndexFunc(r.sent, func(p wire.Proposal) bool { return p.Num == sap.Proposals[0].Num })
		if ids, _ := dhList(&r.sent[i]); len(ids) > 0 || ch.dh != 0 {
			ke, _ := m.Find(wire.PayloadKE).(*wire.KE)
			if ch.dh == 0 || ke == nil || ke.Group != ch.dh || ch.dh != r.dh.Group() {
				return nil, errors.New("the answer does not complete the PFS exchange")
			}
			if gir, err = r.dh.Shared(ke.Data); err != nil {
				return nil, err
			}
			defer clear(gir)
		}
	} else if ch.dh != 0 {
		return nil, errors.New("the answer does a DH exchange we did not ask for")
	}
	if !within(tsi.Selectors, r.tsi) || !within(tsr.Selectors, r.tsr) {
		return nil, errors.New("the answer's traffic selectors are not within ours")
	}
	i2r, r2i, err := suite.ChildKeys(sa.algs.PRF, sa.keys.SKd, gir, ni, nr, ch.cipher.KeyLen())
	if err != nil {
		return nil, err
	}
	// We initiated this exchange: our inbound SA is the responder's
	// direction.
	return d.install(sa, r.cfgIdx, ch, r.spiIn, r2i, i2r, tsi.Selectors, tsr.Selectors)
}

// acceptChild answers a peer's request for a child (IKE_AUTH, or
// CREATE_CHILD_SA with pfs true): choose the conn's child by its traffic
// selectors (or the one rekeyed), narrow them, choose the proposal,
// install. It returns our answer's payloads, or an error notify.
func (d *Daemon) acceptChild(sa *ikeSA, m *wire.Message, ni, nr []byte, pfs bool, rekeyOf *child) (childPayloads, *child, *wire.Notify) {
	sap, _ := m.Find(wire.PayloadSA).(*wire.SA)
	tsi, _ := m.Find(wire.PayloadTSi).(*wire.TS)
	tsr, _ := m.Find(wire.PayloadTSr).(*wire.TS)
	if sap == nil || tsi == nil || tsr == nil {
		return childPayloads{}, nil, &wire.Notify{Type: wire.InvalidSyntax}
	}
	cfgs := sa.conn.cfg.Children
	idx, nTSi, nTSr := -1, []wire.Selector(nil), []wire.Selector(nil)
	for j := range cfgs {
		if rekeyOf != nil && j != rekeyOf.idx {
			continue
		}
		// The peer's TSi is its side: our remote networks.
		a := narrow(tsi.Selectors, selectorsOf(cfgs[j].Remote))
		b := narrow(tsr.Selectors, selectorsOf(cfgs[j].Local))
		if len(a) > 0 && len(b) > 0 {
			idx, nTSi, nTSr = j, a, b
			break
		}
	}
	if idx < 0 {
		d.log.Warn("ike: traffic selectors unacceptable", append(sa.logAttrs(), "tsi", fmt.Sprint(tsi.Selectors), "tsr", fmt.Sprint(tsr.Selectors))...)
		return childPayloads{}, nil, &wire.Notify{Type: wire.TSUnacceptable}
	}
	cfg := &cfgs[idx]
	var keGroup uint16
	ke, _ := m.Find(wire.PayloadKE).(*wire.KE)
	if ke != nil {
		keGroup = ke.Group
	}
	ch, ans, ok := chooseESP(cfg.ESP, sap.Proposals, pfs, keGroup)
	if !ok {
		d.log.Warn("ike: no child proposal chosen", append(sa.logAttrs(), "child", cfg.Name)...)
		return childPayloads{}, nil, &wire.Notify{Type: wire.NoProposalChosen}
	}
	var gir []byte
	var ourKE *wire.KE
	if ch.dh != 0 {
		if ke == nil || ke.Group != ch.dh {
			var g [2]byte
			binary.BigEndian.PutUint16(g[:], ch.dh)
			return childPayloads{}, nil, &wire.Notify{Type: wire.InvalidKEPayload, Data: g[:]}
		}
		dh, err := suite.NewDH(ch.dh)
		if err != nil {
			return childPayloads{}, nil, &wire.Notify{Type: wire.NoProposalChosen}
		}
		if gir, err = dh.Shared(ke.Data); err != nil {
			return childPayloads{}, nil, &wire.Notify{Type: wire.InvalidSyntax}
		}
		defer clear(gir)
		ourKE = &wire.KE{Group: ch.dh, Data: dh.Public()}
	}
	spi := d.newChildSPI()
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], spi)
	ans.SPI = b[:]
	i2r, r2i, err := suite.ChildKeys(sa.algs.PRF, sa.keys.SKd, gir, ni, nr, ch.cipher.KeyLen())
	if err != nil {
		return childPayloads{}, nil, &wire.Notify{Type: wire.NoProposalChosen}
	}
	// The peer initiated: our inbound SA is its direction. Our side is
	// its TSr.
	c, err := d.install(sa, idx, ch, spi, i2r, r2i, nTSr, nTSi)
	if err != nil {
		d.log.Warn("ike: child SA failed", append(sa.logAttrs(), "child", cfg.Name, "err", err)...)
		return childPayloads{}, nil, &wire.Notify{Type: wire.NoProposalChosen}
	}
	cp := childPayloads{sa: &wire.SA{Proposals: []wire.Proposal{ans}},
		tsi: &wire.TS{Selectors: nTSi}, tsr: &wire.TS{Responder: true, Selectors: nTSr}}
	if ourKE != nil {
		cp.ke = ourKE
	}
	return cp, c, nil
}

// install makes and installs a child's SA pair and points its policy at
// the outbound one. The keys are wiped.
func (d *Daemon) install(sa *ikeSA, idx int, ch espChoice, spiIn uint32, inKey, outKey []byte, local, remote []wire.Selector) (*child, error) {
	defer clear(inKey)
	defer clear(outKey)
	cfg := &sa.conn.cfg.Children[idx]
	sel := spdSelector(local, remote)
	base := esp.Config{Name: cfg.Name, Cipher: ch.cipher, ESN: ch.esn, Local: sa.local.Addr(), Peer: sa.remote.Addr(), Selector: sel}
	if sa.natt {
		base.Encap, base.LocalPort, base.PeerPort = true, NATTPort, sa.remote.Port()
	}
	if lt := cfg.Lifetime; lt > 0 {
		base.Limits = esp.Limits{HardTime: lt, SoftTime: lt/10*9 - jitter(lt, 0.05)}
	}
	ci, co := base, base
	ci.Dir, ci.SPI, ci.Key = esp.Inbound, spiIn, inKey
	co.Dir, co.SPI, co.Key = esp.Outbound, ch.spi, outKey
	in, err := esp.NewSA(ci)
	if err != nil {
		return nil, err
	}
	out, err := esp.NewSA(co)
	if err != nil {
		return nil, err
	}
	if err := d.c.Engine.Install(d.c.Clock(), in, out); err != nil {
		return nil, err
	}
	in.SetReverse(out)
	if p := d.policy(sa.conn.idx, idx); p != nil {
		p.SetSA(out)
	}
	c := &child{
		ike: sa, cfg: cfg, connIdx: sa.conn.idx, idx: idx, spiIn: spiIn, spiOut: ch.spi, in: in, out: out,
		cipher: ch.cipher, dh: ch.dh, tsLocal: local, tsRemote: remote, sel: sel, installed: time.Now(), state: childActive,
	}
	d.byESP[in], d.byESP[out] = c, c
	sa.children = append(sa.children, c)
	d.childEstab.Add(1)
	algs := ch.cipher.String()
	if ch.dh != 0 {
		algs += "-" + suite.DHName(ch.dh)
	}
	d.log.Info("ike: child SA established", append(sa.logAttrs(), "child", cfg.Name, "spi_in", fmt.Sprintf("%08x", spiIn),
		"spi_out", fmt.Sprintf("%08x", ch.spi), "algs", algs, "esn", ch.esn, "encap", sa.natt, "ts", sel.String())...)
	return c, nil
}

// removeChild takes a child's SAs out of the ESP engine and its policy.
func (d *Daemon) removeChild(c *child) {
	if c.state == childGone {
		return
	}
	c.state = childGone
	d.c.Engine.Remove(c.in, c.out)
	delete(d.byESP, c.in)
	delete(d.byESP, c.out)
	if p := d.policy(c.connIdx, c.idx); p != nil && p.SA() == c.out {
		p.SetSA(d.fallback(c))
	}
	if sa := c.ike; sa != nil {
		sa.children = slices.DeleteFunc(sa.children, func(o *child) bool { return o == c })
	}
	c.rekey = nil
	d.log.Info("ike: child SA deleted", "conn", c.ike.connName(), "child", c.cfg.Name,
		"spi_in", fmt.Sprintf("%08x", c.spiIn), "spi_out", fmt.Sprintf("%08x", c.spiOut))
}

// fallback is another live child for the same policy, or nil.
func (d *Daemon) fallback(c *child) *esp.SA {
	var best *child
	for _, sa := range d.sas {
		for _, o := range sa.children {
			if o != c && o.connIdx == c.connIdx && o.idx == c.idx && (o.state == childActive || o.state == childRekeying) &&
				(best == nil || o.installed.After(best.installed)) {
				best = o
			}
		}
	}
	if best == nil {
		return nil
	}
	return best.out
}

// deleteChild deletes a child with the peer (INFORMATIONAL Delete of our
// inbound SPI), then here once the peer answered.
func (d *Daemon) deleteChild(c *child, why string) {
	if c.state == childGone || c.state == childDeleting {
		return
	}
	c.state = childDeleting
	sa := c.ike
	if sa.state != stEstablished {
		d.removeChild(c)
		return
	}
	d.log.Info("ike: deleting child SA", append(sa.logAttrs(), "child", c.cfg.Name, "spi_in", fmt.Sprintf("%08x", c.spiIn), "why", why)...)
	var x *exchange
	x = &exchange{
		build: func() (wire.Exchange, []wire.Payload, bool) {
			if c.state == childGone {
				return 0, nil, false
			}
			if c.ike != sa && c.ike.state == stEstablished {
				d.enqueue(c.ike, x)
				return 0, nil, false
			}
			return wire.Informational, []wire.Payload{&wire.Delete{Protocol: wire.ProtoESP, SPIs: []uint32{c.spiIn}}}, true
		},
		done: func(*wire.Message) { d.removeChild(c) },
	}
	d.enqueue(sa, x)
}

// lowestNonce reports whether the lowest of a's nonces is lower than the
// lowest of b's (RFC 7296 section 2.8.1: the exchange with the lowest
// nonce made the redundant SA).
func lowestNonce(a1, a2, b1, b2 []byte) bool {
	la, lb := a1, b1
	if bytes.Compare(a2, la) < 0 {
		la = a2
	}
	if bytes.Compare(b2, lb) < 0 {
		lb = b2
	}
	return bytes.Compare(la, lb) < 0
}
