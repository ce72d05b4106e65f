package afpacket

import (
	"errors"
	"time"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// ReasonRingFull counts packets the kernel dropped because the receive
// ring had no room (PACKET_STATISTICS): the worker did not keep up.
var ReasonRingFull = dataplane.NewReason("rx-ring-full")

// Defaults.
const (
	DefaultBlockSize     = 64 << 10
	DefaultBlocks        = 32
	DefaultRetireTimeout = time.Millisecond
)

// Config configures a Port.
type Config struct {
	// Interface is the network interface the socket binds to. Required.
	Interface string
	// Pool gives the frames received packets are copied into and takes
	// back the frames of sent ones. Required.
	Pool *dataplane.Pool
	// Stats, when set, counts the packets dropped at the edge on receive
	// under dataplane.ReasonNoBuffer, dataplane.ReasonTooBig and
	// ReasonRingFull. The port's Counters count them either way.
	Stats *dataplane.Stats
	// Burst is the most packets one Recv returns (default
	// dataplane.DefaultBurst).
	Burst int
	// Promiscuous puts the interface in promiscuous mode while the port is
	// open (a membership of the socket: the kernel takes it back when the
	// socket closes, however the process ends).
	Promiscuous bool
	// FanoutGroup, when not zero, joins the socket to the PACKET_FANOUT
	// group of that id in hash mode: the ports of one group on one
	// interface share its traffic, every flow going to one of them, so
	// each can be owned by its own worker.
	FanoutGroup uint16
	// BlockSize (a power of two, at least a page; default 64 KiB) and
	// Blocks (default 32) shape the TPACKET_V3 receive ring.
	BlockSize int
	Blocks    int
	// RetireTimeout is how long the kernel fills a block before handing it
	// over partly filled (default 1ms, in whole milliseconds): the
	// longest a packet waits in a quiet ring. The kernel's block timer
	// runs at this period while the port is open, idle or not.
	RetireTimeout time.Duration
	// QdiscBypass sends straight to the driver, past the interface's
	// queueing discipline (PACKET_QDISC_BYPASS): cheaper per packet, but
	// nothing queues or shapes what the port sends, and a busy driver
	// drops it.
	QdiscBypass bool
}

func (c *Config) check() error {
	switch {
	case c.Interface == "":
		return errors.New("afpacket: no interface")
	case c.Pool == nil:
		return errors.New("afpacket: no pool")
	}
	if c.Burst <= 0 {
		c.Burst = dataplane.DefaultBurst
	}
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.Blocks <= 0 {
		c.Blocks = DefaultBlocks
	}
	if c.RetireTimeout <= 0 {
		c.RetireTimeout = DefaultRetireTimeout
	}
	if c.BlockSize < 4096 || c.BlockSize&(c.BlockSize-1) != 0 || c.BlockSize > 1<<30 {
		return errors.New("afpacket: block size must be a power of two of at least 4096")
	}
	return nil
}

// Counters are what a port has done, for reports. Drops here are the
// receive side's; what Send could not transmit the loop counts.
type Counters struct {
	Received uint64 // packets handed to the loop
	Sent     uint64 // packets handed to the kernel
	TooBig   uint64 // received packets a frame cannot hold, dropped
	NoBuffer uint64 // received packets dropped because the pool was empty
	RingFull uint64 // packets the kernel dropped: the receive ring was full
}
