package afxdp

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// DefaultRingSize is the number of entries of each of a socket's four rings
// (fill, RX, TX, completion) unless Config.RingSize says otherwise: enough
// to hold the packets that arrive while the worker is off its CPU for a
// scheduler slice (see Sizing in the package documentation).
const DefaultRingSize = 4096

// xdpPacketHeadroom is XDP_PACKET_HEADROOM: the kernel always leaves this
// much in front of a received packet, after the UMEM headroom.
const xdpPacketHeadroom = 256

// XDPMode is how the XDP program is attached to the interface.
type XDPMode uint8

const (
	// XDPAuto attaches in native (driver) mode where the driver has it and
	// in generic (SKB) mode otherwise.
	XDPAuto XDPMode = iota
	// XDPNative runs the program in the driver (XDP_FLAGS_DRV_MODE).
	XDPNative
	// XDPGeneric runs it in the core network stack, after an skb has been
	// built (XDP_FLAGS_SKB_MODE): it works with every driver, slower.
	XDPGeneric
)

func (m XDPMode) String() string {
	switch m {
	case XDPAuto:
		return "auto"
	case XDPNative:
		return "native"
	case XDPGeneric:
		return "generic"
	}
	return "xdp-mode?"
}

// BindMode is how the socket moves packets between the driver and the UMEM.
type BindMode uint8

const (
	// BindAuto binds zero-copy where the driver supports it and in copy
	// mode otherwise.
	BindAuto BindMode = iota
	// BindZeroCopy requires zero-copy (XDP_ZEROCOPY): the NIC reads and
	// writes the frames directly. Open fails where the driver lacks it.
	BindZeroCopy
	// BindCopy requires copy mode (XDP_COPY): the kernel copies each packet
	// between its own buffers and the frame.
	BindCopy
)

func (m BindMode) String() string {
	switch m {
	case BindAuto:
		return "auto"
	case BindZeroCopy:
		return "zero-copy"
	case BindCopy:
		return "copy"
	}
	return "bind-mode?"
}

// Mode is what a port obtained from the kernel.
type Mode struct {
	// XDP is XDPNative or XDPGeneric.
	XDP XDPMode
	// ZeroCopy reports a zero-copy bind; false means copy mode.
	ZeroCopy bool
	// SharedUMEM reports that the socket shares the kernel UMEM object of
	// another port on the same Region (XDP_SHARED_UMEM). Either way the
	// memory is the same Region, so forwarding between the ports copies
	// nothing in user space.
	SharedUMEM bool
}

// String is like "native xdp, copy, shared umem".
func (m Mode) String() string {
	var b strings.Builder
	b.WriteString(m.XDP.String())
	b.WriteString(" xdp, ")
	if m.ZeroCopy {
		b.WriteString("zero-copy")
	} else {
		b.WriteString("copy")
	}
	if m.SharedUMEM {
		b.WriteString(", shared umem")
	}
	return b.String()
}

// Drop reasons for what the kernel drops at the edge on receive, read from
// the socket's XDP_STATISTICS.
var (
	// ReasonXSKNoFrame counts packets the kernel dropped because the fill
	// ring had no frame for them (the pool was short, or the worker did not
	// keep up), or because a frame could not hold them.
	ReasonXSKNoFrame = dataplane.NewReason("xsk-no-frame")
	// ReasonXSKRingFull counts packets the kernel dropped because the RX
	// ring was full: the worker did not keep up.
	ReasonXSKRingFull = dataplane.NewReason("xsk-rx-ring-full")
)

// Config configures a Port.
type Config struct {
	// Interface is the network interface the socket binds to, in the
	// network namespace of the thread that calls Open. Required.
	Interface string
	// Queue is the interface's receive/transmit queue the socket binds to.
	Queue int
	// Name names the port in logs (the policy's interface name); the
	// interface name when empty.
	Name string
	// Pool's Region becomes the socket's UMEM: the kernel receives into
	// its frames and transmits from them. Required. Its frames must be
	// 2048 bytes up to the page size (AF_XDP's aligned chunk sizes).
	Pool *dataplane.Pool
	// Stats, when set, counts the packets the kernel dropped at the edge
	// on receive under ReasonXSKNoFrame and ReasonXSKRingFull. KernelStats
	// reports them either way.
	Stats *dataplane.Stats
	// RingSize is the number of entries of each ring, a power of two
	// (default DefaultRingSize). The port keeps up to RingSize frames on
	// the fill ring and up to RingSize in transmission, so the pool needs
	// 2*RingSize frames per port besides the appliance's own.
	RingSize int
	// Burst is the most packets one Recv returns (default
	// dataplane.DefaultBurst).
	Burst int
	// MTU reported by the port (default: the interface's).
	MTU int
	// XDP chooses how the program is attached (default XDPAuto).
	XDP XDPMode
	// Bind chooses zero-copy or copy (default BindAuto).
	Bind BindMode
	// Log receives one line per port opened or closed, naming the modes.
	Log *slog.Logger
}

// Counters are what a port did, for reports. Read them from the goroutine
// that uses the port.
type Counters struct {
	Received   uint64 // packets handed to the caller by Recv
	Sent       uint64 // packets placed on the TX ring
	Completed  uint64 // transmitted frames the kernel gave back
	TxFull     uint64 // packets freed because the TX ring was full
	TxEmpty    uint64 // packets freed from a zero-length one on (the kernel rejects those)
	FillShort  uint64 // fill ring top-ups the pool could not complete
	Kicks      uint64 // sendto/recvfrom wake-ups of the kernel
	KickErrors uint64 // wake-ups that failed for another reason than back-pressure
}

// KernelStats are the socket's counters kept by the kernel
// (XDP_STATISTICS).
type KernelStats struct {
	RxDropped        uint64 // packets dropped: too big for a frame, or no frame
	RxInvalidDescs   uint64
	TxInvalidDescs   uint64
	RxRingFull       uint64 // packets dropped because the RX ring was full
	RxFillRingEmpty  uint64 // times the kernel found the fill ring empty
	TxRingEmptyDescs uint64
}

var (
	// ErrCorrupt is returned when the kernel hands back a descriptor for a
	// frame the port did not give it: a bug here or in the kernel.
	ErrCorrupt = errors.New("afxdp: ring descriptor names a frame the port did not give the kernel")
	// ErrUnsupported is returned by Open where AF_XDP does not exist.
	ErrUnsupported = errors.New("afxdp: AF_XDP sockets exist only on Linux")
)

var (
	_ dataplane.Port   = (*Port)(nil)
	_ dataplane.Waiter = (*Port)(nil)
)
