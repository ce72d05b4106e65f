// Package router is the router appliance: IPv4 and IPv6 forwarding as RFC
// 1812 and RFC 8200 routers do it, with ARP and neighbour discovery in the
// dataplane, 802.1Q sub-interfaces and ECMP. It registers itself as the
// "router" appliance; a program gets it by importing the package.
//
// # State
//
// A policy compiles into a state (state.go): the interfaces, keyed by port
// and VLAN, with their addresses, MTUs and prebuilt egress link headers;
// the FIB (package fib) with connected, local, broadcast, static, blackhole
// and ECMP routes; the FIB's next hops as adjacencies; the static
// neighbours. The state is immutable and held in an atomic.Pointer:
// Reload compiles a new one and swaps it in, and the worker adopts it at
// its next burst, reconciling the neighbour table with it. Neighbours are
// learnt state, kept across reloads.
//
// # How a packet moves
//
// Process takes a burst. For each packet, classify reads the link header
// (the ingress interface from port and VLAN tag; the destination MAC) and,
// for the common case of a unicast IPv4 or IPv6 packet to the router's MAC
// with a plain, valid header, a TTL above 1 and ordinary addresses, only
// notes its destination for the batched FIB lookup: that is the fast path.
// Everything else takes the slow path at once: ARP, neighbour discovery,
// broadcasts and multicasts, IP options, fragments, martians and other
// special addresses, expiring TTLs, malformed headers.
//
// After the burst's lookups, forward picks each packet's adjacency (by
// flow hash among ECMP hops), diverts the router's own addresses (echo
// requests answered in place, the rest punted to the local stack),
// blackholes and directed broadcasts, checks TTL and MTU (ICMP time
// exceeded, fragmentation needed or packet too big, or IPv4 fragmentation
// when DF is clear), decrements the TTL with an incremental checksum
// update, rewrites the link header in place (VLAN tags pushed, popped or
// changed in the headroom) and forwards the packet to the neighbour's MAC.
// A gateway's neighbour entry is found through the adjacency without a
// hash lookup; a directly connected destination's through the neighbour
// table, an allocation-free open-addressing hash.
//
// A packet whose neighbour is not resolved is queued on it (Consumed),
// bounded per neighbour and overall, and an ARP request or a neighbour
// solicitation goes out; the answer releases the queue. Tick drives the
// neighbour timers (retransmission, reachable to stale, delay and probe,
// failure after three probes, which answers each queued packet with ICMP
// host unreachable) from the batch clock.
//
// ICMP errors are built in the frame of the packet they are about, quoting
// it (up to 576 bytes in all for IPv4, 1280 for IPv6), from the ingress
// interface's address, rate-limited by a token bucket on the batch clock,
// and never about ICMP errors, non-first fragments, broadcasts,
// multicasts or martian sources. Every packet dropped is counted with a
// reason (reasons.go).
//
// # Virtual interfaces
//
// An appliance that uses the router as its clear-text engine (ipsec-gw)
// gives it virtual interfaces (Options.Virtual): tunnels without a link
// layer, whose packets cross as bare IP packets through port numbers beyond
// the dataplane's (VirtualPort), plus one port for the appliance's own
// packets (LocalPort), routed without a TTL decrement. Classify takes a
// bare IP packet from such a port straight to the same fast path; toAdj
// hands a packet routed to a virtual interface back, link header pulled,
// instead of resolving a neighbour. See Virtual.
//
// All time comes from the batch (Batch.Now), so a replay of captures gives
// the same output every time. Process, Tick and Release run on one worker
// goroutine; Reload may be called from any.
package router
