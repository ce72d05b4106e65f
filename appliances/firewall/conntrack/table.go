package conntrack

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nfvkit/nfvkit/appliances/firewall/internal/hugepage"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// Table is a connection tracking table of a fixed number of entries,
// allocated once by New. It is not safe for concurrent use: one worker owns
// a Table (a shard of the appliance's connections) and is the only one to
// call its methods, except LoadStats, which any goroutine may call. A
// connection's two directions must reach the same worker.
type Table struct {
	entries []Entry
	tcp     [][2]tcpDir // TCP window tracking, beside entries (see Entry)
	// heads is the hash index: one chain per bucket, of refs (see ref).
	heads []uint32
	mask  uint64
	key   hashKey
	// due is, per entry, a time at or before the entry's expiry (any
	// value for a free entry): the clock hand reads it, 8 bytes, and
	// reads the entry only once its due time has come. A packet's refresh
	// only pushes expiry later and leaves due alone; where expiry moves
	// earlier (a TCP close, a new connection) due follows it (setExpires).
	due []int64

	free     uint32 // first free entry + 1 (0: none), linked through next[0]
	live     int
	hand     int // the expiry clock hand: next entry to look at
	nextGen  uint32
	loose    bool
	early    bool
	onRemove func(*Entry)

	tcpTimeouts                       [numTCPStates]int64
	udp, udpStream, icmp, other, frag int64

	frags []fragSlot
	sink  int64 // Prefetch's loads land here, so they are not optimised away

	counters      [numCounters]uint64
	invalidBy     [numReasons]uint64
	published     [numCounters]atomic.Uint64
	publishedBy   [numReasons]atomic.Uint64
	publishedLive atomic.Uint64
}

// ref names one direction's key in the index: (entry index << 1 | dir) + 1,
// so that 0 is "none".
func ref(i uint32, d Dir) uint32 { return i<<1 | uint32(d) + 1 }

func refEntry(r uint32) uint32 { return (r - 1) >> 1 }
func refDir(r uint32) Dir      { return Dir((r - 1) & 1) }

// Options configure a Table.
type Options struct {
	// Max is the number of entries: the most connections tracked at once.
	Max int
	// Timeouts are the idle timeouts; zero fields take the defaults of
	// config.DefaultConntrack.
	Timeouts Timeouts
	// Loose lets a TCP connection be picked up from the middle (an ACK with
	// no entry starts one, with liberal window checks), as Linux's
	// nf_conntrack_tcp_loose. Off, only a SYN starts a TCP connection; a
	// firewall that keeps its table across reloads wants it off.
	Loose bool
	// NoEarlyDrop turns off early drop: when the table is full, a new
	// connection may take the place of one that has not yet been answered
	// (Linux's early_drop). See Table.Create.
	NoEarlyDrop bool
	// Seed keys the index hash. Zero takes a random seed. A replay that
	// wants the same NAT port choices run to run sets it.
	Seed uint64
	// FragSlots is the size of the fragment cache (default 1024; negative
	// for none). See Track.
	FragSlots int
	// OnRemove, if set, is called with every entry that leaves the table
	// (expired, dropped early, deleted, replaced), before its slot is
	// reused. It runs on the owning worker and must not call the Table.
	OnRemove func(*Entry)
}

// OptionsFrom returns the Options of a policy's conntrack section (nil for
// the defaults).
func OptionsFrom(c *config.Conntrack) Options {
	d := config.DefaultConntrack
	if c == nil {
		c = &d
	}
	t := c.Timeouts
	return Options{
		Max: c.Max,
		Timeouts: Timeouts{
			TCPSyn:         t.TCPSyn,
			TCPEstablished: t.TCPEstablished,
			TCPFin:         t.TCPFin,
			UDP:            t.UDP,
			UDPStream:      t.UDPStream,
			ICMP:           t.ICMP,
			Other:          t.Other,
		},
	}
}

// MaxEntries bounds Options.Max (refs are 32 bits).
const MaxEntries = 1 << 30

// Errors of Create.
var (
	// ErrFull: no free entry and none could be reclaimed; the connection
	// is not tracked (counted as Full).
	ErrFull = errors.New("conntrack: table full")
	// ErrClash: the reply tuple is already another connection's (counted
	// as Clash).
	ErrClash = errors.New("conntrack: reply tuple in use")
	// ErrNotNew: the Result is not a new, trackable connection, or was
	// created already.
	ErrNotNew = errors.New("conntrack: result is not a new connection")
)

