// Package afxdp is the AF_XDP backend of the dataplane: a Port over one
// queue of a Linux interface through which packets reach the appliance
// without the kernel stack, and without a byte copied in user space.
//
// The UMEM is the Region. Open registers the dataplane's Region — mapped
// outside the Go heap, power-of-two frames — with the kernel as the
// socket's UMEM (XDP_UMEM_REG), one chunk per frame. A frame is named on
// every ring by its region offset (Region.Offset), and an offset is turned
// back into a frame with Region.FrameOf. All ports of an appliance draw from
// the one Region, so the socket of every port sees the same memory: a second
// port on the same Region shares the first one's kernel UMEM
// (XDP_SHARED_UMEM, with fill and completion rings of its own, which the
// kernel requires for each interface and queue), or registers the same
// memory again where the kernel refuses to share (a zero-copy UMEM on a
// device without zero-copy).
//
// How a frame moves, and who owns it:
//
//	pool ─GetIDs─▶ fill ring ─kernel─▶ RX ring ─Recv─▶ stage ─Send─▶ TX ring ─kernel─▶ completion ring ─PutIDs─▶ pool
//
// Step by step:
//
//  1. Open fills the fill ring with frames from the Pool (Pool.GetIDs),
//     and Recv tops it up a burst at a time, to a depth that adapts (see
//     Sizing). A frame on the fill ring is
//     the kernel's.
//  2. The XDP program on the interface redirects each packet of the queue to
//     the socket (bpf_redirect_map on an XSKMAP keyed by queue). The kernel
//     takes a frame from the fill ring, puts the packet in it at the
//     Region's headroom — or at 256 bytes (XDP_PACKET_HEADROOM, which the
//     kernel always keeps) when the Region's is smaller, as the default 128
//     is — and posts a descriptor on the RX ring: with a zero-copy driver
//     the NIC wrote the packet there by DMA; in copy mode the kernel copied
//     it once from its own buffer.
//  3. Recv takes up to a burst of RX descriptors and makes each a
//     dataplane.Packet referring to its frame (Pool.SetPacket): the frame
//     is the caller's now.
//  4. The loop runs the stage and hands the packets forwarded out of an
//     AF_XDP port to its Send, which writes a descriptor per packet — the
//     frame's region offset and the packet's length — on the TX ring and,
//     only if the kernel asked for it (XDP_USE_NEED_WAKEUP), kicks it with
//     sendto(MSG_DONTWAIT). A zero-copy NIC reads the frame by DMA; in copy
//     mode the kernel copies it into an skb inside that sendto. Packets that
//     find the ring full are freed, as the Port contract says.
//  5. Once sent, the kernel posts the frame's offset on the completion ring;
//     the next Recv, Send or Arm returns it to the pool (Pool.PutIDs).
//
// Why no byte is copied: the port never touches packet bytes. Forwarding
// from one AF_XDP port to another moves a frame reference from an RX ring to
// a TX ring, and the packet stays where the kernel wrote it. With zero-copy
// drivers nobody copies at all; in copy mode (veth, drivers without
// zero-copy) the kernel copies once at each edge, which is still one copy
// fewer per direction than a socket that reads into user buffers. The port tracks which frames the kernel holds (a bit per frame),
// so a descriptor naming any other frame is caught (ErrCorrupt), a frame sent
// twice panics as a double free does, and Close returns exactly the frames
// the kernel still had.
//
// Modes. The XDP program is attached in native (driver) mode where the
// driver supports it and in generic (SKB) mode otherwise; the socket binds
// zero-copy where the driver supports it and in copy mode otherwise. Mode
// reports what was obtained, and Open logs it. veth has native XDP but no
// zero-copy: on veth a port runs native, copy. The program is assembled in
// Go with cilium/ebpf's asm package (no clang) and attached through a BPF
// link, one per interface, shared by the ports on its queues: Close of the
// last one detaches it, and the kernel detaches it by itself if the process
// dies, so the interface is left as it was found.
//
// Idle. A Port is a dataplane.Waiter: Arm settles what must not wait (the
// completion ring, the fill ring, descriptors left on the TX ring, the fill
// ring's need-wakeup flag, through a recvfrom that also tells whether the
// socket is still bound) and hands the loop's Bell to a goroutine parked in
// the Go runtime's netpoller (epoll), which the kernel wakes when it posts to
// the RX ring. The netpoller watches an epoll instance of the port's own,
// and the socket is in it only between Arm and Disarm: a socket the
// netpoller watched for good would have the kernel run an epoll callback,
// under an interrupt-disabled lock, for every burst it receives (in the
// sender's context) and every frame it transmits in copy mode, while the
// loop is busy and nobody waits — on veth a tenth of the appliance's CPU
// and of the sender's (the router on two cores went from 0.88 to 1.05 Mpps
// at 64 bytes without it). An idle port costs a parked goroutine and no
// CPU.
//
// Namespaces. Open works in the network namespace of the calling thread;
// lock a goroutine to a thread that has entered another namespace to open a
// port there. The port then works from any goroutine.
//
// Sizing. A port keeps up to Config.RingSize frames on its fill ring and up
// to as many in transmission: give the pool 2*RingSize frames per port
// besides what the appliance holds (the runner adds them to its pool). The
// fill and RX rings are what holds packets while the worker is not running:
// a worker that shares its CPU is off it for a scheduler slice at a time,
// a millisecond or more, and at 0.5-1 Mpps that is more than 512 packets;
// the default of 4096 took the router on veth, sharing one CPU with the
// sender, from 0.17 Mpps (512: 82% dropped at the socket) to
// 0.5-0.6. Frames must be 2048 bytes up to a page.
//
// The fill ring's depth is not always its size, though: the kernel takes
// fill-ring frames in order, so a frame receives again after as many
// packets as the port keeps there, and in copy mode the kernel writes each
// packet into its frame with the CPU — cheap while the frame is still in
// that CPU's cache, dear once the frames cycled through are more than it
// holds (4096 frames are 8 MiB). On veth with 1400-byte frames and a core
// for the worker, a depth of 256 forwarded 0.84-0.86 Mpps, the whole ring
// 0.68. So the port keeps between 256 frames and the ring's size on the
// fill ring: twice as many as soon as a backlog on the RX ring reaches
// half the depth or the kernel drops a packet for want of a frame, a
// quarter fewer after 32 readings of the kernel's counters (one every 1024
// Recv calls) in which no backlog reached a quarter of it. A worker that
// shares its CPU finds backlogs of thousands and keeps the whole ring.
//
// Linux stacks on veth. The packets a Linux stack sends over veth carry
// partial checksums (CHECKSUM_PARTIAL: the pseudo-header sum only, to be
// finished by "hardware") and, with TSO/GSO, may be far larger than the MTU.
// XDP sees neither the checksum state nor can it segment: a partial
// checksum forwarded as it is arrives wrong and the receiver drops the
// packet — ping works (ICMP checksums are always complete) but not even a
// TCP SYN gets through — and a packet larger than a frame is dropped by the
// kernel on receive. So the veth end whose stack sends through an AF_XDP
// appliance needs "ethtool -K DEV tx off tso off gso off" (tx off alone
// also turns TSO off; the tests use the SIOCETHTOOL ioctl, so they need no
// ethtool). While a native XDP program is on the appliance's end, the
// kernel turns TSO off on its peer by itself, but not checksum offload. Frames
// the port sends carry the checksums the stage wrote, and the receiving
// stack verifies them in software.
package afxdp
