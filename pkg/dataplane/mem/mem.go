// Package mem joins two dataplane ports back to back in one process, like a
// veth pair, through VIRTIO split virtqueues: what one end sends, the other
// receives, and no packet byte is copied on the way. Tests and benchmarks
// use it, and through it the virtqueue code runs on every test run.
//
// Each direction is one virtqueue (package virtq). The sending end is its
// driver, the receiving end its device, as a guest's virtio-net transmit
// queue is to the host:
//
//	A.Send ─▶ driver ══ A→B virtqueue ══ device ─▶ B.Recv
//	A.Recv ◀─ device ══ B→A virtqueue ══ driver ◀─ B.Send
//
// How a frame moves from A to B, and who owns it at each step:
//
//  1. A.Send is given packets; A owns their frames from the call on (the
//     Port contract). For each it takes a descriptor and writes the frame's
//     region offset (dataplane.Region.Offset of the frame and the data
//     start) and the data length into it; one avail.idx store publishes the
//     batch. From then on the frame belongs to the queue: neither end may
//     touch it. Packets beyond the free descriptors are freed to the pool,
//     and Send returns how many it queued.
//  2. B.Recv pops the descriptors, turns each offset back into its frame
//     (dataplane.Region.FrameOf) and appends the packet to the caller's
//     batch: the frame now belongs to B's caller. B returns the
//     descriptors on the used ring, one used.idx store for the batch.
//  3. A takes the descriptors back from the used ring when it needs room
//     (never the frames: those have moved on).
//
// Packet.Flags and the other per-packet fields do not travel; a mem port
// offers no offloads.
//
// Waking. A mem port is a dataplane.Waiter. Arm enables the device's
// available-buffer notifications on its receive queue (clears
// VIRTQ_USED_F_NO_NOTIFY, or sets avail_event under VIRTIO_F_EVENT_IDX) and
// leaves the loop's Bell where the peer finds it; when the peer's Send
// publishes and the ring says a notification is due, the peer rings that
// bell: the "kick". While a loop is busy its notifications stay disabled
// and Send kicks nobody. Used-buffer notifications ("interrupts") are never
// enabled: a sender reclaims descriptors when it next needs them.
//
// Closing. Close frees the frames queued towards the closing end, and the
// end that closes last frees whatever is still queued either way, so after
// both ends are closed every frame is back in the pool. Once one end has
// closed, the other end's Send frees its packets and returns
// ErrPeerClosed, and its Recv returns io.EOF when it has received what was
// queued before the close.
package mem

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/virtq"
)

// Defaults.
const (
	DefaultQueueSize = 256
	DefaultMTU       = 1500
	DefaultBurst     = 64
	ethHeader        = 14 + 4 // Ethernet with one VLAN tag
)

// ErrPeerClosed is returned by Send once the other end is closed.
var ErrPeerClosed = errors.New("mem: peer closed")

// Config shapes a pair. The zero value is usable.
type Config struct {
	// QueueSize is each direction's virtqueue size: how many packets can
	// be queued towards an end (a power of two in 2..32768; default 256).
	QueueSize int
	// Burst is each end's BatchSize (default 64, at most QueueSize).
	Burst int
	// MTU is the largest L3 packet each end reports (default 1500; at most
	// what a frame holds after the region's headroom).
	MTU int
	// NoEventIdx makes the queues suppress notifications with the
	// VIRTQ_*_F_NO_* flags instead of VIRTIO_F_EVENT_IDX's event indices.
	NoEventIdx bool
}

// Port is one end of a pair. Like every port, it is used by one goroutine
// at a time (Close included); the two ends may be on different goroutines.
type Port struct {
	_ [64]byte // keep the two ends' hot fields off each other's cache line

	tx    *virtq.Driver // the queue towards the peer: we are its driver
	rx    *virtq.Device // the queue from the peer: we are its device
	out   *link
	in    *link
	pool  *dataplane.Pool
	shift uint   // log2 of the frame size: offsets are frame<<shift + within
	mask  uint64 // frame size - 1
	nfr   uint64 // frames in the region

	bufs  []virtq.Buf
	elems []virtq.Elem
	used  []virtq.UsedElem
	ids   []uint32

	burst  int
	mtu    int
	closed bool
	pair   *pair
	peer   *Port

	_ [64]byte
}

// link is one direction: a virtqueue and what its two ends tell each other
// besides the ring.
type link struct {
	ring *virtq.Ring
	// bell is the receiving end's loop bell while it sleeps, nil otherwise.
	bell atomic.Pointer[dataplane.Bell]
	// txClosed: the sending end has closed. rxClosed: the receiving end has.
	txClosed atomic.Bool
	rxClosed atomic.Bool
}

