package ike

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"fmt"
	"net/netip"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/suite"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
)

// IKE_AUTH with pre-shared keys (RFC 7296 sections 1.2, 2.15, 3.5).
//
// Our identity is our address (ID_IPV4_ADDR or ID_IPV6_ADDR), as
// strongSwan's default is. The peer's identity is taken as it comes: the
// key is per conn, and the AUTH value, which covers the identity, is what
// authenticates the peer. It is kept on the IKE SA: INITIAL_CONTACT
// concerns only the SAs with the same identity, so that many initiators
// behind one address (or one with several identities) each keep theirs.
//
// The child may be left out (RFC 6023, announced in IKE_SA_INIT by both
// ends): an IKE_AUTH without SA and TS payloads sets up the IKE SA alone,
// and CREATE_CHILD_SA adds children later.

// ourID is the ID payload naming us on sa.
func ourID(sa *ikeSA, responder bool) *wire.ID {
	a := sa.local.Addr().Unmap()
	id := &wire.ID{Responder: responder, IDType: wire.IDIPv4, Data: a.AsSlice()}
	if a.Is6() {
		id.IDType = wire.IDIPv6
	}
	return id
}

// sendAuth sends our IKE_AUTH request with the first child (none when
// sa.childless and the peer supports that).
func (d *Daemon) sendAuth(sa *ikeSA) {
	cfg := sa.conn.cfg
	idi := ourID(sa, false)
	auth, err := suite.PSKAuth(sa.algs.PRF, sa.conn.psk, sa.initReq, sa.nr, sa.keys.SKpi, idi.Body())
	if err != nil {
		d.fail(sa, "IKE_AUTH", err)
		return
	}
	pl := []wire.Payload{idi}
	if !d.contacted[sa.remote.Addr()] {
		pl = append(pl, &wire.Notify{Type: wire.InitialContact})
	}
	pl = append(pl, &wire.Auth{Method: wire.AuthPSK, Data: auth})
	var r *childReq
	if !sa.childless || !sa.peerChildless {
		r = &childReq{cfgIdx: 0, spiIn: d.newChildSPI()}
		ch := &cfg.Children[0]
		r.sent = espProposals(ch, r.spiIn, false)
		r.tsi, r.tsr = selectorsOf(ch.Local), selectorsOf(ch.Remote)
		pl = append(pl,
			&wire.SA{Proposals: r.sent},
			&wire.TS{Selectors: r.tsi},
			&wire.TS{Responder: true, Selectors: r.tsr},
		)
	}
	d.enqueue(sa, &exchange{
		build: func() (wire.Exchange, []wire.Payload, bool) { return wire.IKEAuth, pl, true },
		done:  func(m *wire.Message) { d.authResponse(sa, r, m) },
	})
}

// authResponse checks the responder's IKE_AUTH answer and installs the
// first child (r; nil when we asked for none).
func (d *Daemon) authResponse(sa *ikeSA, r *childReq, m *wire.Message) {
	if sa.state != stAuth {
		return
	}
	if n := m.Notify(wire.AuthenticationFailed); n != nil {
		d.fail(sa, "IKE_AUTH", errors.New("the peer did not accept our authentication (AUTHENTICATION_FAILED): check the pre-shared key"))
		return
	}
	idr, _ := m.Find(wire.PayloadIDr).(*wire.ID)
	auth, _ := m.Find(wire.PayloadAUTH).(*wire.Auth)
	if idr == nil || auth == nil {
		err := errors.New("no IDr or AUTH in the answer")
		if n := m.ErrorNotify(); n != nil {
			err = fmt.Errorf("peer answered %v", n.Type)
		}
		d.fail(sa, "IKE_AUTH", err)
		return
	}
	want, err := suite.PSKAuth(sa.algs.PRF, sa.conn.psk, sa.initResp, sa.ni, sa.keys.SKpr, idr.Body())
	if err != nil || auth.Method != wire.AuthPSK || !hmac.Equal(want, auth.Data) {
		// Tell the peer (RFC 7296 section 2.21.2), then forget the SA.
		d.sendOnce(sa, wire.Informational, []wire.Payload{&wire.Notify{Type: wire.AuthenticationFailed}})
		d.fail(sa, "IKE_AUTH", errors.New("the peer's AUTH does not verify: check the pre-shared key"))
		return
	}
	sa.peerID = cloneID(idr)
	d.establish(sa)
	d.ikeEstablished.Add(1)
	d.log.Info("ike: IKE SA established", append(sa.logAttrs(), "algs", sa.algs.String(), "natt", sa.natt,
		"peer_id", idString(idr))...)
	sa.initReq, sa.initResp = nil, nil
	if r == nil {
		// Childless (RFC 6023): the children come when asked for.
		return
	}
	skip := -1
	if n := m.ErrorNotify(); n != nil {
		skip = 0
		d.log.Warn("ike: child SA failed", append(sa.logAttrs(), "child", sa.conn.cfg.Children[0].Name, "err", n.Type.String())...)
	} else if _, err := d.childFromResponse(sa, r, m, sa.ni, sa.nr); err != nil {
		skip = 0
		d.log.Warn("ike: child SA failed", append(sa.logAttrs(), "child", sa.conn.cfg.Children[0].Name, "err", err)...)
		// The peer installed it: tell it to delete its half.
		if sap, ok := m.Find(wire.PayloadSA).(*wire.SA); ok && len(sap.Proposals) == 1 && len(sap.Proposals[0].SPI) == 4 {
			d.enqueue(sa, deleteSPIs(r.spiIn))
		}
	}
	d.completeChildren(sa, skip)
}

