package wireguard

import (
	"sync"
	"sync/atomic"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// Queue is a bounded FIFO of packets (frame references) from one side of
// the gateway to the other: the loop to a device goroutine, or the device's
// goroutines to the loop. Push and Pop take the lock once per call. It
// wakes its consumer when it goes from empty to not empty: a goroutine
// blocked in Wait, or a loop that armed it with its Bell.
type Queue struct {
	mu     sync.Mutex
	ring   []dataplane.Packet
	head   int
	n      int
	closed bool

	wake chan struct{}
	bell atomic.Pointer[dataplane.Bell]
}

// NewQueue makes a queue that holds up to size packets.
func NewQueue(size int) *Queue {
	return &Queue{ring: make([]dataplane.Packet, size), wake: make(chan struct{}, 1)}
}

// Push appends as many packets of ps as fit and returns how many. The
// queue owns those; the caller still owns ps[n:], and frees them. A closed
// queue takes nothing.
func (q *Queue) Push(ps []dataplane.Packet) (n int) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return 0
	}
	wasEmpty := q.n == 0
	size := len(q.ring)
	n = min(len(ps), size-q.n)
	tail := q.head + q.n
	for i := 0; i < n; i++ {
		j := tail + i
		if j >= size {
			j -= size
		}
		q.ring[j] = ps[i]
	}
	q.n += n
	q.mu.Unlock()
	if wasEmpty && n > 0 {
		select {
		case q.wake <- struct{}{}:
		default:
		}
		if b := q.bell.Load(); b != nil {
			b.Ring()
		}
	}
	return n
}

// Pop moves up to len(dst) packets into dst, oldest first, and returns how
// many. It does not block.
func (q *Queue) Pop(dst []dataplane.Packet) (n int) {
	q.mu.Lock()
	n = min(len(dst), q.n)
	size := len(q.ring)
	for i := 0; i < n; i++ {
		dst[i] = q.ring[q.head]
		q.ring[q.head] = dataplane.Packet{}
		q.head++
		if q.head == size {
			q.head = 0
		}
	}
	q.n -= n
	q.mu.Unlock()
	return n
}

// Len is the number of packets queued now.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Wait blocks until the queue may have packets, or done is closed; it
// reports false for the latter. Wakeups may be spurious: Pop again.
func (q *Queue) Wait(done <-chan struct{}) bool {
	select {
	case <-q.wake:
		return true
	case <-done:
		return false
	}
}

// Arm asks the queue to ring bell when packets arrive; it reports false,
// arming nothing, when packets are already waiting. See dataplane.Waiter.
func (q *Queue) Arm(bell *dataplane.Bell) bool {
	q.bell.Store(bell)
	if q.Len() > 0 {
		q.bell.Store(nil)
		return false
	}
	return true
}

// Disarm cancels Arm.
func (q *Queue) Disarm() { q.bell.Store(nil) }

// Open lets a closed queue take packets again.
func (q *Queue) Open() {
	q.mu.Lock()
	q.closed = false
	q.mu.Unlock()
}

// Close makes Push refuse packets from now on and gives every packet still
// queued back to pool.
func (q *Queue) Close(pool *dataplane.Pool) {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.Drain(pool)
}

// Drain gives every packet queued now back to pool.
func (q *Queue) Drain(pool *dataplane.Pool) {
	var buf [64]dataplane.Packet
	for {
		n := q.Pop(buf[:])
		if n == 0 {
			return
		}
		for i := range buf[:n] {
			pool.Put(buf[i])
		}
	}
}
