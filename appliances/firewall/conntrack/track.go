package conntrack

import (
	"encoding/binary"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Result is what Track found out about a packet. A worker keeps one and
// reuses it for every packet; it aliases the packet's frame until the next
// Track.
type Result struct {
	// State is the packet's connection state.
	State State
	// Dir is the packet's direction in Entry: for StateRelated, the direction
	// the ICMP error travels (the reverse of the quoted packet's).
	Dir Dir
	// Reason says why State is Invalid.
	Reason Reason
	// Entry is the connection, or nil: a first packet (StateNew, see Create),
	// an untracked packet, or a StateInvalid packet of no connection.
	Entry *Entry
	// Inner is the packet an ICMP error quotes (State StateRelated).
	Inner Inner

	tuple  Tuple
	hash   uint64
	seg    tcpSeg
	kind   uint8
	status uint8 // stUntracked
	new    bool  // Create may make an entry of it
	frag   bool  // a first fragment: remember it for the others
	fragID uint32
}

// Inner locates the quoted packet of an ICMP error in the frame.
type Inner struct {
	// L3Off and L4Off are the frame offsets of the quoted IP header and of
	// its transport header (after IPv4 options and IPv6 extension headers);
	// End is the end of the ICMP message, so L4Off+8 <= End for TCP, UDP
	// and ICMP quotes.
	L3Off, L4Off, End int
	// Tuple is the quoted packet's tuple as it was sent.
	Tuple Tuple
}

// Tuple returns the tuple Track read from the packet (for an ICMP error,
// the error's own; see Inner for the quoted packet's).
func (r *Result) Tuple() *Tuple { return &r.tuple }

// Untracked reports whether conntrack leaves the packet alone: an ICMP
// message that is neither a query nor an error (neighbour discovery, router
// advertisement, MLD, ...). State is StateNew with no Entry, and Create refuses
// it: the rules judge each such packet on its own.
func (r *Result) Untracked() bool { return r.status&stUntracked != 0 }

// Protocol classes.
const (
	kOther = iota
	kTCP
	kUDP   // UDP and UDP-Lite: ports, UDP timeouts
	kPorts // SCTP, DCCP: ports, generic timeouts
	kICMP  // ICMP and ICMPv6 queries
)

// Track finds the connection of a decoded IP packet and advances its state:
// TCP's state machine and window, UDP's and ICMP's replied flags, and the
// idle timer from now (the batch's time, in ns). It never allocates.
//
// For a packet of no connection that may start one, Track returns StateNew with
// r.Entry nil and creates nothing: the stage runs its rules, then calls
// Create with the same Result if it accepts the packet, before tracking
// another packet. An entry whose time is up is removed when a packet finds
// it, so results do not depend on when Expire ran.
//
// A non-first fragment carries no ports: Track matches it to its
// connection through a small cache that the first fragment (offset 0)
// filled, and says StateInvalid if the first fragment was not tracked (it came
// later, or was dropped). Reassembly is not conntrack's job.
func (t *Table) Track(p *packet.Parsed, now int64, r *Result) State {
	r.Entry, r.Reason, r.Dir, r.status, r.new, r.frag = nil, ReasonNone, Original, 0, false, false
	if p.IPVersion == 0 {
		return t.invalid(r, ReasonNotIP)
	}
	k := &r.tuple
	k.V6 = p.IPVersion == 6
	k.Src, k.Dst = p.Src.As16(), p.Dst.As16()
	k.Proto = p.IPProto
	k.SrcPort, k.DstPort = 0, 0
	if p.FragOffset != 0 {
		return t.trackFragment(p, now, r)
	}
	if p.MoreFrags {
		r.frag, r.fragID = true, p.FragID
	}
	r.kind = kOther
	switch pr := p.IPProto; {
	case pr == packet.IPProtoTCP:
		if !p.HasL4 {
			return t.invalid(r, ReasonMalformed)
		}
		if !tcpValidFlags[p.TCPFlags&tcpFlagsChecked] {
			return t.invalid(r, ReasonTCPFlags)
		}
		r.kind = kTCP
		r.seg.read(p)
		k.SrcPort, k.DstPort = p.SrcPort, p.DstPort
	case pr == packet.IPProtoUDP || pr == packet.IPProtoSCTP:
		if !p.HasL4 {
			return t.invalid(r, ReasonMalformed)
		}
		r.kind = kUDP
		if pr == packet.IPProtoSCTP {
			r.kind = kPorts
		}
		k.SrcPort, k.DstPort = p.SrcPort, p.DstPort
	case pr == packet.IPProtoUDPLite || pr == protoDCCP:
		// Not decoded by package packet: the ports lead the header.
		b := p.Bytes()
		if p.End-p.L4Off < 4 {
			return t.invalid(r, ReasonMalformed)
		}
		r.kind = kUDP
		if pr == protoDCCP {
			r.kind = kPorts
		}
		k.SrcPort = binary.BigEndian.Uint16(b[p.L4Off:])
		k.DstPort = binary.BigEndian.Uint16(b[p.L4Off+2:])
	case isICMP(pr, k.V6):
		if !p.HasL4 {
			return t.invalid(r, ReasonMalformed)
		}
		m := p.L4()
		typ := m[0]
		if k.V6 && packet.ICMPv6Type(typ).IsError() || !k.V6 && packet.ICMPv4Type(typ).IsError() {
			return t.trackICMPError(p, now, r)
		}
		if queryPeer(k.V6, typ) == 0xff {
			r.status = stUntracked
			r.State = StateNew
			t.count(cUntracked)
			return StateNew
		}
		r.kind = kICMP
		k.SrcPort = binary.BigEndian.Uint16(m[4:6])
		k.DstPort = uint16(typ)
	}
	if k.Src == k.Dst && k.SrcPort == k.DstPort && !r.isICMP() {
		// Its reverse is itself: the two directions could not be told
		// apart (and no real host sends it: the LAND attack).
		return t.invalid(r, ReasonLand)
	}
	r.hash = t.key.hash(k)
	if rf := t.find(k, r.hash); rf != 0 {
		e := &t.entries[refEntry(rf)]
		if e.expires > now {
			return t.update(e, refDir(rf), now, r)
		}
		t.remove(e, cExpired)
	}
	return t.miss(r)
}

func (r *Result) isICMP() bool { return r.kind == kICMP }

// miss judges a packet with no connection.
func (t *Table) miss(r *Result) State {
	switch r.kind {
	case kTCP:
		switch tcpConntracks[Original][tcpIndex(r.seg.flags)][TCPNone] {
		case TCPSynSent:
		case TCPEstablished:
			if !t.loose {
				return t.invalid(r, ReasonNoConnection)
			}
		default:
			return t.invalid(r, ReasonNoConnection)
		}
	case kICMP:
		if !isQueryRequest(r.tuple.V6, uint8(r.tuple.DstPort)) {
			return t.invalid(r, ReasonICMPNoRequest)
		}
	}
	r.new = true
	r.State = StateNew
	return StateNew
}

func (t *Table) invalid(r *Result, why Reason) State {
	r.State, r.Reason = StateInvalid, why
	t.countInvalid(why)
	return StateInvalid
}

// update tracks a packet of entry e going dir.
func (t *Table) update(e *Entry, dir Dir, now int64, r *Result) State {
	switch r.kind {
	case kTCP:
		w := t.tcpOf(e)
		v, why := e.tcpPacket(w, dir, &r.seg)
		switch v {
		case tcpReopen:
			t.remove(e, cReopened)
			return t.miss(r)
		case tcpBad:
			r.Entry, r.Dir = e, dir
			return t.invalid(r, why)
		case tcpOK:
			t.setExpires(e, now+t.tcpTimeout(e, w, tcpIndex(r.seg.flags)))
		}
	case kUDP:
		if dir == Reply {
			e.status |= stSeenReply | stAssured
		}
		if e.status&stSeenReply != 0 {
			t.setExpires(e, now+t.udpStream)
		} else {
			t.setExpires(e, now+t.udp)
		}
	case kICMP:
		if dir == Reply {
			e.status |= stSeenReply | stAssured
		}
		t.setExpires(e, now+t.icmp)
	default:
		if dir == Reply {
			e.status |= stSeenReply | stAssured
		}
		t.setExpires(e, now+t.other)
	}
	r.Entry, r.Dir = e, dir
	t.count(cFound)
	if r.frag {
		t.fragRecord(r, e, dir, now)
	}
	if dir == Reply || e.status&stSeenReply != 0 {
		r.State = StateEstablished
	} else {
		r.State = StateNew
	}
	return r.State
}

// Create makes the entry of a connection whose first packet Track said was
// StateNew (with no Entry), and sets r.Entry. reply is the tuple replies will
// carry: nil for the reverse of the packet's, or the translated one NAT
// chose (package nat calls Create so). The packet must not have been
// changed since Track.
//
// When the table is full, Create looks at a few entries from the expiry
// hand and takes the first that expired or (unless Options.NoEarlyDrop)
// is not assured, dropping it; failing both, it refuses the connection
// with ErrFull and counts it. Established connections are never pushed out.
// It returns ErrClash, counted, when reply is another connection's tuple,
// and ErrNotNew for any other Result.
func (t *Table) Create(r *Result, reply *Tuple, now int64) (*Entry, error) {
	if !r.new || r.State != StateNew || r.Entry != nil {
		return nil, ErrNotNew
	}
	orig := &r.tuple
	var rev Tuple
	if reply == nil {
		rev = orig.Reverse()
		reply = &rev
	}
	hr := t.key.hash(reply)
	if reply.equal(orig) || t.taken(reply, hr, now) {
		t.count(cClash)
		return nil, ErrClash
	}
	if t.taken(orig, r.hash, now) {
		return nil, ErrNotNew
	}
	i := t.alloc(now)
	if i == 0 {
		t.count(cFull)
		return nil, ErrFull
	}
	i--
	e := &t.entries[i]
	e.orig, e.reply = *orig, *reply
	e.status = stLive
	e.state = TCPNone
	e.Mark, e.NAT = 0, NATBinding{}
	t.nextGen++
	e.gen = t.nextGen
	switch r.kind {
	case kTCP:
		// (Only TCP entries' window state is ever read: other entries
		// leave theirs as it was.)
		w := &t.tcp[i]
		e.tcpNew(w, &r.seg, t.loose)
		// The first segment goes through the state machine from NONE,
		// as in Linux: SYN_SENT (or ESTABLISHED, picked up).
		e.tcpPacket(w, Original, &r.seg)
		e.expires = now + t.tcpTimeout(e, w, tcpIndex(r.seg.flags))
	case kUDP:
		e.expires = now + t.udp
	case kICMP:
		e.expires = now + t.icmp
	default:
		e.expires = now + t.other
	}
	t.due[i] = e.expires
	t.link(e, i, Original, r.hash)
	t.link(e, i, Reply, hr)
	t.live++
	t.count(cCreated)
	r.Entry, r.Dir, r.new = e, Original, false
	if r.frag {
		t.fragRecord(r, e, Original, now)
	}
	return e, nil
}

// taken reports whether k (with hash h) is a key of a live connection,
// removing an expired one that holds it.
func (t *Table) taken(k *Tuple, h uint64, now int64) bool {
	rf := t.find(k, h)
	if rf == 0 {
		return false
	}
	e := &t.entries[refEntry(rf)]
	if e.expires <= now {
		t.remove(e, cExpired)
		return false
	}
	return true
}

// trackICMPError matches an ICMP error to the connection of the packet it
// quotes: the quoted packet went one way, so the error goes the other, and
// the reverse of the quoted tuple is the key of the error's direction (as
// Linux's icmp_error_message). Errors do not refresh the connection.
func (t *Table) trackICMPError(p *packet.Parsed, now int64, r *Result) State {
	in := &r.Inner
	// The quote starts after the 8-byte ICMP header.
	if why := parseQuote(p.Bytes()[:p.End], p.L4Off+packet.ICMPv4MinLen, r.tuple.V6, in); why != ReasonNone {
		return t.invalid(r, why)
	}
	rev := in.Tuple.Reverse()
	rf := t.find(&rev, t.key.hash(&rev))
	if rf == 0 {
		return t.invalid(r, ReasonICMPNoConnection)
	}
	e := &t.entries[refEntry(rf)]
	if e.expires <= now {
		t.remove(e, cExpired)
		return t.invalid(r, ReasonICMPNoConnection)
	}
	r.Entry, r.Dir, r.State = e, refDir(rf), StateRelated
	t.count(cRelated)
	return StateRelated
}
