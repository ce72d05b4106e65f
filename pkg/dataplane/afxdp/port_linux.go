package afxdp

import (
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/internal/hostnet"
	"golang.org/x/sys/unix"
)

// ErrUnbound is returned once the kernel has unbound the socket, as it does
// when the interface goes away: the port will not move packets again.
var ErrUnbound = errors.New("afxdp: socket no longer bound (interface removed?)")

// releaseTimeout bounds how long Close waits for the kernel to let go of
// the queue before it gives up on the frames the kernel held.
const releaseTimeout = 5 * time.Second

// Port is a dataplane.Port over one queue of a Linux interface, through an
// AF_XDP socket whose UMEM is the dataplane's Region. It is a
// dataplane.Waiter. A Port is used by one goroutine at a time; Open and
// Close of different ports may run concurrently.
type Port struct {
	name    string
	ifname  string
	ifindex int
	mac     [6]byte
	queue   int
	key     ifaceKey
	pool    *dataplane.Pool
	stats   *dataplane.Stats
	region  *dataplane.Region
	burst   int
	mtu     int
	ring    uint32
	mode    Mode
	log     *slog.Logger

	sock  *xsk
	wake  *hostnet.Waker // owns sock.fd once the port is open
	probe *releaseProbe
	att   *attachment

	ids      []uint32 // scratch for the pool's batch calls
	held     []uint64 // bit per frame: the kernel has it (fill, RX, TX or completion)
	nheld    int
	rxFrames int // of those, frames given on the fill ring and not yet received
	maxKicks int

	// How many frames to keep given for receiving (rxFrames): the fill
	// ring's depth, which adapts (see noteBacklog).
	fillTarget int
	fillPeak   int    // largest RX backlog seen since the depth was last adjusted
	fillDrops  uint64 // the kernel's no-frame drops when last looked at
	fillCalm   int    // readings in a row that found the depth more than enough

	kstat     KernelStats // the kernel's counters when last read
	kstatIn   int         // Recv calls until they are read again
	txStalled bool        // a kick left descriptors on the TX ring
	err       error       // sticky: the socket is unusable
	closed    bool
	cnt       Counters
}

// registry is what the ports of the process share: one XDP program per
// interface, one kernel UMEM per Region, one port per queue.
var registry = struct {
	sync.Mutex
	links  map[ifaceKey]*attachment
	groups map[*dataplane.Region][]*Port // ports sharing one kernel UMEM, the first registered it
	queues map[queueKey]*Port
}{
	links:  map[ifaceKey]*attachment{},
	groups: map[*dataplane.Region][]*Port{},
	queues: map[queueKey]*Port{},
}

type queueKey struct {
	iface ifaceKey
	queue int
}

// Open opens an AF_XDP port on queue c.Queue of interface c.Interface, in
// the network namespace of the calling thread: to open one in another
// namespace, call Open from a goroutine locked to an OS thread
// (runtime.LockOSThread) that has entered it (setns); the port works from
// any goroutine afterwards.
//
// Open registers c.Pool's Region as the socket's UMEM — sharing the kernel
// UMEM of an open port on the same Region where the kernel allows it —
// attaches the XDP program to the interface unless a port of this process
// already did, posts frames on the fill ring and directs the queue's packets
// to the socket. Mode tells what it obtained.
func Open(c Config) (*Port, error) {
	p, err := open(c)
	if err != nil {
		return nil, fmt.Errorf("afxdp: %s queue %d: %w", c.Interface, c.Queue, err)
	}
	return p, nil
}

