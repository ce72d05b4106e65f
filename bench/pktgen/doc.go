// Package pktgen is the benchmark's traffic generator: IPv4/UDP frames of
// one size, built once, sent from an AF_PACKET socket with a TPACKET_V2
// transmit ring as fast as the kernel takes them or at a given rate, for a
// fixed time or count.
//
// How a packet leaves: before the clock starts, Run fills every ring slot
// with a complete frame (Spec.Frame: Ethernet, IPv4 and UDP headers with
// full checksums, the payload starting with Marker), the slots cycling
// through a few flows that differ in UDP source port, so receive packet
// steering and socket fanout can spread them. Sending is then only flipping
// a slot's status to "send request" and, once per batch, one send(2) that
// makes the kernel take every requested slot; the byte count send returns
// is what was sent. Over veth a slot comes back when the packet's buffer is
// freed on the far side, so a ring that stays full is the path behind the
// interface pushing back (Result.Full).
//
// The generator runs as its own process so it can be pinned to a CPU
// (taskset) in the generator's namespace: cmd/pktgen, or any program that
// calls RunIfChild first (the e2e harness re-executes itself).
//
// Sizes are Ethernet frames without the FCS, as veth carries them: a
// "64-byte" packet is 64 bytes handed to the interface (14 Ethernet, 20
// IPv4, 8 UDP, 22 payload).
package pktgen
