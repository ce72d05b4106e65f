package virtq

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Spec constants (VIRTIO 1.2 §2.7 and §6).
const (
	// MaxSize is the largest queue size: the highest power of two whose
	// free-running 16-bit indices still tell a full ring from an empty one.
	MaxSize = 32768

	// DescFNext marks a descriptor continued through its next field.
	DescFNext uint16 = 1
	// DescFWrite marks a buffer the device writes (otherwise it reads it).
	DescFWrite uint16 = 2
	// DescFIndirect marks a buffer holding a table of descriptors.
	DescFIndirect uint16 = 4

	// AvailFNoInterrupt in avail.flags: the driver needs no used-buffer
	// notifications. Only without VIRTIO_F_EVENT_IDX.
	AvailFNoInterrupt uint16 = 1
	// UsedFNoNotify in used.flags: the device needs no available-buffer
	// notifications. Only without VIRTIO_F_EVENT_IDX.
	UsedFNoNotify uint16 = 1

	// FeatureIndirectDesc is VIRTIO_F_INDIRECT_DESC, a feature bit number.
	FeatureIndirectDesc = 28
	// FeatureEventIdx is VIRTIO_F_EVENT_IDX, a feature bit number.
	FeatureEventIdx = 29

	// LegacyAlign is the Queue Align of legacy transports (and QEMU's
	// default): where the used ring starts in the one-block layout.
	LegacyAlign = 4096
)

// Desc is struct virtq_desc, laid out as in the ring (16 bytes,
// little-endian).
type Desc struct {
	// Addr is the buffer's address as the device resolves it: a guest
	// physical address for a real device, a region offset in nfvkit's own
	// rings (dataplane.Region.Offset).
	Addr  uint64
	Len   uint32
	Flags uint16
	// Next is the following descriptor of a chain when Flags has
	// DescFNext; in a free descriptor, the next free one.
	Next uint16
}

// UsedElem is struct virtq_used_elem: the head of a chain the device
// returns and how many bytes it wrote into it.
type UsedElem struct {
	ID  uint32
	Len uint32
}

// Sizes of the three parts (VIRTIO 1.2 §2.7, "Virtqueue Part Alignment and
// Size"), event fields included.
func descTableSize(n int) int { return 16 * n }
func availRingSize(n int) int { return 6 + 2*n }
func usedRingSize(n int) int  { return 6 + 8*n }

// Layout says where the three parts of a queue of Size entries lie within
// one block of memory, as byte offsets.
type Layout struct {
	Size  int
	Desc  int // descriptor table, 16-byte aligned
	Avail int // available ring, 4-byte aligned here (the spec asks for 2)
	Used  int // used ring, 4-byte aligned
	Len   int // the block's length
}

// NewLayout is the legacy interface's layout (VIRTIO 1.2 §2.7.2), which
// every transport accepts: the descriptor table at 0, the available ring
// right after it, padding, and the used ring at the next multiple of align
// (LegacyAlign for a legacy device or vring_init; any power of two ≥ 4
// otherwise). The block length follows the spec's virtq_size formula.
func NewLayout(size, align int) (Layout, error) {
	if err := checkSize(size); err != nil {
		return Layout{}, err
	}
	if align < 4 || align&(align-1) != 0 {
		return Layout{}, fmt.Errorf("virtq: alignment %d is not a power of two ≥ 4", align)
	}
	l := Layout{Size: size, Desc: 0, Avail: descTableSize(size)}
	l.Used = alignUp(l.Avail+availRingSize(size), align)
	l.Len = l.Used + alignUp(usedRingSize(size), align)
	return l, nil
}

func alignUp(x, a int) int { return (x + a - 1) &^ (a - 1) }

func checkSize(size int) error {
	// Size 1 is a power of two, but its used_event would share a 32-bit
	// word with the only ring slot; nobody uses one-entry queues.
	if size < 2 || size > MaxSize || size&(size-1) != 0 {
		return fmt.Errorf("virtq: queue size %d is not a power of two in 2..%d", size, MaxSize)
	}
	return nil
}