func open(c Config) (_ *Port, err error) {
	ifname := c.Interface
	if ifname == "" {
		return nil, errors.New("config: Interface is required")
	}
	if c.Pool == nil {
		return nil, errors.New("config: Pool is required")
	}
	region := c.Pool.Region()
	if fs := region.FrameSize(); fs < 2048 || fs > os.Getpagesize() {
		return nil, fmt.Errorf("config: frames of %d bytes; an AF_XDP UMEM needs 2048..%d (aligned chunks of at most a page)", fs, os.Getpagesize())
	}
	if c.RingSize == 0 {
		c.RingSize = DefaultRingSize
	}
	if c.RingSize < 2 || c.RingSize > 1<<16 || c.RingSize&(c.RingSize-1) != 0 {
		return nil, fmt.Errorf("config: ring size %d is not a power of two in 2..65536", c.RingSize)
	}
	if c.Burst <= 0 {
		c.Burst = dataplane.DefaultBurst
	}
	if c.Queue < 0 {
		return nil, fmt.Errorf("config: queue %d", c.Queue)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Name == "" {
		c.Name = ifname
	}
	info, err := linkByName(ifname)
	if err != nil {
		return nil, err
	}
	if q := max(info.rxQueues, info.txQueues); c.Queue >= q {
		return nil, fmt.Errorf("the interface has %d queues", q)
	}
	nsDev, nsIno, err := currentNetns()
	if err != nil {
		return nil, err
	}
	if c.MTU <= 0 {
		c.MTU = info.mtu
	}

	p := &Port{
		name:     c.Name,
		ifname:   ifname,
		ifindex:  info.index,
		mac:      info.mac,
		queue:    c.Queue,
		key:      ifaceKey{nsDev, nsIno, info.index},
		pool:     c.Pool,
		stats:    c.Stats,
		region:   region,
		burst:    c.Burst,
		mtu:      c.MTU,
		ring:     uint32(c.RingSize),
		log:      c.Log,
		ids:      make([]uint32, c.RingSize),
		held:     make([]uint64, (region.Frames()+63)/64),
		maxKicks: c.RingSize/32 + 4,
		// Start deep, for whatever arrives before the first adjustment.
		fillTarget: c.RingSize,
	}
	qk := queueKey{p.key, p.queue}

	registry.Lock()
	defer registry.Unlock()
	if registry.queues[qk] != nil {
		return nil, errors.New("already open in this process")
	}
	if p.probe, err = newReleaseProbe(); err != nil {
		return nil, fmt.Errorf("AF_XDP socket: %w", err)
	}
	defer func() {
		if err != nil {
			p.undo()
		}
	}()
	if err := p.openSocket(c.Bind); err != nil {
		return nil, err
	}
	att := registry.links[p.key]
	if att == nil {
		if att, err = attach(p.key, ifname, info, c.Queue, c.XDP); err != nil {
			return nil, err
		}
		registry.links[p.key] = att
	} else if c.XDP != XDPAuto && c.XDP != att.mode {
		return nil, fmt.Errorf("XDP %s asked, but another port of %s attached in %s mode", c.XDP, ifname, att.mode)
	}
	att.users++
	p.att = att
	p.mode.XDP = att.mode

	// Frames on the fill ring before the first packet is directed here.
	p.refill()
	if p.rxFrames == 0 {
		return nil, fmt.Errorf("the pool has no frame for the fill ring (%d of %d in use)", p.pool.InUse(), p.pool.Size())
	}
	// The kernel signals the socket readable when it posts to the RX ring.
	if p.wake, err = hostnet.NewWaker(p.sock.fd, "afxdp:"+ifname); err != nil {
		p.sock.fd = -1 // NewWaker closed it
		return nil, err
	}
	if err := att.setSocket(p.queue, p.sock.fd); err != nil {
		return nil, err
	}
	registry.queues[qk] = p
	if !p.mode.SharedUMEM {
		// A port with a UMEM of its own becomes the base of a new group
		// when there is none.
		if len(registry.groups[region]) == 0 {
			registry.groups[region] = []*Port{p}
		}
	} else {
		registry.groups[region] = append(registry.groups[region], p)
	}
	if room := region.FrameSize() - p.dataOffset(); p.mtu+18 > room {
		p.log.Warn("afxdp: frames hold less than the interface MTU; longer packets are dropped by the kernel",
			"port", p.name, "mtu", p.mtu, "frame_room", room)
	}
	p.readKernelStats()
	p.log.Info("afxdp: port open", "port", p.name, "interface", ifname, "queue", p.queue,
		"mode", p.mode.String(), "ring", p.ring)
	return p, nil
}

// openSocket binds the port's socket, sharing the kernel UMEM of the
// Region's group where the kernel allows it and the mode fits. The kernel
// gives a socket sharing a UMEM the UMEM's mode (zero-copy or copy), and
// refuses a zero-copy UMEM on a device without zero-copy; then, or when
// the shared mode is not the one asked for, the socket registers the same
// Region as a UMEM of its own. The frames are the same memory either way.
func (p *Port) openSocket(bind BindMode) error {
	c := sockConfig{region: p.region, ringSize: p.ring, ifindex: p.ifindex, queue: p.queue, bind: bind, sharedFD: -1}
	var sharedErr error
	if group := registry.groups[p.region]; len(group) > 0 {
		c.sharedFD = group[0].sock.fd
		s, err := newXSK(c)
		switch {
		case err != nil:
			sharedErr = err
		case bind == BindZeroCopy && !s.zc, bind == BindCopy && s.zc:
			s.close()
			sharedErr = errors.New("shared UMEM is in another mode")
		default:
			p.sock, p.mode.ZeroCopy, p.mode.SharedUMEM = s, s.zc, true
			return nil
		}
		c.sharedFD = -1
	}
	s, err := newXSK(c)
	if err != nil {
		if sharedErr != nil {
			err = fmt.Errorf("%w (sharing the UMEM: %v)", err, sharedErr)
		}
		return err
	}
	if sharedErr != nil {
		p.log.Debug("afxdp: own UMEM", "port", p.name, "why", sharedErr)
	}
	p.sock, p.mode.ZeroCopy = s, s.zc
	return nil
}

// Queues is the number of queues of interface ifname (in the network
// namespace of the calling thread): the ports to open, one per queue, to
// receive all its traffic.
func Queues(ifname string) (int, error) {
	info, err := linkByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("afxdp: %w", err)
	}
	return max(info.rxQueues, 1), nil
}

