package virtq

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Buf is one buffer to make available: its address, its length and
// whether the device writes it (DescFWrite) or reads it (0). DescFIndirect
// marks a buffer holding a descriptor table.
type Buf struct {
	Addr  uint64
	Len   uint32
	Flags uint16
}

// Completion is a chain the device has returned: its head descriptor, the
// head buffer's address (so the caller finds its frame without a side
// table) and how many bytes the device wrote.
type Completion struct {
	Addr uint64
	Head uint16
	Len  uint32
}

// Errors of AddChain.
var (
	ErrNoRoom   = errors.New("virtq: not enough free descriptors")
	ErrBadChain = errors.New("virtq: bad descriptor chain")
)

// Driver is the driver side of a ring: it makes buffers available and
// takes back the ones the device has used. It is for one goroutine at a
// time.
type Driver struct {
	_ [64]byte // one side's hot state on its own cache lines

	desc       []Desc
	ring       []uint16
	used       []UsedElem
	availHdr   *uint32
	usedHdr    *uint32
	usedEvent  *uint32
	availEvent *uint32

	// chain[head] is the length of the chain starting at head while the
	// device owns it, 0 otherwise: it validates what the device returns
	// and frees a chain without trusting the shared table's flags.
	chain []uint16

	mask      uint16
	eventIdx  bool
	irqOn     bool   // used_event asks for a notification (with eventIdx)
	flags     uint16 // avail.flags as last stored
	freeHead  uint16
	numFree   int
	availIdx  uint16 // where the next head goes; published or not
	published uint16 // avail.idx as last stored
	lastUsed  uint16 // the next used entry to take

	_ [64]byte
}

// NewDriver takes the driver side of r: it links every descriptor into the
// free list and starts at the ring's current indices. Make one per ring.
func NewDriver(r *Ring) *Driver {
	d := &Driver{
		desc: r.desc, ring: r.availRing, used: r.usedRing,
		availHdr: r.availHdr, usedHdr: r.usedHdr, usedEvent: r.usedEvent, availEvent: r.availEvent,
		chain: make([]uint16, r.size), mask: uint16(r.size - 1), eventIdx: r.eventIdx,
		numFree: r.size, irqOn: true, // a fresh ring's used_event asks for the first entry
	}
	for i := range d.desc {
		d.desc[i] = Desc{Next: uint16(i + 1)} // the last one's next is never followed
	}
	w := atomic.LoadUint32(d.availHdr)
	d.flags = flagsOf(w)
	d.availIdx = idxOf(w)
	d.published = d.availIdx
	d.lastUsed = idxOf(atomic.LoadUint32(d.usedHdr))
	return d
}

// Size is the number of descriptors.
func (d *Driver) Size() int { return len(d.desc) }

// Free is the number of free descriptors: how many single-buffer chains
// Add would take now, before reclaiming used ones.
func (d *Driver) Free() int { return d.numFree }

// Add makes each buffer of bufs available as a chain of one descriptor, in
// order, and returns how many it took: all of them unless the descriptors
// run out. The device sees them at the next Publish. DescFNext is ignored
// in bufs.
func (d *Driver) Add(bufs []Buf) int {
	n := len(bufs)
	if n > d.numFree {
		n = d.numFree
	}
	head, idx, mask := d.freeHead, d.availIdx, d.mask
	desc, ring, chain := d.desc, d.ring, d.chain
	for i := range bufs[:n] {
		b := &bufs[i]
		dp := &desc[head]
		next := dp.Next
		*dp = Desc{Addr: b.Addr, Len: b.Len, Flags: b.Flags &^ DescFNext, Next: next}
		chain[head] = 1
		ring[idx&mask] = head
		idx++
		head = next
	}
	d.freeHead, d.availIdx = head, idx
	d.numFree -= n
	return n
}

// AddChain makes bufs available as one chain. The spec wants every buffer
// the device reads before every buffer it writes, and no indirect buffer
// inside a chain; AddChain returns ErrBadChain otherwise, or ErrNoRoom when
// the chain needs more descriptors than are free.
func (d *Driver) AddChain(bufs []Buf) error {
	n := len(bufs)
	if n == 0 || n > len(d.desc) {
		return fmt.Errorf("%w: %d buffers", ErrBadChain, n)
	}
	if n > d.numFree {
		return ErrNoRoom
	}
	writing := false
	for i := range bufs {
		w := bufs[i].Flags&DescFWrite != 0
		if writing && !w {
			return fmt.Errorf("%w: device-readable buffer %d after a device-writable one", ErrBadChain, i)
		}
		if n > 1 && bufs[i].Flags&DescFIndirect != 0 {
			return fmt.Errorf("%w: indirect buffer %d in a chain", ErrBadChain, i)
		}
		writing = w
	}
	head := d.freeHead
	id := head
	for i := range bufs {
		dp := &d.desc[id]
		next := dp.Next // the free list already links the chain
		f := bufs[i].Flags &^ DescFNext
		if i < n-1 {
			f |= DescFNext
		}
		*dp = Desc{Addr: bufs[i].Addr, Len: bufs[i].Len, Flags: f, Next: next}
		id = next
	}
	d.freeHead = id
	d.numFree -= n
	d.chain[head] = uint16(n)
	d.ring[d.availIdx&d.mask] = head
	d.availIdx++
	return nil
}

// Pending is how many chains were added since the last Publish.
func (d *Driver) Pending() int { return int(d.availIdx - d.published) }

