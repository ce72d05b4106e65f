// Package wgtest builds the WireGuard interop topology the ipsec-gw tests
// and the WireGuard benchmark (bench/wireguard) run on: two sites in
// network namespaces joined by a tunnel between a gateway (ours, run as
// nfv run runs it, or anything in its place) and the standalone
// wireguard-go program, built from the module this repository uses and
// configured with wg(8); random key pairs; the gateway's policy; a check
// that ping and TCP cross the tunnel, through a peer's restart.
//
// It is for tests and benchmarks only (it links package testing): no
// binary under cmd/ may import it.
package wgtest
