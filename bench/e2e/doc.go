// Package e2e is the end-to-end benchmark harness: whole appliances
// forwarding UDP between network namespaces, each figure reported beside
// Linux doing the same job on the same topology in the same run.
//
// # One measurement
//
// Measure takes one Case in one Scenario (frame size, cores) and:
//
//  1. builds a fresh gen -- fwd -- sink topology (package topo) under a
//     prefix unique to the run, with static neighbours on the hosts;
//  2. waits (up to Options.Settle) for the machine to be mostly idle, and
//     records how idle it was: the machine is shared;
//  3. starts the case (Case.Start): the thing under test in fwd;
//  4. starts the generator (package pktgen) in gen, pinned to the first
//     CPU: IPv4/UDP frames of the scenario's size over 16 flows (UDP
//     source ports), as fast as it can (or at Options.Rate), with
//     sendmmsg(2) on an AF_PACKET socket (-gen-ring: from a TX ring; see
//     "The generator" below);
//  5. warms up (Options.Warmup, 1 s by default); early in the warm-up a
//     capture of up to 16 packets at sink0 checks that the traffic is
//     forwarded, not just passed: destination MAC sink0's, TTL one lower,
//     IPv4 and UDP checksums valid, addresses, ports, length and payload
//     intact. A wrong packet fails the measurement;
//  6. with Options.Search (the default) and full speed losing more than 1%
//     in a one-second probe, searches for the offered load that delivers
//     most (see "The offered load" below) and sets the generator to it;
//  7. reads the counters of gen0, fwd-in, fwd-out and sink0 over rtnetlink
//     (the ones /sys/class/net/IF/statistics shows), waits the window
//     (Options.Window, 5 s by default), reads them again;
//  8. stops the generator (SIGINT; it reports what it sent), stops the case
//     (an appliance must exit 0 after SIGTERM), and removes the topology —
//     also on error or interrupt. Everything is bounded in time.
//
// From the window: offered = gen0's tx_packets + tx_dropped (every packet
// the generator put on the wire, including those fwd-in's receive queue
// refused); delivered = sink0's rx_packets; loss = offered - delivered;
// Gbit/s = delivered pps x frame size x 8, the frame being the L2 bytes
// handed to veth (Ethernet header and payload; veth has no FCS, preamble
// or gap). Sink does not forward and owns no address in the destination
// network, so it counts each packet and drops it without answering: the
// return path stays idle.
//
// # Cases
//
// kernel (the baseline): Linux forwarding in fwd (ip_forward=1, a route
// to the destination network via sink, static neighbours).
//   - 1 core: generator and forwarding on CPU 0. veth hands a packet to
//     the peer in the sender's context, so the generator's send(2) carries
//     each packet through fwd's forwarding and into sink on CPU 0.
//   - 2 cores: receive packet steering on fwd-in moves fwd's receive
//     processing, the forwarding and the hand-over to sink to CPU 1; the
//     generator keeps CPU 0. (PEERS.md's "RPS on the second core".)
//
// nfv-router/afpacket, nfv-router/afxdp: the router appliance as `nfv run`
// of a generated policy (RouterPolicy) whose two interfaces are
// afpacket:fwd-in and afpacket:fwd-out (or afxdp:...), with gen and sink as
// static neighbours. fwd's kernel has ip_forward=0 and no addresses, so it
// forwards nothing itself. The appliance is pinned (taskset) to CPU 0 with
// one core — sharing it with the generator — and to CPU 1 with two. The
// case waits for the appliance's "ready" log line and checks that the
// stage it runs is the router, not the pass-through stand-in. If nfv lacks
// the port backend ("no afpacket backend in this program") or the
// appliance, the case is n/a and the run goes on; the kernel always runs.
// With AF_PACKET, fwd's kernel would still take every packet up its IP
// layer after the socket's copy, on the generator's CPU (veth receives in
// the sender's context), look the destination up, fail, and make and free
// a route entry: a quarter of the 2-core figure (0.86 against 1.15 Mpps,
// back to back). An operator handing interfaces to the appliance keeps
// the kernel off them, and so do the afpacket cases: an nftables netdev
// ingress chain with policy drop on fwd-in and fwd-out, which runs after
// packet sockets have had their copy (keepKernelOff). With AF_XDP the XDP
// program takes the packet before the stack by itself.
//
// nftables/rules=N and nfv-firewall/KIND/rules=N (64-byte frames only): a
// stateful rule set — accept established connections, N rules that match
// none of the traffic, accept the benchmark's flows, drop the rest — in
// nftables (kernel forwarding with the rule set in a forward chain) and
// in the firewall appliance (FirewallPolicy), N = 10 and 1,000. The
// firewall's ratio is taken against nftables with the same rules in the
// same repetition (Case.Against; the table marks it with *), nftables'
// against the kernel. The flows are one-way UDP, which both call new until
// answered, so nftables walks all N rules for every packet; the firewall
// walks them for a flow's first packet and keeps its verdict in the
// connection entry.
//
// nfv-router/tap is not a case: a TAP port cannot be spliced between two
// veths without the kernel forwarding in between.
//
// # The offered load
//
// As fast as the generator can is the right load when the generator has a
// CPU of its own, but on one shared CPU every packet the generator sends
// and the case then drops took CPU time from the case: the figure would
// say how well the case fights the generator for the CPU, not how fast it
// forwards. So, with Options.Search (the default; -search=false turns it
// off), a case that loses more than 1% at full speed is measured at the
// offered load that delivers most — the figure RFC 2544 calls throughput,
// with 1% loss allowed — found by one-second probes stepping up by 8% from
// what full speed delivered (delivered can never exceed offered, so
// nothing below it can deliver more). Every case gets the same search;
// Linux's forwarding on one core never needs it (it loses nothing: the
// generator's send carries each packet to sink before it returns). The
// probes are in the JSON report; the table's offered column shows the load
// each row was measured at.
//
// # What "1 core" measures, and why Linux is hard to beat there
//
// With one core, Linux forwards inside the generator's own system call:
// veth's transmit queues the packet on the sending CPU's backlog and the
// softirq that runs as the send re-enables bottom halves takes it through
// fwd-in's receive, the forwarding and fwd-out's transmit into sink's
// receive, all before send(2) returns (a profile of CPU 0 shows every
// forwarding function under the generator's name, none in ksoftirqd). No
// context switch, no queue, no loss: the generator is held back packet by
// packet. The namespaces have no RPS (rps_cpus 0), so nothing leaves CPU 0.
//
// Measured on this machine, back to back (ring generator): the generator
// alone (sending into fwd-in with an nftables ingress chain dropping
// everything) makes 1.49 Mpps, 670 ns a packet; with Linux forwarding and
// sink's IP layer taking and dropping each packet, 0.73-0.89 Mpps
// (~1,150-1,350 ns); with sink dropping at its ingress hook (the default,
// see "Sink" below), 1.02-1.04 Mpps (~970 ns). So the generator takes two
// thirds of the CPU and Linux's forwarding ~300 ns a packet. Anything that
// shares the CPU with this generator delivers less than the generator
// alone even if forwarding cost nothing: 1.5x Linux cannot be reached on
// one core, by any forwarder. The 1-core figures say how much CPU a
// forwarder takes beside its traffic source.
//
// PEERS.md's 0.27 Mpps for Linux on one core is not explained by a cheaper
// generator here: trafgen (netsniff-ng) on the same topology and CPU, back
// to back with ours under the same load, gave 0.43 Mpps against our 0.38.
// The figure moves by a factor of two or three with what else the machine
// runs (this harness saw 0.30-0.89 Mpps for the same case in one
// afternoon, with sink's IP layer in the path); it was probably taken
// under load, or with sink's receive (and its ICMP errors) in the path.
//
// # The generator, and what "2 cores" can show here
//
// The generator sends with sendmmsg(2): the kernel copies each frame into
// a linear buffer of its own, as a NIC's small packets are. It used to
// send from a TPACKET_V2 transmit ring, which costs the generator less,
// but whose packets are the ring's pages behind a 14-byte head and call
// back into the generator's socket when freed. With receive steering,
// Linux frees them on the second CPU, and those cross-CPU callbacks (and
// the copy of the ring pages at veth) cost its 2-core forwarding dearly:
// back to back, 0.83 against 1.02 Mpps at 64 B and 0.62 against 0.96 at
// 1400 B, while the appliances, which copy each packet out on the
// generator's CPU, did not move (1.17 and 1.18 Mpps at 64 B). The ring
// generator made Linux's 2-core baseline about 30% slower than a fair
// one, and with it the 1.5x ratios this harness reported before
// (AF_PACKET 1.47-1.63x) were an artefact: the same appliances against
// the fair baseline make 1.1-1.2x. -gen-ring keeps the old generator for
// comparison.
//
// The generator alone, dropped at fwd-in's ingress, makes 1.51-1.66 Mpps
// at 64 B and 1.46-1.55 at 1400 B (the ring: 1.43-1.47 and 1.32-1.34).
// Every run measures it first (Ceiling; -ceiling=false skips it) and
// prints it under the table: the most any case can deliver.
// With two cores every case is now bounded by the generator's CPU: it is
// busy 100% in every row while the second CPU is not (Linux: ~70%), since
// over veth the receive runs on the sender's CPU — Linux's steering of
// each packet to CPU 1, the appliance's AF_PACKET copy or veth's XDP
// receive. Linux delivers 1.0 Mpps that way, so 1.5x Linux (1.5 Mpps) is
// what the generator can make alone, with nothing on its CPU for the
// forwarder: out of reach of any forwarder whose receive costs the sender
// anything. On this 2-vCPU machine, with veth as the only interfaces, the
// benchmark can rank forwarders by how little they take from the
// generator's CPU and how much they deliver, but cannot show a 1.5x
// forwarding advantage; that needs a traffic source that does not share a
// CPU with the receive path (more cores, or a NIC).
//
// # Sink
//
// Over veth the receiver's work runs on the sender's CPU: what sink's
// kernel does with a packet is charged to whatever forwards into sink, the
// kernel or the appliance. Sink's IP layer looking up a destination it
// does not route, making and freeing a route entry for every packet, cost
// ~370 ns a packet, a third of Linux's whole one-core path. So by default
// sink drops at sink0's ingress hook (topo.SinkDropsAtIngress, an
// nftables netdev chain; veth has counted the packet in rx_packets by then,
// and the sample capture sees it before the hook); -sink-ip restores the
// old sink. Without nft, sink stays as it was and each measurement notes
// it.
//
// With the ring generator Linux forwarded fewer packets with two cores
// than with one: with RPS the generator's CPU queues each packet on CPU
// 1's backlog and sends it an interrupt; CPU 1 forwards mostly from
// ksoftirqd; the skb built over the generator's TX ring pages has its
// pages copied (skb_copy_ubufs) and is freed on CPU 1, calling back into
// the generator's socket on CPU 0 (tpacket_destruct_skb, sock_wfree:
// cache lines crossing CPUs). With the sendmmsg generator its two-core
// figure is its one-core figure, give or take (1.0 against 1.1 Mpps at
// 64 B): the generator's CPU is the limit either way. The 2-core baseline
// keeps RPS because it is the one way to give Linux's forwarding the CPU
// the appliance gets.
//
// # Runs and reports
//
// The harness (Main, behind cmd/e2e and `nfv bench`) loops repetitions x
// sizes x cores x cases, the baseline first in each group, so every case
// has a kernel measurement taken moments before it. Summarize gives one
// row per case and scenario: medians over repetitions, the delivered
// range, and the ratio to the kernel as the median over repetitions of
// case / kernel within the same repetition — a ratio survives a machine
// whose speed drifts. WriteTable prints it; the JSON report holds every
// measurement with its counters, the generator's own account, the sample
// check, and how busy each CPU was during the window.
//
// On a shared machine other people's work is noise. Each measurement
// records how much CPU processes other than its own (generator, appliance,
// harness, and the ksoftirqd threads, where the kernel forwards when
// softirqs run long) used during the window, from /proc/stat and
// /proc/PID/stat; softirq time is not counted as theirs either. A
// window where others used more than -max-noise cores is measured again
// (up to -retries times) and the quietest attempt kept; the table shows
// the median of that noise beside each row. Runs are serialized on a
// machine by a lock file, so two harnesses never measure each other.
//
// # Figures
//
// The last run on the 2-core development VM (Intel Xeon, Linux 6.18,
// shared; load average 1.3-2.3 during the run, others used 0.00 cores in
// every row): go run ./bench/cmd/e2e -duration 3s -reps 3 (every case),
// medians of 3, rate search on, sink dropping at ingress, fwd's kernel
// kept off the afpacket ports, the sendmmsg generator. vs kernel: against
// Linux in the same repetition; * against nftables with the same rules.
//
//	case                              size B  cores  delivered Mpps  Gbit/s  loss %  vs kernel  min-max
//	kernel                                64      1           1.097    0.56     0.0      1.00x  1.059-1.112
//	nfv-router/afpacket                   64      1           0.755    0.39     0.0      0.70x  0.740-0.775
//	nfv-router/afxdp                      64      1           0.822    0.42     2.9      0.74x  0.787-0.835
//	nftables/rules=10                     64      1           0.838    0.43     0.0      0.76x  0.837-0.849
//	nfv-firewall/afpacket/rules=10        64      1           0.735    0.38     2.0    0.88x *  0.660-0.750
//	nfv-firewall/afxdp/rules=10           64      1           0.811    0.42     3.6    0.97x *  0.760-0.819
//	nftables/rules=1000                   64      1           0.170    0.09     0.0      0.15x  0.167-0.172
//	nfv-firewall/afpacket/rules=1000      64      1           0.738    0.38     2.2    4.34x *  0.696-0.756
//	nfv-firewall/afxdp/rules=1000         64      1           0.794    0.41     2.6    4.62x *  0.766-0.811
//	kernel                                64      2           0.997    0.51     0.1      1.00x  0.982-1.069
//	nfv-router/afpacket                   64      2           1.222    0.63     0.0      1.22x  1.213-1.263
//	nfv-router/afxdp                      64      2           1.102    0.56     0.2      1.07x  1.044-1.146
//	nftables/rules=10                     64      2           0.994    0.51    10.9      1.00x  0.980-1.013
//	nfv-firewall/afpacket/rules=10        64      2           1.169    0.60     1.3    1.18x *  1.135-1.200
//	nfv-firewall/afxdp/rules=10           64      2           1.095    0.56     0.2    1.11x *  1.057-1.108
//	nftables/rules=1000                   64      2           0.033    0.02     0.0      0.03x  0.032-0.036
//	nfv-firewall/afpacket/rules=1000      64      2           1.164    0.60     2.4   35.02x *  1.128-1.225
//	nfv-firewall/afxdp/rules=1000         64      2           1.060    0.54     0.1   32.38x *  1.043-1.082
//	kernel                              1400      1           0.966   10.82     0.0      1.00x  0.963-0.988
//	nfv-router/afpacket                 1400      1           0.519    5.82     0.0      0.54x  0.517-0.530
//	nfv-router/afxdp                    1400      1           0.685    7.67     2.8      0.71x  0.666-0.699
//	kernel                              1400      2           0.965   10.81     0.0      1.00x  0.909-0.967
//	nfv-router/afpacket                 1400      2           1.068   11.97     0.3      1.11x  1.014-1.072
//	nfv-router/afxdp                    1400      2           0.892    9.99     0.3      0.94x  0.867-0.905
//
// Against the 1.5x target: not met, and not measurable here (see "The
// generator" above). With two cores the router delivers 1.22x Linux on
// AF_PACKET at 64 B (1.11x at 1400 B), with the generator's CPU, not the
// appliance's, the limit. On one core it delivers 0.70-0.74x of Linux,
// which forwards inside the generator's own system call. AF_XDP takes
// less of the generator's CPU on one core than AF_PACKET (0.74x against
// 0.70x, 0.71x against 0.54x at 1400 B) but delivers less on two, as
// veth's XDP receive copies each packet twice on the sender's CPU (below).
// The firewall is flat in its rule count (1,000 rules deliver what 10
// do) and 32-35x nftables with 1,000 rules, where nftables walks the
// rules for every packet of these one-way flows; 1.1-1.2x with 10 rules
// on two cores, 0.88-0.97x on one.
//
// What holds AF_XDP back on veth is the generator's CPU, which runs out
// first (loss stays under 1%: the appliance keeps up): veth receives in
// the sender's context, so the XDP receive runs in the generator's send(2)
// and copies each packet into a page-pool page with XDP's 256 bytes of
// headroom (skb_pp_cow_data: the sender's buffer has too little), then
// into the UMEM frame; a profile of the generator's CPU showed veth's XDP
// receive taking three quarters of it. Measured, and not kept:
//   - threaded NAPI on fwd-in, to move the XDP receive to the
//     appliance's CPU: 0.40 Mpps (a wake-up of the NAPI thread, an IPI,
//     for nearly every packet, and the appliance and the thread taking
//     turns on one CPU);
//   - generic XDP with RPS on fwd-in to the appliance's CPU (the kernel
//     case's steering): 0.20 Mpps; generic XDP without RPS: the same as
//     native;
//   - preferred busy polling (SO_PREFER_BUSY_POLL, with
//     napi_defer_hard_irqs and gro_flush_timeout on fwd-in, the appliance
//     never sleeping): the receive stayed on the generator's CPU (most
//     likely because veth registers its XDP queues before their NAPI
//     has an id, so the socket has none to poll; not verified), and a
//     200 us flush timeout lost a quarter of the packets;
//   - polling the RX ring at most every 5-50 us: no change.
//
// Before the AF_XDP port's epoll-only-while-asleep waker and adaptive fill
// ring (package afxdp), its 2-core figures were 0.88 Mpps at 64 B and 0.68
// at 1400 B (ring generator, back to back with the changes' 1.05 and
// 0.84).
//
// On this VM, perf record (any sampling event, on either CPU; perf stat
// does not) makes every case 20-25% faster, the kernel's included:
// profiles taken with it are right about where the time goes, not about
// rates.
//
// # Adding a case
//
// A later firewall, WireGuard or IPsec case is a Case: Start loads what the
// comparison needs (nftables with the same rules; wireguard-go or
// strongSwan in gen and sink, changing Env.NextHop or Env.Dst when the
// traffic should enter a tunnel) and returns a stop function that undoes
// it; set Hops to the routers a packet crosses. Add it to Cases.
package e2e