// New allocates a Table of o.Max entries. Its memory is EntrySize bytes
// per entry, 48 bytes beside each (TCP window state, due time), 4 to 8
// bytes per entry of index, and the fragment cache.
func New(o Options) (*Table, error) {
	if o.Max < 1 || o.Max > MaxEntries {
		return nil, fmt.Errorf("conntrack: max %d entries out of range 1..%d", o.Max, MaxEntries)
	}
	// Two keys per entry; a power of two at least that many buckets keeps
	// chains at one key or less on average.
	nb := 1 << bits.Len(uint(2*o.Max-1))
	t := &Table{
		entries:  make([]Entry, o.Max),
		tcp:      make([][2]tcpDir, o.Max),
		heads:    make([]uint32, nb),
		due:      make([]int64, o.Max),
		mask:     uint64(nb - 1),
		loose:    o.Loose,
		early:    !o.NoEarlyDrop,
		onRemove: o.OnRemove,
	}
	hugepage.Advise(unsafe.Pointer(&t.entries[0]), uintptr(len(t.entries))*EntrySize)
	hugepage.Advise(unsafe.Pointer(&t.heads[0]), uintptr(len(t.heads))*4)
	hugepage.Advise(unsafe.Pointer(&t.tcp[0]), uintptr(len(t.tcp))*tcpSize)
	seed := o.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	for i := range t.key {
		t.key[i] = splitmix64(&seed)
	}
	t.setTimeouts(o.Timeouts)
	for i := range t.entries {
		*t.entries[i].next(0) = uint32(i + 2) // free list: i -> i+1
	}
	*t.entries[o.Max-1].next(0) = 0
	t.free = 1
	n := o.FragSlots
	if n == 0 {
		n = 1024
	}
	if n > 0 {
		t.frags = make([]fragSlot, 1<<bits.Len(uint(n-1)))
	}
	return t, nil
}

func (t *Table) setTimeouts(o Timeouts) {
	d := config.DefaultConntrack.Timeouts
	pick := func(v, def time.Duration) int64 {
		if v > 0 {
			return int64(v)
		}
		return int64(def)
	}
	syn := pick(o.TCPSyn, d.TCPSyn)
	fin := pick(o.TCPFin, d.TCPFin)
	t.tcpTimeouts = [numTCPStates]int64{
		TCPNone:        syn,
		TCPSynSent:     syn,
		TCPSynRecv:     syn,
		TCPSynSent2:    syn,
		TCPEstablished: pick(o.TCPEstablished, d.TCPEstablished),
		TCPFinWait:     fin,
		TCPCloseWait:   fin,
		TCPLastAck:     fin,
		TCPTimeWait:    fin,
		TCPClose:       min(fin, int64(tcpCloseTimeout)),
	}
	t.udp = pick(o.UDP, d.UDP)
	t.udpStream = pick(o.UDPStream, d.UDPStream)
	t.icmp = pick(o.ICMP, d.ICMP)
	t.other = pick(o.Other, d.Other)
	t.frag = int64(fragTimeout)
}

// SetTimeouts changes the timeouts (after a policy reload); entries keep
// their current expiry until their next packet.
func (t *Table) SetTimeouts(o Timeouts) { t.setTimeouts(o) }

// EntrySize is the size of one Entry in bytes. Each entry also has
// tcpSize bytes of TCP window state beside it, and 8 of due time.
const EntrySize = 128

const tcpSize = unsafe.Sizeof([2]tcpDir{})

// Cap returns the number of entries.
func (t *Table) Cap() int { return len(t.entries) }

// Len returns the number of connections tracked, expired ones not yet
// removed included.
func (t *Table) Len() int { return t.live }

// find returns the ref of key k with hash h, or 0.
func (t *Table) find(k *Tuple, h uint64) uint32 {
	r := t.heads[h&t.mask]
	for r != 0 {
		e := &t.entries[refEntry(r)]
		d := refDir(r)
		if e.tup(d).equal(k) {
			return r
		}
		r = *e.next(d)
	}
	return 0
}

// Lookup returns the live entry with a direction whose tuple is k, and
// that direction, or nil. It changes nothing: an entry past its expiry is
// still returned.
func (t *Table) Lookup(k *Tuple) (*Entry, Dir) {
	r := t.find(k, t.key.hash(k))
	if r == 0 {
		return nil, 0
	}
	return &t.entries[refEntry(r)], refDir(r)
}

// InUse reports whether tuple k is either direction of a connection that
// has not expired at now; an expired one found on the way is removed. NAT
// asks it whether a translated tuple is free.
func (t *Table) InUse(k *Tuple, now int64) bool {
	r := t.find(k, t.key.hash(k))
	if r == 0 {
		return false
	}
	e := &t.entries[refEntry(r)]
	if e.expires <= now {
		t.remove(e, cExpired)
		return false
	}
	return true
}

func (t *Table) link(e *Entry, i uint32, d Dir, h uint64) {
	b := &t.heads[h&t.mask]
	*e.next(d) = *b
	*b = ref(i, d)
}

