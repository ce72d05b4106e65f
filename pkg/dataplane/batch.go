package dataplane

// Batch is a burst of packets moving through the loop together, and the time
// they are handled at. Batches are allocated once per worker and reused; the
// packet slice never grows beyond the capacity it was made with.
type Batch struct {
	Pkts []Packet
	// Now is the appliance's clock for this batch in nanoseconds: the
	// monotonic wall clock when running live, the capture's timestamp in
	// replay. Stages read time only from here, so replays are deterministic.
	Now int64
}

// NewBatch makes an empty batch that holds up to capacity packets.
func NewBatch(capacity int) *Batch { return &Batch{Pkts: make([]Packet, 0, capacity)} }

// Len is the number of packets in the batch.
func (b *Batch) Len() int { return len(b.Pkts) }

// Cap is the most packets the batch holds.
func (b *Batch) Cap() int { return cap(b.Pkts) }

// Room is how many more packets fit.
func (b *Batch) Room() int { return cap(b.Pkts) - len(b.Pkts) }

// Add appends p and reports whether there was room. On false the caller
// still owns p.
func (b *Batch) Add(p Packet) bool {
	if len(b.Pkts) == cap(b.Pkts) {
		return false
	}
	b.Pkts = append(b.Pkts, p)
	return true
}

// Reset empties the batch without touching frames: the caller must have
// passed them on.
func (b *Batch) Reset() { b.Pkts = b.Pkts[:0] }
