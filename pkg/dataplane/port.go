package dataplane

import "errors"

// Port connects the dataplane to a NIC, a socket, a ring or a file. Ports are
// batch-shaped: one call moves a burst.
//
// A port is used by one worker goroutine at a time; a port with several
// queues shows each queue as its own Port.
type Port interface {
	// Recv appends received packets to b, at most BatchSize and at most
	// b.Room(), and returns how many. It does not block: with nothing to
	// receive it returns 0, nil. The caller owns the packets it returns.
	// io.EOF means the port will never receive again (the end of a capture);
	// packets returned together with an error are still valid.
	Recv(b *Batch) (int, error)

	// Send transmits the packets of b in order and empties b. The port owns
	// every packet of b from the call on: the ones it transmits and the ones
	// it cannot (it frees those). n is how many were transmitted, always the
	// first n of b.
	Send(b *Batch) (n int, err error)

	// BatchSize is the burst the port prefers.
	BatchSize() int

	// MTU is the largest L3 packet the port carries (the Ethernet payload).
	MTU() int

	// Close stops the port and returns every frame it still holds to the
	// pool.
	Close() error
}

// Waiter is a port that can wake a sleeping loop. Ports without it are
// polled on a timer when idle.
type Waiter interface {
	// Arm asks the port to ring bell once when Recv may return packets.
	// It returns false when packets are already waiting, in which case
	// nothing was armed and the caller should poll rather than sleep.
	Arm(bell *Bell) bool
	// Disarm cancels an Arm; a ring may still arrive afterwards.
	Disarm()
}

// Timed is a port whose packets carry their own timestamps, such as a
// capture being replayed. A loop whose ports are all Timed runs in capture
// time: it always takes the port with the earliest next packet, and that
// timestamp becomes the batch's Now.
type Timed interface {
	// Next is the timestamp (Unix nanoseconds) of the packet Recv would
	// return next; ok is false when the port is exhausted. A Timed port's
	// Recv returns only packets that share one timestamp.
	Next() (t int64, ok bool)
}

// ErrClosed is returned by a port used after Close.
var ErrClosed = errors.New("port closed")

// Bell wakes a sleeping loop. Ringing is cheap and never blocks; rings
// while nobody waits coalesce into one.
type Bell struct{ c chan struct{} }

// NewBell makes a bell.
func NewBell() *Bell { return &Bell{c: make(chan struct{}, 1)} }

// Ring wakes the waiter, now or at its next wait.
func (b *Bell) Ring() {
	select {
	case b.c <- struct{}{}:
	default:
	}
}

// C is the channel a waiter receives from.
func (b *Bell) C() <-chan struct{} { return b.c }
