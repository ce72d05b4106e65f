// Package ipsecgw is the ipsec-gw appliance: a router between the site's
// inside interfaces and its tunnels. It registers itself as the "ipsec-gw"
// appliance; a program gets it by importing the package.
//
// The clear-text side is the router appliance's engine (package router):
// its FIB, ARP/NDP, ICMP and forwarding, with each WireGuard tunnel as a
// virtual interface (router.Virtual) whose addresses are the tunnel's and
// whose routes are its peers' allowed IPs, so a policy route's dev may name
// a tunnel too. The tunnels themselves are wireguard-go devices behind the
// adapters of package wireguard.
//
// # How a packet moves
//
// Process runs the router over the burst, then takes the packets the router
// sent to a tunnel's virtual port (bare IP packets) off the burst and
// queues them for that tunnel's device. The router punts datagrams to the
// gateway's own addresses; as the loop's LocalStack, the gateway hands
// those to a tunnel's listen port to that tunnel's device and drops the
// rest. What the devices produce (decrypted packets from a tunnel, and
// encrypted datagrams for the outer side, as the appliance's own packets)
// collects in one outbox; the gateway is a dataplane.Source, so the loop
// polls it every round and the outbox rings the loop's bell when the loop
// sleeps; Poll routes those packets through the router like any others.
//
// In a replay (capture time) the loop does not poll a Source, so a replay
// of a WireGuard policy shows the clear-text routing into the tunnels but
// not what the devices, which keep wall-clock time, would send.
//
// ESP SAs ride the same seams: each static SA pair (esp:) and each child
// of an IKE connection (ike:) is a virtual interface (esp/NAME) routed by
// its remote traffic selectors, encapsulated and decapsulated in place by
// package esp in the loop's goroutine (see static.go). A child's SPD
// entry exists from the start; until IKE has negotiated its SAs, its
// traffic is dropped (never sent in the clear) and asks the daemon for
// them (trap).
//
// IKE (ike.go) is package ike's daemon in its own goroutine: the router
// punts UDP 500, and the ESP path punts UDP 4500 carrying the non-ESP
// marker, to the gateway, which copies each message into the daemon's
// queue; the daemon's messages go out through the outbox as the
// appliance's own datagrams. The daemon installs child SAs into the ESP
// engine, swaps a child's outbound SA atomically when it rekeys, and reads
// the engine's events (acquire, soft and hard expiry, a peer that moved
// behind a NAT). When the loop stops, Drain closes the daemon first, so
// its Delete messages still leave. Changing ike: needs a restart.
//
// TestStrongSwan* (ike_interop_linux_test.go) run the gateway on AF_PACKET
// ports against strongSwan's charon with kernel-libipsec: either side
// initiates, IKE and child SAs (with PFS) rekey under running TCP, a
// delete from either side and a dead peer tear down cleanly.
//
// Tick runs the router's timers; the devices keep their own (handshakes,
// keepalives, rekeying). Release stops the devices, then frees every frame
// the gateway and the router hold.
//
// # Performance
//
// BenchmarkWireGuardTCP (root; package bench/wireguard) builds hostA ──
// gateway ══ wireguard-go ── hostB twice in one run, once with this gateway
// (nfv run's runner on AF_PACKET ports) and once with the standalone
// wireguard-go program (built from the same module) plus kernel forwarding
// in its place, and alternates 3 s iperf3 runs between them. On this
// project's 2-vCPU VM, 5 rounds, the same run (Gbit/s):
//
//	                 hostA→hostB   hostB→hostA
//	this gateway        1.29          1.69
//	wireguard-go        1.11          1.48
//	ratio (both ways)         1.16
//
// Runs spread by about ±10% (ratios 1.08 to 1.16 across runs). Both ends
// share the two vCPUs with the hosts' TCP; most of the gateway's own time is
// ChaCha20-Poly1305 and the AF_PACKET send (veth delivers to the peer in
// the sender's syscall). Each packet is copied once into and once out of
// wireguard-go's buffers (its device owns them).
package ipsecgw
