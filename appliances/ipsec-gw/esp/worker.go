package esp

import (
	"encoding/binary"
	"net/netip"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp/spd"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Worker runs the ESP data path for one dataplane worker (one Loop): it
// holds the scratch the crypto needs (nonce, AAD) and the counters it
// gathers per burst, so that nothing is allocated or shared per packet.
// A Worker is not safe for concurrent use; make one per worker goroutine
// with Engine.NewWorker. Workers share the Engine's SAs safely.
type Worker struct {
	e     *Engine
	now   int64
	nonce [saltLen + ivLen]byte
	aad   [12]byte
	key   spd.Key
	// kaSent is Keepalives' scratch: the endpoints served in this call.
	kaSent []keepalive
	// acc gathers the packets and bytes of consecutive packets of one SA,
	// added to the SA's counters in one go.
	acc struct {
		sa           *SA
		pkts, nbytes uint64
	}
}

// NewWorker makes a Worker of e.
func (e *Engine) NewWorker() *Worker { return &Worker{e: e} }

// Classify looks up the SPD for every packet of b, clear-text IP packets
// (no link header) going from the protected side to the peer, and sets
// sas[i] (len(sas) >= b.Len()) to the SA that must protect packet i. A
// packet that matches no policy gets nil and is left alone: it bypasses
// IPsec. A packet whose policy has no usable SA gets nil too and is
// dropped (ReasonNoSA, or ReasonExpired when its SA reached a hard limit),
// and the control plane is asked for one (EventAcquire). Classify changes
// no verdict but to Drop.
func (w *Worker) Classify(b *dataplane.Batch, sas []*SA) {
	st := w.e.spd.Load()
	w.now = b.Now
	sas = sas[:len(b.Pkts)]
	for i := range b.Pkts {
		sas[i] = nil
		if st.table.Len() == 0 {
			continue
		}
		p := &b.Pkts[i]
		if !w.key.Parse(p.Data(), true) {
			continue // not IP: the stage drops it as it does any such packet
		}
		j := st.table.Lookup(&w.key)
		if j == spd.NoMatch {
			continue
		}
		pol := st.policies[j]
		sa := pol.out.Load()
		switch {
		case sa == nil:
			p.Drop(ReasonNoSA)
			w.e.acquire(pol, b.Now)
		case sa.dead():
			p.Drop(ReasonExpired)
			sa.c.expired.Add(1)
			w.e.acquire(pol, b.Now)
		default:
			sas[i] = sa
		}
	}
}

// Encap encapsulates every packet i of b with sas[i] != nil, clear-text IP
// packets at the data start, into ESP tunnel mode with SA sas[i]: the
// outer IP header (and UDP header, with encapsulation), ESP header and IV
// are prepended in the headroom, the inner packet is encrypted where it is,
// and the trailer and ICV are appended in the tailroom. An inner packet
// carrying a partial checksum (CsumPartial) is completed first, as nothing
// can complete it once encrypted. A packet that cannot be encapsulated is
// dropped with a reason and its sas[i] set to nil; so afterwards sas[i] is
// non-nil exactly for the packets now carrying ESP. Verdicts are changed
// only to Drop; packets with nil sas[i] are not touched.
func (w *Worker) Encap(b *dataplane.Batch, sas []*SA) {
	w.now = b.Now
	for i := range b.Pkts {
		if sa := sas[i]; sa != nil {
			if r := w.encap(&b.Pkts[i], sa); r != 0 {
				b.Pkts[i].Drop(r)
				sas[i] = nil
			}
		}
	}
	w.flush()
}

func (w *Worker) encap(p *dataplane.Packet, sa *SA) dataplane.Reason {
	if sa.dead() || sa.expiresBy(w.now) {
		if !sa.dead() {
			w.e.expire(sa, true, CauseTime, w.now)
		}
		sa.c.expired.Add(1)
		return ReasonExpired
	}
	d := p.Data()
	var next uint8
	var n int
	switch {
	case len(d) >= ipv4Len && d[0]>>4 == 4:
		next, n = nextHeaderIPv4, int(packet.IPv4(d).TotalLen())
		if n < packet.IPv4(d).HeaderLen() || packet.IPv4(d).HeaderLen() < ipv4Len {
			return ReasonMalformed
		}
	case len(d) >= ipv6Len && d[0]>>4 == 6:
		next, n = nextHeaderIPv6, ipv6Len+int(packet.IPv6(d).PayloadLen())
	default:
		return ReasonMalformed
	}
	if n > len(d) {
		return ReasonMalformed
	}
	if p.Flags&dataplane.CsumPartial != 0 {
		finishCsum(p)
	}
	p.Trim(n) // link padding, if the port left any
	h := sa.hdr.Load()
	pad := padLen(n)
	if p.Headroom() < h.n+ivLen || p.Tailroom() < pad+trailerLen+icvLen {
		return ReasonNoRoom
	}
	seq := sa.seq.Add(1)
	if seq > sa.seqMax {
		w.e.expire(sa, true, CauseSeq, w.now)
		sa.c.expired.Add(1)
		return ReasonSeqExhausted
	}
	if seq == sa.seqSoft {
		w.e.expire(sa, false, CauseSeq, w.now)
	}
	tos, df := innerTOS(d)
	writeTrailer(p.Append(pad+trailerLen+icvLen), pad, next)
	hdr := p.Prepend(h.n + ivLen)
	copy(hdr, h.b[:h.n])
	esp := hdr[h.n-hdrLen:]
	binary.BigEndian.PutUint32(esp[4:8], uint32(seq))
	binary.BigEndian.PutUint64(esp[8:16], seq+sa.ivBase)
	w.seal(sa, p.Data()[h.n-hdrLen:], n+pad+trailerLen, seq)
	out := p.Data()
	h.fill(out, tos, df, seq)
	if h.v6 && h.udp {
		udpChecksum6(out)
	}
	p.Flags &^= dataplane.CsumValid
	w.account(sa, n)
	return 0
}

// finishCsum completes a partial L4 checksum in software, as a device
// would have on transmit.
func finishCsum(p *dataplane.Packet) {
	start, off, ok := p.CsumPartialAt()
	if ok {
		d := p.Data()
		s := ^packet.Checksum(d[start:], 0)
		if s == 0 {
			s = 0xffff
		}
		binary.BigEndian.PutUint16(d[start+off:], s)
	}
	p.Flags &^= dataplane.CsumPartial
}

// Decap decapsulates every packet of b: received outer IP packets (no link
// header) addressed to the gateway carrying ESP, or UDP to port 4500. An
// ESP packet whose SA is known, whose sequence number is new, whose ICV is
// right and whose inner packet the SA's selector allows becomes its inner
// IP packet (the headers pulled off, the trailer trimmed) with its verdict
// unchanged, and sas[i] is set to its SA when sas is not nil. Every other
// packet is dropped with a reason, except two kinds on UDP port 4500: NAT
// keepalives are dropped as ReasonKeepalive (they only keep the NAT
// mapping open), and IKE messages (behind the non-ESP marker) are punted
// to the local stack untouched.
func (w *Worker) Decap(b *dataplane.Batch, sas []*SA) {
	w.now = b.Now
	for i := range b.Pkts {
		p := &b.Pkts[i]
		sa, r := w.decap(p)
		switch {
		case r == reasonPunt:
			p.Punt()
			sa = nil
		case r != 0:
			p.Drop(r)
			sa = nil
		}
		if sas != nil {
			sas[i] = sa
		}
	}
	w.flush()
}

// reasonPunt is decap's internal signal for a packet to punt.
const reasonPunt = dataplane.Reason(0xffff)

func (w *Worker) decap(p *dataplane.Packet) (*SA, dataplane.Reason) {
	d := p.Data()
	if len(d) < 1 {
		return nil, ReasonMalformed
	}
	var (
		off, end int
		proto    uint8
		tos      uint8
		v6       bool
	)
	switch d[0] >> 4 {
	case 4:
		if len(d) < ipv4Len {
			return nil, ReasonMalformed
		}
		ip := packet.IPv4(d)
		off, end = ip.HeaderLen(), int(ip.TotalLen())
		if off < ipv4Len || end < off || end > len(d) || !ip.IsChecksumValid() {
			return nil, ReasonMalformed
		}
		if ip.IsFragment() {
			return nil, ReasonFragment
		}
		proto, tos = d[9], d[1]
	case 6:
		if len(d) < ipv6Len {
			return nil, ReasonMalformed
		}
		v6 = true
		end = ipv6Len + int(packet.IPv6(d).PayloadLen())
		if end > len(d) {
			return nil, ReasonMalformed
		}
		tos = uint8(binary.BigEndian.Uint16(d[0:2]) >> 4)
		var frag bool
		if off, proto, frag = skipExt6(d[:end]); off == 0 {
			return nil, ReasonMalformed
		}
		if frag {
			return nil, ReasonFragment
		}
	default:
		return nil, ReasonMalformed
	}
	udp, udpOff := false, off
	switch packet.IPProtocol(proto) {
	case packet.IPProtoESP:
	case packet.IPProtoUDP:
		if end-off < udpLen {
			return nil, ReasonMalformed
		}
		u := packet.UDP(d[off:end])
		if l := int(u.Length()); l < udpLen || l > end-off {
			return nil, ReasonMalformed
		} else {
			end = off + l
		}
		off += udpLen
		switch pl := d[off:end]; {
		case len(pl) == 1 && pl[0] == 0xff:
			return nil, ReasonKeepalive
		case len(pl) >= 4 && binary.BigEndian.Uint32(pl) == 0:
			return nil, reasonPunt // non-ESP marker: IKE (RFC 3948 section 2.2)
		}
		udp = true
	default:
		return nil, ReasonMalformed
	}
	esp := d[off:end]
	if len(esp) < hdrLen+ivLen+trailerLen+icvLen {
		return nil, ReasonMalformed
	}
	sa := w.e.in.Load().lookup(binary.BigEndian.Uint32(esp[0:4]))
	if sa == nil {
		return nil, ReasonNoSA
	}
	if sa.encap != udp {
		sa.c.malformed.Add(1)
		return nil, ReasonEncapMismatch
	}
	if sa.dead() || sa.expiresBy(w.now) {
		if !sa.dead() {
			w.e.expire(sa, true, CauseTime, w.now)
		}
		sa.c.expired.Add(1)
		return nil, ReasonExpired
	}
	// Anti-replay: check before the ICV (cheap rejection), record after.
	sa.mu.Lock()
	seq, ok := sa.window.infer(binary.BigEndian.Uint32(esp[4:8]), sa.esn)
	if ok && sa.replay {
		ok = sa.window.check(seq)
	}
	sa.mu.Unlock()
	if !ok {
		sa.c.replays.Add(1)
		return nil, ReasonReplay
	}
	pt, ok := w.open(sa, esp, seq)
	if !ok {
		sa.c.authFailures.Add(1)
		return nil, ReasonAuthFailed
	}
	advanced := true
	if sa.replay {
		sa.mu.Lock()
		ok, advanced = sa.window.update(seq)
		sa.mu.Unlock()
		if !ok {
			sa.c.replays.Add(1)
			return nil, ReasonReplay
		}
	}
	n, next, ok := parseTrailer(pt)
	if !ok {
		sa.c.malformed.Add(1)
		return nil, ReasonMalformed
	}
	if next == nextHeaderNone {
		return nil, ReasonDummy // traffic-flow-confidentiality filler
	}
	inner := pt[:n]
	if n = innerLen(inner, next); n == 0 {
		sa.c.malformed.Add(1)
		return nil, ReasonMalformed
	}
	inner = inner[:n]
	if !w.key.Parse(inner, false) || !sa.sel.Match(&w.key) {
		sa.c.selectorMismatch.Add(1)
		return nil, ReasonSelectorMismatch
	}
	if !decapECN(inner, tos) {
		return nil, ReasonECN
	}
	if udp && advanced {
		w.follow(sa, d, v6, udpOff)
	}
	p.Pull(off + hdrLen + ivLen)
	p.Trim(n)
	p.Flags &^= dataplane.CsumValid | dataplane.CsumPartial
	w.account(sa, n)
	return sa, 0
}

// skipExt6 walks an outer IPv6 header's extension headers to the upper
// layer: its offset (0 when malformed) and protocol, and whether the packet
// is a fragment (which the gateway does not reassemble).
func skipExt6(d []byte) (off int, proto uint8, frag bool) {
	off, proto = ipv6Len, d[6]
	for range packet.MaxIPv6ExtHeaders {
		var n int
		switch packet.IPProtocol(proto) {
		case packet.IPProtoHopByHop, packet.IPProtoRouting, packet.IPProtoDestOpts:
			if off+2 > len(d) {
				return 0, 0, false
			}
			n = (int(d[off+1]) + 1) * 8
		case packet.IPProtoFragment:
			return off, proto, true
		default:
			return off, proto, false
		}
		if off+n > len(d) {
			return 0, 0, false
		}
		proto = d[off]
		off += n
	}
	return 0, 0, false
}

// follow is NAT traversal's port floating: when an authenticated packet,
// the newest of its SA, arrives from another address or port than the
// reverse SA sends to, the reverse SA sends there from now on.
func (w *Worker) follow(sa *SA, d []byte, v6 bool, udpOff int) {
	out := sa.reverse.Load()
	if out == nil {
		return
	}
	var src netip.Addr
	if v6 {
		src = packet.IPv6(d).Src()
	} else {
		src = packet.IPv4(d).Src()
	}
	from := netip.AddrPortFrom(src, packet.UDP(d[udpOff:]).SrcPort())
	h := out.hdr.Load()
	if from == h.dst || !out.encap || src.Is4() != out.local.Is4() {
		return
	}
	// Rare: a NAT rebinding. Building the new header allocates.
	if out.hdr.CompareAndSwap(h, newOuterHeader(out, from)) {
		w.e.send(Event{Kind: EventPeerMoved, SA: out, Peer: from, Time: w.now})
	}
}

// account counts a packet of n clear-text bytes for sa, batching the
// atomic additions per run of packets of one SA.
func (w *Worker) account(sa *SA, n int) {
	if w.acc.sa != sa {
		w.flush()
		w.acc.sa = sa
	}
	w.acc.pkts++
	w.acc.nbytes += uint64(n)
}

// flush adds the gathered counts to their SA and checks its limits.
func (w *Worker) flush() {
	sa := w.acc.sa
	if sa == nil {
		return
	}
	sa.c.packets.Add(w.acc.pkts)
	sa.c.bytes.Add(w.acc.nbytes)
	w.acc.sa, w.acc.pkts, w.acc.nbytes = nil, 0, 0
	if sa.dir == Outbound {
		sa.lastTx.Store(w.now)
	}
	if !sa.limits.zero() {
		w.e.checkLimits(sa, w.now)
	}
}
