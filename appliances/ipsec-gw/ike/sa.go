package ike

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/suite"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
)

// saState is where an IKE SA is in its life.
type saState uint8

const (
	stInit        saState = iota + 1 // IKE_SA_INIT sent (initiator) or answered (responder: half-open)
	stAuth                           // IKE_AUTH sent
	stEstablished                    // authenticated
	stRekeyed                        // replaced by a rekeyed IKE SA, waiting for its deletion
	stDeleting                       // our Delete is out
	stDead                           // gone
)

var stateNames = [...]string{stInit: "connecting", stAuth: "authenticating", stEstablished: "established",
	stRekeyed: "rekeyed", stDeleting: "deleting", stDead: "dead"}

func (s saState) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return "state?"
}

// ikeSA is one IKE SA, as initiator or responder.
type ikeSA struct {
	serial    uint64 // creation order, for stable listings
	conn      *conn  // nil for a responder until IKE_AUTH names it
	cands     []*conn
	initiator bool // the original initiator (the I flag)
	spiI      uint64
	spiR      uint64
	state     saState

	local, remote  netip.AddrPort
	natUs, natPeer bool
	natt           bool // either side behind a NAT: port 4500, ESP in UDP

	algs     suite.Algs
	keys     *suite.Keys
	out, in  *wire.Crypter
	ni, nr   []byte
	dh       *suite.DH
	initReq  []byte // the IKE_SA_INIT request and response, which AUTH signs
	initResp []byte
	initHash [32]byte
	initKey  initKey
	cookie   []byte
	retries  int // cookie and INVALID_KE retries of IKE_SA_INIT
	sent     []wire.Proposal
	halfOpen bool
	// peerID is the peer's authenticated identity (its IDi or IDr), for
	// INITIAL_CONTACT.
	peerID *wire.ID
	// peerChildless: the peer's IKE_SA_INIT announced RFC 6023 support;
	// childless: as initiator, ask it for the IKE SA alone (IKE_AUTH
	// without SA and TS), the children to follow with CREATE_CHILD_SA.
	peerChildless, childless bool

	// Our requests: the next message ID, the one outstanding and those
	// waiting for it.
	myNext  uint32
	pending *request
	queue   []*exchange
	// The peer's requests: the next ID expected, and the last answered
	// (its hash and our response) for retransmissions.
	peerNext    uint32
	lastReqHash [32]byte
	lastResp    []byte
	lastRespTo  [2]netip.AddrPort

	children    []*child
	making      map[int]bool // children being created, by index
	established time.Time
	lastRecv    time.Time
	lastPkts    uint64

	dpdTimer, rekeyTimer, lifeTimer, halfTimer *timer

	rekey     *ikeRekey // our rekey of this SA, in flight
	peerRekey *ikeRekey // the peer's rekey we answered while ours was in flight
	// deletedByPeer: the peer deleted this SA while our rekey of it
	// waited for its answer.
	deletedByPeer bool
}

// request is our outstanding request.
type request struct {
	id    uint32
	b     []byte
	tries int
	sent  time.Time // first sent, for the conn's dpd_timeout
	timer *timer
	done  func(m *wire.Message)
}

// exchange is a request waiting for its turn: build makes its payloads
// when it is sent (false: nothing to send any more), done handles the
// response.
type exchange struct {
	build func() (wire.Exchange, []wire.Payload, bool)
	done  func(m *wire.Message)
}

func (d *Daemon) newSA() *ikeSA {
	d.serial++
	return &ikeSA{serial: d.serial, lastRecv: time.Now()}
}

func (sa *ikeSA) connName() string {
	if sa.conn != nil {
		return sa.conn.cfg.Name
	}
	return ""
}

// ourSPI is the SPI that names this SA here.
func (sa *ikeSA) ourSPI() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

func (sa *ikeSA) logAttrs() []any {
	return []any{"conn", sa.connName(), "spi_i", fmt.Sprintf("%016x", sa.spiI), "spi_r", fmt.Sprintf("%016x", sa.spiR),
		"local", sa.local.String(), "remote", sa.remote.String()}
}

// header is the header of a message of ours on sa.
func (sa *ikeSA) header(ex wire.Exchange, id uint32, response bool) wire.Header {
	h := wire.Header{SPIi: sa.spiI, SPIr: sa.spiR, Version: wire.Version, Exchange: ex, MsgID: id}
	if sa.initiator {
		h.Flags |= wire.FlagInitiator
	}
	if response {
		h.Flags |= wire.FlagResponse
	}
	return h
}