// deleteSPIs is an INFORMATIONAL deleting ESP SAs by our inbound SPIs.
func deleteSPIs(spis ...uint32) *exchange {
	return &exchange{build: func() (wire.Exchange, []wire.Payload, bool) {
		return wire.Informational, []wire.Payload{&wire.Delete{Protocol: wire.ProtoESP, SPIs: spis}}, true
	}}
}

// cloneID copies id, which aliases a message's bytes.
func cloneID(id *wire.ID) *wire.ID {
	return &wire.ID{IDType: id.IDType, Data: bytes.Clone(id.Data)}
}

// sameID reports whether a and b name the same identity.
func sameID(a, b *wire.ID) bool {
	return a != nil && b != nil && a.IDType == b.IDType && bytes.Equal(a.Data, b.Data)
}

func idString(id *wire.ID) string {
	switch id.IDType {
	case wire.IDIPv4, wire.IDIPv6:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case wire.IDFQDN, wire.IDRFC822:
		if len(id.Data) <= 255 {
			return fmt.Sprintf("%q", id.Data)
		}
	}
	return fmt.Sprintf("type %d, %d bytes", id.IDType, len(id.Data))
}

// authRequest answers the initiator's IKE_AUTH: verify its AUTH with the
// key of a conn of its address, answer with ours and the first child, if
// it asked for one.
func (d *Daemon) authRequest(sa *ikeSA, in inbound, h wire.Header, hash [32]byte, m *wire.Message) {
	idi, _ := m.Find(wire.PayloadIDi).(*wire.ID)
	auth, _ := m.Find(wire.PayloadAUTH).(*wire.Auth)
	if idi == nil || auth == nil {
		d.drop("malformed-inner")
		d.respond(sa, in, h, hash, []wire.Payload{&wire.Notify{Type: wire.InvalidSyntax}})
		return
	}
	var cn *conn
	if auth.Method == wire.AuthPSK {
		for _, c := range sa.cands {
			want, err := suite.PSKAuth(sa.algs.PRF, c.psk, sa.initReq, sa.nr, sa.keys.SKpi, idi.Body())
			if err == nil && hmac.Equal(want, auth.Data) {
				cn = c
				break
			}
		}
	}
	if cn == nil {
		d.log.Warn("ike: IKE SA failed", append(sa.logAttrs(), "what", "IKE_AUTH",
			"err", "the peer's AUTH does not verify: check the pre-shared key", "peer_id", idString(idi))...)
		d.respond(sa, in, h, hash, []wire.Payload{&wire.Notify{Type: wire.AuthenticationFailed}})
		d.teardown(sa, "authentication failed", true)
		return
	}
	sa.conn, sa.cands = cn, nil
	idr := ourID(sa, true)
	ours, err := suite.PSKAuth(sa.algs.PRF, cn.psk, sa.initResp, sa.ni, sa.keys.SKpr, idr.Body())
	if err != nil {
		d.respond(sa, in, h, hash, []wire.Payload{&wire.Notify{Type: wire.AuthenticationFailed}})
		d.teardown(sa, "failed", true)
		return
	}
	sa.peerID = cloneID(idi)
	if m.Notify(wire.InitialContact) != nil {
		// The peer starts afresh: what we had with this identity is
		// stale (RFC 7296 section 2.4). Other identities of the conn,
		// from the same address or not, are other initiators.
		for _, o := range d.allSAs() {
			if o != sa && o.conn == cn && o.state != stInit && sameID(o.peerID, sa.peerID) {
				d.teardown(o, "initial contact", true)
			}
		}
	}
	d.establish(sa)
	d.ikeEstablished.Add(1)
	pl := []wire.Payload{idr, &wire.Auth{Method: wire.AuthPSK, Data: ours}}
	var childPL []wire.Payload
	if m.Find(wire.PayloadSA) != nil {
		cp, _, n := d.acceptChild(sa, m, sa.ni, sa.nr, false, nil)
		if n != nil {
			childPL = []wire.Payload{n}
		} else {
			childPL = []wire.Payload{cp.sa, cp.tsi, cp.tsr}
		}
	}
	d.respond(sa, in, h, hash, append(pl, childPL...))
	d.log.Info("ike: IKE SA established", append(sa.logAttrs(), "algs", sa.algs.String(), "natt", sa.natt,
		"peer_id", idString(idi))...)
	sa.initReq, sa.initResp = nil, nil
}
