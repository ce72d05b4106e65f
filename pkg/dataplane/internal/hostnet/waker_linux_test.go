package hostnet

import (
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"golang.org/x/sys/unix"
)

// pipeWaker is a Waker on the read end of a pipe, and the write end.
func pipeWaker(t *testing.T) (*Waker, int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	w, err := NewWaker(p[0], "pipe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Close()
		unix.Close(p[1])
	})
	return w, p[1]
}

func rung(b *dataplane.Bell, d time.Duration) bool {
	select {
	case <-b.C():
		return true
	case <-time.After(d):
		return false
	}
}

func TestWaker(t *testing.T) {
	w, wr := pipeWaker(t)
	bell := dataplane.NewBell()
	buf := make([]byte, 16)
	for i := range 50 {
		if !w.Arm(bell) {
			t.Fatal("Arm with nothing to read returned false")
		}
		if rung(bell, time.Millisecond) {
			t.Fatal("rung with nothing to read")
		}
		unix.Write(wr, []byte{byte(i)})
		if !rung(bell, 2*time.Second) {
			t.Fatalf("round %d: not rung", i)
		}
		w.Disarm()
		if w.Arm(bell) {
			t.Fatal("Arm with something to read returned true")
		}
		unix.Read(w.FD(), buf)
	}
	// Disarmed: nothing rings.
	w.Arm(bell)
	w.Disarm()
	unix.Write(wr, []byte{1})
	if rung(bell, 20*time.Millisecond) {
		t.Error("rung after Disarm")
	}
	unix.Read(w.FD(), buf)
	// Arm and Disarm quickly many times, then a real wait still works.
	for range 1000 {
		w.Arm(bell)
		w.Disarm()
	}
	for len(bell.C()) > 0 {
		<-bell.C()
	}
	w.Arm(bell)
	unix.Write(wr, []byte{2})
	if !rung(bell, 2*time.Second) {
		t.Error("not rung after many Arm/Disarm")
	}
	unix.Read(w.FD(), buf)
	// Going to sleep and waking costs no allocation either.
	if n := testing.AllocsPerRun(100, func() { w.Arm(bell); w.Disarm() }); n != 0 {
		t.Errorf("%v allocations per Arm+Disarm", n)
	}
}

func TestWakerClose(t *testing.T) {
	w, _ := pipeWaker(t)
	w.Arm(dataplane.NewBell())
	done := make(chan struct{})
	go func() { w.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close hangs with the helper waiting")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWakerNeedsNonBlocking(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	if _, err := NewWaker(p[0], "blocking pipe"); err == nil { // closes p[0]
		t.Error("blocking descriptor accepted")
	}
}

func TestLinkLoopback(t *testing.T) {
	fd, err := ControlSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if i, err := LinkIndex(fd, "lo"); err != nil || i != 1 {
		t.Errorf("LinkIndex(lo) = %d, %v", i, err)
	}
	if m, err := LinkMTU(fd, "lo"); err != nil || m < 1500 {
		t.Errorf("LinkMTU(lo) = %d, %v", m, err)
	}
	if a, err := LinkAddr(fd, "lo"); err != nil || a != [6]byte{} {
		t.Errorf("LinkAddr(lo) = %x, %v", a, err)
	}
	if f, err := LinkFlags(fd, "lo"); err != nil || f&unix.IFF_LOOPBACK == 0 {
		t.Errorf("LinkFlags(lo) = %#x, %v", f, err)
	}
	if _, err := LinkIndex(fd, "no-such-link"); err == nil {
		t.Error("LinkIndex of a missing link")
	}
}

// epollWatches reports whether the waker's epoll instance has a descriptor
// ready, which it can only while the descriptor is in it.
func epollWatches(t *testing.T, w *Waker) bool {
	t.Helper()
	ev := make([]unix.EpollEvent, 1)
	n, err := unix.EpollWait(w.epfd, ev, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestWakerWatchesOnlyWhileArmed drives the waker on the read end of a pipe: it rings when
// armed, and outside Arm..Disarm the descriptor is not watched at all, so
// that what arrives while the loop is busy costs the sender no wake-up.
func TestWakerWatchesOnlyWhileArmed(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	w, err := NewWaker(p[0], "pipe")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	bell := dataplane.NewBell()
	buf := make([]byte, 16)
	for i := range 20 {
		if !w.Arm(bell) {
			t.Fatal("arm with nothing to read returned false")
		}
		if rung(bell, time.Millisecond) {
			t.Fatal("rung with nothing to read")
		}
		unix.Write(p[1], []byte{byte(i)})
		if !rung(bell, 2*time.Second) {
			t.Fatalf("round %d: not rung", i)
		}
		w.Disarm()
		if epollWatches(t, w) {
			t.Fatal("descriptor still watched after disarm")
		}
		if w.Arm(bell) {
			t.Fatal("arm with something to read returned true")
		}
		if epollWatches(t, w) {
			t.Fatal("descriptor watched after an arm that returned false")
		}
		unix.Read(p[0], buf)
	}
	// Disarmed: nothing rings.
	w.Arm(bell)
	w.Disarm()
	unix.Write(p[1], []byte{1})
	if rung(bell, 20*time.Millisecond) {
		t.Fatal("rung while disarmed")
	}
}
