package conntrack

import (
	"encoding/binary"
	"strconv"
	"time"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// TCP tracking follows Linux's nf_conntrack_proto_tcp.c: the same state
// table, and the window checks of Guido van Rooij, "Real Stateful TCP
// Packet Filtering in IP Filter" (2000), as Linux implements them.
//
// For each direction the tracker keeps (Rooij's names):
//
//	end     the highest sequence number sent, plus one (seq + len)
//	maxEnd  the highest sequence number the receiver's window allows:
//	        its highest ack + its window
//	maxWin  the largest window the sender has advertised (scaled)
//	scale   the sender's window scale (RFC 7323), when both sides sent one
//
// A segment from the sender with sequence range [seq, end] and ack is
// accepted when
//
//	I    seq <= sender.maxEnd                      (not past the window)
//	II   end >= sender.end - receiver.maxWin       (not older than a window)
//	III  ack <= receiver.end                       (acks nothing unsent)
//	IV   ack >= receiver.end - max(maxWin, 66000)  (not too old an ack)
//
// A segment failing I or III is Invalid. One failing only II or IV (an old
// retransmission, a late ACK) passes as Ignored, without updating anything,
// as Linux lets it pass: the endpoints deal with duplicates.

// TCPState is a TCP connection's state as the tracker sees it.
type TCPState uint8

// The states, as Linux's TCP_CONNTRACK_*.
const (
	TCPNone TCPState = iota
	TCPSynSent
	TCPSynRecv
	TCPEstablished
	TCPFinWait
	TCPCloseWait
	TCPLastAck
	TCPTimeWait
	TCPClose
	TCPSynSent2 // simultaneous open: SYNs crossed
	numTCPStates

	tcpIgnore  = numTCPStates     // pass the segment, change nothing
	tcpInvalid = numTCPStates + 1 // the segment is invalid
)

var tcpStateNames = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

func (s TCPState) String() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "TCPState(" + strconv.Itoa(int(s)) + ")"
}

// Which of the six segment kinds a segment is, for the state table.
const (
	tcpSynSet = iota
	tcpSynAckSet
	tcpFinSet
	tcpAckSet
	tcpRstSet
	tcpNoneSet
)

func tcpIndex(f packet.TCPFlags) uint8 {
	switch {
	case f&packet.TCPRst != 0:
		return tcpRstSet
	case f&packet.TCPSyn != 0:
		if f&packet.TCPAck != 0 {
			return tcpSynAckSet
		}
		return tcpSynSet
	case f&packet.TCPFin != 0:
		return tcpFinSet
	case f&packet.TCPAck != 0:
		return tcpAckSet
	}
	return tcpNoneSet
}

// tcpValidFlags lists the flag combinations a TCP sends, PSH, ECE and CWR
// aside (Linux's tcp_valid_flags). Anything else (SYN+FIN, no flags at all,
// ...) is StateInvalid before any lookup.
var tcpValidFlags = func() (v [64]bool) {
	const (
		f, s, r, a, u = packet.TCPFin, packet.TCPSyn, packet.TCPRst, packet.TCPAck, packet.TCPUrg
	)
	for _, c := range []packet.TCPFlags{s, s | u, s | a, r, r | a, f | a, f | a | u, a, a | u} {
		v[c] = true
	}
	return
}()

const tcpFlagsChecked = packet.TCPFin | packet.TCPSyn | packet.TCPRst | packet.TCPAck | packet.TCPUrg

