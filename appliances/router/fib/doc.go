// Package fib is the router's forwarding table: longest-prefix match from
// an IPv4 or IPv6 destination to a next-hop group, compiled from the
// connected routes of the interface addresses and the static routes of the
// policy into an immutable Table, which a reload swaps in atomically.
//
// How a packet moves through it: a worker Loads the Table from the FIB once
// per burst, collects the burst's destination addresses, and resolves them
// with LookupBatch4 or LookupBatch6 into group indices (NoRoute for none).
// NextHop(group, flowHash) then picks each packet's hop: output interface,
// gateway (none for a connected destination) or Local for the appliance's
// own addresses. A group with several hops is ECMP; the caller's flow hash
// keeps a flow on one hop. Nothing on this path allocates or locks.
//
//	b := new(fib.Builder)
//	b.AddInterface(0, netip.MustParsePrefix("192.0.2.1/24"))
//	b.AddStatic(netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr("192.0.2.254"))
//	t, err := b.Build()
//	...
//	f.Store(t) // f is the router's fib.FIB; workers call f.Load()
//
// # Structure
//
// Each family is a poptrie (Asai and Ohara, "Poptrie: A Compressed Trie with
// Population Count for Fast and Scalable Software IP Routing Table Lookup",
// SIGCOMM 2015). A top level, an array indexed by the address's first s
// bits, holds in each entry either a result (next hop + 1, 0 for no route)
// or a node. A node covers the next 6 bits with two 64-bit bitmaps and two
// base indices (24 bytes): one bitmap marks the slots that lead to a child
// node, the other where a new run of equal results starts; a popcount over
// the bits below a slot indexes the node's children, or its results, both
// stored contiguously. Compiling from a sorted prefix list fills each node
// in one pass; a change to the routes is a rebuild (0.3 s for 1M prefixes),
// never an update in place, so readers need no synchronisation at all.
//
// The top level's width s grows with the table: 6, 12 and 18 bits (boundaries
// at /24 and /48, the commonest lengths, so that those end a level), and 24
// bits for IPv4 tables of 128k prefixes or more. With 24 bits the top level
// is the first table of DIR-24-8 (Gupta, Lin and McKeown, 1998): one 64 MiB
// array, and a node only under the /24s that hold longer prefixes, so almost
// every IPv4 lookup is one memory access. Options.Compact keeps 18 bits for
// deployments that count megabytes: 5× less memory, 2× slower lookups.
//
// # Why this structure: measured
//
// On the 1M-prefix IPv4 and 200k-prefix IPv6 tables of package fibtest
// (today's Internet length mix) with 1M random destinations (more than the
// caches hold), against github.com/gaissmai/bart v0.30.0 (bart.Fast, its
// fastest table; bart.Table measured about the same) and a plain DIR-24-8 written for
// the comparison (dir24_test.go). IPv4 destinations are uniform over the
// address space, or ("routed") inside random prefixes of the table, as IPv6
// ones are. Nanoseconds per lookup from BenchmarkLookup -count 3 in quiet
// spells, and TestCompare's best-of-rounds, on 2 vCPUs of a Xeon under KVM
// (large L3) shared with other builds; ranges are the spread:
//
//	                                uniform IPv4  routed IPv4      IPv6
//	nfv Lookup ([4]byte, one call)        18–22        10–20      66–83
//	nfv LookupUint32 (inlined)            13–14        10–11         -
//	nfv LookupBatch, bursts of 32          8–11          -          44–55
//	nfv LookupBatch, bursts of 256         7–10          7–7.5     38–39
//	nfv compact Lookup                    23–34        25–35         -
//	nfv compact LookupBatch (256)         14–15        15–17         -
//	DIR-24-8 (inlined)                    11–13         8–13         -
//	bart.Fast Lookup                      82–106     113–128    220–350
//
// Memory, from runtime.MemStats around the build: nfv IPv4 64.1 MiB (12.3
// compact), IPv6 10.6 MiB; DIR-24-8 66.6 MiB; bart.Fast 39.7 MiB (IPv4)
// and 38.9 MiB (IPv6), bart.Table 24.6 MiB (IPv4). Build: Compile4
// 0.26–0.3 s, Compile6 0.1–0.15 s, bart 0.27 s and 0.15 s.
//
// So ours is the production structure, not bart: 4–10× faster per IPv4
// lookup and 8–17× in bursts, 3–4× per IPv6 lookup and 5–7× in bursts, smaller
// for IPv6 and, compact, for IPv4. (bart suits a RIB, with incremental
// updates and set operations; a FIB is rebuilt and swapped.) Of our own
// layouts the 24-bit top level wins for large IPv4 tables: the 18-bit one
// costs two more dependent cache misses (node, then result) for most
// lookups, and DIR-24-8 proper is the same one memory access, no faster
// than LookupUint32.
// Batching pays: its first pass is a tight loop of independent top-level
// loads whose misses overlap, the lookups that go deeper then descend one
// level at a time across the burst, and there is no call per packet. The
// router's whole budget per packet is 100 ns (10 Mpps per core); a batched
// IPv4 lookup takes under a tenth of it. Per packet, LookupUint32 is the
// quickest form, its fast path being inlined.
//
// # Memory budget
//
// A Table with 1M IPv4 and 200k IPv6 prefixes of the Internet mix takes at
// most 80 MiB (75 measured, 64 of them the IPv4 top level, whose pages under
// unrouted space may never be written), or at most 24 MiB with
// Options.Compact (23 measured). A reload holds the old and the new Table
// until the workers move on, so budget twice that, plus the build: a
// Builder keeps about 40 bytes per static route (51 MiB for 1.2M) and
// Build's garbage peaks near 250 MiB for a full table; adding 1.2M routes
// and building takes about a second. Small tables stay small: below 256
// prefixes a family's top level is 256 bytes.
package fib
