package virtq

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// bell is a notification: rings coalesce, a waiter takes one.
type bell chan struct{}

func (b bell) ring() {
	select {
	case b <- struct{}{}:
	default:
	}
}

// TestConcurrent runs a driver and a device on two goroutines that sleep
// whenever they have nothing to do and are woken only by the notifications
// the ring asks for. A lost notification shows as a stall; a protocol slip
// as a wrong, missing or repeated entry, or as a report from -race.
func TestConcurrent(t *testing.T) {
	total := 200000
	if raceEnabled {
		total = 70000
	}
	if testing.Short() {
		total = 20000
	}
	for _, size := range []int{4, 256} {
		for _, base := range []uint16{0, 65000} {
			for _, ev := range []bool{false, true} {
				t.Run(fmt.Sprintf("size%d/base%d/event%v", size, base, ev), func(t *testing.T) {
					t.Parallel()
					runConcurrent(t, size, base, ev, total)
				})
			}
		}
	}
}

func runConcurrent(t *testing.T, size int, base uint16, ev bool, total int) {
	_, drv, dev := newRing(t, size, ev, base)
	kick, irq := make(bell, 1), make(bell, 1)
	stop := make(chan struct{})
	var once sync.Once
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		once.Do(func() { close(stop) })
	}
	wait := func(b bell, what string) bool {
		select {
		case <-b:
			return true
		case <-stop:
			return false
		case <-time.After(10 * time.Second):
			fail("stalled waiting for %s: a notification was lost", what)
			return false
		}
	}
	// Chain i has chainLen(i) descriptors, all with Addr i; chains longer
	// than one end with a buffer the device writes.
	chainLen := func(i int) int {
		if size < 8 {
			return 1 + i%2
		}
		return 1 + i%3
	}
	var kicks, irqs int
	var wg sync.WaitGroup
	wg.Add(2)

	go func() { // driver
		defer wg.Done()
		out := make([]Completion, size)
		bufs := make([]Buf, size)
		returned := make([]bool, total)
		next, back := 0, 0
		for back < total {
			n, err := drv.Used(out)
			if err != nil {
				fail("driver: %v", err)
				return
			}
			for _, c := range out[:n] {
				i := int(c.Addr)
				want := uint32(0)
				if chainLen(i) > 1 {
					want = uint32(i % 1000)
				}
				if i >= next || returned[i] || c.Len != want {
					fail("driver: completion %+v (sent %d, returned before %v)", c, next, i < total && returned[i])
					return
				}
				returned[i] = true
			}
			back += n
			added := 0
			for next < total {
				l := chainLen(next)
				if l == 1 {
					// A run of single buffers goes in with one Add.
					k := 0
					for next+k < total && k < len(bufs) && chainLen(next+k) == 1 {
						bufs[k] = Buf{Addr: uint64(next + k), Len: 60}
						k++
					}
					k = drv.Add(bufs[:k])
					next += k
					added += k
					if k == 0 {
						break
					}
					continue
				}
				for j := range bufs[:l] {
					bufs[j] = Buf{Addr: uint64(next), Len: uint32(j)}
				}
				bufs[l-1].Flags = DescFWrite
				if drv.AddChain(bufs[:l]) != nil {
					break
				}
				next++
				added++
			}
			if drv.Publish() {
				kicks++
				kick.ring()
			}
			if n == 0 && added == 0 && back < total {
				if drv.EnableInterrupts() && !wait(irq, "an interrupt") {
					return
				}
				drv.DisableInterrupts()
			}
		}
	}()

	go func() { // device
		defer wg.Done()
		elems := make([]Elem, size)
		var held []Elem
		used := make([]UsedElem, 0, size)
		seen := 0
		for seen < total || len(held) > 0 {
			n, err := dev.Pop(elems)
			if err != nil {
				fail("device: %v", err)
				return
			}
			for _, e := range elems[:n] {
				if int(e.Addr) != seen {
					fail("device: chain %d arrived as %d", seen, e.Addr)
					return
				}
				l, d := 1, e.Desc
				for d.Flags&DescFNext != 0 {
					var ok bool
					if d, ok = dev.Desc(d.Next); !ok || d.Addr != e.Addr || d.Len != uint32(l) {
						fail("device: chain %d descriptor %d is %+v", seen, l, d)
						return
					}
					l++
				}
				if l != chainLen(seen) || (l > 1) != (d.Flags&DescFWrite != 0) {
					fail("device: chain %d has %d descriptors, last %+v", seen, l, d)
					return
				}
				seen++
				held = append(held, e)
			}
			// Complete out of order: newest first, keeping a few back
			// while more keep coming; everything when idle.
			keep := 0
			if n > 0 && len(held) > 3 {
				keep = 2
			}
			used = used[:0]
			for k := len(held) - 1; k >= keep; k-- {
				e := held[k]
				wrote := uint32(0)
				if chainLen(int(e.Addr)) > 1 {
					wrote = uint32(e.Addr % 1000)
				}
				used = append(used, UsedElem{ID: uint32(e.Head), Len: wrote})
			}
			held = held[:keep]
			if dev.Push(used) != len(used) {
				fail("device: push refused")
				return
			}
			if dev.Publish() {
				irqs++
				irq.ring()
			}
			if n == 0 && len(used) == 0 && seen < total {
				if dev.EnableNotify() && !wait(kick, "a kick") {
					return
				}
				dev.DisableNotify()
			}
		}
	}()
	wg.Wait()
	t.Logf("%d chains, %d kicks, %d interrupts", total, kicks, irqs)
}
