package virtq

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"unsafe"
)

func newRing(t testing.TB, size int, eventIdx bool, base uint16) (*Ring, *Driver, *Device) {
	t.Helper()
	r, err := Alloc(size, eventIdx)
	if err != nil {
		t.Fatal(err)
	}
	r.SetBase(base)
	return r, NewDriver(r), NewDevice(r)
}

func TestLayout(t *testing.T) {
	// virtq_size from VIRTIO 1.2 §2.7.2, with ALIGN rounding up to qalign.
	virtqSize := func(qsz, qalign int) int {
		align := func(x int) int { return (x + qalign - 1) &^ (qalign - 1) }
		return align(16*qsz+2*(3+qsz)) + align(2*3+8*qsz)
	}
	for _, tc := range []struct{ size, align int }{
		{2, 4}, {2, LegacyAlign}, {4, 16}, {256, LegacyAlign}, {1024, 4}, {MaxSize, LegacyAlign},
	} {
		t.Run(fmt.Sprintf("%d/%d", tc.size, tc.align), func(t *testing.T) {
			l, err := NewLayout(tc.size, tc.align)
			if err != nil {
				t.Fatal(err)
			}
			if l.Desc != 0 || l.Avail != 16*tc.size || l.Used%tc.align != 0 || l.Used < l.Avail+6+2*tc.size {
				t.Errorf("layout %+v", l)
			}
			if want := virtqSize(tc.size, tc.align); l.Len != want {
				t.Errorf("Len = %d, virtq_size = %d", l.Len, want)
			}
		})
	}
	for _, size := range []int{-1, 0, 1, 3, 100, MaxSize + 1, 65536} {
		if _, err := NewLayout(size, LegacyAlign); err == nil {
			t.Errorf("NewLayout(%d) accepted", size)
		}
	}
	for _, align := range []int{0, 2, 3, 12} {
		if _, err := NewLayout(8, align); err == nil {
			t.Errorf("NewLayout(8, align %d) accepted", align)
		}
	}
}

