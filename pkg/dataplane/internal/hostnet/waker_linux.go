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
// pollable descriptor (a packet socket, an AF_XDP socket, a TUN queue):
// Arm hands the loop's bell to a helper goroutine that waits for the
// descriptor to become readable, and rings the bell when it does. It
// watches the descriptor only while armed.
//
// A socket wakes whoever waits on it for every packet or burst it
// receives (in the sender's context: on veth, the generator's CPU) and,
// for some kinds, for every transmitted buffer freed (in the appliance's
// send). A descriptor kept in the Go runtime's netpoller stays on the
// socket's wait queue for good, so each of those runs an epoll callback
// under an interrupt-disabled lock even while the loop is busy and nobody
// waits: measured with AF_XDP on veth, about a tenth of the appliance's
// CPU and of the sender's. So the descriptor goes into an epoll instance
// of the waker's own only between Arm and Disarm, and the Go netpoller
// watches that epoll instance, which is woken by nothing else.
//
// Waker owns the descriptor: Close closes it.
type Waker struct {
	fd   int      // the socket
	ep   *os.File // the waker's epoll instance, in the Go netpoller
	epfd int
	rc   syscall.RawConn
	in   bool // the socket is in the epoll instance (loop goroutine only)
	bell atomic.Pointer[dataplane.Bell]
	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
	wait func(uintptr) bool // w.check, bound once
}

// aLongTimeAgo is a deadline in the past: setting it wakes the helper out
// of its wait.
var aLongTimeAgo = time.Unix(1, 0)

// NewWaker takes fd over, which must be in non-blocking mode; name names
// it in errors. It takes fd over even when it fails: then it has closed it.
func NewWaker(fd int, name string) (*Waker, error) {
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: waker needs a non-blocking descriptor", name)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: epoll_create1: %w", name, err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ep := os.NewFile(uintptr(epfd), name+" (epoll)")
	fail := func(err error) (*Waker, error) {
		ep.Close()
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := ep.SetReadDeadline(time.Time{}); err != nil {
		return fail(fmt.Errorf("epoll instance not pollable: %w", err))
	}
	rc, err := ep.SyscallConn()
	if err != nil {
		return fail(err)
	}
	w := &Waker{fd: fd, ep: ep, epfd: epfd, rc: rc, kick: make(chan struct{}, 1), done: make(chan struct{})}
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
		// epoll instance is closed.
		if err := w.rc.Read(w.wait); errors.Is(err, os.ErrClosed) {
			return
		}
	}
}

// check is called by the helper first right away, then each time the
// epoll instance becomes readable; true ends the wait. The first call
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

// Arm asks for bell to be rung once when the socket is readable. It
// returns false, arming nothing, when it is readable already or cannot be
// watched.
func (w *Waker) Arm(bell *dataplane.Bell) bool {
	if !w.in {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(w.fd)}
		if unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, w.fd, &ev) != nil {
			return false // let the loop poll
		}
		w.in = true
	}
	w.bell.Store(bell)
	if Readable(w.fd) {
		w.bell.Store(nil)
		w.leave()
		return false
	}
	// Clear the deadline the last disarm set before the helper waits.
	if w.ep.SetReadDeadline(time.Time{}) != nil {
		w.bell.Store(nil)
		w.leave()
		return false // closed: let the loop poll and see it
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return true
}

// Disarm cancels Arm and takes the socket out of the epoll instance, so
// that a busy loop is not woken through it. A ring may still arrive.
func (w *Waker) Disarm() {
	if w.bell.Swap(nil) != nil {
		w.ep.SetReadDeadline(aLongTimeAgo)
	}
	w.leave()
}

func (w *Waker) leave() {
	if w.in {
		unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, w.fd, nil)
		w.in = false
	}
}

// Close stops the helper and closes the epoll instance and the socket.
// When it returns the helper has stopped.
func (w *Waker) Close() error {
	select {
	case <-w.done:
		return nil
	default:
	}
	close(w.done)
	w.bell.Store(nil)
	err := w.ep.Close() // wakes a helper in its wait
	w.wg.Wait()
	return errors.Join(err, unix.Close(w.fd))
}

// Readable reports whether fd has something to read now.
func Readable(fd int) bool {
	pfd := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	var ts unix.Timespec
	n, err := unix.Ppoll(pfd[:], &ts, nil)
	return err == nil && n > 0 && pfd[0].Revents&(unix.POLLIN|unix.POLLERR|unix.POLLHUP) != 0
}
