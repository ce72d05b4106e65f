package afxdp

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is the index half of one of the four single-producer,
// single-consumer rings a socket shares with the kernel. The producer and
// consumer indices live in the shared mapping and run freely (they wrap at
// 2^32, entry i is at i&mask); one side only ever writes its own index.
// Indices are published with atomic stores and read with atomic loads, which
// in Go are sequentially consistent: an entry written before the store of
// the producer index is visible to a kernel that loads that index (the
// kernel's smp_load_acquire), and an entry read before the store of the
// consumer index is not overwritten before it was read.
//
// The port keeps its own index in local and a cached copy of the kernel's
// in remote, and reloads remote only when the cached value says the ring is
// full (producer side) or empty (consumer side), so that one shared cache
// line is touched per burst rather than per packet.
type ring struct {
	producer *uint32
	consumer *uint32
	flags    *uint32
	mask     uint32
	local    uint32
	remote   uint32
}

func (r *ring) size() uint32 { return r.mask + 1 }

// Producer side (fill, TX): local is the producer index, remote the
// kernel's consumer index.

// free is how many entries can be produced now, at most want.
func (r *ring) free(want uint32) uint32 {
	n := r.size() - (r.local - r.remote)
	if n < want {
		r.remote = atomic.LoadUint32(r.consumer)
		n = r.size() - (r.local - r.remote)
	}
	return min(n, want)
}

// submit publishes n entries written after the producer index.
func (r *ring) submit(n uint32) {
	r.local += n
	atomic.StoreUint32(r.producer, r.local)
}

// outstanding is how many produced entries the kernel has not consumed.
func (r *ring) outstanding() uint32 {
	r.remote = atomic.LoadUint32(r.consumer)
	return r.local - r.remote
}

// needWakeup reports the kernel's XDP_RING_NEED_WAKEUP flag: it will not
// look at the ring again until it is kicked.
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// Consumer side (RX, completion): local is the consumer index, remote the
// kernel's producer index.

// available is how many entries can be consumed now, at most max.
func (r *ring) available(max uint32) uint32 {
	n := r.remote - r.local
	if n < max {
		r.remote = atomic.LoadUint32(r.producer)
		n = r.remote - r.local
	}
	return min(n, max)
}

// release gives n consumed entries back to the kernel.
func (r *ring) release(n uint32) {
	r.local += n
	atomic.StoreUint32(r.consumer, r.local)
}

// descRing is an RX or TX ring: its entries are packet descriptors.
type descRing struct {
	ring
	descs []unix.XDPDesc
}

// at is the entry i places after the local index.
func (r *descRing) at(i uint32) *unix.XDPDesc { return &r.descs[(r.local+i)&r.mask] }

// addrRing is a fill or completion ring: its entries are UMEM offsets.
type addrRing struct {
	ring
	addrs []uint64
}

func (r *addrRing) at(i uint32) *uint64 { return &r.addrs[(r.local+i)&r.mask] }

// mapRing maps the ring at page offset pgoff of socket fd, laid out as off
// says with n entries of entrySize bytes, and points r's indices into it.
func mapRing(fd int, pgoff int64, off unix.XDPRingOffset, n uint32, entrySize uintptr, r *ring) ([]byte, unsafe.Pointer, error) {
	size := int(off.Desc) + int(n)*int(entrySize)
	mem, err := unix.Mmap(fd, pgoff, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, nil, err
	}
	r.producer = (*uint32)(unsafe.Pointer(&mem[off.Producer]))
	r.consumer = (*uint32)(unsafe.Pointer(&mem[off.Consumer]))
	r.flags = (*uint32)(unsafe.Pointer(&mem[off.Flags]))
	r.mask = n - 1
	// A fresh ring starts at zero, but read the kernel's view rather than
	// assume it.
	r.local = atomic.LoadUint32(r.producer)
	r.remote = atomic.LoadUint32(r.consumer)
	return mem, unsafe.Pointer(&mem[off.Desc]), nil
}
