// Package classify is the firewall's rule classifier: it compiles an
// ordered rule list (first match wins) into a structure that finds the
// first rule matching a packet without looking at the rules one by one, so
// that its cost grows far slower than the rule count, and allocates nothing.
//
// # How a packet moves through it
//
// FromPolicy turns a policy's rules into Rules (zones become interface
// numbers, sets are expanded), Compile builds a Classifier (immutable,
// shared by the workers, swapped on reload), and the firewall stage asks it
// about each packet that conntrack could not settle, the first packet of a
// connection:
//
//	k := classify.KeyOf(&p, in, out, config.StateNew) // after DNAT: the target as Dst
//	m := c.Classify(&k)  // m.Rule (or NoRule), m.Action, m.Log
//	hits.Count(m)        // per-worker Counters, per rule
//
// The fields are the ingress and egress interface (Self for the appliance),
// source and destination prefixes of either family, protocol, source and
// destination port ranges, ICMP type and connection state.
//
// # Structure
//
// Rules are split by address family. Each family's rules are compiled into
// a decision tree (HyperSplit: Qi, Xu, Yang and Li, INFOCOM 2009) over ten
// dimensions: the interfaces, protocol, ports, ICMP type, and each address
// as two 64-bit halves (an IPv4 address is the low one), so that a prefix
// is a box of two ranges. An inner node cuts one dimension at up to seven
// thresholds (three levels of binary splits in one node, each chosen to
// leave the fewest rules on the bigger side, a rule spanning a threshold
// going both ways); its eight children take the values between them. A
// walk counts, without branching, the thresholds below the packet's value
// at each node. Where a node's rules spread evenly over a dimension (many
// specific rules: a /24 each, a port each) it is a cut node instead
// (HiCuts: Gupta and McKeown, 1999): up to 4,096 equal parts, the child
// found by a shift, chosen when no part keeps more than an eighth of the
// rules and the parts hold at most three copies of a rule on average. An
// IPv4 tree's nodes are 32-bit, a threshold node one cache line. A leaf
// lists, in rule order, the rules that can match in its region, each with
// only the checks the region leaves open (a prefix in one word, a port
// range, a list searched in two), and ends at the first rule that covers
// the region: first match stays exact, connection state included (checked
// at the leaf). A lookup is a few nodes, then one or two leaf entries: at
// 10,000 rules of the firewall's BenchmarkClassify 2.7 nodes (1.3 of them
// cut nodes; 4.7 threshold nodes without them), 1 MiB, which goes into
// huge pages.
//
// ClassifyBurst classifies many keys at once, walking their trees a level
// at a time so that their cache misses overlap: the firewall classifies a
// burst's first packets so when its rules and its connection table are
// both too big for the caches (see the firewall's Prepare).
//
// Rules that many others overlap (wildcards, long sets of scattered
// prefixes, broad rules behind specific ones) are copied into many leaves.
// A family whose tree would take more than 512 bytes a rule (plus 64 KiB,
// at most 64 MiB), or whose building would visit more than 64 rules a
// rule, keeps the bit vectors below instead: the classifytest sets, whose
// IPv4 trees take 3 KiB a rule from 1,000 rules, do.
//
// The bit vectors: rules are split by protocol: one partition per
// protocol some rule names (holding its rules and those of any protocol)
// and one for the rest. Within a partition every field maps a packet's
// value to an equivalence class (the values the same rules accept), and
// each class to a bit vector with bit i set when rule i accepts it: the
// bit-vector scheme of Lakshman and Stiliadis (SIGCOMM 1998). The matching
// rules are the AND of the packet's vectors, and the answer is the lowest
// bit set. Classes come from an LPM per address field and family (package
// fib's poptrie, shared by the partitions), a two-level table per port
// field (the ICMP type takes the destination port's place in ICMP
// partitions), and small tables for interfaces and state, whose classes
// are crossed into one so that a lookup fetches one vector for the three.
// Each vector starts with aggregate words (Baboescu and Varghese, 2001):
// bit j says whether word j is non-zero, so the AND of the aggregates
// points at the words worth ANDing, and a lookup stops at the first word
// with a match. A lookup is therefore a handful of table lookups and an
// AND of 4 or 5 vectors up to the first match: its cost grows with the
// position of the first matching rule divided by 64, not with the rule
// count. Memory is at most classes × rules / 8 bytes per field, with
// identical vectors shared; the address and port fields' vectors keep only
// their non-zero words (a class of a /24 among 10,000 rules: two aggregate
// words and one or two words, not 80), so that a big rule set's vectors
// stay in the caches beside the connection table's traffic.
//
// # Measured, and what was not kept
//
// BenchmarkClassify: classifytest's rule sets, shaped like an operator's
// policy (specific rules first, a twentieth of broad ones last; zone pairs;
// four in five IPv4; prefixes, lists and shared sets; mostly TCP and UDP
// with common ports, random ports, ranges), and 64k packets, seven in ten
// made to match a random rule. The first matching rule is then a quarter of
// the way down the list on average, the worst case for bit vectors, whose
// scan stops there. CPU time per lookup on the shared 2-vCPU VM (see
// package conntrack), zero allocations:
//
//	rules   ns/lookup   Mpps   memory     compile   linear first-match loop
//	   10          83   12.1    25 KiB       1 ms      115 ns
//	  100         102    9.8   190 KiB       2 ms      630 ns
//	 1000         125    8.0   0.97 MiB     21 ms      6.5 µs
//	10000         262    3.8   11.6 MiB    480 ms       42 µs
//
// (These are the bit vectors: the trees of these sets pass the budget from
// 1,000 rules; at 10 and 100 rules the trees take 56 and 87 ns.) On the
// firewall's BenchmarkClassify rules (a zone pair, a /24 source, a /16 to
// /32 destination, TCP or UDP, one port, and a catch-all last) the trees
// take, alone, 35 ns at 10 rules, 61 at 1,000, 82 at 10,000 (the bit
// vectors: 65, 85, 95-130), in 1 KiB, 0.09 MiB, 0.97 MiB and 10.6 MiB at
// 100,000 rules, compiled in 0.1, 5, 90 ms and 1.3 s (the bit vectors of
// 100,000 rules: about 25 s). Those figures predate the cut nodes, which
// take 10,000 of these rules to 51 ns (4.7 levels to 2.7); the whole stage
// keeps 0.92 of its rate from 10 to 10,000 rules (see the firewall's doc).
//
// So 1,000 times the rules cost 3.2 times the time (the rate at 10,000
// rules is 0.32 of the rate at 10), where the naive loop, which stops at
// the first match too, takes 360 times as long. The classifier only sees
// the first packet of each connection; a connection's other packets go
// through conntrack alone, so the firewall's packet rate hardly depends on
// the rule count: nat's BenchmarkPipeline (the three engines on one path)
// keeps 0.96 of its rate from 10 to 10,000 rules with long connections,
// 0.86 with one packet in a hundred opening a connection.
//
// Alternatives measured on the same sets (BenchmarkStrategy, BenchmarkTSS):
// splitting each partition's rules into groups by the selective fields they
// constrain, so that wildcards leave the vectors and the aggregates become
// sparse, lost to the extra vectors each group fetches (14 groups: 530 ns
// at 10,000 rules), and grouping by the most selective field alone did no
// better than one group (305 ns). Tuple space search as Open vSwitch does
// it (ranges and sets expanded, one hash table per combination of prefix
// lengths; a plain version, without OVS's staged lookup and prefix
// tracking) needs 18,624 tuples for the IPv4 TCP and UDP rules of the
// 10,000 and 0.6 ms a lookup (the bit vectors: 174 ns on the same subset),
// 6 µs at 100 rules: ports ranges and prefix lengths multiply the tuples.
// Without the family-wide LPMs (one per partition) 10,000 rules took
// 300 ns; without crossing the small fields, 303 ns.
package classify
