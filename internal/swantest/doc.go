// Package swantest runs strongSwan's IKE daemon, charon, as the interop
// peer of the ipsec-gw's IKEv2 tests and benchmarks, and builds the
// site-to-site topology they run on:
//
//	[HostA] ── [GwA] ══ tunnel ══ [GwB] ── [HostB]
//
// (Sites; NewSites makes it, KernelGateway readies a gateway's namespace
// for charon, StrongSwan starts charon in both; for our ipsec-gw in a
// gateway's namespace, Sites.Gateway and Conn.GatewayPolicy write the
// policy matching a Conn). Start runs one charon
// in a namespace and loads Conns into it; Charon drives it with swanctl
// (Initiate, Terminate, ListSAs, WaitIKE, WaitChild) and reports its log,
// pid, memory and CPU time (ProcRSS and ProcCPUTime, for any process).
//
// # How charon runs
//
// The kernel here has no ESP, so charon uses kernel-libipsec: ESP in
// userspace, over a TUN device ipsec0 it creates at start. Each charon
// runs as
//
//	ip netns exec NS unshare --mount sh -c 'mount -t tmpfs tmpfs /run && exec charon'
//
// with STRONGSWAN_CONF naming its own strongswan.conf in a directory of
// its own (Dir): an explicit load list (Plugins), its vici socket
// unix://Dir/charon.vici and its log Dir/charon.log. swanctl runs with
// the same STRONGSWAN_CONF and --uri, outside the namespace (the socket
// is a path). A packet from HostA reaches GwA, whose route in table 220
// (charon installs it, with an ip rule of priority 220) sends it into
// ipsec0; charon reads it, matches its own policies, encrypts it and
// sends it over UDP 4500 to GwB; GwB's charon decrypts it and writes it
// into its ipsec0, and the kernel forwards it to HostB. So both gateways
// need ip_forward=1 (KernelGateway sets it) and nothing else: the route
// carries a src address on the gateway's LAN, so the gateway's own
// traffic to the far site is tunnelled too. ipsec0's MTU is 1400; hosts
// with 1500 learn it from the gateway's ICMP "fragmentation needed".
//
// # Gotchas (found by trying, strongSwan 5.9.8 from Debian 12)
//
//   - charon's pid file /run/charon.pid is compiled in: a second charon
//     refuses to start, hence the private /run per charon.
//   - kernel-libipsec ships with load = no, and an explicit load list must
//     name kdf or key derivation fails; Debian has no curve25519 plugin
//     (openssl provides X25519). libstrongswan-standard-plugins (gcm,
//     openssl) is only a Recommends of the charon package.
//   - Threads: vici, kernel-libipsec, the netlink watcher and the
//     sockets hold 9 worker threads for good, and every swanctl call
//     waiting for an initiate or terminate holds one more. With threads
//     = 8 charon never answers on vici; with 16 and 8 initiations in
//     flight it stops processing packets until the calls time out.
//     DefaultThreads is 32.
//   - kernel-libipsec fakes a NAT so that ESP is UDP-encapsulated: IKE
//     moves to port 4500 after IKE_SA_INIT and list-sas shows
//     nat-remote=yes, encap=yes even with no NAT.
//   - With short rekey times set over_time too: it defaults to a tenth
//     of rekey_time, and an IKE rekey that collides with a child rekey
//     gets TEMPORARY_FAILURE and is retried only seconds later, after
//     such a short hard lifetime has deleted the IKE SA. A child's
//     rand_time defaults to life_time - rekey_time, so rekeys come at
//     random within it (rekey-time in list-sas goes negative when a
//     rekey is overdue).
//   - swanctl's --uri goes after the command; without its own load list
//     swanctl tries plugins Debian does not ship and says so each call;
//     --load-all complains of every credential directory missing beside
//     the file (Load creates them empty).
//   - A burst of IKE_SA_INITs from one address meets block_threshold (5
//     half-open SAs per peer) and cookie_threshold_ip (3): set them in
//     Options.Conf when initiating many at once.
//   - kernel-libipsec has no back-pressure: a UDP flood grows the
//     sending charon by hundreds of MB. Measure with TCP.
//   - Debian's AppArmor profile for charon confines it to /etc and
//     /run/charon.*; where it is enforced, Need skips.
//   - Log levels above 3 log keys: Options.LogLevels is capped at 3, and
//     a conn's PSK found in the log (raw, base64 or hex) fails the test.
//   - The vici socket's path must fit in 108 bytes, so Dir is a short
//     temporary directory, not t.TempDir.
//
// Start skips the test (or fails it under NFV_REQUIRE_ALL=1, package
// testenv) when not root or strongSwan is missing; `make deps` installs
// it. This package does not import internal/wgtest: that one links the
// ipsec-gw appliance, which the IKE daemon's own tests would then import
// in a cycle.
//
// It is for tests and benchmarks only (it links package testing): no
// binary under cmd/ may import it.
package swantest
