package conntrack

import (
	"time"
	"unsafe"
)

// Entry is one tracked connection. Entries live in the Table's array,
// allocated once; a pointer to one stays valid for the Table's life, but the
// slot is reused after the connection ends: compare Gen to tell a reused
// slot from the connection a caller remembered.
//
// Only the owning worker reads or writes an Entry (see Table).
type Entry struct {
	// The fields are laid out for the lookup, in two cache lines (entries
	// are 128 bytes, and the table's array starts on a 128-byte boundary
	// as the allocator places big arrays): a packet of the original
	// direction reads only the first, which holds its key, chain link,
	// timer and status, and what the stage reads (Mark, NAT); a reply
	// reads its key and link in the second as well. TCP's window state,
	// read only for TCP, is in an array beside the entries (Table.tcp),
	// so that UDP and ICMP connections do not pay a third line.
	orig Tuple // the Original direction's key
	// expires is when the entry times out, in Table time (ns).
	expires int64

	// Mark is the caller's: the stage may keep, say, the rule that accepted
	// the connection and the policy generation it was judged under. Create
	// sets it to 0.
	Mark uint32
	// NAT is the connection's address translation, set by package nat when
	// the entry is created. The translated addresses and ports are the
	// Reply tuple itself (as in Linux): a packet of direction d leaves with
	// the reverse of the other direction's tuple.
	NAT NATBinding

	next0  uint32 // hash chain link of the Original key, as a ref
	status uint8
	state  TCPState
	_      [2]byte

	reply Tuple // the Reply direction's key
	gen   uint32
	_     [12]byte
	next1 uint32 // hash chain link of the Reply key, as next0 in line 0
}

// The two directions' keys and links are a line apart, so that tup and
// next pick them by arithmetic, not by a branch the hash makes random.
const dirStride = unsafe.Offsetof(Entry{}.reply) - unsafe.Offsetof(Entry{}.orig)

var (
	_ = [1]struct{}{}[unsafe.Offsetof(Entry{}.next1)-unsafe.Offsetof(Entry{}.next0)-dirStride]
	_ = [1]struct{}{}[unsafe.Offsetof(Entry{}.reply)-64]
)

// tup is the key of direction d.
func (e *Entry) tup(d Dir) *Tuple {
	return (*Tuple)(unsafe.Add(unsafe.Pointer(&e.orig), uintptr(d&1)*dirStride))
}

// next is the hash chain link of direction d's key (the free list's link
// through next(Original) in a free entry).
func (e *Entry) next(d Dir) *uint32 {
	return (*uint32)(unsafe.Add(unsafe.Pointer(&e.next0), uintptr(d&1)*dirStride))
}

// NATBinding says which halves of an entry's tuples differ by translation.
type NATBinding struct {
	// Flags is SrcNAT, DstNAT or both; 0 for a connection not translated.
	Flags NATFlags
	// Rule is the index of the NAT rule that made the binding, for
	// counters and logs.
	Rule uint16
}

// NATFlags say what a binding translates.
type NATFlags uint8

const (
	// SrcNAT: the original direction's source is rewritten (masquerade,
	// snat), and the reply's destination back.
	SrcNAT NATFlags = 1 << iota
	// DstNAT: the original direction's destination is rewritten (dnat), and
	// the reply's source back.
	DstNAT
)

// Status bits.
const (
	stLive      = 1 << iota // in use (in the index)
	stSeenReply             // a packet went the reply way
	stAssured               // past the handshake: not early-dropped
	stUntracked             // (Result only) a packet conntrack does not track
)

// Tuple returns the tuple of direction d. The caller must not change it.
func (e *Entry) Tuple(d Dir) *Tuple { return e.tup(d) }

// Gen is the entry's generation: it changes every time the slot is given
// to a new connection.
func (e *Entry) Gen() uint32 { return e.gen }

// Live reports whether the slot holds a connection.
func (e *Entry) Live() bool { return e.status&stLive != 0 }

// SeenReply reports whether a packet went in the reply direction.
func (e *Entry) SeenReply() bool { return e.status&stSeenReply != 0 }

// Assured reports whether the connection got past its opening (a TCP
// handshake completed, a UDP or ICMP answer seen): only entries that are not
// are dropped early when the table is full.
func (e *Entry) Assured() bool { return e.status&stAssured != 0 }

// TCPState returns the TCP state (TCPNone for other protocols).
func (e *Entry) TCPState() TCPState { return e.state }

// Expires returns when the entry times out, in the Table's time.
func (e *Entry) Expires() int64 { return e.expires }

// Timeouts are the idle timeouts per protocol state.
type Timeouts struct {
	TCPSyn         time.Duration // SYN_SENT, SYN_RECV, SYN_SENT2
	TCPEstablished time.Duration
	TCPFin         time.Duration // FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT (CLOSE: at most 10 s)
	UDP            time.Duration // no reply seen
	UDPStream      time.Duration // replies seen
	ICMP           time.Duration
	Other          time.Duration
}

// tcpCloseTimeout caps the CLOSE state (after a RST), as Linux's 10 s.
const tcpCloseTimeout = 10 * time.Second
