package conntrack

import (
	"strconv"
	"unsafe"
)

// Reason says why a packet is Invalid.
type Reason uint8

// The reasons. Their names are lower-case and hyphenated, ready to be
// registered as drop reasons (dataplane.NewReason).
const (
	ReasonNone             Reason = iota
	ReasonNotIP                   // not an IP packet
	ReasonMalformed               // transport header missing or short
	ReasonTCPFlags                // a flag combination no TCP sends (SYN+FIN, none, ...)
	ReasonNoConnection            // a TCP segment other than SYN with no connection
	ReasonTCPState                // a segment the connection's state does not allow
	ReasonSeqOverWindow           // sequence number past the receiver's window
	ReasonAckOverWindow           // acknowledges data never sent
	ReasonBadRST                  // RST with an old sequence number
	ReasonICMPNoRequest           // an ICMP answer (echo reply, ...) with no request
	ReasonICMPNoConnection        // an ICMP error about no tracked connection
	ReasonICMPBadQuote            // an ICMP error whose quoted packet is unusable
	ReasonFragment                // a non-first fragment of nothing tracked
	ReasonLand                    // source and destination (and ports) equal
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:             "none",
	ReasonNotIP:            "ct-not-ip",
	ReasonMalformed:        "ct-malformed",
	ReasonTCPFlags:         "ct-tcp-flags",
	ReasonNoConnection:     "ct-no-connection",
	ReasonTCPState:         "ct-tcp-state",
	ReasonSeqOverWindow:    "ct-seq-over-window",
	ReasonAckOverWindow:    "ct-ack-over-window",
	ReasonBadRST:           "ct-bad-rst",
	ReasonICMPNoRequest:    "ct-icmp-no-request",
	ReasonICMPNoConnection: "ct-icmp-no-connection",
	ReasonICMPBadQuote:     "ct-icmp-bad-quote",
	ReasonFragment:         "ct-fragment",
	ReasonLand:             "ct-land",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "ct-reason-" + strconv.Itoa(int(r))
}

// Reasons lists every Reason but ReasonNone, for registering drop reasons.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := ReasonNone + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// counter indexes Table.counters.
type counter uint8

const (
	cFound     counter = iota // packets of tracked connections (new or established)
	cCreated                  // connections created
	cInvalid                  // invalid packets (by reason in invalidBy)
	cRelated                  // ICMP errors related to a connection
	cUntracked                // packets conntrack does not track (ND, ...)
	cFull                     // new connections refused: table full
	cClash                    // new connections refused: reply tuple taken
	cEarlyDrop                // unassured entries dropped for a new one
	cExpired                  // entries that timed out
	cDeleted                  // entries deleted by the caller
	cReopened                 // TCP connections replaced by a new SYN
	cFragHit                  // non-first fragments matched to a connection
	numCounters
)

// Stats are a Table's counters.
type Stats struct {
	// Entries is the number of connections in the table (a gauge).
	Entries uint64
	// Found counts packets of tracked connections, Created the connections
	// created, Related the ICMP errors about one, Untracked the packets
	// conntrack leaves alone (neighbour discovery, router advertisements,
	// ...).
	Found, Created, Related, Untracked uint64
	// Invalid counts invalid packets, InvalidBy per Reason.
	Invalid   uint64
	InvalidBy [numReasons]uint64
	// Full counts new connections not tracked because the table was full,
	// Clash those whose reply tuple was taken.
	Full, Clash uint64
	// EarlyDrop counts unassured connections removed to make room;
	// Expired, Deleted and Reopened the connections that timed out, that
	// the caller deleted, and that a new SYN replaced.
	EarlyDrop, Expired, Deleted, Reopened uint64
	// FragHits counts non-first fragments matched through the fragment
	// cache.
	FragHits uint64
}

func (t *Table) count(c counter) { t.counters[c]++ }

func (t *Table) countInvalid(r Reason) {
	t.counters[cInvalid]++
	t.invalidBy[r]++
}

// publish copies the counters to where LoadStats reads them.
func (t *Table) publish() {
	for i, v := range t.counters {
		if t.published[i].Load() != v {
			t.published[i].Store(v)
		}
	}
	for i, v := range t.invalidBy {
		if t.publishedBy[i].Load() != v {
			t.publishedBy[i].Store(v)
		}
	}
	t.publishedLive.Store(uint64(t.live))
}

// Stats returns the counters as they are now. Only the owning worker may
// call it; other goroutines call LoadStats.
func (t *Table) Stats() Stats {
	t.publish()
	return t.LoadStats()
}

// LoadStats returns the counters as of the last Expire (or Stats). Any
// goroutine may call it.
func (t *Table) LoadStats() Stats {
	c := func(i counter) uint64 { return t.published[i].Load() }
	s := Stats{
		Entries:   t.publishedLive.Load(),
		Found:     c(cFound),
		Created:   c(cCreated),
		Related:   c(cRelated),
		Untracked: c(cUntracked),
		Invalid:   c(cInvalid),
		Full:      c(cFull),
		Clash:     c(cClash),
		EarlyDrop: c(cEarlyDrop),
		Expired:   c(cExpired),
		Deleted:   c(cDeleted),
		Reopened:  c(cReopened),
		FragHits:  c(cFragHit),
	}
	for i := range s.InvalidBy {
		s.InvalidBy[i] = t.publishedBy[i].Load()
	}
	return s
}

func uintptrOf(e *Entry) uintptr { return uintptr(unsafe.Pointer(e)) }

// The entry size is part of the documented memory budget.
var _ = [1]struct{}{}[unsafe.Sizeof(Entry{})-EntrySize]