func (t *Table) unlink(e *Entry, i uint32, d Dir) {
	r := ref(i, d)
	p := &t.heads[t.key.hash(e.tup(d))&t.mask]
	for *p != 0 {
		if *p == r {
			*p = *e.next(d)
			*e.next(d) = 0
			return
		}
		q := *p
		p = t.entries[refEntry(q)].next(refDir(q))
	}
	panic("conntrack: entry missing from its chain")
}

func (t *Table) index(e *Entry) uint32 {
	// Entries are an array: the index is the offset over the size.
	return uint32((uintptrOf(e) - uintptrOf(&t.entries[0])) / EntrySize)
}

// tcpOf is entry e's TCP window state.
func (t *Table) tcpOf(e *Entry) *[2]tcpDir {
	return &t.tcp[t.index(e)]
}

// remove unlinks a live entry, frees its slot and counts why.
func (t *Table) remove(e *Entry, why counter) {
	if t.onRemove != nil {
		t.onRemove(e)
	}
	i := t.index(e)
	t.unlink(e, i, Original)
	t.unlink(e, i, Reply)
	e.status = 0
	*e.next(0) = t.free
	t.free = i + 1
	t.live--
	t.counters[why]++
}

// Delete removes a live entry of this table (a connection the stage wants
// gone, after a reload that no longer allows it, say). A packet of it is
// then new again. An entry of another table is left alone.
func (t *Table) Delete(e *Entry) {
	if !e.Live() || uintptrOf(e) < uintptrOf(&t.entries[0]) {
		return
	}
	if i := t.index(e); int(i) < len(t.entries) && &t.entries[i] == e {
		t.remove(e, cDeleted)
	}
}

// Flush removes every entry.
func (t *Table) Flush() {
	for i := range t.entries {
		if e := &t.entries[i]; e.Live() {
			t.remove(e, cDeleted)
		}
	}
}

// Expire moves the clock hand over up to n entries and removes those that
// expired at now, returning how many it removed, and publishes the
// counters for LoadStats. Call it once per batch with n a small multiple of
// the batch size: the hand then goes round the table at least as fast as
// new connections can fill it. It never allocates and never looks at more
// than n entries.
//
// Expired entries the hand has not reached yet are harmless: a packet that
// finds one removes it and is new, and Create reclaims them when full.
func (t *Table) Expire(now int64, n int) int {
	removed := 0
	n = min(n, len(t.entries))
	h := t.hand
	due := t.due
	for range n {
		if due[h] <= now {
			// Its time may have come: the entry itself says.
			switch e := &t.entries[h]; {
			case e.status&stLive == 0:
				due[h] = math.MaxInt64
			case e.expires <= now:
				t.remove(e, cExpired)
				due[h] = math.MaxInt64
				removed++
			default:
				due[h] = e.expires
			}
		}
		if h++; h == len(t.entries) {
			h = 0
		}
	}
	t.hand = h
	t.publish()
	return removed
}

// setExpires sets entry e's expiry to v, keeping its due time (see
// Table.due) at or before it.
func (t *Table) setExpires(e *Entry, v int64) {
	if v < e.expires {
		t.due[t.index(e)] = v
	}
	e.expires = v
}

// reclaimScan bounds the entries Create looks at for one to reclaim when
// the table is full.
const reclaimScan = 64

// alloc returns a free entry's index + 1, or 0 when the table is full and
// none could be reclaimed: it looks at up to reclaimScan entries from the
// clock hand, removing the expired ones it passes, and stops at the first
// one it freed or, with early drop, at the first one not assured, which it
// drops (as Linux's early_drop_list, which also collects the expired
// entries it passes). Stopping early matters: a table full of unanswered
// connections (a flood of first packets) would otherwise cost a scan of
// reclaimScan entries, each a cache miss, for every new connection.
func (t *Table) alloc(now int64) uint32 {
	if t.free == 0 {
		h := t.hand
		for range min(reclaimScan, len(t.entries)) {
			e := &t.entries[h]
			if h++; h == len(t.entries) {
				h = 0
			}
			if e.status&stLive == 0 {
				continue
			}
			if e.expires <= now {
				t.remove(e, cExpired)
				break
			}
			if t.early && e.status&stAssured == 0 {
				t.remove(e, cEarlyDrop)
				break
			}
		}
		t.hand = h
		if t.free == 0 {
			return 0
		}
	}
	i := t.free
	t.free = *t.entries[i-1].next(0)
	return i
}

// Range calls f for every live entry, in table order, until f returns
// false. f must not call the Table. For dumps and tests; it takes time in
// proportion to the table's size.
func (t *Table) Range(f func(*Entry) bool) {
	for i := range t.entries {
		if e := &t.entries[i]; e.Live() && !f(e) {
			return
		}
	}
}
