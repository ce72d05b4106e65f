package ike

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/suite"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
)

// IKE_SA_INIT (RFC 7296 sections 1.2, 2.6, 2.10, 2.23).

// maxInitRetries bounds the COOKIE and INVALID_KE_PAYLOAD retries of one
// IKE_SA_INIT.
const maxInitRetries = 4

// initiate starts a new IKE SA of cn: IKE_SA_INIT from port 500.
func (d *Daemon) initiate(cn *conn, why string) error {
	cfg := cn.cfg
	local := cfg.Local
	if !local.IsValid() {
		ok := false
		if d.c.LocalFor != nil {
			local, ok = d.c.LocalFor(cfg.Peer)
		}
		if !ok {
			return fmt.Errorf("no local address towards %v (set local:)", cfg.Peer)
		}
	}
	dh, err := suite.NewDH(firstGroup(cfg))
	if err != nil {
		return err
	}
	sa := d.newSA()
	sa.conn = cn
	sa.initiator = true
	sa.spiI = d.newIKESPI()
	sa.state = stInit
	sa.local = netip.AddrPortFrom(local.Unmap(), Port)
	sa.remote = netip.AddrPortFrom(cfg.Peer.Unmap(), Port)
	sa.ni = suite.NewNonce(nonceLen)
	sa.dh = dh
	d.sas[sa.spiI] = sa
	d.log.Info("ike: initiating", append(sa.logAttrs(), "why", why)...)
	return d.sendInit(sa)
}

// sendInit sends (again) our IKE_SA_INIT request: [N(COOKIE)], SA, KE, Ni,
// N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP).
func (d *Daemon) sendInit(sa *ikeSA) error {
	var pl []wire.Payload
	if sa.cookie != nil {
		pl = append(pl, &wire.Notify{Type: wire.Cookie, Data: sa.cookie})
	}
	sa.sent = ikeProposals(sa.conn.cfg, nil)
	src := suite.NATHash(sa.spiI, 0, sa.local)
	dst := suite.NATHash(sa.spiI, 0, sa.remote)
	pl = append(pl,
		&wire.SA{Proposals: sa.sent},
		&wire.KE{Group: sa.dh.Group(), Data: sa.dh.Public()},
		&wire.Nonce{Data: sa.ni},
		&wire.Notify{Type: wire.NATDetectionSourceIP, Data: src[:]},
		&wire.Notify{Type: wire.NATDetectionDestIP, Data: dst[:]},
		// RFC 6023: we accept an IKE_AUTH without a child SA.
		&wire.Notify{Type: wire.ChildlessIKEv2Supported},
	)
	m := &wire.Message{Header: sa.header(wire.IKESAInit, 0, false), Payloads: pl}
	b, err := m.Encode()
	if err != nil {
		d.teardown(sa, "failed", true)
		return err
	}
	sa.initReq = b
	if sa.pending != nil {
		d.cancel(sa.pending.timer)
	}
	sa.pending = &request{id: 0, b: b}
	d.transmit(sa.local, sa.remote, b)
	d.armRetransmit(sa, sa.pending)
	return nil
}

// fail ends an IKE SA that could not be set up.
func (d *Daemon) fail(sa *ikeSA, what string, err error) {
	d.log.Warn("ike: IKE SA failed", append(sa.logAttrs(), "what", what, "err", err)...)
	cn := sa.conn
	d.teardown(sa, "failed", true)
	if cn != nil && sa.initiator {
		d.scheduleRetry(cn)
	}
}