func TestNewRingChecks(t *testing.T) {
	l, _ := NewLayout(8, LegacyAlign)
	r, err := Alloc(8, false)
	if err != nil {
		t.Fatal(err)
	}
	mem := r.Bytes()
	if unsafe.Pointer(&r.desc[0]) != unsafe.Pointer(&mem[0]) || uintptr(unsafe.Pointer(&mem[0]))%LegacyAlign != 0 {
		t.Fatal("Alloc: block not page aligned or table not at its start")
	}
	for _, tc := range []struct {
		name string
		mem  []byte
		l    Layout
	}{
		{"short", mem[:l.Used+6+8*8+1], l}, // the event word reaches 2 bytes past
		{"misaligned desc", mem, Layout{Size: 8, Desc: 8, Avail: 256, Used: 512, Len: l.Len}},
		{"misaligned avail", mem, Layout{Size: 8, Desc: 0, Avail: 130, Used: 512, Len: l.Len}},
		{"misaligned used", mem, Layout{Size: 8, Desc: 0, Avail: 128, Used: 514, Len: l.Len}},
		{"overlap", mem, Layout{Size: 8, Desc: 0, Avail: 64, Used: 512, Len: l.Len}},
		{"bad size", mem, Layout{Size: 6, Desc: 0, Avail: 128, Used: 512, Len: l.Len}},
	} {
		if _, err := NewRing(tc.mem, tc.l, false); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	// A compact VIRTIO 1.x layout: used right after avail, 4-aligned.
	c := Layout{Size: 8, Desc: 0, Avail: 128, Used: 128 + 6 + 16 + 2, Len: 300}
	if _, err := NewRing(mem, c, true); err != nil {
		t.Errorf("compact layout: %v", err)
	}
}

func TestNeedEvent(t *testing.T) {
	for _, tc := range []struct {
		event, new, old uint16
		want            bool
	}{
		{0, 1, 0, true},          // first entry of a fresh ring
		{0, 0, 0, false},         // nothing published
		{5, 5, 0, false},         // event not reached: entries 0..4
		{5, 6, 0, true},          // entry 5 published
		{5, 10, 6, false},        // already past
		{65535, 2, 65534, true},  // across the wrap
		{0, 2, 65534, true},      // event just after the wrap
		{2, 2, 65534, false},     // entries 65534, 65535, 0, 1
		{65533, 2, 65534, false}, // event before old: passed earlier
		{100, 99, 50, false},
		{100, 101, 100, true},
	} {
		if got := NeedEvent(tc.event, tc.new, tc.old); got != tc.want {
			t.Errorf("NeedEvent(%d, %d, %d) = %v", tc.event, tc.new, tc.old, got)
		}
	}
	// Against the definition: some index in [old, new) equals event.
	for _, old := range []uint16{0, 1, 65000, 65535} {
		for n := uint16(0); n < 40; n++ {
			for e := old - 5; e != old+45; e++ {
				want := e-old < n
				if got := NeedEvent(e, old+n, old); got != want {
					t.Fatalf("NeedEvent(%d, %d, %d) = %v", e, old+n, old, got)
				}
			}
		}
	}
}

// TestWrap moves many times the queue size through rings of several sizes,
// in batches of changing size, with the indices starting near 2^16 so they
// wrap (several times for the small rings).
func TestWrap(t *testing.T) {
	for _, size := range []int{2, 4, 16, 256} {
		for _, base := range []uint16{0, 65535, 65535 - uint16(size), uint16(65536 - 3*size)} {
			for _, ev := range []bool{false, true} {
				t.Run(fmt.Sprintf("size%d/base%d/event%v", size, base, ev), func(t *testing.T) {
					r, drv, dev := newRing(t, size, ev, base)
					total := 70000
					if size >= 16 {
						total = 200 * size
					}
					bufs := make([]Buf, size)
					elems := make([]Elem, size)
					used := make([]UsedElem, size)
					sent, got, done := 0, 0, 0
					for step := 0; done < total || done < sent; step++ {
						want := 1 + step%size
						if sent >= total {
							want = 0
						}
						for i := range bufs[:want] {
							bufs[i] = Buf{Addr: uint64(sent + i), Len: uint32(sent+i) % 1500}
						}
						n := drv.Add(bufs[:want])
						sent += n
						drv.Publish()
						m, err := dev.Pop(elems[:min(size, 1+step%3*size/2)])
						if err != nil {
							t.Fatal(err)
						}
						for i, e := range elems[:m] {
							if e.Addr != uint64(got) || e.Len != uint32(got)%1500 || e.Flags != 0 {
								t.Fatalf("entry %d: got %+v", got, e)
							}
							got++
							used[i] = UsedElem{ID: uint32(e.Head)}
						}
						if k := dev.Push(used[:m]); k != m {
							t.Fatalf("Push took %d of %d", k, m)
						}
						dev.Publish()
						k, err := drv.Recycle()
						if err != nil {
							t.Fatal(err)
						}
						done += k
						if drv.Free()+dev.Avail()+dev.Held() != size {
							t.Fatalf("free %d + avail %d + held %d != %d", drv.Free(), dev.Avail(), dev.Held(), size)
						}
					}
					if sent != got || got != done {
						t.Fatalf("sent %d, popped %d, reclaimed %d", sent, got, done)
					}
					if drv.Free() != size {
						t.Fatalf("%d descriptors free after the run", drv.Free())
					}
					if idx := idxOf(atomic.LoadUint32(r.availHdr)); idx != base+uint16(sent) {
						t.Fatalf("avail idx %d, want %d", idx, base+uint16(sent))
					}
				})
			}
		}
	}
}

func TestFullRing(t *testing.T) {
	const size = 8
	_, drv, dev := newRing(t, size, false, 65533)
	bufs := make([]Buf, size+3)
	for i := range bufs {
		bufs[i] = Buf{Addr: uint64(i)}
	}
	if n := drv.Add(bufs); n != size {
		t.Fatalf("Add on an empty ring took %d, want %d", n, size)
	}
	if n := drv.Add(bufs[:1]); n != 0 {
		t.Fatalf("Add on a full ring took %d", n)
	}
	if err := drv.AddChain(bufs[:1]); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("AddChain on a full ring: %v", err)
	}
	if drv.Pending() != size {
		t.Fatalf("Pending %d", drv.Pending())
	}
	drv.Publish()
	elems := make([]Elem, size+3)
	if n, _ := dev.Pop(elems); n != size {
		t.Fatalf("Pop took %d of a full ring", n)
	}
	if n, _ := dev.Pop(elems); n != 0 {
		t.Fatalf("Pop of a drained ring took %d", n)
	}
	// Give back one: exactly one descriptor comes free.
	if dev.Push([]UsedElem{{ID: uint32(elems[3].Head)}}) != 1 || !dev.Publish() {
		t.Fatal("push")
	}
	if n, err := drv.Recycle(); n != 1 || err != nil || drv.Free() != 1 {
		t.Fatalf("Recycle = %d, %v; free %d", n, err, drv.Free())
	}
	if n := drv.Add(bufs[:2]); n != 1 {
		t.Fatalf("Add with one free took %d", n)
	}
	// The device cannot push more than it holds.
	used := make([]UsedElem, size+3)
	for i := range elems[:size] {
		used[i] = UsedElem{ID: uint32(elems[i].Head)}
	}
	if n := dev.Push(used); n != size-1 {
		t.Fatalf("Push took %d, device held %d", n, size-1)
	}
}

