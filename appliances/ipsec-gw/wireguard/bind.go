package wireguard

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
	"golang.zx2c4.com/wireguard/conn"
)

// Header sizes of an outer datagram.
const (
	udpLen  = 8
	ipv4Len = 20
	ipv6Len = 40
)

// Bind is a tunnel's outer side as wireguard-go's conn.Bind: the datagrams
// to the tunnel's listen port that the gateway intercepted in the dataplane
// come out of its ReceiveFunc, and Send hands the device's messages, in UDP
// and IP, to the router (as the appliance's own packets, port local).
//
// The ReceiveFunc is called by one device goroutine; Send by several,
// concurrently.
type Bind struct {
	pool  *dataplane.Pool
	stats *dataplane.Stats
	in    *Queue // intercepted datagrams for the device (IP at data start)
	out   *Queue // the device's datagrams for the router
	local uint16 // the router's port for the appliance's own packets
	// sourceFor picks our address towards an endpoint that has none yet.
	sourceFor func(netip.Addr) (netip.Addr, bool)

	port atomic.Uint32 // the listen port while open, else 0
	ipID atomic.Uint32

	mu   sync.Mutex
	done chan struct{} // closed by Close; nil while closed

	// The ReceiveFunc's own: it has one caller at a time.
	rx     []dataplane.Packet
	rxFree dataplane.Batch
	eps    map[epKey]*Endpoint
	last   *Endpoint
}

var _ conn.Bind = (*Bind)(nil)

// maxEndpoints bounds the ReceiveFunc's endpoint cache; when full it starts
// over.
const maxEndpoints = 4096

type epKey struct {
	dst netip.AddrPort // the peer
	src netip.Addr     // our address it sent to
}

// NewBind makes the outer side of a tunnel. Datagrams for the device are to
// be pushed onto in (see Deliver); the device's go out through out as
// packets of port local, from the address sourceFor gives for an endpoint
// that has no source yet.
func NewBind(pool *dataplane.Pool, stats *dataplane.Stats, in, out *Queue, local uint16, sourceFor func(netip.Addr) (netip.Addr, bool)) *Bind {
	return &Bind{
		pool: pool, stats: stats, in: in, out: out, local: local, sourceFor: sourceFor,
		rx:  make([]dataplane.Packet, BatchSize),
		eps: make(map[epKey]*Endpoint),
	}
}

// Port is the listen port while the bind is open, else 0.
func (b *Bind) Port() uint16 { return uint16(b.port.Load()) }

// Deliver hands intercepted datagrams to the device: each an IP packet
// (IPv4 or IPv6, no link header) carrying UDP to the listen port. It
// returns how many it took, always the first ones; the caller frees the
// rest (the bind is closed, or its queue full).
func (b *Bind) Deliver(ps []dataplane.Packet) int {
	if b.port.Load() == 0 {
		return 0
	}
	return b.in.Push(ps)
}

// Open starts listening on port, or on a random high port for 0.
func (b *Bind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	if port == 0 {
		port = uint16(49152 + rand.IntN(16384))
	}
	done := make(chan struct{})
	b.done = done
	b.in.Open()
	b.port.Store(uint32(port))
	recv := func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		return b.receive(done, packets, sizes, eps)
	}
	return []conn.ReceiveFunc{recv}, port, nil
}

// Close stops listening: the ReceiveFunc returns net.ErrClosed, and
// datagrams still queued are freed.
func (b *Bind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done == nil {
		return nil
	}
	b.port.Store(0)
	close(b.done)
	b.done = nil
	b.in.Close(b.pool)
	return nil
}

// SetMark does nothing: there is no socket to mark.
func (b *Bind) SetMark(uint32) error { return nil }

// BatchSize is the burst the ReceiveFunc and Send move.
func (b *Bind) BatchSize() int { return BatchSize }

