package router

import (
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// nstate is a neighbour's reachability, RFC 4861 section 7.3.2's states,
// which the router applies to ARP as Linux does.
type nstate uint8

const (
	nNone       nstate = iota // known as a next hop, never needed yet
	nIncomplete               // being resolved: probes sent, packets queued
	nReachable                // confirmed recently
	nStale                    // not confirmed lately; used, and re-probed on use
	nDelay                    // used while stale: probe unless confirmed soon
	nProbe                    // being re-probed by unicast
	nFailed                   // did not answer
	nPermanent                // static, from the policy
)

var nstateNames = [...]string{"none", "incomplete", "reachable", "stale", "delay", "probe", "failed", "permanent"}

func (s nstate) String() string {
	if int(s) < len(nstateNames) {
		return nstateNames[s]
	}
	return "?"
}

// neighbor is one entry of the neighbour table.
type neighbor struct {
	key    nkey
	mac    packet.MAC
	used   bool
	state  nstate
	static bool
	ready  bool // on Router.ready: queued packets to send
	probes uint8
	// deadline is when the state's timer fires: the next probe, the end of
	// reachable or delay, or when an idle entry may be collected.
	deadline int64
	// pin is the generation of the state whose gateway this is; an entry
	// pinned by the current state is never collected.
	pin uint64
	// The unresolved queue: a list through neighTable.q.
	qhead, qtail int32
	qlen         int32
}

// queued is a packet waiting for its neighbour, its link header already
// built but for the destination MAC.
type queued struct {
	pkt   dataplane.Packet
	next  int32
	l2    uint8
	flags uint8
	port  uint16
	in    int32
}

// neighTable is the neighbour table: a fixed slab of entries, found by an
// open-addressing hash (linear probing, backward-shift deletion), and a
// fixed pool of queue slots. Nothing in it allocates after construction.
// It is used by the worker goroutine only.
type neighTable struct {
	ents  []neighbor
	free  []int32 // free entry slots (a stack)
	index []int32 // slot+1 per bucket, 0 when empty
	mask  uint32

	q      []queued
	qfree  int32 // free list through queued.next, -1 at the end
	qcount int   // packets queued in all
	perMax int32 // most packets queued per entry
}

func newNeighTable(capacity, perEntry, total int) neighTable {
	size := 1
	for size < 2*capacity {
		size <<= 1
	}
	t := neighTable{
		ents:   make([]neighbor, capacity),
		free:   make([]int32, capacity),
		index:  make([]int32, size),
		mask:   uint32(size - 1),
		q:      make([]queued, total),
		perMax: int32(perEntry),
	}
	for i := range t.free {
		t.free[i] = int32(capacity - 1 - i)
	}
	for i := range t.q {
		t.q[i].next = int32(i + 1)
	}
	if total > 0 {
		t.q[total-1].next = -1
		t.qfree = 0
	} else {
		t.qfree = -1
	}
	return t
}

func (t *neighTable) hash(k nkey) uint32 {
	h := k.hi*0x9e3779b97f4a7c15 ^ k.lo ^ uint64(uint32(k.ifx))<<48
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return uint32(h) & t.mask
}

// find returns the slot of k, or -1.
func (t *neighTable) find(k nkey) int32 {
	for h := t.hash(k); ; h = (h + 1) & t.mask {
		s := t.index[h]
		if s == 0 {
			return -1
		}
		if t.ents[s-1].key == k {
			return s - 1
		}
	}
}

// get returns the entry of k, or nil.
func (t *neighTable) get(k nkey) *neighbor {
	if s := t.find(k); s >= 0 {
		return &t.ents[s]
	}
	return nil
}

// create adds an entry for k, which must not be in the table, in state
// nNone. It returns nil when the table is full.
func (t *neighTable) create(k nkey) *neighbor {
	n := len(t.free)
	if n == 0 {
		return nil
	}
	s := t.free[n-1]
	t.free = t.free[:n-1]
	h := t.hash(k)
	for t.index[h] != 0 {
		h = (h + 1) & t.mask
	}
	t.index[h] = s + 1
	t.ents[s] = neighbor{key: k, used: true, qhead: -1, qtail: -1}
	return &t.ents[s]
}

// slot returns the slot of entry e.
func (t *neighTable) slot(e *neighbor) int32 {
	for h := t.hash(e.key); ; h = (h + 1) & t.mask {
		if s := t.index[h]; s != 0 && &t.ents[s-1] == e {
			return s - 1
		}
	}
}

// remove deletes entry e, whose queue must be empty.
func (t *neighTable) remove(e *neighbor) {
	h := t.hash(e.key)
	for &t.ents[t.index[h]-1] != e {
		h = (h + 1) & t.mask
	}
	s := t.index[h] - 1
	t.index[h] = 0
	// Backward shift: pull later members of the cluster into the hole when
	// the hole lies on their probe path.
	for j := (h + 1) & t.mask; t.index[j] != 0; j = (j + 1) & t.mask {
		home := t.hash(t.ents[t.index[j]-1].key)
		if (h-home)&t.mask < (j-home)&t.mask {
			t.index[h], t.index[j] = t.index[j], 0
			h = j
		}
	}
	t.ents[s] = neighbor{}
	t.free = append(t.free, s)
}

// push queues q on e. When e's queue is full its oldest packet makes room
// (RFC 4861 7.2.2) and is returned, with true, for the caller to drop; when
// every slot is taken, q itself is refused: ok is false.
func (t *neighTable) push(e *neighbor, q queued) (old dataplane.Packet, dropped, ok bool) {
	if e.qlen >= t.perMax && e.qlen > 0 {
		o := t.pop(e)
		old, dropped = o.pkt, true
	}
	if t.qfree < 0 {
		return old, dropped, false
	}
	i := t.qfree
	t.qfree = t.q[i].next
	q.next = -1
	t.q[i] = q
	if e.qtail >= 0 {
		t.q[e.qtail].next = i
	} else {
		e.qhead = i
	}
	e.qtail = i
	e.qlen++
	t.qcount++
	return old, dropped, true
}

// pop takes the oldest packet queued on e, which must have one.
func (t *neighTable) pop(e *neighbor) queued {
	i := e.qhead
	q := t.q[i]
	e.qhead = q.next
	if e.qhead < 0 {
		e.qtail = -1
	}
	e.qlen--
	t.qcount--
	t.q[i] = queued{next: t.qfree}
	t.qfree = i
	return q
}
