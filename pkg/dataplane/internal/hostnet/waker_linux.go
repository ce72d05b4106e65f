package hostnet

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"golang.org/x/sys/unix"
)

// Waker implements dataplane.Waiter for a port whose receive side is a
// pollable descriptor (a socket, a TUN queue): Arm hands the loop's bell
// to a helper goroutine that waits for the descriptor to become readable in
// the Go runtime's netpoller (epoll), and rings the bell when it does.
// While the loop is busy the helper is parked on a channel and the
// descriptor's readiness events cost nothing but the netpoller noting them.
//
// Waker owns the descriptor: Close closes it.
type Waker struct {
	fd   int
	f    *os.File
	rc   syscall.RawConn
	bell atomic.Pointer[dataplane.Bell]
	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
	wait func(uintptr) bool // w.check, bound once
}

// aLongTimeAgo is a deadline in the past: setting it wakes the helper out
// of its wait.
var aLongTimeAgo = time.Unix(1, 0)

// NewWaker takes fd over, which must be in non-blocking mode, and
// registers it with the netpoller; name names it in errors. It takes fd
// over even when it fails: then it has closed it.
func NewWaker(fd int, name string) (*Waker, error) {
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: waker needs a non-blocking descriptor", name)
	}
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		return nil, fmt.Errorf("%s: bad descriptor", name)
	}
	// A descriptor the netpoller cannot take has no deadlines.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not pollable: %w", name, err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &Waker{fd: fd, f: f, rc: rc, kick: make(chan struct{}, 1), done: make(chan struct{})}
	w.wait = w.check
	w.wg.Add(1)
	go w.run()
	return w, nil
}

// FD is the descriptor, for the port's own system calls.
func (w *Waker) FD() int { return w.fd }

func (w *Waker) run() {
	defer w.wg.Done()
	for {
		select {
		case <-w.kick:
		case <-w.done:
			return
		}
		// Returns when check says so, on a deadline (Disarm), or when the
		// descriptor is closed.
		if err := w.rc.Read(w.wait); errors.Is(err, os.ErrClosed) {
			return
		}
	}
}

// check is called by the netpoller goroutine first right away, then each
// time the descriptor becomes readable; true ends the wait. The first call
// catches what arrived between Arm's own check and the wait starting.
func (w *Waker) check(uintptr) bool {
	b := w.bell.Load()
	if b == nil {
		return true // disarmed, or rung already
	}
	if !Readable(w.fd) {
		return false
	}
	if w.bell.CompareAndSwap(b, nil) {
		b.Ring()
	}
	return true
}

// Arm asks for bell to be rung once when the descriptor is readable. It
// returns false, arming nothing, when it is readable already.
func (w *Waker) Arm(bell *dataplane.Bell) bool {
	w.bell.Store(bell)
	if Readable(w.fd) {
		w.bell.Store(nil)
		return false
	}
	// Clear the deadline the last Disarm set before the helper waits.
	if w.f.SetReadDeadline(time.Time{}) != nil {
		w.bell.Store(nil)
		return false // closed: let the loop poll and see it
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return true
}

// Disarm cancels Arm: the helper stops waiting. A ring may still arrive.
func (w *Waker) Disarm() {
	if w.bell.Swap(nil) != nil {
		w.f.SetReadDeadline(aLongTimeAgo)
	}
}

// Close stops the helper and closes the descriptor. When it returns the
// helper has stopped, so the caller may release what check looked at.
func (w *Waker) Close() error {
	select {
	case <-w.done:
		return nil
	default:
	}
	close(w.done)
	w.bell.Store(nil)
	err := w.f.Close() // wakes a helper in its wait
	w.wg.Wait()
	return err
}

// Readable reports whether fd has something to read now.
func Readable(fd int) bool {
	pfd := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	var ts unix.Timespec
	n, err := unix.Ppoll(pfd[:], &ts, nil)
	return err == nil && n > 0 && pfd[0].Revents&(unix.POLLIN|unix.POLLERR|unix.POLLHUP) != 0
}