func TestChains(t *testing.T) {
	_, drv, dev := newRing(t, 8, true, 0)
	chain := []Buf{{Addr: 100, Len: 12}, {Addr: 200, Len: 64}, {Addr: 300, Len: 1500, Flags: DescFWrite}, {Addr: 400, Len: 4, Flags: DescFWrite}}
	for round := 0; round < 20; round++ {
		if err := drv.AddChain(chain); err != nil {
			t.Fatal(err)
		}
		if err := drv.AddChain(chain[:1]); err != nil {
			t.Fatal(err)
		}
		if err := drv.AddChain(chain); !errors.Is(err, ErrNoRoom) {
			t.Fatalf("third chain: %v", err)
		}
		drv.Publish()
		elems := make([]Elem, 4)
		n, err := dev.Pop(elems)
		if err != nil || n != 2 {
			t.Fatalf("Pop = %d, %v", n, err)
		}
		// Walk the first chain.
		var walked []Buf
		d := elems[0].Desc
		for {
			walked = append(walked, Buf{d.Addr, d.Len, d.Flags &^ DescFNext})
			if d.Flags&DescFNext == 0 {
				break
			}
			var ok bool
			if d, ok = dev.Desc(d.Next); !ok {
				t.Fatal("chain leaves the table")
			}
		}
		if fmt.Sprint(walked) != fmt.Sprint(chain) {
			t.Fatalf("walked %v, want %v", walked, chain)
		}
		if elems[1].Flags != 0 || elems[1].Addr != 100 {
			t.Fatalf("single chain %+v", elems[1])
		}
		// Return them in reverse order.
		dev.Push([]UsedElem{{ID: uint32(elems[1].Head), Len: 0}, {ID: uint32(elems[0].Head), Len: 1504}})
		dev.Publish()
		out := make([]Completion, 4)
		k, err := drv.Used(out)
		if err != nil || k != 2 {
			t.Fatalf("Used = %d, %v", k, err)
		}
		if out[0].Head != elems[1].Head || out[0].Addr != 100 || out[1].Head != elems[0].Head || out[1].Len != 1504 || out[1].Addr != 100 {
			t.Fatalf("completions %+v", out[:2])
		}
		if drv.Free() != 8 {
			t.Fatalf("%d free after the chains came back", drv.Free())
		}
	}
	for _, bad := range [][]Buf{
		nil,
		{{Flags: DescFWrite}, {}},
		{{}, {Flags: DescFIndirect}},
	} {
		if err := drv.AddChain(bad); !errors.Is(err, ErrBadChain) {
			t.Errorf("AddChain(%v) = %v", bad, err)
		}
	}
	if err := drv.AddChain([]Buf{{Addr: 64, Len: 32, Flags: DescFIndirect}}); err != nil {
		t.Errorf("one indirect buffer: %v", err)
	}
}

