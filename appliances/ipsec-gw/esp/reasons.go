package esp

import "github.com/nfvkit/nfvkit/pkg/dataplane"

// Drop reasons of the ESP data path.
var (
	// ReasonNoSA: an inbound SPI that no SA has, or outbound traffic whose
	// policy has no SA yet (an acquire event asks the control plane).
	ReasonNoSA = dataplane.NewReason("esp-no-sa")
	// ReasonReplay: a sequence number seen before, or older than the
	// anti-replay window.
	ReasonReplay = dataplane.NewReason("esp-replay")
	// ReasonAuthFailed: the ICV did not verify (tampered, truncated,
	// wrong key).
	ReasonAuthFailed = dataplane.NewReason("esp-auth-failed")
	// ReasonSelectorMismatch: an authenticated packet whose inner packet
	// is not traffic its SA may carry.
	ReasonSelectorMismatch = dataplane.NewReason("esp-selector-mismatch")
	// ReasonMalformed: headers or trailer that do not parse: an outer
	// header, an ESP packet too short to hold its fields, bad padding, an
	// inner packet that is not what the next header says.
	ReasonMalformed = dataplane.NewReason("esp-malformed")
	// ReasonEncapMismatch: ESP in UDP for an SA without encapsulation, or
	// the other way round.
	ReasonEncapMismatch = dataplane.NewReason("esp-encap-mismatch")
	// ReasonExpired: the SA reached a hard lifetime.
	ReasonExpired = dataplane.NewReason("esp-sa-expired")
	// ReasonSeqExhausted: the outbound SA used its last sequence number.
	ReasonSeqExhausted = dataplane.NewReason("esp-seq-exhausted")
	// ReasonNoRoom: the frame's headroom or tailroom cannot take the ESP
	// headers and trailer.
	ReasonNoRoom = dataplane.NewReason("esp-no-room")
	// ReasonFragment: an outer fragment; ESP packets are not reassembled.
	ReasonFragment = dataplane.NewReason("esp-fragment")
	// ReasonDummy: a dummy packet (next header 59), sent only to hide
	// traffic patterns (RFC 4303 section 2.6).
	ReasonDummy = dataplane.NewReason("esp-dummy")
	// ReasonECN: congestion marked outside a packet that does not support
	// ECN inside (RFC 6040 section 4.2).
	ReasonECN = dataplane.NewReason("esp-ecn-drop")
	// ReasonKeepalive: a NAT keepalive (RFC 3948 section 2.3), consumed.
	ReasonKeepalive = dataplane.NewReason("natt-keepalive")
)
