// Package ipsec benchmarks IPsec site-to-site tunnels on the topology of
// package internal/swantest,
//
//	hostA ── [GwA] ══ IKEv2/ESP (UDP 4500) ══ [GwB] ── hostB
//
// BenchmarkIPsecTCP builds the topology once per setup and cipher
// (AES-128-GCM and AES-256-GCM, X25519) and runs iperf3 TCP for 3 s
// each way through each, alternating between the setups so that all see
// the same machine; it reports Gbit/s per setup and direction, the peak
// RSS of the setup's charons and the ratio of each setup to the first.
// The setups: "swan", strongSwan at both ends (the baseline), and "gw",
// our ipsec-gw in GwA (run in the benchmark's process on AF_PACKET ports,
// initiating) against charon in GwB. Both use charon's kernel-libipsec
// (ESP in userspace) wherever charon is.
//
// BenchmarkIKESetup measures how fast a responder sets up IKE SAs that
// charon initiates (64 identities per round, 8 at a time, childless),
// our ipsec-gw (`nfv run` as its own process) and charon, in alternating
// rounds: wall-clock setups per second for the pair, and setups per
// CPU-second of the responder.
//
// Both need root, strongSwan (charon with kernel-libipsec, swanctl) and,
// for TCP, iperf3; `make deps` installs them. Alone:
//
//	go test -run '^$' -bench IPsecTCP -benchtime 3x ./bench/ipsec/
//	go test -run '^$' -bench IKESetup -benchtime 20x ./bench/ipsec/
//
// # Measured
//
// On the 2-core VM of PEERS.md, shared with other work: load average 4.4
// rising to 7.0 (uptime) during the TCP run, about 10 during the IKE runs.
// Figures on such a machine move by tens of per cent from run to run;
// the ratios, from interleaved measurements, move less.
//
// TCP (-benchtime 3x; Gbit/s received, mean of 3 transfers of 3 s):
//
//	cipher     setup                 A→B    B→A    total/swan
//	aes128gcm  swan ↔ swan           0.54   0.50   1
//	aes128gcm  gw ↔ swan             0.54   0.87   1.36
//	aes256gcm  swan ↔ swan           0.57   0.54   1
//	aes256gcm  gw ↔ swan             0.68   0.87   1.39
//
// A Gbit/s figure is iperf3's TCP goodput from one host to the other
// through the tunnel. Every setup has charon's userspace ESP at one end
// at least, so the gw figures are bounded by GwB's charon: the ratio says
// what replacing one charon with our gateway buys on this path, not our
// gateway's own ceiling. In the gw setup the hosts' TX offloads are off
// (AF_PACKET ports need whole packets), which the swan setup does not need.
//
// IKE SA setups (-benchtime 20x: 20 rounds of 64 per responder in each
// sub-benchmark; two runs):
//
//	responder   setups/s      resp-setups/cpu-s   resp-MB
//	nfv         152, 162      2246, 2098          19
//	strongswan   90, 169      1391, 1506          14
//	nfv/strongswan (resp-setups/cpu-s): 1.33–1.60
//
// setups/s is IKE SAs per wall-clock second for the pair, swanctl
// clients and the initiating charon included (about 2.2 ms of CPU per
// setup, ini-cpu-ms/setup): on a loaded 2-core machine it says more
// about the machine than the responder. resp-setups/cpu-s is IKE SAs per
// CPU-second the responder's process used over the rounds (/proc
// utime+stime, 10 ms ticks, hence the many rounds): what it would sustain
// with a core to itself. Ours counts its whole process, the AF_PACKET
// dataplane polling after each packet included (idle, it used no CPU).
package ipsec
