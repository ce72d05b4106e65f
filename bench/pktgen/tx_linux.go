package pktgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Config is one run of the generator.
type Config struct {
	// Iface is the interface to send on, in the calling thread's network
	// namespace.
	Iface string
	// Spec is what to send; a nil SrcMAC means the interface's own.
	Spec Spec
	// Rate is the packets per second to offer; 0 sends as fast as the
	// kernel takes them.
	Rate float64
	// Duration bounds the run; Count, if not 0, stops it after that many
	// packets. At least one must be set.
	Duration time.Duration
	Count    uint64
	// RingFrames is the number of TX ring slots (default 4096: 8 MiB).
	RingFrames int
	// Batch is the most frames queued per kick (default 64).
	Batch int
	// Ring sends from a TPACKET_V2 transmit ring instead of with
	// sendmmsg(2) (see Run).
	Ring bool
}

// TPACKET_V2 frame layout: struct tpacket2_hdr, then the frame at
// TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) when PACKET_TX_HAS_OFF is off.
const (
	frameSize  = 2048
	dataOffset = 32
	statusOff  = 0
	lenOff     = 4
)

// Run sends cfg's packets until its duration or count is reached or ctx
// ends, and says how many went out.
//
// By default it sends with sendmmsg(2) on an AF_PACKET socket (see
// runMmsg): each packet is one linear buffer of the kernel's, as a NIC's
// small packets are. With cfg.Ring it uses a TPACKET_V2 transmit ring
// instead, cheaper for the generator, but its packets are the ring's
// pages attached to a 14-byte head, and freeing one calls back into the
// generator's socket: over veth that costs whoever frees it, and Linux's
// forwarding with receive steering frees it on the other CPU, which
// halved its 2-core figure (0.62 against 0.96 Mpps at 1400 B, back to
// back), a handicap no NIC gives it.
//
// The ring: Every slot
// is filled once, before the clock starts, with a complete frame (the slots
// cycle through the flows), so sending a packet is flipping its slot's
// status to TP_STATUS_SEND_REQUEST; one send(2) per batch makes the kernel
// take all requested slots. A slot comes back (TP_STATUS_AVAILABLE) when the
// kernel frees the packet's buffer, which over veth is after the path
// behind the interface is done with it: a full ring is back-pressure.
// PACKET_QDISC_BYPASS skips the queueing discipline (veth has none anyway).
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Duration <= 0 && cfg.Count == 0 {
		return Result{}, errors.New("pktgen: give a duration or a count")
	}
	ifc, err := net.InterfaceByName(cfg.Iface)
	if err != nil {
		return Result{}, fmt.Errorf("pktgen: %w", err)
	}
	spec := cfg.Spec
	if spec.SrcMAC == nil {
		spec.SrcMAC = ifc.HardwareAddr
	}
	if err := spec.Check(); err != nil {
		return Result{}, fmt.Errorf("pktgen: %w", err)
	}
	nframes := cfg.RingFrames
	if nframes <= 0 {
		nframes = 4096
	}
	const perBlock = 32
	nframes = (nframes + perBlock - 1) / perBlock * perBlock
	batch := cfg.Batch
	if batch <= 0 {
		batch = 64
	}
	batch = min(batch, nframes/2)
	if !cfg.Ring {
		return runMmsg(ctx, cfg, ifc, spec, batch)
	}

	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Result{}, fmt.Errorf("pktgen: AF_PACKET socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return Result{}, fmt.Errorf("pktgen: PACKET_VERSION: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return Result{}, fmt.Errorf("pktgen: PACKET_QDISC_BYPASS: %w", err)
	}
	// Every in-flight packet is charged to the socket's send buffer: make
	// it large enough that the ring, not the buffer, is the limit.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 64<<20); err != nil {
		return Result{}, fmt.Errorf("pktgen: SO_SNDBUFFORCE: %w", err)
	}
	req := unix.TpacketReq{
		Block_size: frameSize * perBlock,
		Block_nr:   uint32(nframes / perBlock),
		Frame_size: frameSize,
		Frame_nr:   uint32(nframes),
	}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return Result{}, fmt.Errorf("pktgen: PACKET_TX_RING: %w", err)
	}
	ring, err := unix.Mmap(fd, 0, nframes*frameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return Result{}, fmt.Errorf("pktgen: mapping the ring: %w", err)
	}
	defer unix.Munmap(ring)
	// Protocol 0: the socket only sends; nothing received is queued to it.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
		return Result{}, fmt.Errorf("pktgen: bind to %s: %w", cfg.Iface, err)
	}

	status := make([]*uint32, nframes)
	for i := range nframes {
		slot := ring[i*frameSize : (i+1)*frameSize]
		spec.Frame(slot[dataOffset:], i%spec.Flows)
		*(*uint32)(unsafe.Pointer(&slot[lenOff])) = uint32(spec.Size)
		status[i] = (*uint32)(unsafe.Pointer(&slot[statusOff]))
	}

	s := sender{fd: fd}
	var res Result
	// requested[i]: slot i was handed to the kernel and not yet seen back.
	// A slot seen back (TP_STATUS_AVAILABLE) is a packet sent. send(2)'s
	// byte count cannot serve: when the interface drops a packet (veth
	// with a full backlog) the kernel puts the slot back to "send request"
	// to try again and send returns ENOBUFS, losing the count of the
	// packets that did go out in that call.
	requested := make([]bool, nframes)
	var queued uint64
	cur := 0
	sch := newSchedule(ctx, cfg, batch)
	for {
		want, ok := sch.next(queued)
		if !ok {
			break
		}
		if want == 0 {
			continue
		}
		n := uint64(0)
		for n < want {
			if atomic.LoadUint32(status[cur]) != unix.TP_STATUS_AVAILABLE {
				break // still in flight: the ring is full up to here
			}
			if requested[cur] {
				res.Sent++
			}
			requested[cur] = true
			atomic.StoreUint32(status[cur], unix.TP_STATUS_SEND_REQUEST)
			cur++
			if cur == nframes {
				cur = 0
			}
			n++
		}
		queued += n
		if err := s.kick(); err != nil {
			return res, err
		}
		if n < want {
			// The ring is full: wait (briefly) for the kernel to free a slot.
			res.Full++
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, 1)
		}
	}
	res.Seconds = time.Since(sch.start).Seconds()
	// Let the kernel take what is still requested and free what is in
	// flight, then count every slot that came back.
	flushBy := time.Now().Add(2 * time.Second)
	for {
		pending := 0
		for i, r := range requested {
			if r && atomic.LoadUint32(status[i]) != unix.TP_STATUS_AVAILABLE {
				pending++
			}
		}
		if pending == 0 || time.Now().After(flushBy) {
			break
		}
		if err := s.kick(); err != nil {
			return res, err
		}
		unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, 1)
	}
	for i, r := range requested {
		if r && atomic.LoadUint32(status[i]) == unix.TP_STATUS_AVAILABLE {
			res.Sent++
		}
	}
	res.Bytes = res.Sent * uint64(spec.Size)
	if res.Seconds > 0 {
		res.PPS = float64(res.Sent) / res.Seconds
	}
	return res, nil
}

