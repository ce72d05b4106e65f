// Package afpacket is the dataplane's backend for Linux network interfaces
// through AF_PACKET sockets: a veth end, a NIC, the virtio_net interfaces
// of an image until the userspace virtio driver owns them.
//
// # Receive: a TPACKET_V3 ring, one copy
//
// Each Port is one socket bound to one interface, with a receive ring
// mapped into the process: Blocks blocks of BlockSize bytes. The kernel
// writes each packet it receives on the interface into the current block
// (a struct tpacket3_hdr, then a virtio-net header, then the frame, the
// packets of a block chained by tp_next_offset) and hands the block over
// (TP_STATUS_USER) when it is full or has been open RetireTimeout. Recv
// walks the handed-over blocks in order and copies every packet into a
// frame of the dataplane's Pool, at the region's headroom: that copy, at
// the edge, is the only one. A block goes back to the kernel
// (TP_STATUS_KERNEL) as soon as its last packet is copied, so the kernel
// never waits on the stages. On the way:
//
//   - VLAN. The kernel takes the 802.1Q tag off the frame into
//     tp_vlan_tci (and tp_vlan_tpid). Recv puts it back where it was, in
//     front of the EtherType, by copying the addresses four bytes into
//     the headroom: the stage sees the frame as it was on the wire.
//   - Checksums. The virtio-net header (PACKET_VNET_HDR) says what the
//     kernel knows: NEEDS_CSUM (a packet from a local stack whose L4
//     checksum is still to be done, as over veth) becomes
//     dataplane.CsumPartial with its place (Packet.SetCsumPartial), and
//     DATA_VALID or TP_STATUS_CSUM_VALID becomes dataplane.CsumValid.
//   - Drops at the edge. A packet longer than a frame holds (or a GSO
//     super-packet, which nothing here segments) is dropped as
//     dataplane.ReasonTooBig; with the pool empty, what waits is dropped as
//     dataplane.ReasonNoBuffer rather than left to keep the loop polling;
//     what the kernel could not put in a full ring it counts, and a block
//     marked TP_STATUS_LOSING makes Recv read those counts
//     (PACKET_STATISTICS) into ReasonRingFull. Counters has them all.
//   - PACKET_IGNORE_OUTGOING keeps what the port (or the host) sends on
//     the interface out of the ring.
//
// # Transmit: sendmmsg, one copy
//
// Send writes a virtio-net header into the headroom in front of each
// packet (NEEDS_CSUM for a CsumPartial one, so the kernel or the NIC
// finishes the checksum) and hands the whole batch to the kernel with one
// sendmmsg(2); the kernel copies each frame into its own buffer, and Send
// returns the frames to the pool. A TPACKET_V3 transmit ring kicked once
// per batch was measured against it and was slower over veth (see Send).
// QdiscBypass skips the interface's queueing discipline.
//
// # Sharing an interface: fanout
//
// Several ports opened on one interface with the same FanoutGroup share its
// traffic (PACKET_FANOUT, hash mode): every flow goes to one of them, so
// each worker owns a socket and no two workers touch one ring.
//
// # Idle
//
// A Port is a dataplane.Waiter: when the loop has been idle it arms the
// port, and a goroutine parked in the Go runtime's netpoller (epoll on the
// socket) rings the loop's bell when the kernel hands a block over. An idle
// port costs no CPU in the process; the kernel's block timer keeps running
// at RetireTimeout, which is also the longest a lone packet waits.
//
// # Closing
//
// Close closes the socket (which takes back its promiscuous membership and
// leaves its fanout group: the interface is as it was found) and unmaps the
// ring. The port holds no frame between calls.
//
// The port opens its socket in the network namespace of the calling thread;
// once open it may be used from any goroutine (one at a time). It needs
// CAP_NET_RAW and Linux 5.0 or later (a virtio-net header on a TPACKET_V3
// ring; PACKET_IGNORE_OUTGOING).
package afpacket