// undo releases what a failed open took. The registry is locked.
func (p *Port) undo() {
	if p.att != nil {
		p.att.clearSocket(p.queue)
		if p.att.users--; p.att.users == 0 {
			p.att.detach()
			delete(registry.links, p.key)
		}
	}
	bound := p.sock != nil
	p.closeSocket()
	// A bound socket's queue may hold fill-ring frames (a zero-copy driver
	// takes them at bind): wait as Close does.
	if !bound || p.probe.wait(p.ifindex, p.queue, releaseTimeout) == nil {
		p.returnHeld()
	}
	p.probe.close()
}

// closeSocket stops the waker (nothing polls the socket afterwards),
// closes the socket and unmaps the rings. The mappings hold the socket
// open, so the kernel releases it at the last unmap.
func (p *Port) closeSocket() error {
	if p.sock == nil {
		return nil
	}
	var err error
	if p.wake != nil {
		err = p.wake.Close()
		p.sock.fd = -1
	}
	err = errors.Join(err, p.sock.close())
	p.sock = nil
	return err
}

// Name is the port's name.
func (p *Port) Name() string { return p.name }

// Interface is the name of the interface the port is bound to.
func (p *Port) Interface() string { return p.ifname }

// Queue is the queue the port is bound to.
func (p *Port) Queue() int { return p.queue }

// Mode is how the kernel attached the program and bound the socket.
func (p *Port) Mode() Mode { return p.mode }

// BatchSize is the most packets one Recv returns.
func (p *Port) BatchSize() int { return p.burst }

// HardwareAddr is the interface's Ethernet address.
func (p *Port) HardwareAddr() [6]byte { return p.mac }

// MTU is the interface's MTU, or the configured one.
func (p *Port) MTU() int { return p.mtu }

// Counters reports what the port has done so far.
func (p *Port) Counters() Counters { return p.cnt }

// FramesInKernel is how many frames the port has given the kernel and not
// had back: on the fill ring, received but not yet taken by Recv, being
// transmitted, or completed but not yet reclaimed.
func (p *Port) FramesInKernel() int { return p.nheld }

// KernelStats reads the socket's counters kept by the kernel.
func (p *Port) KernelStats() (KernelStats, error) {
	if p.closed {
		return p.kstat, dataplane.ErrClosed
	}
	p.readKernelStats()
	return p.kstat, nil
}

// kernelStatsEvery is how many Recv calls pass between two readings of
// the kernel's drop counters (one getsockopt).
const kernelStatsEvery = 1024

// readKernelStats reads the socket's counters and counts the receive drops
// since the last reading under the port's drop reasons.
func (p *Port) readKernelStats() {
	p.kstatIn = kernelStatsEvery
	st, err := p.sock.stats()
	if err != nil {
		return
	}
	if p.stats != nil {
		p.stats.DropN(ReasonXSKNoFrame, st.RxDropped-p.kstat.RxDropped)
		p.stats.DropN(ReasonXSKRingFull, st.RxRingFull-p.kstat.RxRingFull)
	}
	p.kstat = st
	p.adjustFill()
}