// initResponse handles the responder's answer to our IKE_SA_INIT.
func (d *Daemon) initResponse(in inbound, h wire.Header) {
	sa := d.sas[h.SPIi]
	if sa == nil || !sa.initiator || sa.state != stInit || sa.pending == nil || h.MsgID != 0 || h.IsInitiator() {
		d.drop("unexpected-response")
		return
	}
	m, err := wire.Decode(in.msg)
	if err != nil {
		d.drop("malformed")
		return
	}
	if n := m.Notify(wire.Cookie); n != nil {
		// RFC 7296 section 2.6: again, the cookie first, same nonce and KE.
		if sa.retries >= maxInitRetries || len(n.Data) == 0 || len(n.Data) > 64 {
			d.fail(sa, "cookie", errors.New("too many cookie demands"))
			return
		}
		sa.retries++
		sa.cookie = bytes.Clone(n.Data)
		d.sendInit(sa)
		return
	}
	if n := m.Notify(wire.InvalidKEPayload); n != nil {
		if len(n.Data) != 2 {
			d.drop("malformed")
			return
		}
		g := binary.BigEndian.Uint16(n.Data)
		if sa.retries >= maxInitRetries || g == sa.dh.Group() || !slices.Contains(offeredGroups(sa.conn.cfg), g) {
			d.fail(sa, "INVALID_KE_PAYLOAD", fmt.Errorf("the peer wants DH group %s, which we do not offer", suite.DHName(g)))
			return
		}
		dh, err := suite.NewDH(g)
		if err != nil {
			d.fail(sa, "INVALID_KE_PAYLOAD", err)
			return
		}
		d.log.Info("ike: peer asks for another DH group", append(sa.logAttrs(), "group", suite.DHName(g))...)
		sa.retries++
		sa.dh = dh
		sa.cookie = nil
		d.sendInit(sa)
		return
	}
	if n := m.ErrorNotify(); n != nil {
		d.fail(sa, "IKE_SA_INIT", fmt.Errorf("peer answered %v", n.Type))
		return
	}
	sap, _ := m.Find(wire.PayloadSA).(*wire.SA)
	ke, _ := m.Find(wire.PayloadKE).(*wire.KE)
	nonce, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	if sap == nil || ke == nil || nonce == nil || h.SPIr == 0 {
		d.drop("malformed")
		return
	}
	algs, _, err := checkIKEChoice(sa.sent, sap, 0)
	if err != nil || ke.Group != sa.dh.Group() || algs.DH != ke.Group {
		d.fail(sa, "IKE_SA_INIT", fmt.Errorf("bad proposal choice: %v", cmpErr(err, "DH group of KE")))
		return
	}
	gir, err := sa.dh.Shared(ke.Data)
	if err != nil {
		d.fail(sa, "IKE_SA_INIT", err)
		return
	}
	defer clear(gir)
	sa.nr = bytes.Clone(nonce.Data)
	sa.spiR = h.SPIr
	keys, err := suite.IKEKeys(algs, sa.ni, sa.nr, gir, sa.spiI, sa.spiR)
	if err != nil {
		d.fail(sa, "IKE_SA_INIT", err)
		return
	}
	out, inC, err := keys.Crypters(algs, true)
	if err != nil {
		keys.Wipe()
		d.fail(sa, "IKE_SA_INIT", err)
		return
	}
	d.cancel(sa.pending.timer)
	sa.pending = nil
	sa.algs, sa.keys, sa.out, sa.in = algs, keys, out, inC
	sa.dh = nil
	sa.initResp = in.msg
	sa.myNext = 1
	sa.lastRecv = time.Now()
	sa.natPeer, sa.natUs = natDetect(m, sa.spiI, sa.spiR, in.remote, in.local)
	sa.peerChildless = m.Notify(wire.ChildlessIKEv2Supported) != nil
	if sa.natPeer || sa.natUs {
		// Port 4500 from IKE_AUTH on, both ends (RFC 7296 section 2.23).
		sa.natt = true
		sa.local = netip.AddrPortFrom(sa.local.Addr(), NATTPort)
		sa.remote = netip.AddrPortFrom(sa.remote.Addr(), NATTPort)
	}
	sa.state = stAuth
	d.sendAuth(sa)
}

func cmpErr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

// natDetect compares the NAT_DETECTION_*_IP hashes of m with the
// addresses the message travelled between: peerNAT when its source hash
// matches none, usNAT when its destination hash does not. A peer that
// sends none does no NAT traversal.
func natDetect(m *wire.Message, spii, spir uint64, remote, local netip.AddrPort) (peerNAT, usNAT bool) {
	srcs := m.Notifies(wire.NATDetectionSourceIP)
	dst := m.Notify(wire.NATDetectionDestIP)
	if len(srcs) == 0 || dst == nil {
		return false, false
	}
	want := suite.NATHash(spii, spir, remote)
	peerNAT = true
	for _, n := range srcs {
		if bytes.Equal(n.Data, want[:]) {
			peerNAT = false
		}
	}
	want = suite.NATHash(spii, spir, local)
	usNAT = !bytes.Equal(dst.Data, want[:])
	return peerNAT, usNAT
}

// answerInit sends a stateless answer to an IKE_SA_INIT request: one
// notify, SPIr zero.
func (d *Daemon) answerInit(in inbound, h wire.Header, n *wire.Notify) {
	m := &wire.Message{Header: wire.Header{SPIi: h.SPIi, Version: wire.Version, Exchange: wire.IKESAInit, Flags: wire.FlagResponse},
		Payloads: []wire.Payload{n}}
	if b, err := m.Encode(); err == nil {
		d.transmit(in.local, in.remote, b)
	}
}