// transmit sends b from local to remote.
func (d *Daemon) transmit(local, remote netip.AddrPort, b []byte) {
	d.sent.Add(1)
	d.c.Send(local, remote, b)
}

// enqueue queues an exchange of ours on sa and sends it when its turn
// comes (one request outstanding: window 1).
func (d *Daemon) enqueue(sa *ikeSA, x *exchange) {
	sa.queue = append(sa.queue, x)
	d.kick(sa)
}

// kick sends the next queued request when none is outstanding.
func (d *Daemon) kick(sa *ikeSA) {
	for sa.pending == nil && len(sa.queue) > 0 && sa.state != stDead && sa.out != nil {
		x := sa.queue[0]
		sa.queue[0] = nil
		sa.queue = sa.queue[1:]
		ex, pl, ok := x.build()
		if !ok {
			continue
		}
		if err := d.sendRequest(sa, ex, pl, x.done); err != nil {
			d.log.Warn("ike: cannot send request", append(sa.logAttrs(), "err", err)...)
		}
	}
}

// sendRequest seals and sends a request now and keeps it for
// retransmission.
func (d *Daemon) sendRequest(sa *ikeSA, ex wire.Exchange, pl []wire.Payload, done func(*wire.Message)) error {
	m := &wire.Message{Header: sa.header(ex, sa.myNext, false), Payloads: pl}
	b, err := m.Seal(sa.out)
	if err != nil {
		return err
	}
	sa.pending = &request{id: sa.myNext, b: b, done: done}
	sa.myNext++
	d.transmit(sa.local, sa.remote, b)
	d.armRetransmit(sa, sa.pending)
	return nil
}

// sendOnce sends a request that is not retransmitted and whose answer
// does not matter (Close's deletes, a failed authentication's notice).
func (d *Daemon) sendOnce(sa *ikeSA, ex wire.Exchange, pl []wire.Payload) {
	if sa.out == nil {
		return
	}
	m := &wire.Message{Header: sa.header(ex, sa.myNext, false), Payloads: pl}
	if b, err := m.Seal(sa.out); err == nil {
		sa.myNext++
		d.transmit(sa.local, sa.remote, b)
	}
}

// armRetransmit schedules the retransmissions of r (RFC 7296 section
// 2.1): the same bytes after RetransmitBase, doubling, RetransmitTries
// times; then the peer is dead. A conn's dpd_timeout cuts the schedule
// short: the peer is dead once r has gone unanswered that long.
func (d *Daemon) armRetransmit(sa *ikeSA, r *request) {
	if r.sent.IsZero() {
		r.sent = time.Now()
	}
	wait := d.c.RetransmitBase << min(r.tries, 16)
	var limit time.Duration
	if sa.conn != nil {
		limit = sa.conn.cfg.DPDTimeout
	}
	expired := func() bool { return limit > 0 && time.Since(r.sent) >= limit }
	if limit > 0 {
		wait = max(min(wait, limit-time.Since(r.sent)), time.Millisecond)
	}
	r.timer = d.after(wait, func() {
		if sa.pending != r || sa.state == stDead {
			return
		}
		if r.tries >= d.c.RetransmitTries || expired() {
			d.dead(sa)
			return
		}
		r.tries++
		d.retransmits.Add(1)
		d.transmit(sa.local, sa.remote, r.b)
		d.armRetransmit(sa, r)
	})
}

// dead handles a peer that stopped answering.
func (d *Daemon) dead(sa *ikeSA) {
	if sa.state == stInit && sa.initiator {
		d.log.Warn("ike: no answer to IKE_SA_INIT", sa.logAttrs()...)
	} else {
		d.log.Warn("ike: peer dead", sa.logAttrs()...)
	}
	cn := sa.conn
	d.teardown(sa, "dead", true)
	if cn != nil {
		d.scheduleRetry(cn)
	}
}