// TestFreeList hands all descriptors out and back in scrambled orders: each
// is handed out exactly once per round.
func TestFreeList(t *testing.T) {
	const size = 64
	_, drv, dev := newRing(t, size, false, 0)
	bufs := make([]Buf, size)
	elems := make([]Elem, size)
	used := make([]UsedElem, size)
	for round := 0; round < 50; round++ {
		if drv.Add(bufs) != size {
			t.Fatal("short add")
		}
		drv.Publish()
		n, _ := dev.Pop(elems)
		seen := map[uint16]bool{}
		for _, e := range elems[:n] {
			if seen[e.Head] {
				t.Fatalf("round %d: descriptor %d handed out twice", round, e.Head)
			}
			seen[e.Head] = true
		}
		for i := range elems[:n] {
			j := (i*7 + round) % n // a permutation, as 7 is prime to 64
			used[i] = UsedElem{ID: uint32(elems[j].Head)}
		}
		dev.Push(used[:n/2])
		dev.Publish()
		drv.Recycle()
		dev.Push(used[n/2 : n])
		dev.Publish()
		drv.Recycle()
		if drv.Free() != size {
			t.Fatalf("round %d: %d free", round, drv.Free())
		}
	}
}

func TestCorruption(t *testing.T) {
	r, drv, dev := newRing(t, 8, false, 0)
	drv.Add(make([]Buf, 2))
	drv.Publish()
	elems := make([]Elem, 8)
	dev.Pop(elems)
	// The device returns a descriptor it never had.
	dev.Push([]UsedElem{{ID: 5}})
	dev.Publish()
	if _, err := drv.Recycle(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("foreign descriptor: %v", err)
	}
	// The device claims more entries than exist.
	atomic.StoreUint32(r.usedHdr, hdr(0, 200))
	if _, err := drv.Recycle(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("used idx too far: %v", err)
	}
	// The driver claims more than the ring holds, or a head out of range.
	r2, _, dev2 := newRing(t, 8, false, 0)
	atomic.StoreUint32(r2.availHdr, hdr(0, 9))
	if _, err := dev2.Pop(elems); !errors.Is(err, ErrCorrupt) {
		t.Errorf("avail idx too far: %v", err)
	}
	atomic.StoreUint32(r2.availHdr, hdr(0, 1))
	r2.availRing[0] = 8
	if _, err := dev2.Pop(elems); !errors.Is(err, ErrCorrupt) {
		t.Errorf("head out of range: %v", err)
	}
}

func TestDetach(t *testing.T) {
	_, drv, dev := newRing(t, 8, true, 0)
	drv.Add([]Buf{{Addr: 1}, {Addr: 2}, {Addr: 3}})
	drv.AddChain([]Buf{{Addr: 4}, {Addr: 5, Flags: DescFWrite}})
	drv.Publish()
	elems := make([]Elem, 8)
	dev.Pop(elems[:2])
	dev.Push([]UsedElem{{ID: uint32(elems[0].Head)}})
	dev.Publish()
	// Device stopped: 1 returned-not-taken, 1 held, 2 never taken.
	out := make([]Completion, 3)
	got := map[uint64]bool{}
	for {
		n := drv.Detach(out)
		if n == 0 {
			break
		}
		for _, c := range out[:n] {
			got[c.Addr] = true
		}
	}
	if len(got) != 4 || !got[1] || !got[2] || !got[3] || !got[4] || drv.Free() != 8 {
		t.Fatalf("detached %v, %d free", got, drv.Free())
	}
}

