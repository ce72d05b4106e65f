package tap

import (
	"errors"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// Config configures the ports of one TAP device.
type Config struct {
	// Name is the TAP device's name. It is created when it does not exist
	// (and then goes away when its last port closes), or attached to when
	// it does, in which case it must be a multi-queue TAP
	// (`ip tuntap add NAME mode tap multi_queue`). A name with %d is a
	// pattern the kernel completes; Port.Name says what it chose.
	// Required.
	Name string
	// Pool gives the frames packets are read into and takes back the
	// frames of sent ones. Required.
	Pool *dataplane.Pool
	// Stats, when set, counts the packets dropped at the edge on receive
	// under dataplane.ReasonNoBuffer and dataplane.ReasonTooBig. The port's
	// Counters count them either way.
	Stats *dataplane.Stats
	// Burst is the most packets one Recv returns (default
	// dataplane.DefaultBurst).
	Burst int
	// NoChecksumOffload keeps checksums complete in both directions: the
	// kernel finishes them before the port reads a packet (no TUN_F_CSUM),
	// and the port finishes a CsumPartial packet in software before it
	// writes it. By default both sides leave the work to the other
	// end's host stack, which trusts a partial checksum it was told of.
	NoChecksumOffload bool
	// Up brings the link up when the port opens, and, if the device
	// existed and was down, down again when the last port closes.
	Up bool
	// MTU, when not zero, sets the device's MTU.
	MTU int
}

func (c *Config) check() error {
	switch {
	case c.Name == "":
		return errors.New("tap: no device name")
	case c.Pool == nil:
		return errors.New("tap: no pool")
	}
	if c.Burst <= 0 {
		c.Burst = dataplane.DefaultBurst
	}
	return nil
}

// Counters are what a port has done, for reports. Drops here are the
// receive side's; what Send could not write the loop counts.
type Counters struct {
	Received uint64 // packets handed to the loop
	Sent     uint64 // packets written to the device
	TooBig   uint64 // packets a frame cannot hold (or GSO packets), dropped
	NoBuffer uint64 // packets dropped because the pool was empty
}
