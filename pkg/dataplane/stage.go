package dataplane

import "time"

// Stage is the appliance's packet logic.
type Stage interface {
	// Process gives every packet of b a verdict (Packet.Forward, Drop,
	// Punt, Consume), changing packets in place as needed. It may append new
	// packets (an ARP request, an ICMP error) up to b.Cap(), taking their
	// frames from the pool it was built with, each with its verdict.
	// Packets marked Consumed belong to the stage afterwards; Process must
	// not keep references to any other packet.
	Process(b *Batch)
}

// Ticker is a stage with work to do as time passes (neighbour timeouts,
// retransmissions, keepalives). The loop calls Tick with an empty batch whose
// Now is the current time, at least every Loop.TickEvery while running; the
// stage may append packets with verdicts, as in Process.
type Ticker interface {
	Tick(b *Batch)
}

// Releaser is a stage that holds packets (queued ones, marked Consumed). The
// loop calls Release when it stops so the stage frees them.
type Releaser interface {
	Release()
}

// Drainer is a Source with last words: when a live loop is asked to stop,
// it calls Drain, then keeps polling the source and transmitting what it
// gives for at most DrainFor (a tunnel's goodbye: IKE's Delete, say),
// before Release. Drain must not block.
type Drainer interface {
	Source
	Drain()
}

// DrainFor bounds how long a stopping loop sends a Drainer's last packets.
const DrainFor = 200 * time.Millisecond

// Source is a stage that also has packets of its own, made outside the loop
// by goroutines of the stage (a tunnel engine's output: what WireGuard
// decrypted or encrypted). The loop calls Poll every round and, before it
// sleeps, arms the stage as it arms Waiter ports: the stage rings the bell
// when packets become ready, so an idle loop wakes for them at once.
type Source interface {
	Waiter
	// Poll appends the packets that are ready to b, each with its verdict,
	// as Process does (leaving room in b for what handling them may
	// generate), and returns how many it took. It does not block.
	Poll(b *Batch) int
}

// LocalStack receives punted packets: the appliance's own protocol stack.
// Deliver owns the packets of b and must free or keep them before returning;
// b is reset by the caller.
type LocalStack interface {
	Deliver(b *Batch)
}

// StageFunc adapts a function to Stage.
type StageFunc func(b *Batch)

// Process calls f(b).
func (f StageFunc) Process(b *Batch) { f(b) }
