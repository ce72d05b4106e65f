package pktgen

import (
	"context"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// runMmsg is Run with sendmmsg(2): batch frames built once (cycling
// through the flows), each call handing the kernel a batch, which it
// copies, a frame to a buffer of its own, and sends. A call that sends
// none (the send buffer is full: the path behind the interface is slow to
// free what it took) counts in Result.Full.
func runMmsg(ctx context.Context, cfg Config, ifc *net.Interface, spec Spec, batch int) (Result, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Result{}, fmt.Errorf("pktgen: AF_PACKET socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return Result{}, fmt.Errorf("pktgen: PACKET_QDISC_BYPASS: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 64<<20); err != nil {
		return Result{}, fmt.Errorf("pktgen: SO_SNDBUFFORCE: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
		return Result{}, fmt.Errorf("pktgen: bind to %s: %w", cfg.Iface, err)
	}
	// 2 batches' worth, a whole number of flow cycles.
	nf := spec.Flows * ((2*batch + spec.Flows - 1) / spec.Flows)
	frames := make([][]byte, nf)
	iovs := make([]unix.Iovec, nf)
	msgs := make([]mmsghdr, nf)
	for i := range frames {
		frames[i] = make([]byte, spec.Size)
		spec.Frame(frames[i], i%spec.Flows)
		iovs[i].Base = &frames[i][0]
		iovs[i].SetLen(spec.Size)
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}
	var res Result
	sch := newSchedule(ctx, cfg, batch)
	for {
		want, ok := sch.next(res.Sent)
		if !ok {
			break
		}
		if want == 0 {
			continue
		}
		// The flows cycle: start where the last call stopped.
		at := int(res.Sent % uint64(len(msgs)))
		n := min(int(want), len(msgs)-at)
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[at])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			res.Sent += uint64(r)
		case unix.EINTR:
		case unix.EAGAIN, unix.ENOBUFS:
			res.Full++
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, 1)
		default:
			// A frame the kernel refuses (larger than the MTU, say) stops
			// the run.
			return res, fmt.Errorf("pktgen: sendmmsg: %w", e)
		}
	}
	res.Seconds = time.Since(sch.start).Seconds()
	res.Bytes = res.Sent * uint64(spec.Size)
	if res.Seconds > 0 {
		res.PPS = float64(res.Sent) / res.Seconds
	}
	return res, nil
}