// minFillDepth is the fewest frames a port keeps given for receiving.
const minFillDepth = 256

// fillCalmReadings is how many readings in a row must find the fill depth
// more than enough before it is made shallower: a worker off its CPU now
// and then should not find it shallow each time.
const fillCalmReadings = 32

// noteBacklog and adjustFill adapt the fill depth (Sizing in the package
// documentation says why): between minFillDepth and the ring's size, twice
// as deep at once when a backlog on the RX ring reaches half of it or the
// kernel dropped a packet for want of a frame, a quarter shallower after
// fillCalmReadings readings of the kernel's counters in which no backlog
// reached a quarter of it. A shallow fill ring keeps the frames the kernel
// writes into in the CPU's cache; a deep one holds traffic while the
// worker is off its CPU.
func (p *Port) noteBacklog(backlog int) {
	p.fillPeak = backlog
	if 2*backlog >= p.fillTarget {
		p.deepen()
	}
}

func (p *Port) deepen() {
	p.fillTarget = min(int(p.ring), 2*p.fillTarget)
	p.fillCalm = 0
}

func (p *Port) adjustFill() {
	switch {
	case p.kstat.RxDropped != p.fillDrops:
		p.fillDrops = p.kstat.RxDropped
		p.deepen()
	case 4*p.fillPeak >= p.fillTarget:
		p.fillCalm = 0
	default:
		if p.fillCalm++; p.fillCalm >= fillCalmReadings {
			p.fillCalm = 0
			p.fillTarget = max(min(minFillDepth, int(p.ring)), p.fillTarget-p.fillTarget/4)
		}
	}
	p.fillPeak = 0
}

// dataOffset is where the kernel puts a received packet in its frame.
func (p *Port) dataOffset() int { return int(umemHeadroom(p.region)) + xdpPacketHeadroom }

func (p *Port) hold(id uint32) {
	w, m := &p.held[id>>6], uint64(1)<<(id&63)
	if *w&m != 0 {
		panic(fmt.Sprintf("afxdp: %s: frame %d given to the kernel twice (a packet sent twice, or sent while the port holds it)", p.name, id))
	}
	*w |= m
	p.nheld++
}

// unhold takes frame id back from the kernel; false means the kernel did
// not have it.
func (p *Port) unhold(id uint32) bool {
	w, m := &p.held[id>>6], uint64(1)<<(id&63)
	if *w&m == 0 {
		return false
	}
	*w &^= m
	p.nheld--
	return true
}

// Recv appends up to a burst of received packets to b, at most BatchSize
// and b.Room(), and returns how many. Each is the frame the kernel wrote
// it into — no byte is copied — and belongs to the caller from now on.
// Recv also takes back the frames the kernel has finished transmitting and
// tops the fill ring up from the pool. It never blocks.
func (p *Port) Recv(b *dataplane.Batch) (int, error) {
	if p.closed {
		return 0, dataplane.ErrClosed
	}
	if p.err != nil {
		return 0, p.err
	}
	p.reclaim()
	if p.txStalled {
		p.kickTx()
	}
	if p.kstatIn--; p.kstatIn <= 0 {
		p.readKernelStats()
	}
	room := min(b.Room(), p.burst)
	if room <= 0 {
		return 0, nil
	}
	rx := &p.sock.rx
	n := rx.available(uint32(room))
	if backlog := int(rx.remote - rx.local); backlog > p.fillPeak {
		p.noteBacklog(backlog)
	}
	start := len(b.Pkts)
	var err error
	for i := range n {
		d := rx.at(i)
		id, within, ok := p.region.FrameOf(d.Addr)
		if !ok || !p.unhold(id) {
			err = ErrCorrupt // not ours: leave it alone
			continue
		}
		p.rxFrames--
		k := len(b.Pkts)
		b.Pkts = b.Pkts[:k+1]
		// Built in its batch slot; the kernel never writes past the frame.
		if !p.pool.SetPacket(&b.Pkts[k], id, within, int(d.Len)) {
			b.Pkts = b.Pkts[:k]
			p.pool.PutID(id)
			err = ErrCorrupt
		}
	}
	rx.release(n)
	p.refill()
	got := len(b.Pkts) - start
	p.cnt.Received += uint64(got)
	return got, err
}