// TestSuppressionFlags checks the flag protocol (no VIRTIO_F_EVENT_IDX):
// a side notifies exactly when the other side's flag is clear.
func TestSuppressionFlags(t *testing.T) {
	r, drv, dev := newRing(t, 16, false, 65530)
	buf := []Buf{{Addr: 1}}
	elems := make([]Elem, 16)
	kick := func() bool { drv.Add(buf); return drv.Publish() }
	irq := func() bool {
		n, _ := dev.Pop(elems)
		for i := range elems[:n] {
			dev.Push([]UsedElem{{ID: uint32(elems[i].Head)}})
		}
		notify := dev.Publish()
		drv.Recycle()
		return notify
	}
	usedFlags := func() uint16 { return flagsOf(atomic.LoadUint32(r.usedHdr)) }
	availFlags := func() uint16 { return flagsOf(atomic.LoadUint32(r.availHdr)) }

	// The spec's initial state: both flags 0, both sides notify.
	if !kick() || !irq() {
		t.Fatal("fresh ring should notify both ways")
	}
	dev.DisableNotify()
	drv.DisableInterrupts()
	if usedFlags() != UsedFNoNotify || availFlags() != AvailFNoInterrupt {
		t.Fatalf("flags %d/%d after disabling", usedFlags(), availFlags())
	}
	for i := 0; i < 40; i++ { // across the 2^16 wrap
		if kick() {
			t.Fatalf("kick %d while the device suppresses them", i)
		}
		if irq() {
			t.Fatalf("interrupt %d while the driver suppresses them", i)
		}
	}
	if drv.Publish() || dev.Publish() {
		t.Fatal("Publish with nothing new notified")
	}
	// Enabling on an empty ring arms; the next entry notifies.
	if !dev.EnableNotify() || usedFlags() != 0 {
		t.Fatal("EnableNotify on an empty ring")
	}
	if !kick() {
		t.Fatal("no kick after EnableNotify")
	}
	// Enabling with work waiting says so.
	dev.DisableNotify()
	if dev.EnableNotify() {
		t.Fatal("EnableNotify with an entry waiting returned true")
	}
	if !drv.EnableInterrupts() || availFlags() != 0 {
		t.Fatal("EnableInterrupts with nothing used")
	}
	if !irq() {
		t.Fatal("no interrupt after EnableInterrupts")
	}
	kick()
	n, _ := dev.Pop(elems)
	dev.Push([]UsedElem{{ID: uint32(elems[n-1].Head)}})
	dev.Publish()
	if drv.EnableInterrupts() {
		t.Fatal("EnableInterrupts with a used entry waiting returned true")
	}
	// Publishing keeps the flags as they are.
	dev.DisableNotify()
	kick()
	if usedFlags() != UsedFNoNotify || availFlags() != 0 {
		t.Fatalf("flags %d/%d changed by publishing", usedFlags(), availFlags())
	}
}

