package router

import "github.com/nfvkit/nfvkit/pkg/dataplane"

// Drop reasons of the router. Every packet the router does not forward,
// answer or queue is dropped for exactly one of these (or a dataplane one),
// so the drop summary of a replay says why each packet went nowhere.
var (
	// Link layer.
	ReasonNotForUs      = dataplane.NewReason("not-for-us")        // unicast frame to another MAC
	ReasonUnknownVLAN   = dataplane.NewReason("unknown-vlan")      // a tag no sub-interface has, or stacked tags
	ReasonUnknownType   = dataplane.NewReason("unknown-ethertype") // neither IPv4, IPv6 nor ARP
	ReasonLinkBroadcast = dataplane.NewReason("link-broadcast")    // unicast IP in a link broadcast/multicast frame (RFC 1812 5.3.4)

	// Header validation (RFC 1812 5.2.2, RFC 8200).
	ReasonMalformed   = dataplane.NewReason("malformed")    // truncated, bad version, bad header or fragment fields
	ReasonBadLength   = dataplane.NewReason("bad-length")   // a length field disagrees with the frame
	ReasonBadChecksum = dataplane.NewReason("bad-checksum") // IPv4 header (or ICMP, for what the router answers)
	ReasonBadOption   = dataplane.NewReason("bad-ip-option")
	ReasonSourceRoute = dataplane.NewReason("source-route") // LSRR/SSRR, dropped as RFC 7126 advises
	ReasonParamProb   = dataplane.NewReason("parameter-problem")

	// Addresses (RFC 1812 5.3.7, RFC 4291, RFC 6890).
	ReasonMartianSrc  = dataplane.NewReason("martian-source")
	ReasonMartianDst  = dataplane.NewReason("martian-destination")
	ReasonLinkLocal   = dataplane.NewReason("link-local-scope") // link-local source or destination, not forwarded
	ReasonMulticast   = dataplane.NewReason("multicast")        // not a multicast router
	ReasonDirectedBc  = dataplane.NewReason("directed-broadcast")
	ReasonNoRoute     = dataplane.NewReason("no-route")
	ReasonBlackhole   = dataplane.NewReason("blackhole")
	ReasonTTLExceeded = dataplane.NewReason("ttl-exceeded")
	ReasonFragNeeded  = dataplane.NewReason("frag-needed")    // IPv4, DF set, bigger than the egress MTU
	ReasonTooBig      = dataplane.NewReason("packet-too-big") // IPv6, bigger than the egress MTU

	// Neighbours.
	ReasonNeighFailed   = dataplane.NewReason("neighbor-failed")     // queued for a next hop that never answered
	ReasonQueueFull     = dataplane.NewReason("neighbor-queue-full") // the unresolved queue overflowed
	ReasonNeighTable    = dataplane.NewReason("neighbor-table-full")
	ReasonPendingAtStop = dataplane.NewReason("neighbor-pending-at-stop")
	ReasonBadARP        = dataplane.NewReason("bad-arp")
	ReasonARPIgnored    = dataplane.NewReason("arp-ignored") // well-formed, but asks nothing of this router
	ReasonBadNDP        = dataplane.NewReason("bad-ndp")
	ReasonNDPIgnored    = dataplane.NewReason("ndp-ignored")

	// Resources.
	ReasonBurstFull  = dataplane.NewReason("burst-full")  // no room in the burst for the packets a packet became
	ReasonNoHeadroom = dataplane.NewReason("no-headroom") // a VLAN tag could not be pushed
)