// Ring is the shared memory of one split virtqueue: views of the
// descriptor table and the two rings inside a block. It holds no state of
// either side; make one Driver and one Device over it (in one process, or
// one of them here and the other in a guest or another process).
type Ring struct {
	mem      []byte
	size     int
	eventIdx bool

	desc      []Desc
	availRing []uint16
	usedRing  []UsedElem
	// Each header word is flags (low half) | idx<<16, little-endian: one
	// side writes both halves, so it stores the word whole.
	availHdr *uint32
	usedHdr  *uint32
	// The event fields sit in the low half of a word whose high half is
	// padding or memory of nobody on this queue; see store16.
	usedEvent  *uint32 // avail.ring[Size]: driver writes
	availEvent *uint32 // used.ring[Size]: device writes
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// ErrCorrupt is wrapped by errors reporting that the other side broke the
// ring protocol (an index out of range, more entries than the queue
// holds). The ring cannot be trusted afterwards; reset the queue.
var ErrCorrupt = errors.New("virtq: ring corrupted by the other side")

// NewRing views the queue laid out by l in mem. mem must stay mapped and
// in place for as long as the ring is used. eventIdx says whether
// VIRTIO_F_EVENT_IDX was negotiated. A ring over freshly zeroed memory is
// in the spec's initial state (all indices 0, notifications wanted).
func NewRing(mem []byte, l Layout, eventIdx bool) (*Ring, error) {
	if !littleEndian {
		return nil, errors.New("virtq: big-endian hosts are not supported")
	}
	if err := checkSize(l.Size); err != nil {
		return nil, err
	}
	n := l.Size
	parts := []struct {
		name       string
		off, size  int
		align, pad int
	}{
		// pad: the event field's word reaches 2 bytes past the part.
		{"descriptor table", l.Desc, descTableSize(n), 16, 0},
		{"available ring", l.Avail, availRingSize(n), 4, 2},
		{"used ring", l.Used, usedRingSize(n), 4, 2},
	}
	for i, p := range parts {
		if p.off < 0 || p.off+p.size+p.pad > len(mem) {
			return nil, fmt.Errorf("virtq: %s at %d+%d outside the %d-byte block", p.name, p.off, p.size+p.pad, len(mem))
		}
		if uintptr(unsafe.Pointer(&mem[p.off]))&uintptr(p.align-1) != 0 {
			return nil, fmt.Errorf("virtq: %s at offset %d is not %d-byte aligned", p.name, p.off, p.align)
		}
		for _, q := range parts[:i] {
			if p.off < q.off+q.size && q.off < p.off+p.size {
				return nil, fmt.Errorf("virtq: %s overlaps %s", p.name, q.name)
			}
		}
	}
	r := &Ring{mem: mem, size: n, eventIdx: eventIdx}
	r.desc = unsafe.Slice((*Desc)(unsafe.Pointer(&mem[l.Desc])), n)
	r.availHdr = (*uint32)(unsafe.Pointer(&mem[l.Avail]))
	r.availRing = unsafe.Slice((*uint16)(unsafe.Pointer(&mem[l.Avail+4])), n)
	r.usedEvent = (*uint32)(unsafe.Pointer(&mem[l.Avail+4+2*n]))
	r.usedHdr = (*uint32)(unsafe.Pointer(&mem[l.Used]))
	r.usedRing = unsafe.Slice((*UsedElem)(unsafe.Pointer(&mem[l.Used+4])), n)
	r.availEvent = (*uint32)(unsafe.Pointer(&mem[l.Used+4+8*n]))
	return r, nil
}

// Alloc makes a queue of size entries in a fresh zeroed block laid out with
// NewLayout(size, LegacyAlign), page aligned. The block is on the Go heap,
// which never moves: fine for rings within a process (and what lets the
// race detector see them); a ring a device reads by physical address
// belongs in memory mapped for it, given to NewRing.
func Alloc(size int, eventIdx bool) (*Ring, error) {
	l, err := NewLayout(size, LegacyAlign)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, l.Len+LegacyAlign)
	off := int(-uintptr(unsafe.Pointer(&buf[0])) & (LegacyAlign - 1))
	return NewRing(buf[off:off+l.Len:off+l.Len], l, eventIdx)
}

// Size is the number of entries.
func (r *Ring) Size() int { return r.size }

// EventIdx reports whether the ring uses VIRTIO_F_EVENT_IDX suppression.
func (r *Ring) EventIdx() bool { return r.eventIdx }

// Bytes is the block the ring lives in.
func (r *Ring) Bytes() []byte { return r.mem }

// SetBase starts both rings at index idx instead of 0, with the event
// indices at idx too (so, as in a fresh ring, the first entry is
// notified). It is for a ring nobody uses yet, before NewDriver and
// NewDevice: vhost-user's VHOST_USER_SET_VRING_BASE resumes a queue this
// way, and tests start near 65535 to wrap the indices early.
func (r *Ring) SetBase(idx uint16) {
	atomic.StoreUint32(r.availHdr, uint32(idx)<<16)
	atomic.StoreUint32(r.usedHdr, uint32(idx)<<16)
	store16(r.usedEvent, idx)
	store16(r.availEvent, idx)
}

// NeedEvent is the spec's vring_need_event: after moving an index from old
// to new, must the other side be notified, given the event index it
// published? It is true when event is in [old, new) modulo 2^16, that is
// when the entry at index event was among those just published.
func NeedEvent(event, new, old uint16) bool { return new-event-1 < new-old }

// idxOf is the idx half of a header word.
func idxOf(w uint32) uint16 { return uint16(w >> 16) }

// flagsOf is the flags half of a header word.
func flagsOf(w uint32) uint16 { return uint16(w) }

func hdr(flags, idx uint16) uint32 { return uint32(flags) | uint32(idx)<<16 }

// load16 reads the 16-bit field in the low half of *w.
func load16(w *uint32) uint16 { return uint16(atomic.LoadUint32(w)) }

// store16 writes v into the low half of *w. sync/atomic has no 16-bit
// store, and the high half may belong to someone else in a layout we did
// not choose, so it swaps the whole word keeping that half. In our own
// layouts the high half is padding and the first attempt succeeds.
func store16(w *uint32, v uint16) {
	for {
		old := atomic.LoadUint32(w)
		if atomic.CompareAndSwapUint32(w, old, old&^0xffff|uint32(v)) {
			return
		}
	}
}
