package wireguard

import (
	"encoding/binary"
	"os"
	"sync"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
	"golang.zx2c4.com/wireguard/tun"
)

// BatchSize is the burst the adapters move per call, both ways.
const BatchSize = 64

// Tun is a tunnel's inner side as wireguard-go's tun.Device: the clear IP
// packets the router routed into the tunnel come out of Read, and what the
// device decrypted goes into Write, back to the router.
//
// Read is called by the device's one TUN reader goroutine; Write by its
// per-peer receivers, concurrently.
type Tun struct {
	name string
	mtu  int
	// port is the tunnel's virtual port: the InPort of what Write hands to
	// the router.
	port  uint16
	pool  *dataplane.Pool
	stats *dataplane.Stats
	in    *Queue // the router's packets for the device
	out   *Queue // the device's packets for the router

	events    chan tun.Event
	done      chan struct{}
	closeOnce sync.Once

	// Read's scratch: it has one caller at a time.
	rd     []dataplane.Packet
	rdFree dataplane.Batch
}

var _ tun.Device = (*Tun)(nil)

// NewTun makes the inner side of tunnel name, whose virtual port is port.
// Packets routed into the tunnel are to be pushed onto in (see Enqueue);
// what the device decrypts is pushed onto out.
func NewTun(name string, mtu int, port uint16, pool *dataplane.Pool, stats *dataplane.Stats, in, out *Queue) *Tun {
	t := &Tun{
		name: name, mtu: mtu, port: port, pool: pool, stats: stats, in: in, out: out,
		events: make(chan tun.Event, 1),
		done:   make(chan struct{}),
		rd:     make([]dataplane.Packet, BatchSize),
	}
	t.events <- tun.EventUp
	return t
}

// Enqueue hands packets routed into the tunnel (bare IP packets) to the
// device and returns how many it took; the caller frees ps[n:].
func (t *Tun) Enqueue(ps []dataplane.Packet) int { return t.in.Push(ps) }

// File is nil: there is no file behind this device.
func (t *Tun) File() *os.File { return nil }

// Read moves up to len(bufs) of the packets routed into the tunnel into
// bufs, each at offset, and frees their frames. It blocks until there is
// one, or the device is closed (os.ErrClosed).
func (t *Tun) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	for {
		n := t.in.Pop(t.rd[:min(len(bufs), len(t.rd))])
		if n == 0 {
			if !t.in.Wait(t.done) {
				return 0, os.ErrClosed
			}
			continue
		}
		k := 0
		for i := range t.rd[:n] {
			p := &t.rd[i]
			finishCsum(p)
			d := p.Data()
			if offset+len(d) > len(bufs[k]) {
				t.stats.Drop(ReasonTooBig)
				continue
			}
			sizes[k] = copy(bufs[k][offset:], d)
			k++
		}
		t.rdFree.Pkts = t.rd[:n]
		t.pool.PutBatch(&t.rdFree)
		if k > 0 {
			return k, nil
		}
	}
}

// Write hands the device's decrypted packets, each at offset in its
// buffer, to the router, as received on the tunnel. Packets that find no
// frame or no room in the queue are counted and dropped; Write always
// reports them all written, as a network device would.
func (t *Tun) Write(bufs [][]byte, offset int) (int, error) {
	var store [BatchSize]dataplane.Packet
	for start := 0; start < len(bufs); {
		b := dataplane.Batch{Pkts: store[:0]}
		want := min(len(bufs)-start, BatchSize)
		got := t.pool.GetN(&b, want)
		if got < want {
			t.stats.DropN(dataplane.ReasonNoBuffer, uint64(want-got))
		}
		k := 0
		for i := range got {
			d := bufs[start+i][offset:]
			p := &b.Pkts[k]
			if len(d) == 0 || p.Append(len(d)) == nil {
				t.stats.Drop(ReasonTooBig)
				continue
			}
			copy(p.Data(), d)
			p.InPort = t.port
			k++
		}
		// Frames taken but unused are at the tail: free them with the
		// refused ones.
		n := t.out.Push(b.Pkts[:k])
		if n < k {
			t.stats.DropN(ReasonQueueFull, uint64(k-n))
		}
		b.Pkts = b.Pkts[n:got]
		t.pool.PutBatch(&b)
		start += want
	}
	return len(bufs), nil
}

// MTU is the tunnel's inner MTU.
func (t *Tun) MTU() (int, error) { return t.mtu, nil }

// Name is the tunnel's name.
func (t *Tun) Name() (string, error) { return t.name, nil }

// Events says once that the device is up.
func (t *Tun) Events() <-chan tun.Event { return t.events }

// Close ends Read and the event stream; packets still queued go back to
// the pool.
func (t *Tun) Close() error {
	t.closeOnce.Do(func() {
		close(t.done)
		close(t.events)
		t.in.Close(t.pool)
	})
	return nil
}

// BatchSize is the burst Read and Write move.
func (t *Tun) BatchSize() int { return BatchSize }

// finishCsum completes a partial L4 checksum (CsumPartial, from a port
// whose host left it to the device) before the packet is encrypted: the
// far end of the tunnel gets it whole.
func finishCsum(p *dataplane.Packet) {
	if p.Flags&dataplane.CsumPartial == 0 {
		return
	}
	if start, off, ok := p.CsumPartialAt(); ok {
		d := p.Data()
		s := ^packet.Checksum(d[start:], 0)
		if s == 0 {
			s = 0xffff
		}
		binary.BigEndian.PutUint16(d[start+off:], s)
	}
	p.Flags &^= dataplane.CsumPartial
}
