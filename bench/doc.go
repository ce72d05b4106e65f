// Package bench holds nfvkit's whole-appliance benchmarks: appliances
// forwarding real traffic between network namespaces, always beside the
// Linux kernel (or the peer program) measured on the same topology in the
// same run, so every figure is a ratio that survives a noisy machine.
//
// The pieces:
//
//	bench/topo        the gen -- fwd -- sink namespaces, veths, addresses, routes,
//	                  static neighbours; counters over rtnetlink; clean-up
//	bench/pktgen      the traffic generator: IPv4/UDP from an AF_PACKET TX ring
//	bench/e2e         cases (kernel, nfv-router/afpacket, nfv-router/afxdp;
//	                  nftables and nfv-firewall with 10 and 1,000 rules),
//	                  one measurement, the rate search, repetitions,
//	                  medians, table and JSON
//	bench/cmd/e2e     the harness as a program (also `nfv bench`)
//	bench/cmd/pktgen  the generator as a program of its own
//	bench/wireguard   TCP through a WireGuard tunnel: our ipsec-gw gateway against
//	                  wireguard-go on the same topology (a Go benchmark, make bench)
//
// Run it as root:
//
//	make bench                                   # micro-benchmarks, then the harness
//	go run ./bench/cmd/e2e -duration 5s -reps 5  # the harness alone
//	go run ./bench/cmd/e2e -cases kernel -sizes 64 -cores 2
//	nfv bench -duration 5s                       # the same, measuring that nfv binary
//
// It prints one row per case, frame size and core count — offered and
// delivered Mpps, Gbit/s, loss, the ratio to the kernel (the firewall's to
// nftables with the same rules) — and writes
// every measurement to out/bench-e2e.json. See package e2e for what each
// case measures and how.
//
// `make test` runs a smoke test of the harness itself (as root, a few
// seconds): the topology up and down, the generator sending an exact count
// through kernel forwarding, sink counting exactly that.
package bench
