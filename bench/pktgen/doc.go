// Package pktgen is the benchmark's traffic generator: IPv4/UDP frames of
// one size, built once, sent from an AF_PACKET socket as fast as the
// kernel takes them or at a given rate, for a fixed time or count.
//
// How a packet leaves: before the clock starts, Run builds the frames
// (Spec.Frame: Ethernet, IPv4 and UDP headers with full checksums, the
// payload starting with Marker), cycling through a few flows that differ
// in UDP source port, so receive packet steering and socket fanout can
// spread them. By default it hands them to the kernel a batch at a time
// with sendmmsg(2), which copies each into a linear buffer of its own, as
// a NIC's small packets are; a call the kernel refuses for a full send
// buffer is the path behind the interface pushing back (Result.Full).
// With Config.Ring it sends from a TPACKET_V2 transmit ring instead:
// every slot filled once, sending a packet is flipping its slot's status
// and one send(2) per batch makes the kernel take every requested slot; a
// slot comes back when the packet's buffer is freed on the far side. The
// ring costs the generator less but its packets are the ring's pages
// behind a 14-byte head, which whoever frees them pays for (see Run).
//
// The generator runs as its own process so it can be pinned to a CPU
// (taskset) in the generator's namespace: cmd/pktgen, or any program that
// calls RunIfChild first (the e2e harness re-executes itself).
//
// Sizes are Ethernet frames without the FCS, as veth carries them: a
// "64-byte" packet is 64 bytes handed to the interface (14 Ethernet, 20
// IPv4, 8 UDP, 22 payload).
package pktgen
