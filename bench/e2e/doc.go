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
//     source ports), as fast as it can (or at Options.Rate), from an
//     AF_PACKET TX ring;
//  5. warms up (Options.Warmup, 1 s by default); early in the warm-up a
//     capture of up to 16 packets at sink0 checks that the traffic is
//     forwarded, not just passed: destination MAC sink0's, TTL one lower,
//     IPv4 and UDP checksums valid, addresses, ports, length and payload
//     intact. A wrong packet fails the measurement;
//  6. reads the counters of gen0, fwd-in, fwd-out and sink0 over rtnetlink
//     (the ones /sys/class/net/IF/statistics shows), waits the window
//     (Options.Window, 5 s by default), reads them again;
//  7. stops the generator (SIGINT; it reports what it sent), stops the case
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
// With AF_PACKET, fwd's kernel still receives every packet (the socket
// gets a copy, on the generator's CPU); with AF_XDP the XDP program takes
// it before the stack.
//
// nfv-router/tap is not a case: a TAP port cannot be spliced between two
// veths without the kernel forwarding in between.
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
// harness) used during the window, from /proc/stat and /proc/PID/stat;
// softirq time, where the kernel forwards, is not counted as theirs. A
// window where others used more than -max-noise cores is measured again
// (up to -retries times) and the quietest attempt kept; the table shows
// the median of that noise beside each row. Runs are serialized on a
// machine by a lock file, so two harnesses never measure each other.
//
// # Adding a case
//
// A later firewall, WireGuard or IPsec case is a Case: Start loads what the
// comparison needs (nftables with the same rules; wireguard-go or
// strongSwan in gen and sink, changing Env.NextHop or Env.Dst when the
// traffic should enter a tunnel) and returns a stop function that undoes
// it; set Hops to the routers a packet crosses. Add it to Cases.
package e2e
