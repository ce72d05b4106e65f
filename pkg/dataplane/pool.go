package dataplane

import (
	"fmt"
	"sync"
)

// Pool hands out the frames of a Region and takes them back. It is bounded:
// when every frame is out, Get fails and the caller drops (back-pressure), it
// never grows. Get and Put are safe for concurrent use; the batch forms take
// the lock once per call, which is what the hot paths use.
//
// The pool tracks which frames are out. Putting back a frame that is not out
// (a double free, or a frame of another region) panics: it is a bug in the
// caller, and continuing would hand one frame to two owners.
type Pool struct {
	region *Region

	mu   sync.Mutex
	free []uint32 // stack of free frame ids
	out  []bool   // out[id]: frame id is held by someone
}

// NewPool makes a pool of every frame of r.
func NewPool(r *Region) *Pool {
	p := &Pool{region: r, free: make([]uint32, r.frames), out: make([]bool, r.frames)}
	// Hand out low ids first: nicer to caches and to people reading dumps.
	for i := range p.free {
		p.free[i] = uint32(r.frames - 1 - i)
	}
	return p
}

// NewMemPool is a convenience for tests and tools: a region of n default
// frames and its pool.
func NewMemPool(n int) (*Pool, error) {
	r, err := NewRegion(n, DefaultFrameSize, DefaultHeadroom)
	if err != nil {
		return nil, err
	}
	return NewPool(r), nil
}

// Region is the region whose frames this pool hands out.
func (p *Pool) Region() *Region { return p.region }

// Get takes one frame and returns it as an empty packet with the region's
// headroom in front. ok is false when the pool is empty.
func (p *Pool) Get() (pkt Packet, ok bool) {
	p.mu.Lock()
	n := len(p.free)
	if n == 0 {
		p.mu.Unlock()
		return Packet{}, false
	}
	id := p.free[n-1]
	p.free = p.free[:n-1]
	p.out[id] = true
	p.mu.Unlock()
	return p.packet(id), true
}

// GetN appends up to n fresh packets to b, bounded by b's room, and returns
// how many it added.
func (p *Pool) GetN(b *Batch, n int) int {
	if r := b.Room(); n > r {
		n = r
	}
	p.mu.Lock()
	if f := len(p.free); n > f {
		n = f
	}
	base := len(p.free) - n
	k := len(b.Pkts)
	b.Pkts = b.Pkts[:k+n]
	for i, id := range p.free[base:] {
		p.out[id] = true
		p.SetPacket(&b.Pkts[k+i], id, p.region.headroom, 0) // in place, see SetPacket
	}
	p.free = p.free[:base]
	p.mu.Unlock()
	return n
}

// GetIDs takes up to len(ids) frames, writes their ids and returns how many.
// It serves backends that post raw frames to a ring (AF_XDP fill ring,
// virtqueue receive buffers).
func (p *Pool) GetIDs(ids []uint32) int {
	p.mu.Lock()
	n := len(ids)
	if f := len(p.free); n > f {
		n = f
	}
	base := len(p.free) - n
	copy(ids, p.free[base:])
	for _, id := range ids[:n] {
		p.out[id] = true
	}
	p.free = p.free[:base]
	p.mu.Unlock()
	return n
}

// Put gives the frame of pkt back. pkt must not be used afterwards.
func (p *Pool) Put(pkt Packet) { p.PutID(pkt.frame) }

// PutID gives frame id back.
func (p *Pool) PutID(id uint32) {
	p.mu.Lock()
	p.release(id)
	p.mu.Unlock()
}

// PutIDs gives frames back by id.
func (p *Pool) PutIDs(ids []uint32) {
	p.mu.Lock()
	for _, id := range ids {
		p.release(id)
	}
	p.mu.Unlock()
}

// PutBatch gives back every frame of b and empties it.
func (p *Pool) PutBatch(b *Batch) {
	p.mu.Lock()
	for i := range b.Pkts {
		p.release(b.Pkts[i].frame)
	}
	p.mu.Unlock()
	b.Pkts = b.Pkts[:0]
}

func (p *Pool) release(id uint32) {
	if int(id) >= len(p.out) || !p.out[id] {
		panic(fmt.Sprintf("dataplane: frame %d returned to the pool while not out (double free or foreign frame)", id))
	}
	p.out[id] = false
	p.free = append(p.free, id)
}

// Packet makes a packet of frame id, which the caller must hold, with empty
// data at the headroom. Backends use it for frames they got by id.
func (p *Pool) Packet(id uint32) Packet { return p.packet(id) }

// SetPacket makes *pk a packet of frame id, which the caller holds, with
// its data at [off, off+n) of the frame and every other field zero: Packet
// followed by SetData, written in place. Backends that receive frames by id
// fill their batch slots with it; building the packet in the slot rather
// than copying it there keeps the receive path free of store-forwarding
// stalls. It reports false, leaving *pk alone, when the data does not fit
// in a frame.
func (p *Pool) SetPacket(pk *Packet, id uint32, off, n int) bool {
	if off < 0 || n < 0 || off+n > p.region.frameSize {
		return false
	}
	*pk = Packet{}
	pk.buf = p.region.Frame(id)
	pk.frame = id
	pk.off, pk.len = uint16(off), uint16(n)
	return true
}

func (p *Pool) packet(id uint32) Packet {
	return Packet{buf: p.region.Frame(id), frame: id, off: uint16(p.region.headroom)}
}

// Size is the number of frames the pool manages.
func (p *Pool) Size() int { return p.region.frames }

// Available is the number of frames in the pool now.
func (p *Pool) Available() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

// InUse is the number of frames out of the pool now. After a run has ended
// and its ports and stages have released what they held, it must be zero.
func (p *Pool) InUse() int { return p.Size() - p.Available() }

// CheckAllReturned reports, as an error naming up to eight of them, frames
// that are still out. Tests call it after a run to prove nothing leaked.
func (p *Pool) CheckAllReturned() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == len(p.out) {
		return nil
	}
	var ids []uint32
	for id, out := range p.out {
		if out && len(ids) < 8 {
			ids = append(ids, uint32(id))
		}
	}
	return fmt.Errorf("pool: %d of %d frames not returned (first: %v)", len(p.out)-len(p.free), len(p.out), ids)
}