// Publish makes every chain added since the last Publish visible to the
// device with one store of avail.idx, then reports whether the device asked
// to be notified of them (the caller then kicks it; how is the transport's
// business). With nothing added it does nothing and returns false.
func (d *Driver) Publish() (notify bool) {
	old, new := d.published, d.availIdx
	if old == new {
		return false
	}
	d.published = new
	// Seq-cst store: descriptors and slots are visible before idx, and idx
	// is visible before the loads below (the spec's mb()).
	atomic.StoreUint32(d.availHdr, hdr(d.flags, new))
	if d.eventIdx {
		return NeedEvent(load16(d.availEvent), new, old)
	}
	return flagsOf(atomic.LoadUint32(d.usedHdr))&UsedFNoNotify == 0
}

// HasUsed reports whether the device has returned chains not yet taken.
func (d *Driver) HasUsed() bool { return idxOf(atomic.LoadUint32(d.usedHdr)) != d.lastUsed }

// usedEnd loads used.idx and checks the device did not return more chains
// than it holds.
func (d *Driver) usedEnd() (uint16, error) {
	end := idxOf(atomic.LoadUint32(d.usedHdr))
	if n := int(end - d.lastUsed); n > len(d.desc)-d.numFree {
		return d.lastUsed, fmt.Errorf("%w: used idx %d is %d past %d with %d descriptors out", ErrCorrupt, end, n, d.lastUsed, len(d.desc)-d.numFree)
	}
	return end, nil
}

// Used takes up to len(out) chains the device has returned, in the order
// it returned them, puts their descriptors back on the free list and
// reports each one in out. It returns how many it took.
func (d *Driver) Used(out []Completion) (int, error) {
	end, err := d.usedEnd()
	i := d.lastUsed
	k := 0
	for ; i != end && k < len(out); i++ {
		e := d.used[i&d.mask]
		if e.ID >= uint32(len(d.chain)) || d.chain[e.ID] == 0 {
			err = d.badUsed(i, e)
			break
		}
		head := uint16(e.ID)
		out[k] = Completion{Addr: d.desc[head].Addr, Head: head, Len: e.Len}
		d.free(head)
		k++
	}
	d.lastUsed = i
	return k, err
}

// Recycle frees every chain the device has returned without reporting
// them: for queues whose buffers the driver no longer tracks, such as a
// transmit queue whose frames have moved on. It returns how many chains it
// freed.
func (d *Driver) Recycle() (int, error) {
	end, err := d.usedEnd()
	i := d.lastUsed
	k := 0
	for ; i != end; i++ {
		id := d.used[i&d.mask].ID
		if id >= uint32(len(d.chain)) || d.chain[id] == 0 {
			err = d.badUsed(i, d.used[i&d.mask])
			break
		}
		d.free(uint16(id))
		k++
	}
	d.lastUsed = i
	return k, err
}

func (d *Driver) badUsed(i uint16, e UsedElem) error {
	return fmt.Errorf("%w: used entry %d names descriptor %d, which the device does not hold", ErrCorrupt, i, e.ID)
}

// free puts the chain starting at head back on the free list.
func (d *Driver) free(head uint16) {
	n := d.chain[head]
	d.chain[head] = 0
	tail := head
	for k := uint16(1); k < n; k++ {
		tail = d.desc[tail].Next
	}
	d.desc[tail].Next = d.freeHead
	d.freeHead = head
	d.numFree += int(n)
}

// EnableInterrupts asks the device for a used-buffer notification when it
// returns the next chain, then checks the used ring again. It returns true
// when nothing was waiting (sleep until notified), false when chains are
// already there to take (don't sleep; notifications stay enabled until
// DisableInterrupts).
func (d *Driver) EnableInterrupts() bool {
	if d.eventIdx {
		store16(d.usedEvent, d.lastUsed) // notify when entry lastUsed is written
		d.irqOn = true
	} else {
		d.flags &^= AvailFNoInterrupt
		atomic.StoreUint32(d.availHdr, hdr(d.flags, d.published))
	}
	return !d.HasUsed()
}

// DisableInterrupts tells the device used-buffer notifications are not
// needed. It is advice: a notification may still come. With
// VIRTIO_F_EVENT_IDX the flags must stay 0; used_event is moved just behind
// the used entries taken, which the device has passed already, so it would
// notify again only after 2^16 more entries.
func (d *Driver) DisableInterrupts() {
	if d.eventIdx {
		if d.irqOn {
			store16(d.usedEvent, d.lastUsed-1)
			d.irqOn = false
		}
		return
	}
	if d.flags&AvailFNoInterrupt == 0 {
		d.flags |= AvailFNoInterrupt
		atomic.StoreUint32(d.availHdr, hdr(d.flags, d.published))
	}
}

// Detach takes back chains the device still holds or has returned but
// nobody took, reporting them in out (Len 0) and freeing their
// descriptors; it returns how many it took, 0 when there are none left.
// Call it only once the device has stopped with the queue, as after a
// reset: the driver then owns those buffers again.
func (d *Driver) Detach(out []Completion) int {
	k := 0
	for head := range d.chain {
		if k == len(out) {
			break
		}
		if d.chain[head] != 0 {
			out[k] = Completion{Addr: d.desc[head].Addr, Head: uint16(head)}
			d.free(uint16(head))
			k++
		}
	}
	return k
}