// ParseEndpoint parses an endpoint as ADDR:PORT or [ADDR]:PORT.
func (b *Bind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return &Endpoint{dst: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
}

// receive is the ReceiveFunc of the bind opened with done.
func (b *Bind) receive(done chan struct{}, packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	for {
		n := b.in.Pop(b.rx[:min(len(packets), len(b.rx))])
		if n == 0 {
			if !b.in.Wait(done) {
				return 0, net.ErrClosed
			}
			continue
		}
		k := 0
		for i := range b.rx[:n] {
			peer, ours, payload, ok := packet.ParseDatagram(b.rx[i].Data())
			switch {
			case !ok:
				b.stats.Drop(ReasonMalformed)
				continue
			case len(payload) > len(packets[k]):
				b.stats.Drop(ReasonTooBig)
				continue
			}
			sizes[k] = copy(packets[k], payload)
			eps[k] = b.endpoint(peer, ours.Addr())
			k++
		}
		b.rxFree.Pkts = b.rx[:n]
		b.pool.PutBatch(&b.rxFree)
		if k > 0 {
			return k, nil
		}
	}
}

// endpoint returns the (cached) endpoint of a datagram from peer to our
// address src.
func (b *Bind) endpoint(peer netip.AddrPort, src netip.Addr) *Endpoint {
	// Bursts come mostly from one peer: try the last one before hashing.
	if e := b.last; e != nil && e.dst == peer && e.src == src {
		return e
	}
	k := epKey{peer, src}
	if e := b.eps[k]; e != nil {
		b.last = e
		return e
	}
	if len(b.eps) >= maxEndpoints {
		clear(b.eps)
	}
	e := &Endpoint{dst: peer, src: src}
	b.eps[k] = e
	b.last = e
	return e
}

var errNoSource = errors.New("no route or no address towards the endpoint")

// Send wraps each message of bufs in UDP and IP to ep, from our address
// the peer last sent to (or the router's choice), and hands them to the
// router. Datagrams that find no frame or no room are counted and dropped,
// as a socket's would be.
func (b *Bind) Send(bufs [][]byte, ep conn.Endpoint) error {
	e, ok := ep.(*Endpoint)
	if !ok {
		return conn.ErrWrongEndpointType
	}
	sport := uint16(b.port.Load())
	if sport == 0 {
		b.stats.DropN(ReasonClosed, uint64(len(bufs)))
		return net.ErrClosed
	}
	dst := e.dst.Addr()
	src := e.src
	if !src.IsValid() || src.Is4() != dst.Is4() {
		if src, ok = b.sourceFor(dst); !ok || src.Is4() != dst.Is4() {
			b.stats.DropN(ReasonNoSource, uint64(len(bufs)))
			return errNoSource
		}
	}
	var store [BatchSize]dataplane.Packet
	for start := 0; start < len(bufs); {
		bt := dataplane.Batch{Pkts: store[:0]}
		want := min(len(bufs)-start, BatchSize)
		got := b.pool.GetN(&bt, want)
		if got < want {
			b.stats.DropN(dataplane.ReasonNoBuffer, uint64(want-got))
		}
		k := 0
		for i := range got {
			if b.fill(&bt.Pkts[k], bufs[start+i], src, dst, sport, e.dst.Port()) {
				k++
			} else {
				b.stats.Drop(ReasonTooBig)
			}
		}
		n := b.out.Push(bt.Pkts[:k])
		if n < k {
			b.stats.DropN(ReasonQueueFull, uint64(k-n))
		}
		bt.Pkts = bt.Pkts[n:got]
		b.pool.PutBatch(&bt)
		start += want
	}
	return nil
}

// fill writes IP, UDP and msg into the empty frame p. It reports false,
// leaving p empty, when they do not fit.
func (b *Bind) fill(p *dataplane.Packet, msg []byte, src, dst netip.Addr, sport, dport uint16) bool {
	hl := packet.DatagramHeaderLen(dst)
	if udpLen+len(msg) > 0xffff || p.Append(hl+len(msg)) == nil {
		return false
	}
	p.InPort = b.local
	d := p.Data()
	copy(d[hl:], msg)
	// No UDP checksum over IPv4: every WireGuard message carries its own
	// MAC, which a corrupted one fails.
	packet.PutDatagram(d, netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport), uint16(b.ipID.Add(1)), false)
	return true
}

// Endpoint is a peer's address and port, with our address the peer last
// sent to (replies leave from it). It is immutable: ClearSrc does nothing,
// since the source the router would pick instead can only be worse than
// the one the peer reached.
type Endpoint struct {
	dst netip.AddrPort
	src netip.Addr
}

var _ conn.Endpoint = (*Endpoint)(nil)

// ClearSrc does nothing (see Endpoint).
func (e *Endpoint) ClearSrc() {}

// SrcToString is our address, or "".
func (e *Endpoint) SrcToString() string {
	if !e.src.IsValid() {
		return ""
	}
	return e.src.String()
}

// DstToString is the peer's address and port.
func (e *Endpoint) DstToString() string { return e.dst.String() }

// DstToBytes is the peer's address and port for cookie MACs.
func (e *Endpoint) DstToBytes() []byte {
	b, _ := e.dst.MarshalBinary()
	return b
}

// DstIP is the peer's address.
func (e *Endpoint) DstIP() netip.Addr { return e.dst.Addr() }

// SrcIP is our address, if known.
func (e *Endpoint) SrcIP() netip.Addr { return e.src }