// refill tops the frames given for receiving up to the fill depth from the
// pool, once a burst's worth is missing, so the pool's lock is taken once
// per burst.
func (p *Port) refill() {
	want := p.fillTarget - p.rxFrames
	if want <= 0 || (want < p.burst && p.rxFrames > p.burst) {
		return
	}
	fill := &p.sock.fill
	n := fill.free(uint32(want))
	if n == 0 {
		return
	}
	got := p.pool.GetIDs(p.ids[:n])
	for i, id := range p.ids[:got] {
		p.hold(id)
		*fill.at(uint32(i)) = p.region.Offset(id, 0) // the kernel adds the headroom
	}
	fill.submit(uint32(got))
	p.rxFrames += got
	if got < int(n) {
		p.cnt.FillShort++
	}
	if got > 0 && fill.needWakeup() {
		p.kick(unix.SYS_RECVFROM)
	}
}

// reclaim returns the frames the kernel has finished transmitting to the
// pool.
func (p *Port) reclaim() {
	comp := &p.sock.comp
	n := comp.available(uint32(len(p.ids)))
	if n == 0 {
		return
	}
	ids := p.ids[:0]
	for i := range n {
		id, _, ok := p.region.FrameOf(*comp.at(i))
		if ok && p.unhold(id) {
			ids = append(ids, id)
		} else {
			p.err = ErrCorrupt
		}
	}
	comp.release(n)
	p.pool.PutIDs(ids)
	p.cnt.Completed += uint64(len(ids))
}

