// Package wireguard benchmarks TCP throughput through a WireGuard tunnel
// with our ipsec-gw gateway at one end: BenchmarkWireGuardTCP (in its
// test) builds the interop topology of package internal/wgtest twice,
//
//	hostA ── [gateway] ══ tunnel ══ [ns P: wireguard-go] ── hostB
//
// once with our gateway (nfv run's runner on AF_PACKET ports) as the
// gateway, once with the standalone wireguard-go program (its TUN device
// and UDP socket, the namespace's kernel forwarding) in its place, and
// runs iperf3 for 3 s each way through each, alternating between the two
// so that both see the same machine. It reports the Gbit/s of each side
// in each direction and the ratio of our gateway's total to
// wireguard-go's (the target is at least 1).
//
// It needs root, iperf3, wg(8) and the go tool (wireguard-go is built
// from the module this repository uses). `make bench` runs it; alone:
//
//	go test -run '^$' -bench WireGuardTCP -benchtime 3x ./bench/wireguard/
package wireguard