// initRequest answers a peer's IKE_SA_INIT.
func (d *Daemon) initRequest(in inbound, h wire.Header) {
	if h.SPIr != 0 || h.MsgID != 0 || !h.IsInitiator() || h.SPIi == 0 {
		d.drop("bad-init-header")
		return
	}
	key := initKey{in.remote.Addr(), h.SPIi}
	hash := sha256.Sum256(in.msg)
	if sa := d.initIdx[key]; sa != nil {
		if hash == sa.initHash && sa.initResp != nil && sa.state == stInit {
			d.retransmits.Add(1)
			d.transmit(in.local, in.remote, sa.initResp)
		} else {
			d.drop("init-spi-in-use")
		}
		return
	}
	m, err := wire.Decode(in.msg)
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) && we.Notify == wire.UnsupportedCriticalPayload {
			d.answerInit(in, h, &wire.Notify{Type: wire.UnsupportedCriticalPayload, Data: we.Data})
		}
		d.drop("malformed")
		return
	}
	var cands []*conn
	for _, cn := range d.conns {
		if cn.cfg.Peer.Unmap() == in.remote.Addr().Unmap() {
			cands = append(cands, cn)
		}
	}
	if len(cands) == 0 {
		d.drop("unknown-peer")
		return
	}
	sap, _ := m.Find(wire.PayloadSA).(*wire.SA)
	ke, _ := m.Find(wire.PayloadKE).(*wire.KE)
	nonce, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	if sap == nil || ke == nil || nonce == nil {
		d.drop("malformed")
		return
	}
	if d.halfOpen >= d.c.HalfOpenCookies {
		// Under load: state only for initiators that prove their
		// address (RFC 7296 section 2.6). The cookie comes first.
		var ck *wire.Notify
		if len(m.Payloads) > 0 {
			ck, _ = m.Payloads[0].(*wire.Notify)
		}
		if ck == nil || ck.Type != wire.Cookie || !d.cookies.Check(ck.Data, nonce.Data, in.remote.Addr(), h.SPIi) {
			d.drop("cookie-required")
			d.answerInit(in, h, &wire.Notify{Type: wire.Cookie, Data: d.cookies.Make(nonce.Data, in.remote.Addr(), h.SPIi)})
			return
		}
	}
	if d.halfOpen >= d.maxHalfOpen {
		d.drop("half-open-limit")
		return
	}
	var (
		algs suite.Algs
		ans  wire.Proposal
		ok   bool
	)
	for _, cn := range cands {
		if algs, ans, ok = chooseIKE(cn.cfg.Proposals, sap.Proposals, ke.Group, 0); ok {
			break
		}
	}
	if !ok {
		d.log.Warn("ike: no proposal chosen", "remote", in.remote.String(), "conn", cands[0].cfg.Name)
		d.drop("no-proposal-chosen")
		d.answerInit(in, h, &wire.Notify{Type: wire.NoProposalChosen})
		return
	}
	if ke.Group != algs.DH {
		var g [2]byte
		binary.BigEndian.PutUint16(g[:], algs.DH)
		d.answerInit(in, h, &wire.Notify{Type: wire.InvalidKEPayload, Data: g[:]})
		return
	}
	dh, err := suite.NewDH(algs.DH)
	if err != nil {
		d.drop("internal")
		return
	}
	gir, err := dh.Shared(ke.Data)
	if err != nil {
		d.drop("bad-ke")
		return
	}
	defer clear(gir)
	sa := d.newSA()
	sa.cands = cands
	sa.spiI = h.SPIi
	sa.spiR = d.newIKESPI()
	sa.state = stInit
	sa.local, sa.remote = in.local, in.remote
	sa.ni = bytes.Clone(nonce.Data)
	sa.nr = suite.NewNonce(nonceLen)
	sa.algs = algs
	keys, err := suite.IKEKeys(algs, sa.ni, sa.nr, gir, sa.spiI, sa.spiR)
	if err != nil {
		d.drop("internal")
		return
	}
	sa.keys = keys
	if sa.out, sa.in, err = keys.Crypters(algs, false); err != nil {
		keys.Wipe()
		d.drop("internal")
		return
	}
	sa.natPeer, sa.natUs = natDetect(m, sa.spiI, 0, in.remote, in.local)
	sa.natt = sa.natPeer || sa.natUs
	src := suite.NATHash(sa.spiI, sa.spiR, in.local)
	dst := suite.NATHash(sa.spiI, sa.spiR, in.remote)
	pl := []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{ans}},
		&wire.KE{Group: dh.Group(), Data: dh.Public()},
		&wire.Nonce{Data: sa.nr},
	}
	if m.Notify(wire.NATDetectionSourceIP) != nil {
		pl = append(pl, &wire.Notify{Type: wire.NATDetectionSourceIP, Data: src[:]},
			&wire.Notify{Type: wire.NATDetectionDestIP, Data: dst[:]})
	}
	// RFC 6023: the initiator may leave the child out of IKE_AUTH.
	pl = append(pl, &wire.Notify{Type: wire.ChildlessIKEv2Supported})
	sa.peerChildless = m.Notify(wire.ChildlessIKEv2Supported) != nil
	resp := &wire.Message{Header: sa.header(wire.IKESAInit, 0, true), Payloads: pl}
	b, err := resp.Encode()
	if err != nil {
		keys.Wipe()
		d.drop("internal")
		return
	}
	sa.initReq = in.msg
	sa.initResp = b
	sa.initHash = hash
	sa.initKey = key
	sa.peerNext = 1
	sa.halfOpen = true
	d.halfOpen++
	d.sas[sa.spiR] = sa
	d.initIdx[key] = sa
	sa.halfTimer = d.after(d.halfOpenTimeout, func() {
		if sa.state == stInit {
			d.drop("half-open-expired")
			d.teardown(sa, "half-open expired", true)
		}
	})
	d.transmit(in.local, in.remote, b)
}
