// Package esp is the ipsec-gw's IPsec data path: ESP in tunnel mode (RFC
// 4303) for IPv4 and IPv6, inside and out, with AES-GCM (RFC 4106, 128- and
// 256-bit keys) and ChaCha20-Poly1305 (RFC 7634), 16-byte ICVs, 64-bit
// extended sequence numbers, an anti-replay window of 4032 packets, UDP
// encapsulation on port 4500 with NAT keepalives (RFC 3948), and a
// security policy database built from traffic selectors (package spd).
//
// SAs come from IKE (the control plane installs them and rekeys on this
// package's events) or from the policy's static esp: entries (NewStatic,
// Engine.LoadStatic).
//
// # How a packet moves
//
// Outbound, a clear-text IP packet from the protected side (no link header,
// at the frame's data start) is looked up in the SPD (Worker.Classify),
// which names the SA that must protect it; traffic that matches no policy
// bypasses IPsec. Worker.Encap then works in place:
//
//	before:                        | inner IP packet |
//	after:  | outer IP | UDP | ESP | IV | inner IP packet | pad | pl | nh | ICV |
//
// The sequence number is taken from the SA (one atomic increment), the
// trailer is appended in the tailroom, the headers are copied from the SA's
// prebuilt template into the headroom, and the AEAD encrypts the inner packet
// where it lies, writing the ICV behind it: the payload is never copied.
// The stage then routes the outer packet to the peer.
//
// Inbound, Worker.Decap takes an outer IP packet carrying ESP (or UDP to
// port 4500: keepalives are consumed, IKE behind the non-ESP marker is
// punted to the local stack) and finds the SA by SPI in an open-addressing
// table (one hash, usually one probe). The sequence number's high half is
// inferred and checked against the anti-replay window, the ICV verified and
// the payload decrypted in place, the window advanced, the padding and next
// header checked, the headers pulled off and the trailer trimmed, and the
// inner packet checked against the SA's selector. What leaves is the inner
// IP packet in the same frame, for the stage to route.
//
// Each failure drops the packet with its own reason (esp-replay,
// esp-auth-failed, esp-no-sa, esp-selector-mismatch, esp-malformed, ...)
// and counts it on the SA. Nothing on these paths allocates: the nonce and
// AAD live in the Worker, counters are gathered per burst and added to the
// SA once per run of its packets.
//
// # Concurrency and state
//
// The Engine holds the SAD and SPD as immutable tables swapped atomically
// (Install, Remove, SetPolicies), so workers never lock to find an SA.
// Workers share SAs: an outbound SA's sequence number is an atomic counter,
// an inbound SA's replay window sits behind a mutex taken to check it
// before decryption and to update it after. Lifetimes (bytes, packets, time
// on the dataplane clock Batch.Now) and the sequence space are checked as
// traffic flows and by Engine.Expire; crossing a soft limit sends
// EventSoftExpire (rekey), a hard limit EventHardExpire and stops the SA.
// Outbound traffic whose policy has no SA sends EventAcquire.
//
// Keys are never kept in this package's structures beyond the ciphers'
// own key schedules, and no String, Format or error shows them.
//
// # Performance
//
// BenchmarkESP on one core of a 2-vCPU Intel Xeon under KVM (AES-NI,
// PCLMULQDQ, VAES, AVX-512), shared with other work: clear-text Gbit/s
// (and Mpps) per core, median of three runs, bursts of 64, UDP over IPv4
// inner packets of the size shown; imix is 7:4:1 of 64, 576 and 1500
// bytes. Encrypt includes the SPD lookup, decrypt the SPI lookup, replay
// window and selector check. Runs of the noisiest cells spread by up to a
// third (decrypt aes128gcm16 at 1400 B: 17-35 Gbit/s).
//
//	                      64 B         512 B         1400 B        imix
//	encrypt aes128gcm16   3.7 (7.3)   21.9 (5.3)    34.3 (3.1)    16.6 (5.9)
//	encrypt aes256gcm16   3.5 (6.9)   22.6 (5.5)    29.1 (2.6)    14.8 (5.2)
//	encrypt chacha20      2.6 (5.2)   11.0 (2.7)    15.0 (1.3)     9.1 (3.2)
//	decrypt aes128gcm16   4.3 (8.4)   24.6 (6.0)    26.7 (2.4)    16.8 (5.9)
//	decrypt aes256gcm16   3.9 (7.6)   16.5 (4.0)    28.9 (2.6)    14.4 (5.1)
//	decrypt chacha20      2.6 (5.1)   10.5 (2.6)    15.2 (1.4)     7.5 (2.7)
//
// The AEAD is 75-85% of the time (Go's AES-GCM assembly, x/crypto's
// ChaCha20-Poly1305); the rest is header work, the SPD lookup (one poptrie
// lookup: 13 ns with 1,000 policies, 42 ns with 100,000, spd's
// BenchmarkLookup) and the replay
// window's lock. At 1400 bytes AES-GCM runs at 5-7 times the 5 Gbit/s
// target.
package esp