// Send places the packets of b on the TX ring in order — each descriptor
// names the packet's frame by its region offset, so no byte is copied —
// wakes the kernel if it sleeps, and empties b. The port owns every packet
// of b from the call on: the first n are the kernel's until it completes
// them (then Recv, Send or Close returns their frames to the pool); the
// rest, which found the ring full or follow a zero-length packet, it frees.
func (p *Port) Send(b *dataplane.Batch) (n int, err error) {
	pkts := b.Pkts
	if len(pkts) == 0 {
		return 0, nil
	}
	switch {
	case p.closed:
		err = dataplane.ErrClosed
	case p.err != nil:
		err = p.err
	default:
		p.reclaim()
		tx := &p.sock.tx
		room := int(tx.free(uint32(len(pkts))))
		for n < room {
			pk := &pkts[n]
			if pk.Len() == 0 {
				break // the kernel would count it invalid and keep the frame
			}
			id := pk.Frame()
			p.hold(id)
			d := tx.at(uint32(n))
			d.Addr = p.region.Offset(id, pk.Offset())
			d.Len = uint32(pk.Len())
			d.Options = 0
			n++
		}
		if n > 0 {
			tx.submit(uint32(n))
			p.cnt.Sent += uint64(n)
			p.kickTx()
		}
		if rest := uint64(len(pkts) - n); rest > 0 {
			if n == room {
				p.cnt.TxFull += rest
			} else {
				p.cnt.TxEmpty += rest
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

// kickTx gets the kernel transmitting. With a zero-copy driver one sendto
// wakes the driver, and only when it set XDP_RING_NEED_WAKEUP. In copy mode
// the kernel transmits inside sendto itself, at most its budget per call,
// so kickTx calls again while the ring has descriptors and the kernel takes
// them; what it leaves (the device is busy or down) the next Recv, Send or
// Arm kicks again.
func (p *Port) kickTx() {
	tx := &p.sock.tx
	if p.mode.ZeroCopy {
		if tx.needWakeup() {
			p.kick(unix.SYS_SENDTO)
		}
		return
	}
	stuck := 0
	for range p.maxKicks {
		left := tx.outstanding()
		if left == 0 {
			break
		}
		switch e := p.kick(unix.SYS_SENDTO); e {
		case 0, unix.EBUSY:
			// EBUSY: the device dropped a packet; it is completed anyway.
		case unix.EAGAIN:
			// The budget ran out, the completion ring is full, or the
			// device queue is: make room and go on.
			p.reclaim()
		case unix.ENXIO:
			p.err = ErrUnbound
			return
		default:
			// ENETDOWN and the like: the descriptors wait on the ring.
			p.cnt.KickErrors++
			p.txStalled = true
			return
		}
		if tx.outstanding() == left {
			if stuck++; stuck == 2 {
				break
			}
		} else {
			stuck = 0
		}
	}
	p.txStalled = tx.outstanding() > 0
}

// kick makes the syscall that wakes the kernel for the socket: sendto for
// TX, recvfrom for the fill ring (zero-copy drivers), never blocking.
func (p *Port) kick(trap uintptr) unix.Errno {
	p.cnt.Kicks++
	_, _, e := unix.Syscall6(trap, uintptr(p.sock.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

// Arm asks the port to ring bell when packets arrive. It first settles
// what an idle port must not leave pending — completed frames back to the
// pool, the fill ring topped up, descriptors left on the TX ring sent, the
// fill ring's wake-up flag honoured — and returns false, arming nothing,
// when descriptors are still on the TX ring, when packets are already waiting, when no frame is on the fill ring (the
// port could not receive, so nothing would wake the loop), or when the
// socket is no longer bound (the next Recv returns ErrUnbound). A loop that
// sleeps when an interface is removed learns it when it next wakes: on
// traffic through another port, or on its Ticker.
func (p *Port) Arm(bell *dataplane.Bell) bool {
	if p.closed || p.err != nil {
		return false
	}
	p.reclaim()
	p.refill()
	if p.txStalled {
		// Frames still on the TX ring would wait for a kick that a
		// sleeping loop never makes (their completion does not wake
		// the socket): stay awake, polling, until they have left.
		if p.kickTx(); p.txStalled {
			return false
		}
	}
	p.readKernelStats()
	// recvfrom wakes a zero-copy driver that asked for it (the fill
	// ring's need-wakeup flag), and tells whether the socket is still
	// bound: the kernel does not signal the unbinding through poll, so a
	// port that only receives would not learn otherwise.
	if e := p.kick(unix.SYS_RECVFROM); e == unix.ENXIO || e == unix.ENODEV {
		p.err = ErrUnbound
		return false
	}
	if p.rxFrames == 0 {
		return false
	}
	return p.wake.Arm(bell)
}

// Disarm cancels Arm.
func (p *Port) Disarm() { p.wake.Disarm() }

// Close stops directing the queue's packets to the socket (they go to the
// kernel stack again), detaches the XDP program when this was the last
// port of the interface, closes the socket, and — once the kernel has let
// go of the queue — returns every frame the kernel still held to the pool:
// those on the fill ring, received but not taken, being transmitted, or
// completed. Closing twice does nothing.
func (p *Port) Close() error {
	if p.closed {
		return nil
	}
	p.readKernelStats()
	p.closed = true
	var errs []error
	registry.Lock()
	errs = append(errs, p.att.clearSocket(p.queue))
	if p.att.users--; p.att.users == 0 {
		errs = append(errs, p.att.detach())
		delete(registry.links, p.key)
	}
	if g := registry.groups[p.region]; slices.Contains(g, p) {
		if g = slices.DeleteFunc(g, func(q *Port) bool { return q == p }); len(g) == 0 {
			delete(registry.groups, p.region)
		} else {
			registry.groups[p.region] = g
		}
	}
	delete(registry.queues, queueKey{p.key, p.queue})
	registry.Unlock()

	errs = append(errs, p.closeSocket())
	if err := p.probe.wait(p.ifindex, p.queue, releaseTimeout); err != nil {
		// The NIC may still write into the frames it held: they are lost
		// to the pool rather than handed to a new owner under its feet.
		errs = append(errs, fmt.Errorf("waiting for the kernel to release the queue (%d frames withheld from the pool): %w", p.nheld, err))
	} else {
		p.returnHeld()
	}
	errs = append(errs, p.probe.close())
	p.log.Info("afxdp: port closed", "port", p.name, "interface", p.ifname, "queue", p.queue)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("afxdp: %s queue %d: close: %w", p.ifname, p.queue, err)
	}
	return nil
}

// returnHeld gives every frame the kernel had to the pool.
func (p *Port) returnHeld() {
	ids := p.ids[:0]
	for w, word := range p.held {
		for word != 0 {
			bit := bits.TrailingZeros64(word)
			word &^= 1 << bit
			ids = append(ids, uint32(w*64+bit))
			if len(ids) == cap(ids) {
				p.pool.PutIDs(ids)
				ids = ids[:0]
			}
		}
		p.held[w] = 0
	}
	p.pool.PutIDs(ids)
	p.nheld, p.rxFrames = 0, 0
}