// handle processes one received message.
func (d *Daemon) handle(in inbound) {
	d.received.Add(1)
	b := in.msg
	h, err := wire.DecodeHeader(b)
	if err != nil {
		d.drop("malformed-header")
		return
	}
	if h.Exchange == wire.IKESAInit {
		if h.IsResponse() {
			d.initResponse(in, h)
		} else {
			d.initRequest(in, h)
		}
		return
	}
	spi := h.SPIi
	if h.IsInitiator() {
		spi = h.SPIr
	}
	sa := d.sas[spi]
	if sa == nil || spi == 0 {
		// No INVALID_IKE_SPI answer (RFC 7296 section 2.21.4 makes it
		// optional): unauthenticated, it could be made to reflect
		// traffic at a third party. Counted and dropped.
		d.drop("unknown-spi")
		return
	}
	if sa.initiator == h.IsInitiator() || h.SPIi != sa.spiI || h.SPIr != sa.spiR {
		d.drop("unknown-spi")
		return
	}
	if sa.in == nil || sa.state == stDead {
		d.drop("not-ready")
		return
	}
	var hash [32]byte
	if h.IsResponse() {
		if sa.pending == nil || sa.pending.id != h.MsgID {
			d.drop("unexpected-response")
			return
		}
	} else {
		hash = sha256.Sum256(b)
		switch {
		case h.MsgID+1 == sa.peerNext && sa.lastResp != nil:
			// A retransmission: answer from the cache, without
			// processing it again (RFC 7296 section 2.1).
			if hash == sa.lastReqHash {
				d.retransmits.Add(1)
				d.transmit(in.local, in.remote, sa.lastResp)
			} else {
				d.drop("retransmit-mismatch")
			}
			return
		case h.MsgID != sa.peerNext:
			d.drop("out-of-window")
			return
		}
	}
	m, err := wire.Decode(b)
	if err != nil {
		d.drop("malformed")
		return
	}
	if len(m.Payloads) == 0 {
		d.drop("unprotected")
		return
	}
	if _, ok := m.Payloads[len(m.Payloads)-1].(*wire.Encrypted); !ok {
		d.drop("unprotected")
		return
	}
	if err := m.Open(b, sa.in); err != nil {
		var we *wire.Error
		if errors.As(err, &we) && we.Notify != 0 {
			// Authentic but malformed inside (RFC 7296 section 2.21.3).
			d.drop("malformed-inner")
			if !h.IsResponse() {
				d.respond(sa, in, h, hash, []wire.Payload{&wire.Notify{Type: we.Notify, Data: we.Data}})
			}
			return
		}
		d.drop("integrity")
		return
	}
	sa.lastRecv = time.Now()
	if sa.natt && (in.remote != sa.remote || in.local != sa.local) && (h.IsResponse() || sa.state != stRekeyed) {
		// NAT traversal: follow the peer to its new mapping (RFC 7296
		// section 2.23), learnt from an authenticated message.
		if in.remote != sa.remote {
			d.log.Info("ike: peer moved", append(sa.logAttrs(), "to", in.remote.String())...)
		}
		sa.local, sa.remote = in.local, in.remote
	}
	if h.IsResponse() {
		r := sa.pending
		sa.pending = nil
		d.cancel(r.timer)
		if r.done != nil {
			r.done(m)
		}
		if sa.state != stDead {
			d.kick(sa)
		}
		return
	}
	d.request(sa, in, h, hash, m)
}

// respond answers the peer's request h with pl and keeps the answer for
// retransmissions.
func (d *Daemon) respond(sa *ikeSA, in inbound, h wire.Header, hash [32]byte, pl []wire.Payload) {
	m := &wire.Message{Header: sa.header(h.Exchange, h.MsgID, true), Payloads: pl}
	b, err := m.Seal(sa.out)
	if err != nil {
		d.log.Warn("ike: cannot answer", append(sa.logAttrs(), "err", err)...)
		return
	}
	sa.peerNext = h.MsgID + 1
	sa.lastReqHash = hash
	sa.lastResp = b
	d.transmit(in.local, in.remote, b)
}

// request dispatches a request of the peer.
func (d *Daemon) request(sa *ikeSA, in inbound, h wire.Header, hash [32]byte, m *wire.Message) {
	switch h.Exchange {
	case wire.IKEAuth:
		if !sa.initiator && sa.state == stInit && h.MsgID == 1 {
			d.authRequest(sa, in, h, hash, m)
			return
		}
	case wire.CreateChildSA:
		switch sa.state {
		case stEstablished:
			d.createChildRequest(sa, in, h, hash, m)
			return
		case stRekeyed, stDeleting:
			d.respond(sa, in, h, hash, []wire.Payload{&wire.Notify{Type: wire.TemporaryFailure}})
			return
		}
	case wire.Informational:
		if sa.state != stInit {
			d.infoRequest(sa, in, h, hash, m)
			return
		}
	}
	d.drop("unexpected-exchange")
}

