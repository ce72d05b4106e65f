// Package firewall is the firewall appliance: a stateful filter with NAT
// between zones of interfaces, built as the router (package router) plus a
// filter on what it routes. It registers itself as the "firewall"
// appliance; a program gets it by importing the package.
//
// # How a packet moves
//
// Process first decodes the burst (packet.Parsed), once for the whole
// stage. The router does all the forwarding: link headers, ARP and
// neighbour discovery, the FIB, TTL, MTU and ICMP errors. For every packet
// it is about to forward to a neighbour or deliver to itself it calls
// Firewall.Filter (router.Filter) with the ingress and egress interfaces,
// after the FIB lookup. Filter takes the packet's decode (or decodes it,
// if the router made another packet of it) and asks conntrack (package
// conntrack) where it belongs, with the batch's time as the clock:
//
//   - invalid (a TCP segment out of window or of no connection, an echo
//     reply with no request, ...): dropped, counted by conntrack's reason
//     (ct-*);
//   - a packet of a known connection: translated by nat.Apply if the
//     connection is translated, and passed; if its destination changed
//     (a masqueraded connection's replies, a port forward's requests) the
//     router looks it up again (router.FilterReroute). The rules are not
//     consulted: a connection's packets cost a conntrack lookup, not a
//     classification;
//   - an ICMP error about a known connection (related): its quote and
//     addresses translated by nat.ApplyRelated, passed;
//   - a first packet: destination NAT's target is found first (nat.Target)
//     and routed (Router.Egress), so the rules judge the packet as it will
//     leave (classify.KeyOf with the target, Linux's forward chain); then
//     the rules (package classify, first match wins, no match drops):
//     accept creates the connection with its translation (nat.Create) and
//     translates the packet; drop leaves no trace (rule-drop); reject
//     answers a TCP segment with a reset, built in the packet's own frame
//     and routed back as the firewall's own packet, and anything else with
//     an ICMP or ICMPv6 destination unreachable, administratively
//     prohibited, which the router builds and rate-limits (rule-reject).
//     Rules with log: true log the packet, rate-limited on the batch clock.
//
// Packets addressed to the firewall itself are judged with egress zone
// self (classify.Self); neighbour discovery and router advertisements
// addressed to it, which conntrack does not track, pass unjudged.
// Broadcasts and multicasts never reach the filter (the router drops or
// punts them).
//
// After each burst, conntrack's clock hand expires a few idle connections
// (Expire, 2× the burst), so the table never needs a sweep.
//
// # Reload
//
// Reload compiles the policy into a new router state, classifier and NAT
// rules and swaps them in (atomic.Pointer); the worker adopts them at its
// next burst. Connections and their translations live in the conntrack
// table, which is kept. Each connection carries the generation of the
// rules that accepted it and its interfaces (Entry.Mark); the first packet
// of a connection after a reload is judged again by the new rules as a
// first packet would be, and a connection they no longer accept is deleted
// and the packet dropped (reload-cut). So a reload costs nothing up front,
// however many connections there are.
//
// # Cost, measured
//
// BenchmarkClassify, the whole stage in memory on one core of the shared
// 2-vCPU VM (see package conntrack), 64-byte frames in bursts of 64 written
// into frames the benchmark holds (as the router's BenchmarkForward), no
// allocations, medians of five runs (-count 5):
//
//	every packet a new connection   rules=10   1000   10000   100000
//	  Mpps                            1.65     1.57   1.56    1.48
//	  CPU ns a packet                  607      640    642     676
//	  compile (s)                     0.03     0.03   0.06    0.60
//	packets of 1,000,000 established UDP connections:
//	  6.7 Mpps, 149 CPU ns a packet
//
// so with every packet a new connection the rate at 10,000 rules is 0.94
// of the rate at 10, and at 100,000 rules 0.90 (it was 0.84 before the
// burst classification and cut nodes below; an earlier run of this code
// gave 0.92 and 0.91). A new connection costs
// conntrack's misses in a big table (the lookup, the reply tuple's, the
// slot's, the early drop's when it is full) and, with many rules, the
// classifier's: beside the table's traffic its tree no longer stays in
// the caches, and a walk is a chain of dependent misses. So when the
// table is big enough for Process to prefetch it (which tells which
// packets are first packets) and the classifier big enough to miss
// (64 KiB), the router tells the firewall, after its FIB lookups, which
// packets it is about to judge (router.BurstFilter), and Prepare
// classifies the first packets of the burst together
// (classify.ClassifyBurst: the trees walked a level at a time, so that
// the misses of 32 packets overlap); Filter uses an answer only for the
// same key under the same rules. The trees' cut nodes (2.7 levels at
// 10,000 rules instead of 4.7) and huge pages did the rest. Measured
// without gain: reading the tree ahead of Classify (a prefetch walk that
// did not keep its answers), prefetching the reply tuple's bucket, leaf
// entries without branches. With long connections the rate hardly depends
// on the rules at all (see nat's BenchmarkPipeline). Packets of known
// connections cost memory latency: Process first has conntrack read the
// burst's buckets and entries together, following the chains a link at a
// time (Table.Prefetch, once the table outgrows the caches), so that their
// misses overlap; an entry read for a packet of the original direction is
// one cache line; each packet is decoded once; the clock hand reads 8-byte
// due times rather than entries.
//
// Process, Tick, Release and Filter run on one worker goroutine; Reload
// may be called from any.
package firewall
