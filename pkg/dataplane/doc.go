// Package dataplane is the packet engine every nfvkit appliance runs on.
//
// Memory. One Region of fixed-size frames belongs to the appliance; a bounded
// Pool hands out its frames and takes them back. A frame carries a packet with
// Headroom bytes free in front of it, so tunnel and VLAN headers are prepended
// in place, and room behind it for trailers. Frames never move: ports and
// stages pass Packet values, which are references to frames, from hand to hand.
//
// How a packet moves. A Loop polls its ports: Port.Recv appends up to a burst
// of received packets to a Batch. The Stage (the appliance's logic) looks at
// every packet of the batch and gives each a verdict: forward to a port, drop
// with a Reason, punt to the local stack, or consumed (the stage kept it).
// The loop then moves forwarded packets into one transmit batch per output
// port, frees dropped ones and counts their reasons, and hands each transmit
// batch to its Port.Send in one call. While packets keep arriving the loop
// busy-polls; when the ports have been quiet for a while it arms their
// notifications and sleeps until one of them rings, so an idle appliance
// costs no CPU.
//
// Ownership. Whoever holds a Packet owns its frame and must pass it on or
// free it exactly once: a port owns what it received until Recv returns it,
// the loop owns the batch, a stage owns packets it marks consumed, and a port
// owns every packet given to Send, whether or not it transmits it. The Pool
// counts frames out and in, so a run that loses or double-frees a frame is
// caught by Pool.InUse and Pool's own checks.
package dataplane