// teardown forgets sa: its timers, its children (removed from the ESP
// engine and their policies) unless keepChildren, and its keys.
func (d *Daemon) teardown(sa *ikeSA, why string, removeChildren bool) {
	if sa.state == stDead {
		return
	}
	wasUp := sa.state == stEstablished || sa.state == stRekeyed || sa.state == stDeleting
	sa.state = stDead
	if sa.pending != nil {
		d.cancel(sa.pending.timer)
		sa.pending = nil
	}
	sa.queue = nil
	for _, t := range []*timer{sa.dpdTimer, sa.rekeyTimer, sa.lifeTimer, sa.halfTimer} {
		d.cancel(t)
	}
	if sa.halfOpen {
		sa.halfOpen = false
		d.halfOpen--
	}
	if removeChildren {
		for _, c := range slices.Clone(sa.children) {
			d.removeChild(c)
		}
		sa.children = nil
	}
	if d.sas[sa.ourSPI()] == sa {
		delete(d.sas, sa.ourSPI())
	}
	if d.initIdx[sa.initKey] == sa {
		delete(d.initIdx, sa.initKey)
	}
	if sa.keys != nil {
		sa.keys.Wipe()
	}
	sa.lastResp = nil
	if wasUp {
		d.log.Info("ike: IKE SA deleted", append(sa.logAttrs(), "why", why)...)
	}
}

// established starts an IKE SA's life: lifetimes, rekeying and DPD.
func (d *Daemon) establish(sa *ikeSA) {
	sa.state = stEstablished
	sa.established = time.Now()
	sa.lastRecv = sa.established
	if sa.halfOpen {
		sa.halfOpen = false
		d.halfOpen--
		d.cancel(sa.halfTimer)
	}
	cfg := sa.conn.cfg
	if cfg.Rekey > 0 {
		sa.rekeyTimer = d.after(cfg.Rekey-jitter(cfg.Rekey, 0.05), func() { d.rekeyIKE(sa) })
	}
	if cfg.Lifetime > 0 {
		sa.lifeTimer = d.after(cfg.Lifetime, func() {
			d.log.Info("ike: IKE SA lifetime reached", sa.logAttrs()...)
			d.deleteIKE(sa, "lifetime")
		})
	}
	if cfg.DPD > 0 {
		sa.dpdTimer = d.after(cfg.DPD, func() { d.dpd(sa) })
	}
	sa.conn.backoff = 0
	d.contacted[sa.remote.Addr()] = true
}

// deleteIKE deletes sa with the peer (INFORMATIONAL Delete) and then here.
func (d *Daemon) deleteIKE(sa *ikeSA, why string) {
	if sa.state == stDead || sa.state == stDeleting {
		return
	}
	if sa.state != stEstablished && sa.state != stRekeyed {
		d.teardown(sa, why, true)
		return
	}
	sa.state = stDeleting
	sa.queue = nil
	del := func() (wire.Exchange, []wire.Payload, bool) {
		return wire.Informational, []wire.Payload{&wire.Delete{Protocol: wire.ProtoIKE}}, true
	}
	x := &exchange{build: del, done: func(*wire.Message) {
		cn := sa.conn
		d.teardown(sa, why, true)
		if cn != nil && why != "rekeyed" && why != "redundant" {
			d.scheduleRetry(cn)
		}
	}}
	if sa.pending == nil {
		d.enqueue(sa, x)
	} else {
		sa.queue = []*exchange{x}
	}
}

// dpd checks the peer's liveness (RFC 7296 section 2.4): when nothing came
// from it for the DPD interval, neither IKE nor ESP, ask with an empty
// INFORMATIONAL; its retransmissions failing declares it dead.
func (d *Daemon) dpd(sa *ikeSA) {
	if sa.state != stEstablished {
		return
	}
	dpd := sa.conn.cfg.DPD
	sa.dpdTimer = d.after(dpd, func() { d.dpd(sa) })
	var pkts uint64
	for _, c := range sa.children {
		pkts += c.in.Counters().Packets
	}
	now := time.Now()
	if pkts != sa.lastPkts {
		sa.lastPkts = pkts
		sa.lastRecv = now
	}
	if now.Sub(sa.lastRecv) < dpd || sa.pending != nil || len(sa.queue) > 0 {
		return
	}
	d.enqueue(sa, &exchange{
		build: func() (wire.Exchange, []wire.Payload, bool) { return wire.Informational, nil, true },
	})
}
