// Package tap is the dataplane's backend for Linux TAP devices: an
// appliance running as a process is wired to the host's network stack (or
// to a VM's, or to a bridge) through a TAP device it creates or attaches
// to, one Port per queue.
//
// # The device
//
// Each Port is one queue of a multi-queue TAP device
// (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR|IFF_MULTI_QUEUE), opened on /dev/net/tun
// in non-blocking mode; OpenQueues opens several, and the kernel spreads
// the device's traffic over them by flow. A device that did not exist is
// created and goes away with its last port; one that existed is attached
// to and left as found. Up brings the link up.
//
// # Receive: the kernel's copy only
//
// Recv reads the queue, one read(2) per packet until it would block or a
// burst is read, each straight into a frame of the dataplane's Pool: the
// 12-byte virtio-net header (TUNSETVNETHDRSZ) lands in the headroom just in
// front of the region's headroom and the packet at it, so the copy the
// kernel makes into user memory is the only one. The port keeps up to a
// burst of frames from the pool to read into. The header tells
// NEEDS_CSUM, which becomes dataplane.CsumPartial with its place (the
// kernel sends packets with their checksums undone once TUNSETOFFLOAD
// says TUN_F_CSUM, which the port does unless NoChecksumOffload), and
// DATA_VALID, which becomes dataplane.CsumValid. No TSO or UFO is offered,
// so the kernel segments before it hands a packet over; one that still
// does not fit a frame is dropped as dataplane.ReasonTooBig, and with the
// pool empty what is queued is read away and dropped as
// dataplane.ReasonNoBuffer rather than left to keep the loop polling.
//
// # Transmit
//
// Send writes each packet with one write(2) (TAP has no batched write),
// its virtio-net header written into the headroom in front of it: again the
// kernel's copy is the only one. A CsumPartial packet goes with NEEDS_CSUM,
// and the host stack behind the device takes the checksum as good; with
// NoChecksumOffload the port finishes it in software first.
//
// # Idle
//
// A Port is a dataplane.Waiter: a goroutine parked in the Go runtime's
// netpoller (epoll on the queue's descriptor) rings the loop's bell when a
// packet is queued, so an idle port costs no CPU.
//
// The device is made in the network namespace of the calling thread; once
// open a port may be used from any goroutine (one at a time). It needs
// CAP_NET_ADMIN to create a device.
package tap
