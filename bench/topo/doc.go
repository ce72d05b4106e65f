// Package topo builds the benchmark topology: three network namespaces,
// gen, fwd and sink, joined by two veth pairs, with the thing under test in
// fwd.
//
//	gen                     fwd                         sink
//	gen0 ──────veth────── fwd-in   fwd-out ──────veth────── sink0
//	198.18.0.2/24      (198.18.0.1)  (198.18.1.1)        198.18.1.2/24
//	                                                  198.19.0.0/16 "behind" sink
//
// Addresses come from the benchmarking range of RFC 2544 (198.18.0.0/15).
// Traffic goes from gen to an address in 198.19.0.0/16, which fwd routes
// via sink. Sink does not forward, so it counts the packet on sink0 and
// drops it silently, without an ICMP error back through fwd: the reverse
// path stays idle and only the direction under test costs CPU.
// SinkDropsAtIngress makes that drop as cheap as it can be, before sink's
// IP layer: over veth the receiver's work runs on the sender's CPU.
//
// Up makes the namespaces (named PREFIX-gen, PREFIX-fwd, PREFIX-sink, with
// a prefix unique to the run), the veths with fixed MAC addresses, gen's and
// sink's addresses and routes, and static neighbour entries (nud permanent)
// on the hosts, so no ARP happens while measuring. IPv6 is off in every
// namespace (no router solicitations, DAD or MLD on the links). fwd's veths
// are up but bare: the case under test decides what fwd is —
// KernelForwarding makes it a Linux router; an appliance opens the veths as
// its ports and the kernel stays out of the way (ip_forward stays 0).
//
// No offload is changed from the kernel's defaults: the generator's frames
// carry complete checksums and are never larger than the MTU, so checksum
// offload, TSO/GSO and GRO have nothing to do. (A case whose peer is a
// Linux stack sending through an XDP appliance would turn them off on that
// peer's veth; see package afxdp.)
//
// Down removes everything: it kills what still runs in the namespaces and
// deletes them, which deletes the veths with them. Sweep removes what a
// killed run left behind (namespaces whose prefix names a dead process).
//
// Counters: Link reads an interface's counters over rtnetlink
// (RTM_GETLINK, IFLA_STATS64) from a socket opened inside its namespace.
// They are the counters /sys/class/net/IF/statistics shows (both come from
// the driver's ndo_get_stats64), read without a process per sample.
//
// Every command runs with a timeout; nothing here waits unbounded.
package topo
