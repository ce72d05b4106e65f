// Package virtq is a VIRTIO 1.x split virtqueue (VIRTIO 1.2 §2.7): the ring
// that carries frame references between a driver and a device without
// copying the bytes they point at.
//
// The same code serves every place nfvkit meets a virtqueue: the in-memory
// mem port (a driver and a device in one process), the userspace virtio-net
// driver inside an image (the device is QEMU's virtio-net, reached through
// vfio) and, later, vhost-user between appliances. So the memory layout, the
// byte order and the barriers are the spec's, not a Go-friendly variant.
//
// # The ring
//
// A queue of Size entries (a power of two, at most 32768) lives in one
// block (see Layout): a descriptor table of Size Desc {addr, len, flags,
// next}, the available ring {flags, idx, ring[Size], used_event} written
// only by the driver, and the used ring {flags, idx, ring[Size] of {id,
// len}, avail_event} written only by the device. Indices run freely and
// wrap at 2^16; a slot is idx mod Size.
//
// How a buffer moves:
//
//  1. Driver.Add (or AddChain) takes descriptors off the free list (linked
//     through their next fields), fills them with the buffers' addresses
//     (nfvkit uses region offsets, see dataplane.Region.Offset) and writes
//     each chain's head into the next slot of the available ring.
//  2. Driver.Publish stores the available idx once for the whole batch
//     (the release that makes descriptors and slots visible), then reads the
//     device's suppression state and says whether the device wants an
//     available-buffer notification (a "kick").
//  3. Device.Pop loads the available idx (the acquire) and reports each new
//     chain's head and first descriptor; the device owns those chains now.
//  4. Device.Push writes {head, bytes written} into used ring slots;
//     Device.Publish stores the used idx once and says whether the driver
//     wants a used-buffer notification (an "interrupt").
//  5. Driver.Used (or Recycle) loads the used idx, puts the chains'
//     descriptors back on the free list and reports what the device did.
//
// # Notification suppression
//
// Without VIRTIO_F_EVENT_IDX each side sets a flag to say "don't notify
// me" (VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_USED_F_NO_NOTIFY). With it the
// flags stay 0 and each side instead writes the index at which it next
// wants to hear (used_event, avail_event); the other side notifies when an
// index update crosses it (NeedEvent, the spec's vring_need_event). To stop
// hearing, a side moves its event index just behind what it has consumed,
// which the other side will not cross again for 2^16 entries.
// EnableInterrupts/EnableNotify re-check the ring after enabling, so a
// waiter never sleeps on entries that arrived in between: they return false
// when there is already work.
//
// # Memory ordering
//
// The driver and device may run on different goroutines (or a guest and a
// host). Each index/flags pair is one 32-bit word written by one side only,
// stored and loaded with sync/atomic; Go's atomics are sequentially
// consistent, which gives both the release/acquire the spec asks around idx
// and the full barrier between publishing an index and reading the other
// side's suppression state. Descriptors and ring slots are plain memory
// ordered by those atomics, so the race detector checks the protocol. The
// 16-bit event fields are updated with a compare-and-swap on their 32-bit
// word so the two bytes beside them are never written.
//
// Each Driver and Device keeps private shadows of its own indices and is
// for one goroutine at a time; a ring has one of each. The package assumes
// a little-endian host (VIRTIO 1.x rings are little-endian) and refuses to
// make rings elsewhere.
package virtq
