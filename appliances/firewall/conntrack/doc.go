// Package conntrack is the firewall's connection tracking: which
// connection a packet belongs to, which way it goes, and whether it is new,
// established, related to a connection (an ICMP error about it) or invalid,
// for IPv4 and IPv6, in a table of fixed size that allocates nothing per
// connection or per packet.
//
// # How a packet moves through it
//
// The firewall stage decodes a packet (packet.Parsed) and calls Track with
// the batch's time:
//
//	st := ct.Track(&p, b.Now, &r)
//	switch {
//	case st == conntrack.StateInvalid:     // drop, counting r.Reason
//	case st == conntrack.StateRelated:     // an ICMP error about r.Entry (nat.ApplyRelated)
//	case r.Entry == nil && !r.Untracked(): // a first packet: run the rules, and if they
//		e, err := ct.Create(&r, nil, b.Now) // accept it, create the entry (nat.NAT.Create
//	default:                               // does it with a translation)
//		// a packet of r.Entry going r.Dir (nat.Apply)
//	}
//	...
//	ct.Expire(b.Now, 2*len(b.Pkts)) // once per batch
//
// Track builds the packet's tuple (addresses, protocol, ports; for an ICMP
// query the identifier and type), finds it in the index and advances the
// connection: TCP's state machine and window, UDP's and ICMP's "answered"
// flag, the idle timer. A packet with no entry that may start a connection
// (a SYN, a UDP datagram, an echo request) is StateNew with no Entry, and
// nothing is created until the stage has judged it: a refused packet
// leaves no trace. A packet of an entry whose other side has not answered
// yet is also StateNew, as in Linux (a retransmitted SYN, a second UDP
// datagram); the stage may keep the verdict it gave the first in
// Entry.Mark. An ICMP or ICMPv6 error is matched, through the header it
// quotes, to the connection of the quoted packet (StateRelated; Result.Inner
// locates the quote for NAT). Time comes only from the caller, so a replay
// with the capture's timestamps is deterministic.
//
// # The table
//
// New allocates Options.Max entries of EntrySize (128) bytes once, beside
// them 40 bytes of TCP window state and an 8-byte due time (below) an
// entry, and an index of a power of two at least 2×Max buckets of 4
// bytes: 184–192 bytes a connection, 184 MiB for a million, which it asks
// the kernel to back with transparent huge pages (where it has them), so
// that a lookup in a big table is not also a TLB miss and a page walk. An
// entry is two cache lines: the first holds the original direction's
// tuple, its chain link, the timer and status, the NAT binding and a word
// for the caller, so that a packet of the original direction reads one
// line of the table beside its bucket; the second the reply's tuple and
// link. Nothing in the table is a pointer, so the garbage collector never
// scans it. Each direction's tuple is a key of the index: buckets
// hold chains of 32-bit references (entry << 1 | direction), linked
// through the entries themselves, as Linux's hlist_nulls with indices for
// pointers; with at most one key per bucket on average, a lookup reads the
// bucket and one entry. The hash is wyhash's multiply-fold keyed with a
// secret (Options.Seed, random by default) so that no outsider can pile
// connections into one chain. Free entries form a list through the same
// links, so creating and removing are a few stores.
//
// Expiry is amortised: Expire moves a clock hand over n entries (call it
// once per batch with n a small multiple of the batch, so the hand outruns
// creation) and removes those past their time; a packet that finds an
// expired entry removes it and starts afresh, so results never depend on
// where the hand is. No goroutine is involved. The hand reads a due time
// per entry, 8 bytes in an array of their own, at or before the entry's
// expiry, and the entry only when that has come (then it removes the
// entry, or moves the due time to the expiry): packets push expiry later
// without writing the due time, so a connection in steady use costs the
// hand a read of its entry once a timeout, not once a round.
//
// When the table is full, Create walks the hand on over at most 64
// entries, removing the expired ones it passes, and takes the first one
// that was expired or, failing that, drops the first connection not yet
// assured (never answered, or a TCP handshake not completed) and takes its
// place, as Linux's early_drop does (Options.NoEarlyDrop turns dropping
// off); failing both, the new connection is refused with ErrFull and
// counted (Stats.Full), while established connections keep working.
//
// # TCP
//
// The state machine is Linux's nf_conntrack_proto_tcp table (NONE,
// SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK,
// TIME_WAIT, CLOSE, SYN_SENT2), with its window tracking after Rooij: for
// each side the highest sequence sent (td_end), the highest the receiver
// allows (td_maxend) and the largest window seen (td_maxwin), scaled by the
// window scale option when both sides sent one, and the highest SACK edge.
// A segment past the window or acknowledging data never sent is Invalid;
// one older than a window, or a late ACK, passes without changing anything
// (the endpoints handle duplicates). Invalid flag combinations are Invalid
// before any lookup. A SYN on a connection in TIME_WAIT or CLOSE replaces
// it. A non-SYN segment of no connection is Invalid, unless Options.Loose
// picks connections up from the middle (with liberal window checks).
// Timeouts: SYN states TCPSyn, ESTABLISHED TCPEstablished (at most 5 min
// while data is unacknowledged, or the handshake unfinished), closing
// states TCPFin, CLOSE at most 10 s.
//
// Other protocols: UDP and UDP-Lite connections are unreplied (timeout
// UDP) until an answer, then a stream (UDPStream); ICMP echo, timestamp,
// information, address-mask and node-information queries are keyed by
// identifier, the reply type matching the request's; SCTP and DCCP by
// ports, anything else by addresses (Other). ICMP messages that are
// neither queries nor errors (neighbour discovery, router advertisements,
// MLD) are not tracked: Result.Untracked, judged packet by packet.
// Non-first fragments carry no ports: a small direct-mapped cache,
// filled by the first fragment, names their connection (reassembly is not
// done here; a fragment ahead of the first is Invalid).
//
// # Concurrency
//
// A Table has a single writer: the worker that owns it (a shard of the
// appliance's connections) calls every method but LoadStats, which any
// goroutine may call (Expire publishes the counters). Both directions of a
// connection must reach the same worker; with NAT the two directions'
// addresses differ, so a sharded stage steers by the port NAT chose (or
// runs one firewall worker per table).
//
// # Cost, measured
//
// On the 2-vCPU Xeon VM this repository is developed on, shared with other
// builds (load average 5–7 during the runs, so CPU time per packet is
// quoted: the benchmarks report it beside the wall clock), with Go 1.26:
//
//	Track, established connection, one packet     1k flows   100k flows   1M flows
//	  UDP IPv4                                       33 ns       136 ns     503 ns
//	  UDP IPv6                                       35 ns       242 ns     525 ns
//	  TCP IPv4 (state machine and window checks)     43 ns       310 ns     520 ns
//	  TCP IPv6                                       40 ns       217 ns     529 ns
//	Track on bursts of 32, TCP IPv4                  44 ns       155 ns     564 ns
//	  with Prefetch first                            57 ns       153 ns     366 ns
//	Track (miss) + Create + Expire share, UDP IPv4  117 ns       299 ns     753 ns
//
// (best of three runs; the spread between runs at 100k flows was up to
// 2×, the machine being shared).
//
// Zero allocations everywhere. Up to a hundred thousand connections the
// cost is the hash and the compare; beyond the caches it is memory latency:
// the bucket, then the entry (a dependent random access costs about 200 ns
// on this VM). Prefetch overlaps those misses across a burst and takes a
// third off at a million connections; for tables that fit the caches it
// costs more than it saves.
package conntrack
