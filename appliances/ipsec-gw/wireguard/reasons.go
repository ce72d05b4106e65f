package wireguard

import "github.com/nfvkit/nfvkit/pkg/dataplane"

// Drop reasons of the WireGuard adapters.
var (
	// ReasonQueueFull: a handoff queue between the loop and the device was
	// full (back-pressure).
	ReasonQueueFull = dataplane.NewReason("wg-queue-full")
	// ReasonTooBig: a packet does not fit the buffer on the other side.
	ReasonTooBig = dataplane.NewReason("wg-too-big")
	// ReasonNoSource: no route, or no address of ours, towards an endpoint.
	ReasonNoSource = dataplane.NewReason("wg-no-source")
	// ReasonClosed: the tunnel's listen port is not open.
	ReasonClosed = dataplane.NewReason("wg-closed")
	// ReasonMalformed: an intercepted datagram's headers do not add up.
	ReasonMalformed = dataplane.NewReason("wg-malformed")
)
