// Package ipsec benchmarks IPsec site-to-site tunnels on the topology of
// package internal/swantest,
//
//	hostA ── [GwA] ══ IKEv2/ESP (UDP 4500) ══ [GwB] ── hostB
//
// BenchmarkIPsecTCP builds the topology once per setup and cipher
// (AES-128-GCM and AES-256-GCM, X25519) and runs iperf3 TCP for 3 s
// each way through each, alternating between the setups so that all see
// the same machine; it reports Gbit/s per setup and direction, the peak
// RSS of the setup's charons and, with more than one setup, the ratio of
// each to the first. Today there is one setup, strongSwan at both ends
// (the baseline); our gateway against strongSwan is to be added to the
// table setups in the test.
//
// BenchmarkStrongSwanIKESetup measures how fast strongSwan's responder
// sets up IKE SAs initiated by another charon: wall-clock setups per
// second for the pair, and setups per CPU-second of the responder.
//
// Both need root, strongSwan (charon with kernel-libipsec, swanctl) and,
// for TCP, iperf3; `make deps` installs them. Alone:
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/ipsec/
package ipsec