// tcpConntracks is Linux's tcp_conntracks[dir][segment kind][old state]
// (the reasons for each transition are in the comments there).
var tcpConntracks = func() (t [2][6][numTCPStates]TCPState) {
	const (
		sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2 = TCPNone, TCPSynSent, TCPSynRecv, TCPEstablished,
			TCPFinWait, TCPCloseWait, TCPLastAck, TCPTimeWait, TCPClose, TCPSynSent2
		sIV, sIG = tcpInvalid, tcpIgnore
	)
	t[Original] = [6][numTCPStates]TCPState{
		//        sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
		/*syn*/ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
		/*synack*/ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
		/*fin*/ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/*ack*/ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
		/*rst*/ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/*none*/ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	}
	t[Reply] = [6][numTCPStates]TCPState{
		//        sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
		/*syn*/ {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
		/*synack*/ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
		/*fin*/ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/*ack*/ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
		/*rst*/ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/*none*/ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	}
	return
}()

// tcpDir is the window tracking of one direction (Linux's
// ip_ct_tcp_state).
type tcpDir struct {
	end, maxEnd, maxWin, maxAck uint32
	scale                       uint8
	flags                       uint8
}

// tcpDir flags.
const (
	tfWindowScale = 1 << iota // sent a window scale option
	tfSackPerm                // sent SACK permitted
	tfCloseInit               // sent the first FIN
	tfLiberal                 // picked up mid-stream: window failures pass
	tfDataUnacked             // has sent data not acknowledged yet
	tfMaxAckSet               // maxAck is valid
)

// maxAckWinConst is Linux's MAXACKWINCONST: the least slack for old ACKs.
const maxAckWinConst = 66000

// tcpUnackedTimeout caps the timeout while data is unacknowledged, as
// Linux's timeout_unacknowledged.
const tcpUnackedTimeout = int64(5 * time.Minute)

// maxWScale is the largest window scale RFC 7323 allows.
const maxWScale = 14

func before(a, b uint32) bool { return int32(a-b) < 0 }
func after(a, b uint32) bool  { return int32(b-a) < 0 }

// tcpSeg is what the tracker reads from a segment.
type tcpSeg struct {
	seq, ack, end uint32
	win           uint16
	flags         packet.TCPFlags
	hdr           packet.TCP // the segment (header, options, payload); aliases the frame
}

func (s *tcpSeg) read(p *packet.Parsed) {
	h := p.TCP()
	s.hdr = h
	s.seq = h.Seq()
	s.ack = h.Ack()
	s.win = h.Window()
	s.flags = p.TCPFlags
	s.end = s.seq + uint32(p.PayloadLen())
	if s.flags&packet.TCPSyn != 0 {
		s.end++
	}
	if s.flags&packet.TCPFin != 0 {
		s.end++
	}
}

// options returns the options bytes, or nil if the header has none or
// their length is wrong.
func (s *tcpSeg) options() []byte {
	h := s.hdr
	if len(h) < packet.TCPMinLen {
		return nil
	}
	n := h.HeaderLen()
	if n <= packet.TCPMinLen || n > len(h) {
		return nil
	}
	return h[packet.TCPMinLen:n]
}

// synOptions records the window scale and SACK-permitted options of a SYN
// into d (Linux's tcp_options).
func (s *tcpSeg) synOptions(d *tcpDir) {
	d.scale = 0
	d.flags &^= tfWindowScale | tfSackPerm
	o := s.options()
	for len(o) > 0 {
		kind := o[0]
		if kind == 0 { // end of options
			return
		}
		if kind == 1 { // no-op
			o = o[1:]
			continue
		}
		if len(o) < 2 || o[1] < 2 || int(o[1]) > len(o) {
			return
		}
		n := int(o[1])
		switch {
		case kind == 4 && n == 2:
			d.flags |= tfSackPerm
		case kind == 3 && n == 3:
			d.scale = min(o[2], maxWScale)
			d.flags |= tfWindowScale
		}
		o = o[n:]
	}
}

// sack returns the highest right edge of the segment's SACK blocks if it
// is after ack, else ack (Linux's tcp_sack).
func (s *tcpSeg) sack(ack uint32) uint32 {
	o := s.options()
	for len(o) > 0 {
		kind := o[0]
		if kind == 0 {
			break
		}
		if kind == 1 {
			o = o[1:]
			continue
		}
		if len(o) < 2 || o[1] < 2 || int(o[1]) > len(o) {
			break
		}
		n := int(o[1])
		if kind == 5 && n >= 10 && (n-2)%8 == 0 {
			for b := 2; b+8 <= n; b += 8 {
				if edge := binary.BigEndian.Uint32(o[b+4:]); after(edge, ack) {
					ack = edge
				}
			}
		}
		o = o[n:]
	}
	return ack
}

// tcpOutcome is what the window check says.
type tcpOutcome uint8

const (
	tcpAccept tcpOutcome = iota
	tcpIgnored
	tcpReject
)

func maxAckWindow(d *tcpDir) uint32 { return max(d.maxWin, maxAckWinConst) }

// initSender starts tracking a direction from its SYN or SYN/ACK (Linux's
// tcp_init_sender).
func initSender(sender, receiver *tcpDir, s *tcpSeg) {
	sender.end, sender.maxEnd = s.end, s.end
	sender.maxWin = max(uint32(s.win), 1)
	s.synOptions(sender)
	// RFC 7323: scaling is on only if both sides ask for it.
	if sender.flags&tfWindowScale == 0 || receiver.flags&tfWindowScale == 0 {
		sender.scale, receiver.scale = 0, 0
	}
}

// inWindow is Linux's tcp_in_window: the window checks, and the update of
// both directions' tracking when the segment passes.
func (e *Entry) inWindow(w *[2]tcpDir, dir Dir, s *tcpSeg) (tcpOutcome, Reason) {
	sender, receiver := &w[dir], &w[dir^1]
	seq, ack, end := s.seq, s.ack, s.end
	hasAck := s.flags&packet.TCPAck != 0
	syn := s.flags&packet.TCPSyn != 0
	sack := ack
	if receiver.flags&tfSackPerm != 0 && hasAck {
		sack = s.sack(ack)
	}
	win := uint32(s.win)

	if sender.maxWin == 0 {
		if syn {
			// SYN/ACK answering a SYN, or the reply side's SYN in a
			// simultaneous open.
			initSender(sender, receiver, s)
			if !hasAck {
				return tcpAccept, 0
			}
		} else {
			// Mid-stream, history lost: take what the segment says.
			sender.end = end
			sender.maxWin = max(win<<sender.scale, 1)
			sender.maxEnd = end + sender.maxWin
			if receiver.maxWin == 0 {
				receiver.end, receiver.maxEnd = sack, sack
			} else if sack == receiver.end+1 {
				receiver.end++ // probably the answer to a keepalive
			}
		}
	} else if syn && after(end, sender.end) && (e.state == TCPSynSent || e.state == TCPSynRecv) {
		// A SYN or SYN/ACK with a new sequence number: the endpoint
		// restarted the handshake (RFC 9293 3.10.7.3).
		initSender(sender, receiver, s)
		if dir == Reply && !hasAck {
			return tcpAccept, 0
		}
	}

	if !hasAck || s.flags&(packet.TCPAck|packet.TCPRst) == packet.TCPAck|packet.TCPRst && ack == 0 {
		// No ACK (or a broken stack's RST+ACK with ack 0): as if it
		// acknowledged exactly what was sent.
		ack, sack = receiver.end, receiver.end
	}
	if s.flags&packet.TCPRst != 0 && seq == 0 && e.state == TCPSynSent {
		// RST answering a SYN.
		seq, end = sender.end, sender.end
	}
	liberal := sender.flags&tfLiberal != 0

	if !before(seq, sender.maxEnd+1) {
		// I fails. Tolerate a sender that overshoots the window by less
		// than a window, if everything else holds (Linux does, for stacks
		// that send more than the receiver allowed).
		overshot := end - sender.maxEnd + 1
		ackOK := after(sack, receiver.end-maxAckWindow(sender)-1)
		inRecv := receiver.maxWin != 0 && after(end, sender.end-receiver.maxWin-1)
		if inRecv && ackOK && overshot <= receiver.maxWin && before(sack, receiver.end+1) {
			sender.end = end
			sender.flags |= tfDataUnacked
			if liberal {
				return tcpAccept, 0
			}
			return tcpIgnored, 0
		}
		if liberal {
			return tcpAccept, 0
		}
		return tcpReject, ReasonSeqOverWindow
	}
	if !before(sack, receiver.end+1) { // III
		if liberal {
			return tcpAccept, 0
		}
		return tcpReject, ReasonAckOverWindow
	}
	if receiver.maxWin != 0 && !after(end, sender.end-receiver.maxWin-1) { // II
		if liberal {
			return tcpAccept, 0
		}
		return tcpIgnored, 0
	}
	if !after(sack, receiver.end-maxAckWindow(sender)-1) { // IV
		if liberal {
			return tcpAccept, 0
		}
		return tcpIgnored, 0
	}

	if !syn {
		win <<= sender.scale
	}
	// Update the sender.
	if swin := win + (sack - ack); sender.maxWin < swin {
		sender.maxWin = swin
	}
	if after(end, sender.end) {
		sender.end = end
		sender.flags |= tfDataUnacked
	}
	if hasAck {
		if sender.flags&tfMaxAckSet == 0 {
			sender.maxAck = ack
			sender.flags |= tfMaxAckSet
		} else if after(ack, sender.maxAck) {
			sender.maxAck = ack
		}
	}
	// Update the receiver.
	if receiver.maxWin != 0 && after(end, sender.maxEnd) {
		receiver.maxWin += end - sender.maxEnd
	}
	if after(sack+win, receiver.maxEnd-1) {
		receiver.maxEnd = sack + win
		if win == 0 {
			receiver.maxEnd++
		}
	}
	if ack == receiver.end {
		receiver.flags &^= tfDataUnacked
	}
	return tcpAccept, 0
}

// tcpVerdict is the outcome of tracking one segment of a known connection.
type tcpVerdict uint8

const (
	tcpOK     tcpVerdict = iota // tracked; state may have changed
	tcpPass                     // passed without tracking (ignored)
	tcpBad                      // invalid
	tcpReopen                   // a SYN on a closed connection: start over
)

// tcpNew initialises the tracking of a connection from its first segment
// (Linux's tcp_new) and reports whether the segment may start one: a SYN,
// or with loose pickup an ACK.
func (e *Entry) tcpNew(w *[2]tcpDir, s *tcpSeg, loose bool) bool {
	*w = [2]tcpDir{}
	e.state = TCPNone
	switch tcpConntracks[Original][tcpIndex(s.flags)][TCPNone] {
	case TCPSynSent:
		d := &w[Original]
		d.end, d.maxEnd = s.end, s.end
		d.maxWin = max(uint32(s.win), 1)
		s.synOptions(d)
	case TCPEstablished:
		if !loose {
			return false
		}
		d := &w[Original]
		d.end = s.end
		d.maxWin = max(uint32(s.win), 1)
		d.maxEnd = s.end + d.maxWin
		// Scaling and SACK are unknown: assume both, and do not reject
		// on window checks.
		w[Original].flags = tfSackPerm | tfLiberal
		w[Reply].flags = tfSackPerm | tfLiberal
	default:
		return false
	}
	return true
}

// tcpPacket runs the state machine and the window checks for a segment of
// entry e going dir (Linux's nf_conntrack_tcp_packet).
func (e *Entry) tcpPacket(w *[2]tcpDir, dir Dir, s *tcpSeg) (tcpVerdict, Reason) {
	index := tcpIndex(s.flags)
	old := e.state
	next := tcpConntracks[dir][index][old]
	switch next {
	case TCPSynSent:
		if old >= TCPTimeWait {
			// A SYN on a connection in TIME_WAIT or CLOSE: a new
			// connection reusing the tuple (RFC 1122 4.2.2.13).
			return tcpReopen, 0
		}
	case tcpIgnore:
		return tcpPass, 0
	case tcpInvalid:
		return tcpBad, ReasonTCPState
	case TCPClose:
		peer := &w[dir^1]
		if index == tcpRstSet && peer.flags&tfMaxAckSet != 0 &&
			!(s.seq == 0 && old != TCPEstablished) {
			if before(s.seq, peer.maxAck) {
				return tcpBad, ReasonBadRST
			}
			if old == TCPEstablished && s.seq != peer.maxAck {
				// In the window but not where expected: the receiver
				// answers with a challenge ACK (RFC 5961), so keep
				// the connection.
				next = old
			}
		}
	}
	switch out, why := e.inWindow(w, dir, s); out {
	case tcpReject:
		return tcpBad, why
	case tcpIgnored:
		return tcpPass, 0
	}
	e.state = next
	if old != next && next == TCPFinWait {
		w[dir].flags |= tfCloseInit
	}
	if dir == Reply {
		e.status |= stSeenReply
	}
	if (old == TCPSynRecv || old == TCPEstablished) && next == TCPEstablished {
		e.status |= stAssured
	}
	return tcpOK, 0
}

// tcpTimeout is the idle timeout after a segment of index was tracked.
func (t *Table) tcpTimeout(e *Entry, w *[2]tcpDir, index uint8) int64 {
	to := t.tcpTimeouts[e.state]
	if to > tcpUnackedTimeout &&
		(index == tcpAckSet && (w[0].flags|w[1].flags)&tfDataUnacked != 0 || e.status&stAssured == 0) {
		// Data outstanding, or a connection that never completed its
		// handshake (picked up from the middle): do not hold it for a day.
		to = tcpUnackedTimeout
	}
	return to
}