// schedule is when a run's packets may go: until its context ends, its
// duration passes or its count is sent, at its rate (0: as fast as the
// kernel takes them), a batch at most at a time.
type schedule struct {
	ctx      context.Context
	start    time.Time
	deadline time.Time // zero: none
	count    uint64    // 0: none
	rate     float64
	batch    int
}

func newSchedule(ctx context.Context, cfg Config, batch int) schedule {
	s := schedule{ctx: ctx, start: time.Now(), count: cfg.Count, rate: cfg.Rate, batch: batch}
	if cfg.Duration > 0 {
		s.deadline = s.start.Add(cfg.Duration)
	}
	return s
}

// next returns how many packets may go now, sent having gone, and false
// when the run is over. Ahead of schedule it sleeps until half a batch is
// due and returns 0, so a send carries a burst rather than a packet and
// the generator wakes no more often than it must (on a CPU it shares, its
// wake-ups are the forwarder's loss); never long, so the deadline is kept.
func (s *schedule) next(sent uint64) (uint64, bool) {
	now := time.Now()
	if s.ctx.Err() != nil || (!s.deadline.IsZero() && !now.Before(s.deadline)) || (s.count > 0 && sent >= s.count) {
		return 0, false
	}
	want := uint64(s.batch)
	if s.count > 0 {
		want = min(want, s.count-sent)
	}
	if s.rate <= 0 {
		return want, true
	}
	due := uint64(now.Sub(s.start).Seconds()*s.rate) + 1
	if due <= sent {
		next := s.start.Add(time.Duration(float64(sent+uint64(s.batch/2)) / s.rate * float64(time.Second)))
		time.Sleep(min(time.Until(next), time.Millisecond))
		return 0, true
	}
	return min(want, due-sent), true
}

type sender struct{ fd int }

// kick asks the kernel to send every slot marked TP_STATUS_SEND_REQUEST,
// without waiting for them to be freed.
func (s *sender) kick() error {
	for {
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		case unix.EAGAIN, unix.ENOBUFS:
			return nil // the send buffer is full; slots stay requested
		default:
			// A frame the kernel refuses (TP_STATUS_WRONG_FORMAT: larger
			// than the MTU, say) fails the send; the run stops there.
			return fmt.Errorf("pktgen: send: %w", errno)
		}
	}
}
