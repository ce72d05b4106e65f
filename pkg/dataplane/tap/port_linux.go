package tap

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/internal/hostnet"
	"golang.org/x/sys/unix"
)

// hdrLen is the virtio-net header the port asks for (TUNSETVNETHDRSZ):
// virtio 1.x's 12 bytes, num_buffers included, as the future virtio
// backend sees it.
const hdrLen = hostnet.VnetHdrLenMrg

// Port is one queue of a TAP device as a dataplane.Port. Like every port
// it is used by one goroutine at a time; Counters may be read from any.
type Port struct {
	dev    *device
	queue  int
	fd     int
	w      *hostnet.Waker
	pool   *dataplane.Pool
	reg    *dataplane.Region
	stats  *dataplane.Stats
	burst  int
	hr     int
	csumSW bool // finish partial checksums before writing

	stash   []uint32 // frames held to read into, at most burst
	scratch []byte   // where a packet goes that no frame can take
	closed  bool

	received, sent, tooBig, noBuffer atomic.Uint64
}

var (
	_ dataplane.Port   = (*Port)(nil)
	_ dataplane.Waiter = (*Port)(nil)
)

// device is what the ports of one TAP device share.
type device struct {
	name    string
	mtu     int
	mac     [6]byte
	ctl     int // control socket in the device's network namespace
	mu      sync.Mutex
	open    int
	putDown bool // the device existed and was down: put it down at the end
}

// Open opens one queue of the TAP device c.Name, creating the device if
// need be, in the network namespace of the calling thread.
func Open(c Config) (*Port, error) {
	ps, err := OpenQueues(c, 1)
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// OpenQueues opens n queues of the TAP device c.Name (IFF_MULTI_QUEUE),
// one Port each; the kernel spreads the device's traffic over them by flow.
func OpenQueues(c Config, n int) (ports []*Port, err error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if n < 1 || n > 256 {
		return nil, fmt.Errorf("tap %s: %d queues (want 1..256)", c.Name, n)
	}
	ctl, err := hostnet.ControlSocket()
	if err != nil {
		return nil, fmt.Errorf("tap %s: %w", c.Name, err)
	}
	dev := &device{name: c.Name, ctl: ctl}
	defer func() {
		if err != nil {
			for _, p := range ports {
				p.Close() // the last one closes ctl
			}
			if len(ports) == 0 {
				unix.Close(ctl)
			}
			ports = nil
			err = fmt.Errorf("tap %s: %w", dev.name, err)
		}
	}()
	_, lookErr := hostnet.LinkIndex(ctl, c.Name)
	existed := lookErr == nil && !strings.Contains(c.Name, "%")
	for i := range n {
		p, err := dev.openQueue(c, i)
		if err != nil {
			return ports, err
		}
		ports = append(ports, p)
	}
	if c.MTU != 0 {
		if err := hostnet.SetLinkMTU(ctl, dev.name, c.MTU); err != nil {
			return ports, err
		}
	}
	if dev.mtu, err = hostnet.LinkMTU(ctl, dev.name); err != nil {
		return ports, err
	}
	if dev.mac, err = hostnet.LinkAddr(ctl, dev.name); err != nil {
		return ports, err
	}
	if c.Up {
		changed, err := hostnet.SetLinkUp(ctl, dev.name, true)
		if err != nil {
			return ports, err
		}
		dev.putDown = changed && existed
	}
	return ports, nil
}

func (d *device) openQueue(c Config, queue int) (*Port, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("/dev/net/tun: %w", err)
	}
	closeFD := true
	defer func() {
		if closeFD {
			unix.Close(fd)
		}
	}()
	ifr, err := unix.NewIfreq(d.name)
	if err != nil {
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR | unix.IFF_MULTI_QUEUE)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	d.name = ifr.Name() // a pattern's choice; the next queues attach to it
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, hdrLen); err != nil {
		return nil, fmt.Errorf("TUNSETVNETHDRSZ: %w", err)
	}
	// What the kernel may hand us: partial checksums unless told not to,
	// never GSO packets (no TSO/UFO flags), which no frame holds.
	off := unix.TUN_F_CSUM
	if c.NoChecksumOffload {
		off = 0
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, off); err != nil {
		return nil, fmt.Errorf("TUNSETOFFLOAD: %w", err)
	}
	reg := c.Pool.Region()
	p := &Port{
		dev: d, queue: queue, fd: fd, pool: c.Pool, reg: reg, stats: c.Stats,
		burst: c.Burst, hr: reg.Headroom(), csumSW: c.NoChecksumOffload,
		stash:   make([]uint32, 0, c.Burst),
		scratch: make([]byte, 65536+hdrLen),
	}
	closeFD = false // the waker owns it, even when it fails
	if p.w, err = hostnet.NewWaker(fd, "tap "+d.name); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.open++
	d.mu.Unlock()
	return p, nil
}

// Name is the device's name.
func (p *Port) Name() string { return p.dev.name }

// Queue is the port's queue index on its device.
func (p *Port) Queue() int { return p.queue }

// BatchSize is the configured burst.
func (p *Port) BatchSize() int { return p.burst }

// MTU is the device's MTU, or less when a frame holds less.
func (p *Port) MTU() int { return min(p.dev.mtu, p.reg.FrameSize()-p.hr-14-4) }

// HardwareAddr is the device's Ethernet address: the host side's. The
// appliance, at the other end of the wire, should use another.
func (p *Port) HardwareAddr() [6]byte { return p.dev.mac }