type pair struct {
	open atomic.Int32
}

var (
	_ dataplane.Port   = (*Port)(nil)
	_ dataplane.Waiter = (*Port)(nil)
)

// NewPair joins two ports whose frames come from pool, with virtqueues of
// queueSize entries each way and otherwise default settings.
func NewPair(pool *dataplane.Pool, queueSize int) (a, b *Port, err error) {
	return New(pool, Config{QueueSize: queueSize})
}

// New joins two ports whose frames come from pool, as cfg says.
func New(pool *dataplane.Pool, cfg Config) (a, b *Port, err error) {
	return newPair(pool, cfg, 0)
}

// newPair is New with the virtqueues' indices starting at base (tests
// start near 2^16 to wrap them early).
func newPair(pool *dataplane.Pool, cfg Config, base uint16) (a, b *Port, err error) {
	if pool == nil {
		return nil, nil, errors.New("mem: nil pool")
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	cfg.Burst = min(cfg.Burst, cfg.QueueSize)
	reg := pool.Region()
	maxMTU := reg.FrameSize() - reg.Headroom() - ethHeader
	switch {
	case cfg.MTU == 0:
		cfg.MTU = min(DefaultMTU, maxMTU)
	case cfg.MTU < 68 || cfg.MTU > maxMTU:
		return nil, nil, fmt.Errorf("mem: MTU %d out of range (68..%d for %d-byte frames)", cfg.MTU, maxMTU, reg.FrameSize())
	}
	var links [2]*link
	for i := range links {
		r, err := virtq.Alloc(cfg.QueueSize, !cfg.NoEventIdx)
		if err != nil {
			return nil, nil, fmt.Errorf("mem: %w", err)
		}
		r.SetBase(base)
		links[i] = &link{ring: r}
	}
	pr := &pair{}
	pr.open.Store(2)
	a = newPort(pool, cfg, links[0], links[1], pr)
	b = newPort(pool, cfg, links[1], links[0], pr)
	a.peer, b.peer = b, a
	return a, b, nil
}

func newPort(pool *dataplane.Pool, cfg Config, out, in *link, pr *pair) *Port {
	reg := pool.Region()
	shift := uint(0)
	for 1<<shift < reg.FrameSize() {
		shift++
	}
	p := &Port{
		tx: virtq.NewDriver(out.ring), rx: virtq.NewDevice(in.ring),
		out: out, in: in, pool: pool,
		shift: shift, mask: uint64(reg.FrameSize() - 1), nfr: uint64(reg.Frames()),
		bufs:  make([]virtq.Buf, cfg.QueueSize),
		elems: make([]virtq.Elem, cfg.QueueSize),
		used:  make([]virtq.UsedElem, cfg.QueueSize),
		ids:   make([]uint32, cfg.QueueSize),
		burst: cfg.Burst, mtu: cfg.MTU, pair: pr,
	}
	// Nobody sleeps yet and nobody waits for transmit completions.
	p.rx.DisableNotify()
	p.tx.DisableInterrupts()
	return p
}

// BatchSize is the configured burst.
func (p *Port) BatchSize() int { return p.burst }

// MTU is the configured MTU. It is advice to the stages: the port carries
// whatever a frame holds.
func (p *Port) MTU() int { return p.mtu }

// TxRoom is how many packets Send would queue now. Senders that must not
// drop (tests, benchmarks) send at most that many.
func (p *Port) TxRoom() int {
	p.tx.Recycle()
	return p.tx.Free()
}

// Send queues the packets of b towards the peer in order, without copying
// them, and empties b. The port owns every packet of b from the call on:
// the first n now belong to the queue (and, once received, to the peer's
// caller); the rest, which did not fit, it frees. After Close, or once the
// peer has closed, it frees them all and returns an error.
func (p *Port) Send(b *dataplane.Batch) (n int, err error) {
	pkts := b.Pkts
	if len(pkts) == 0 {
		return 0, nil
	}
	switch {
	case p.closed:
		err = dataplane.ErrClosed
	case p.out.rxClosed.Load():
		err = ErrPeerClosed
	default:
		if p.tx.Free() < len(pkts) {
			// Descriptors come back lazily, when needed: one load of
			// used.idx per ring's worth of packets.
			if _, rerr := p.tx.Recycle(); rerr != nil {
				err = fmt.Errorf("mem: transmit queue: %w", rerr)
			}
		}
		n = min(len(pkts), p.tx.Free())
		bufs := p.bufs[:n]
		for i := range bufs {
			pk := &pkts[i]
			// Region.Offset(frame, data start), with a shift.
			bufs[i] = virtq.Buf{Addr: uint64(pk.Frame())<<p.shift + uint64(pk.Offset()), Len: uint32(pk.Len())}
		}
		p.tx.Add(bufs)
		if p.tx.Publish() {
			if bell := p.out.bell.Load(); bell != nil {
				bell.Ring()
			}
		}
	}
	if n < len(pkts) {
		b.Pkts = pkts[n:]
		p.pool.PutBatch(b)
	}
	b.Pkts = pkts[:0]
	return n, err
}

// Recv appends the packets queued towards this end, at most BatchSize and
// at most b.Room(), and returns how many; the caller owns them. Once the
// peer has closed and everything it queued has been received, it returns
// io.EOF.
func (p *Port) Recv(b *dataplane.Batch) (int, error) {
	if p.closed {
		return 0, dataplane.ErrClosed
	}
	room := min(cap(b.Pkts)-len(b.Pkts), p.burst)
	if room <= 0 {
		return 0, nil
	}
	eof := p.in.txClosed.Load() // before popping: nothing is queued after it
	start := len(b.Pkts)
	n, err := p.rx.Pop(p.elems[:room])
	elems, used := p.elems[:n], p.used[:n]
	for i := range elems {
		e := &elems[i]
		id, within := e.Addr>>p.shift, int(e.Addr&p.mask)
		if id >= p.nfr || e.Flags != 0 || within+int(e.Len) > int(p.mask)+1 {
			// Only our own Send fills this queue, so this is a bug; the
			// frame cannot be identified, so it is lost to the pool.
			err = fmt.Errorf("mem: bad descriptor %+v: %w", e.Desc, virtq.ErrCorrupt)
			used[i] = virtq.UsedElem{ID: uint32(e.Head)}
			continue
		}
		// Built in its batch slot (room was checked above).
		k := len(b.Pkts)
		b.Pkts = b.Pkts[:k+1]
		p.pool.SetPacket(&b.Pkts[k], uint32(id), within, int(e.Len))
		used[i] = virtq.UsedElem{ID: uint32(e.Head)}
	}
	p.rx.Push(used)
	p.rx.Publish() // the sender never asks for interrupts
	got := len(b.Pkts) - start
	if err != nil {
		return got, fmt.Errorf("mem: receive queue: %w", err)
	}
	if n == 0 && eof {
		return 0, io.EOF
	}
	return got, nil
}

// Arm leaves bell for the peer to ring when it queues packets for this
// end, and enables the queue's notifications. It returns false, arming
// nothing, when packets are already queued (or the peer has closed).
func (p *Port) Arm(bell *dataplane.Bell) bool {
	if p.closed {
		return false
	}
	p.in.bell.Store(bell)
	// Bell before the notification flag, and the flag before the re-check
	// (EnableNotify's barrier): a sender that publishes after the re-check
	// sees the flag and then the bell.
	if !p.rx.EnableNotify() || p.in.txClosed.Load() {
		p.Disarm()
		return false
	}
	return true
}

// Disarm disables the queue's notifications and takes the bell back; a
// sender that already saw it may still ring it once.
func (p *Port) Disarm() {
	p.rx.DisableNotify()
	p.in.bell.Store(nil)
}

// Close stops the port and frees the frames queued towards it. The second
// end to close also frees what is still queued from this end to the peer,
// so that when both are closed the pool has every frame back. Closing a
// closed port does nothing.
func (p *Port) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	p.out.txClosed.Store(true)
	p.in.rxClosed.Store(true)
	p.in.bell.Store(nil)
	// Wake a sleeping peer so its Recv sees the end of input.
	if bell := p.out.bell.Load(); bell != nil {
		bell.Ring()
	}
	p.drain()
	if p.pair.open.Add(-1) == 0 {
		// Both ends are closed, and the peer's Close happened before this
		// point (the counter orders them): nothing moves any more, and its
		// device side is ours to use.
		p.drain()
		p.peer.drain()
	}
	return nil
}

// drain frees every frame queued towards p and returns the descriptors.
func (p *Port) drain() {
	for {
		n, _ := p.rx.Pop(p.elems)
		if n == 0 {
			return
		}
		ids, used := p.ids[:0], p.used[:n]
		for i, e := range p.elems[:n] {
			if id := e.Addr >> p.shift; id < p.nfr {
				ids = append(ids, uint32(id))
			}
			used[i] = virtq.UsedElem{ID: uint32(e.Head)}
		}
		p.pool.PutIDs(ids)
		p.rx.Push(used)
		p.rx.Publish()
	}
}