// TestSuppressionEventIdx checks VIRTIO_F_EVENT_IDX: flags stay 0, and a
// side notifies exactly on the publish that writes the entry at the other
// side's event index, across the 2^16 wrap.
func TestSuppressionEventIdx(t *testing.T) {
	for _, base := range []uint16{0, 65500, 65535} {
		t.Run(fmt.Sprint(base), func(t *testing.T) {
			const size = 64
			r, drv, dev := newRing(t, size, true, base)
			elems := make([]Elem, size)
			used := make([]UsedElem, size)
			bufs := make([]Buf, size)
			checkFlags := func() {
				t.Helper()
				if f := flagsOf(atomic.LoadUint32(r.usedHdr)) | flagsOf(atomic.LoadUint32(r.availHdr)); f != 0 {
					t.Fatalf("flags %d with VIRTIO_F_EVENT_IDX (the spec says 0)", f)
				}
			}
			dev.DisableNotify()
			drv.DisableInterrupts()
			checkFlags()
			var availIdx, usedIdx = base, base
			// Disabling puts the events just behind: passed already.
			availEvent, usedEvent := base-1, base-1
			// Batches of varying size; the device arms (avail_event) at
			// some points, the driver (used_event) at others.
			for step := 0; step < 3000; step++ {
				if step%7 == 3 {
					if !dev.EnableNotify() {
						t.Fatal("EnableNotify on a drained ring")
					}
					availEvent = availIdx
					if step%3 == 0 {
						// Disarmed again before the driver publishes.
						dev.DisableNotify()
						availEvent = availIdx - 1
					}
				}
				if step%5 == 1 {
					if !drv.EnableInterrupts() {
						t.Fatal("EnableInterrupts on a reclaimed ring")
					}
					usedEvent = usedIdx
					if step%3 == 0 {
						drv.DisableInterrupts()
						usedEvent = usedIdx - 1
					}
				}
				checkFlags()
				n := 1 + step%size/3
				drv.Add(bufs[:n])
				kick := drv.Publish()
				if want := NeedEvent(availEvent, availIdx+uint16(n), availIdx); kick != want {
					t.Fatalf("step %d: kick %v publishing [%d,%d) with avail_event %d", step, kick, availIdx, availIdx+uint16(n), availEvent)
				}
				availIdx += uint16(n)
				m, _ := dev.Pop(elems)
				for i := range elems[:m] {
					used[i] = UsedElem{ID: uint32(elems[i].Head)}
				}
				dev.Push(used[:m])
				irq := dev.Publish()
				if want := NeedEvent(usedEvent, usedIdx+uint16(m), usedIdx); irq != want {
					t.Fatalf("step %d: interrupt %v publishing [%d,%d) with used_event %d", step, irq, usedIdx, usedIdx+uint16(m), usedEvent)
				}
				usedIdx += uint16(m)
				drv.Recycle()
			}
			checkFlags()
		})
	}
}

// TestEnableRace: EnableNotify and EnableInterrupts return false when an
// entry is already waiting, even with event indices.
func TestEnableRace(t *testing.T) {
	for _, ev := range []bool{false, true} {
		_, drv, dev := newRing(t, 8, ev, 65535)
		drv.Add([]Buf{{}})
		drv.Publish()
		if dev.EnableNotify() {
			t.Errorf("event %v: EnableNotify with an entry waiting", ev)
		}
		elems := make([]Elem, 1)
		dev.Pop(elems)
		dev.Push([]UsedElem{{ID: uint32(elems[0].Head)}})
		dev.Publish()
		if drv.EnableInterrupts() {
			t.Errorf("event %v: EnableInterrupts with a used entry waiting", ev)
		}
	}
}

func TestTable(t *testing.T) {
	b := make([]byte, 64)
	tab, err := Table(b)
	if err != nil || len(tab) != 4 {
		t.Fatalf("Table = %d, %v", len(tab), err)
	}
	tab[1] = Desc{Addr: 0x1122334455667788, Len: 9, Flags: DescFNext, Next: 2}
	// Little-endian layout, as a device reads it.
	if b[16] != 0x88 || b[23] != 0x11 || b[24] != 9 || b[28] != 1 || b[30] != 2 {
		t.Fatalf("descriptor bytes % x", b[16:32])
	}
	if _, err := Table(b[:24]); err == nil {
		t.Error("24-byte table accepted")
	}
}

func TestAllocs(t *testing.T) {
	_, drv, dev := newRing(t, 256, true, 0)
	bufs := make([]Buf, 64)
	elems := make([]Elem, 64)
	used := make([]UsedElem, 64)
	out := make([]Completion, 64)
	n := testing.AllocsPerRun(100, func() {
		drv.Add(bufs)
		drv.Publish()
		m, _ := dev.Pop(elems)
		for i := range elems[:m] {
			used[i] = UsedElem{ID: uint32(elems[i].Head)}
		}
		dev.Push(used[:m])
		dev.Publish()
		drv.Used(out)
		dev.EnableNotify()
		dev.DisableNotify()
		drv.EnableInterrupts()
		drv.DisableInterrupts()
	})
	if n != 0 {
		t.Fatalf("%v allocations per batch", n)
	}
}