// Counters reports what the port has done so far.
func (p *Port) Counters() Counters {
	return Counters{Received: p.received.Load(), Sent: p.sent.Load(), TooBig: p.tooBig.Load(), NoBuffer: p.noBuffer.Load()}
}

// Recv reads the packets the device has queued for this queue, at most
// BatchSize and b.Room(), one read(2) each and one more that finds the
// queue empty. Each is read straight into a frame of the pool, its
// virtio-net header into the headroom just in front of the packet: the
// kernel's copy is the only one.
func (p *Port) Recv(b *dataplane.Batch) (int, error) {
	if p.closed {
		return 0, dataplane.ErrClosed
	}
	limit := min(p.burst, b.Room())
	if k := len(p.stash); k < limit {
		p.stash = p.stash[:k+p.pool.GetIDs(p.stash[k:limit])]
	}
	start := len(b.Pkts)
	var tooBig, noBuf uint64
	var err error
	if len(p.stash) == 0 {
		// The pool is empty: drop what is queued at the edge, rather than
		// leave the queue readable and the loop spinning on it.
		for range limit {
			if _, e := unix.Read(p.fd, p.scratch); e == unix.EINTR {
				continue
			} else if e != nil {
				break
			}
			noBuf++
		}
	}
	// At most limit reads, dropped packets included. With fewer frames
	// than a burst, what does not fit waits in the queue for the next call.
	for range limit {
		if len(p.stash) == 0 {
			break
		}
		id := p.stash[len(p.stash)-1]
		buf := p.reg.Frame(id)[p.hr-hdrLen:]
		n, e := unix.Read(p.fd, buf)
		if e != nil {
			if e == unix.EINTR {
				continue
			}
			if e != unix.EAGAIN {
				err = fmt.Errorf("tap %s: read: %w", p.dev.name, e)
			}
			break
		}
		if n >= len(buf) { // cut short: the kernel reports the whole length
			tooBig++
			continue
		}
		if n <= hdrLen {
			continue // nothing behind the header
		}
		vh := hostnet.DecodeVnetHdr(buf)
		k := len(b.Pkts)
		b.Pkts = b.Pkts[:k+1]
		p.pool.SetPacket(&b.Pkts[k], id, p.hr, n-hdrLen)
		if !hostnet.ApplyRx(&b.Pkts[k], &vh, 0) {
			b.Pkts = b.Pkts[:k] // the frame stays in the stash
			tooBig++
			continue
		}
		p.stash = p.stash[:len(p.stash)-1]
	}
	got := len(b.Pkts) - start
	p.received.Add(uint64(got))
	if tooBig+noBuf > 0 {
		p.tooBig.Add(tooBig)
		p.noBuffer.Add(noBuf)
		if p.stats != nil {
			p.stats.DropN(dataplane.ReasonTooBig, tooBig)
			p.stats.DropN(dataplane.ReasonNoBuffer, noBuf)
		}
	}
	return got, err
}

// Send writes the packets of b to the device in order, one write(2) each
// (TAP has no batched write), each with its virtio-net header written
// into the headroom in front of it, frees every frame and empties b. A
// CsumPartial packet goes with NEEDS_CSUM, or, with NoChecksumOffload, has
// its checksum finished first. A write error ends the burst there.
func (p *Port) Send(b *dataplane.Batch) (n int, err error) {
	if p.closed {
		err = dataplane.ErrClosed
	}
	for i := range b.Pkts {
		if err != nil {
			break
		}
		pk := &b.Pkts[i]
		off := pk.Offset()
		if off < hdrLen {
			err = fmt.Errorf("tap %s: %d bytes of headroom, want %d", p.dev.name, off, hdrLen)
			break
		}
		if p.csumSW && pk.Flags&dataplane.CsumPartial != 0 {
			hostnet.FinishCsum(pk)
		}
		buf := pk.Buffer()
		hostnet.EncodeTx(buf[off-hdrLen:], pk)
		buf[off-2], buf[off-1] = 0, 0 // num_buffers
		for {
			_, e := unix.Write(p.fd, buf[off-hdrLen:off+pk.Len()])
			if e == unix.EINTR {
				continue
			}
			if e != nil {
				err = fmt.Errorf("tap %s: write: %w", p.dev.name, e)
			}
			break
		}
		if err == nil {
			n++
		}
	}
	p.sent.Add(uint64(n))
	p.pool.PutBatch(b)
	return n, err
}

// Arm asks for bell to be rung when the queue has a packet.
func (p *Port) Arm(bell *dataplane.Bell) bool {
	if p.closed {
		return false
	}
	return p.w.Arm(bell)
}

// Disarm cancels Arm.
func (p *Port) Disarm() {
	if !p.closed {
		p.w.Disarm()
	}
}

// Close detaches the queue and returns the frames the port held to read
// into. When the last port of a device closes, a device the ports created
// goes away, and one that existed is left as it was found (down again if
// Up brought it up). Closing twice does nothing.
func (p *Port) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.w.Close()
	p.pool.PutIDs(p.stash)
	p.stash = p.stash[:0]
	d := p.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.open--; d.open == 0 {
		if d.putDown {
			if _, derr := hostnet.SetLinkUp(d.ctl, d.name, false); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		unix.Close(d.ctl)
	}
	if err != nil {
		return fmt.Errorf("tap %s: close: %w", d.name, err)
	}
	return nil
}
