package virtq

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Elem is a chain the device has taken from the available ring: its head
// index and head descriptor. Follow Desc.Next with Device.Desc while
// Flags has DescFNext, for at most Size descriptors: a longer chain (a
// loop) is the driver's fault, and the spec forbids it.
type Elem struct {
	Desc
	Head uint16
}

// Device is the device side of a ring: it takes the chains the driver made
// available and returns them on the used ring. It is for one goroutine at
// a time.
type Device struct {
	_ [64]byte // one side's hot state on its own cache lines

	desc       []Desc
	ring       []uint16
	used       []UsedElem
	availHdr   *uint32
	usedHdr    *uint32
	usedEvent  *uint32
	availEvent *uint32

	mask      uint16
	eventIdx  bool
	notifyOn  bool   // avail_event asks for a notification (with eventIdx)
	flags     uint16 // used.flags as last stored
	lastAvail uint16 // the next available entry to take
	usedIdx   uint16 // where the next used entry goes; published or not
	published uint16 // used.idx as last stored

	_ [64]byte
}

// NewDevice takes the device side of r, starting at the ring's current
// indices. Make one per ring.
func NewDevice(r *Ring) *Device {
	d := &Device{
		desc: r.desc, ring: r.availRing, used: r.usedRing,
		availHdr: r.availHdr, usedHdr: r.usedHdr, usedEvent: r.usedEvent, availEvent: r.availEvent,
		mask: uint16(r.size - 1), eventIdx: r.eventIdx,
		notifyOn: true, // a fresh ring's avail_event asks for the first entry
	}
	w := atomic.LoadUint32(d.usedHdr)
	d.flags = flagsOf(w)
	d.usedIdx = idxOf(w)
	d.published = d.usedIdx
	// The device has taken what was available when it was attached
	// exactly when the used ring says so: in a fresh or reset ring both
	// indices are equal.
	d.lastAvail = d.usedIdx
	return d
}

// Size is the number of entries.
func (d *Device) Size() int { return len(d.desc) }

// Avail is how many chains the driver has made available and the device
// has not taken.
func (d *Device) Avail() int { return int(idxOf(atomic.LoadUint32(d.availHdr)) - d.lastAvail) }

// Held is how many chains the device has taken and not yet pushed back.
func (d *Device) Held() int { return int(d.lastAvail - d.usedIdx) }

// Pop takes up to len(out) available chains in ring order, reporting each
// one's head and head descriptor in out, and returns how many it took. The
// device owns those chains (and may touch their buffers) until it pushes
// them back.
func (d *Device) Pop(out []Elem) (int, error) {
	end := idxOf(atomic.LoadUint32(d.availHdr))
	n := int(end - d.lastAvail)
	if n > len(d.desc)-d.Held() {
		return 0, fmt.Errorf("%w: avail idx %d is %d past %d with %d chains held", ErrCorrupt, end, n, d.lastAvail, d.Held())
	}
	if n > len(out) {
		n = len(out)
	}
	idx, mask, ring, desc := d.lastAvail, d.mask, d.ring, d.desc
	for i := range out[:n] {
		head := ring[idx&mask]
		if int(head) >= len(desc) {
			d.lastAvail = idx
			return i, fmt.Errorf("%w: available entry %d names descriptor %d of %d", ErrCorrupt, idx, head, len(desc))
		}
		out[i] = Elem{Desc: desc[head], Head: head}
		idx++
	}
	d.lastAvail = idx
	return n, nil
}

// Desc is descriptor i of the table, to follow a chain; ok is false when i
// is out of range.
func (d *Device) Desc(i uint16) (desc Desc, ok bool) {
	if int(i) >= len(d.desc) {
		return Desc{}, false
	}
	return d.desc[i], true
}

// Push returns chains to the driver: each element names a chain's head, as
// Pop reported it, and how many bytes the device wrote into the chain. The
// driver sees them at the next Publish. Push takes at most as many as the
// device holds and returns how many it took.
func (d *Device) Push(used []UsedElem) int {
	n := len(used)
	if h := d.Held(); n > h {
		n = h
	}
	idx, mask, ring := d.usedIdx, d.mask, d.used
	for i := range used[:n] {
		ring[idx&mask] = used[i]
		idx++
	}
	d.usedIdx = idx
	return n
}

// Publish makes every chain pushed since the last Publish visible to the
// driver with one store of used.idx, then reports whether the driver asked
// to be notified of them (the caller then interrupts it). With nothing
// pushed it does nothing and returns false.
func (d *Device) Publish() (notify bool) {
	old, new := d.published, d.usedIdx
	if old == new {
		return false
	}
	d.published = new
	atomic.StoreUint32(d.usedHdr, hdr(d.flags, new))
	if d.eventIdx {
		return NeedEvent(load16(d.usedEvent), new, old)
	}
	return flagsOf(atomic.LoadUint32(d.availHdr))&AvailFNoInterrupt == 0
}

// EnableNotify asks the driver to notify the device when it makes the next
// chain available, then checks the available ring again. It returns true
// when nothing was waiting (sleep until notified), false when chains are
// already there to take (don't sleep; notifications stay enabled until
// DisableNotify).
func (d *Device) EnableNotify() bool {
	if d.eventIdx {
		store16(d.availEvent, d.lastAvail)
		d.notifyOn = true
	} else {
		d.flags &^= UsedFNoNotify
		atomic.StoreUint32(d.usedHdr, hdr(d.flags, d.published))
	}
	return d.Avail() == 0
}

// DisableNotify tells the driver available-buffer notifications are not
// needed (advice: one may still come). With VIRTIO_F_EVENT_IDX it moves
// avail_event just behind the entries taken, as DisableInterrupts does
// used_event.
func (d *Device) DisableNotify() {
	if d.eventIdx {
		if d.notifyOn {
			store16(d.availEvent, d.lastAvail-1)
			d.notifyOn = false
		}
		return
	}
	if d.flags&UsedFNoNotify == 0 {
		d.flags |= UsedFNoNotify
		atomic.StoreUint32(d.usedHdr, hdr(d.flags, d.published))
	}
}

// Table views b as an indirect descriptor table (the buffer of a
// descriptor with DescFIndirect, once the device has mapped its address).
// len(b) must be a multiple of 16 and b 8-byte aligned.
func Table(b []byte) ([]Desc, error) {
	if len(b) == 0 || len(b)%16 != 0 {
		return nil, fmt.Errorf("virtq: indirect table of %d bytes is not a multiple of 16", len(b))
	}
	if uintptr(unsafe.Pointer(&b[0]))&7 != 0 {
		return nil, fmt.Errorf("virtq: indirect table is not 8-byte aligned")
	}
	return unsafe.Slice((*Desc)(unsafe.Pointer(&b[0])), len(b)/16), nil
}
