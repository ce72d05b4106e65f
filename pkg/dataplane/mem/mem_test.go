package mem

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

func newPool(t testing.TB, frames int) *dataplane.Pool {
	t.Helper()
	pool, err := dataplane.NewMemPool(frames)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Region().Close() })
	return pool
}

func mkPair(t testing.TB, pool *dataplane.Pool, cfg Config, base uint16) (a, b *Port) {
	t.Helper()
	a, b, err := newPair(pool, cfg, base)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// Packet seq has a length, a data offset and bytes all derived from seq.
func seqLen(seq uint32) int { return 60 + int(seq%400) }
func seqOff(seq uint32) int { return 96 + int(seq%32) }

// fill appends up to n packets numbered from *seq to b.
func fill(t testing.TB, pool *dataplane.Pool, b *dataplane.Batch, n int, seq *uint32) {
	t.Helper()
	base := b.Len()
	if got := pool.GetN(b, n); got != n {
		t.Fatalf("pool gave %d of %d frames (%d in use)", got, n, pool.InUse())
	}
	for i := range b.Pkts[base:] {
		pk := &b.Pkts[base+i]
		s := *seq
		*seq++
		if !pk.SetData(seqOff(s), seqLen(s)) {
			t.Fatal("SetData")
		}
		d := pk.Data()
		for j := range d {
			d[j] = byte(s) + byte(j)
		}
		binary.LittleEndian.PutUint32(d, s)
	}
}

// check verifies pk is packet want, intact.
func check(pk *dataplane.Packet, want uint32) error {
	d := pk.Data()
	if len(d) < 4 {
		return fmt.Errorf("packet of %d bytes", len(d))
	}
	s := binary.LittleEndian.Uint32(d)
	if s != want {
		return fmt.Errorf("got packet %d, want %d", s, want)
	}
	if pk.Len() != seqLen(s) || pk.Offset() != seqOff(s) {
		return fmt.Errorf("packet %d: len %d offset %d, want %d %d", s, pk.Len(), pk.Offset(), seqLen(s), seqOff(s))
	}
	for j := 4; j < len(d); j++ {
		if d[j] != byte(s)+byte(j) {
			return fmt.Errorf("packet %d: byte %d is %#x", s, j, d[j])
		}
	}
	return nil
}

func closeBoth(t testing.TB, pool *dataplane.Pool, a, b *Port) {
	t.Helper()
	if err := a.Close(); err != nil {
		t.Error(err)
	}
	if err := b.Close(); err != nil {
		t.Error(err)
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Error(err)
	}
}

// TestInOrder sends numbered packets both ways through pairs of several
// shapes, including queues whose indices wrap at 2^16 during the run, and
// checks every packet arrives once, in order and intact.
func TestInOrder(t *testing.T) {
	for _, tc := range []struct {
		queue, burst int
		noEvent      bool
		base         uint16
		packets      int
	}{
		{queue: 2, burst: 2, packets: 1000},
		{queue: 8, burst: 3, noEvent: true, packets: 5000},
		{queue: 256, burst: 64, packets: 20000},
		{queue: 256, burst: 64, noEvent: true, base: 65500, packets: 20000},
		{queue: 4, burst: 4, base: 65533, packets: 70000}, // wraps twice
		{queue: 1024, burst: 256, base: 65535, packets: 20000},
	} {
		t.Run(fmt.Sprintf("q%d/b%d/noevent%v/base%d", tc.queue, tc.burst, tc.noEvent, tc.base), func(t *testing.T) {
			pool := newPool(t, 4*tc.queue+64)
			a, b := mkPair(t, pool, Config{QueueSize: tc.queue, Burst: tc.burst, NoEventIdx: tc.noEvent}, tc.base)
			ends := [2]*Port{a, b}
			var next, want [2]uint32
			tx := dataplane.NewBatch(tc.queue)
			rx := dataplane.NewBatch(tc.queue)
			for step := 0; int(want[0]) < tc.packets || int(want[1]) < tc.packets; step++ {
				for s, from := range ends {
					to := ends[1-s]
					// Send a batch of changing size, no more than fits.
					if n := min(1+step%tc.queue, from.TxRoom(), tc.packets-int(next[s])); n > 0 {
						fill(t, pool, tx, n, &next[s])
						sent, err := from.Send(tx)
						if err != nil || sent != n || tx.Len() != 0 || tx.Cap() != tc.queue {
							t.Fatalf("Send = %d, %v (of %d); batch left %d/%d", sent, err, n, tx.Len(), tx.Cap())
						}
						// Receive half now, the rest with the next batch.
						got, err := to.Recv(rx)
						if err != nil || got > tc.burst {
							t.Fatalf("Recv = %d, %v", got, err)
						}
					} else if _, err := to.Recv(rx); err != nil {
						t.Fatal(err)
					}
					for i := range rx.Pkts {
						if err := check(&rx.Pkts[i], want[s]); err != nil {
							t.Fatalf("%d→%d: %v", s, 1-s, err)
						}
						want[s]++
					}
					pool.PutBatch(rx)
				}
			}
			if pool.InUse() != 0 {
				t.Fatalf("%d frames in use after everything arrived", pool.InUse())
			}
			closeBoth(t, pool, a, b)
		})
	}
}

// TestZeroCopy: the receiver gets the very bytes the sender filled, not a
// copy of them.
func TestZeroCopy(t *testing.T) {
	pool := newPool(t, 64)
	a, b := mkPair(t, pool, Config{QueueSize: 16}, 0)
	tx, rx := dataplane.NewBatch(16), dataplane.NewBatch(16)
	var seq uint32
	fill(t, pool, tx, 10, &seq)
	var where [10]*byte
	var frames [10]uint32
	for i := range tx.Pkts {
		where[i], frames[i] = &tx.Pkts[i].Data()[0], tx.Pkts[i].Frame()
	}
	a.Send(tx)
	b.Recv(rx)
	if rx.Len() != 10 {
		t.Fatalf("received %d", rx.Len())
	}
	for i := range rx.Pkts {
		if &rx.Pkts[i].Data()[0] != where[i] || rx.Pkts[i].Frame() != frames[i] {
			t.Fatalf("packet %d: frame %d at %p, sent as frame %d at %p", i, rx.Pkts[i].Frame(), &rx.Pkts[i].Data()[0], frames[i], where[i])
		}
	}
	pool.PutBatch(rx)

	// The descriptor carries the region offset of the data, as
	// Region.Offset gives it and Region.FrameOf reads it back.
	fill(t, pool, tx, 1, &seq)
	pk := tx.Pkts[0]
	a.Send(tx)
	// Descriptor 10 (the table's first bytes are descriptor 0), the next
	// free one after ten sends.
	ring := a.out.ring.Bytes()
	addr := binary.LittleEndian.Uint64(ring[16*10:])
	n := binary.LittleEndian.Uint32(ring[16*10+8:])
	reg := pool.Region()
	if addr != reg.Offset(pk.Frame(), pk.Offset()) || int(n) != pk.Len() {
		t.Fatalf("descriptor {%#x, %d}, want {%#x, %d}", addr, n, reg.Offset(pk.Frame(), pk.Offset()), pk.Len())
	}
	if id, within, ok := reg.FrameOf(addr); !ok || id != pk.Frame() || within != pk.Offset() {
		t.Fatalf("FrameOf(%#x) = %d, %d, %v", addr, id, within, ok)
	}
	// A full batch gets nothing, and no end of input either.
	a.Close()
	full := dataplane.NewBatch(0)
	if n, err := b.Recv(full); n != 0 || err != nil {
		t.Fatalf("Recv into a full batch = %d, %v", n, err)
	}
	b.Close()
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

// TestSendFull: a full ring takes a prefix, frees the rest, and Send
// reports the prefix.
func TestSendFull(t *testing.T) {
	for _, noEvent := range []bool{false, true} {
		pool := newPool(t, 64)
		a, b := mkPair(t, pool, Config{QueueSize: 8, NoEventIdx: noEvent}, 0)
		tx := dataplane.NewBatch(32)
		var seq uint32
		fill(t, pool, tx, 5, &seq)
		if n, err := a.Send(tx); n != 5 || err != nil {
			t.Fatalf("Send = %d, %v", n, err)
		}
		fill(t, pool, tx, 7, &seq)
		n, err := a.Send(tx)
		if n != 3 || err != nil || tx.Len() != 0 || tx.Cap() != 32 {
			t.Fatalf("Send on a nearly full ring = %d, %v; batch %d/%d", n, err, tx.Len(), tx.Cap())
		}
		if pool.InUse() != 8 || a.TxRoom() != 0 {
			t.Fatalf("%d frames in use, room %d: the 4 that did not fit should be freed", pool.InUse(), a.TxRoom())
		}
		// The 8 queued arrive in order; the ring takes more afterwards.
		rx := dataplane.NewBatch(32)
		var want uint32
		for rx.Len() < 8 {
			if _, err := b.Recv(rx); err != nil {
				t.Fatal(err)
			}
		}
		for i := range rx.Pkts {
			if err := check(&rx.Pkts[i], want); err != nil {
				t.Fatal(err)
			}
			want++
		}
		pool.PutBatch(rx)
		if a.TxRoom() != 8 {
			t.Fatalf("room %d after the peer received", a.TxRoom())
		}
		closeBoth(t, pool, a, b)
	}
}

// TestClose covers what happens to frames and calls around Close, in both
// orders.
func TestClose(t *testing.T) {
	for _, aFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("aFirst=%v", aFirst), func(t *testing.T) {
			pool := newPool(t, 64)
			a, b := mkPair(t, pool, Config{QueueSize: 16}, 0)
			tx, rx := dataplane.NewBatch(16), dataplane.NewBatch(16)
			var sa, sb uint32
			fill(t, pool, tx, 10, &sa)
			a.Send(tx)
			fill(t, pool, tx, 6, &sb)
			b.Send(tx)
			first, second := a, b
			if !aFirst {
				first, second = b, a
			}
			bell := dataplane.NewBell()
			if second.Arm(bell) {
				t.Fatal("Arm with packets queued")
			}
			// Arm the second end on an empty queue to see the close wake it.
			for second.Recv(rx); rx.Len() > 0; second.Recv(rx) {
				pool.PutBatch(rx)
			}
			if !second.Arm(bell) {
				t.Fatal("Arm on a drained queue")
			}
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-bell.C():
			default:
				t.Fatal("closing did not wake the armed peer")
			}
			second.Disarm()
			if first.Close() != nil {
				t.Fatal("second Close failed")
			}
			// The closed end's own calls fail; Send frees what it is given.
			fill(t, pool, tx, 3, &sa)
			if n, err := first.Send(tx); n != 0 || !errors.Is(err, dataplane.ErrClosed) || tx.Len() != 0 {
				t.Fatalf("Send after Close = %d, %v", n, err)
			}
			if _, err := first.Recv(rx); !errors.Is(err, dataplane.ErrClosed) {
				t.Fatalf("Recv after Close: %v", err)
			}
			if first.Arm(bell) {
				t.Fatal("Arm after Close")
			}
			// The open end: sending frees, receiving reports the end.
			fill(t, pool, tx, 3, &sb)
			if n, err := second.Send(tx); n != 0 || !errors.Is(err, ErrPeerClosed) || tx.Len() != 0 {
				t.Fatalf("Send to a closed peer = %d, %v", n, err)
			}
			if _, err := second.Recv(rx); err != io.EOF || rx.Len() != 0 {
				t.Fatalf("Recv from a closed peer = %d packets, %v", rx.Len(), err)
			}
			if second.Arm(bell) {
				t.Fatal("Arm with the peer closed")
			}
			if err := second.Close(); err != nil {
				t.Fatal(err)
			}
			if err := pool.CheckAllReturned(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCloseInFlight closes with frames queued both ways, the receivers
// never having looked: the pool gets them all back.
func TestCloseInFlight(t *testing.T) {
	pool := newPool(t, 64)
	a, b := mkPair(t, pool, Config{QueueSize: 16}, 0)
	tx := dataplane.NewBatch(16)
	var seq uint32
	fill(t, pool, tx, 16, &seq)
	a.Send(tx)
	fill(t, pool, tx, 9, &seq)
	b.Send(tx)
	if pool.InUse() != 25 {
		t.Fatalf("%d in use", pool.InUse())
	}
	// Until the last end closes, what a closed end sent may still be
	// received; the receiver gets what was queued, then EOF.
	a.Close()
	rx := dataplane.NewBatch(64)
	for {
		_, err := b.Recv(rx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if rx.Len() != 16 {
		t.Fatalf("received %d of the 16 queued before the close", rx.Len())
	}
	pool.PutBatch(rx)
	b.Close()
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrent runs each end on its own goroutine, both sending and
// receiving, sleeping on the port's bell when there is nothing to do: every
// packet must arrive once, in order and intact, with no lost wake-up.
func TestConcurrent(t *testing.T) {
	packets := 200000
	if raceEnabled {
		packets = 70000
	}
	if testing.Short() {
		packets = 20000
	}
	for _, tc := range []struct {
		queue   int
		noEvent bool
		base    uint16
	}{{4, false, 65000}, {4, true, 65000}, {256, false, 0}, {256, true, 65535}} {
		t.Run(fmt.Sprintf("q%d/noevent%v", tc.queue, tc.noEvent), func(t *testing.T) {
			pool := newPool(t, 2*tc.queue+2*256)
			a, b := mkPair(t, pool, Config{QueueSize: tc.queue, NoEventIdx: tc.noEvent}, tc.base)
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			var sleeps [2]int
			for s, p := range []*Port{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- runEnd(pool, p, packets, &sleeps[s])
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			t.Logf("sleeps %v", sleeps)
			closeBoth(t, pool, a, b)
		})
	}
}

// runEnd sends packets numbered 0..n-1 and expects the same from the peer.
func runEnd(pool *dataplane.Pool, p *Port, n int, sleeps *int) error {
	tx, rx := dataplane.NewBatch(64), dataplane.NewBatch(64)
	bell := dataplane.NewBell()
	var next, want uint32
	for int(want) < n || int(next) < n {
		sent := 0
		if k := min(int(n)-int(next), p.TxRoom(), 64); k > 0 {
			got := pool.GetN(tx, k)
			for i := range tx.Pkts {
				pk := &tx.Pkts[i]
				pk.SetData(seqOff(next+uint32(i)), 8)
				binary.LittleEndian.PutUint64(pk.Data(), uint64(next+uint32(i))*3+1)
			}
			if m, err := p.Send(tx); m != got || err != nil {
				return fmt.Errorf("Send = %d, %v (of %d)", m, err, got)
			}
			next += uint32(got)
			sent = got
		}
		got, err := p.Recv(rx)
		if err != nil {
			return err
		}
		for i := range rx.Pkts {
			pk := &rx.Pkts[i]
			if v := binary.LittleEndian.Uint64(pk.Data()); v != uint64(want)*3+1 || pk.Offset() != seqOff(want) {
				return fmt.Errorf("got %d at %d, want packet %d", v, pk.Offset(), want)
			}
			want++
		}
		pool.PutBatch(rx)
		if got == 0 && sent == 0 {
			// Nothing to receive, and the ring is full (or we are done
			// sending): sleep until the peer sends. When our ring is full
			// the peer is receiving, and it sends to us until it is done.
			if int(next) < n && p.TxRoom() > 0 {
				continue
			}
			if int(want) >= n {
				continue
			}
			if p.Arm(bell) {
				*sleeps++
				select {
				case <-bell.C():
				case <-time.After(10 * time.Second):
					p.Disarm()
					return fmt.Errorf("stalled at %d received, %d sent: lost wake-up", want, next)
				}
			}
			p.Disarm()
		}
	}
	return nil
}

// runWindowed is runEnd with at most window packets sent and not yet
// received by the peer (peerGot); it counts what it receives in got.
func runWindowed(pool *dataplane.Pool, p *Port, n, window int, got, peerGot *atomic.Uint32) error {
	tx, rx := dataplane.NewBatch(64), dataplane.NewBatch(64)
	bell := dataplane.NewBell()
	deadline := time.Now().Add(30 * time.Second)
	var next, want uint32
	for int(want) < n || int(next) < n {
		sent := 0
		if k := min(n-int(next), window-int(next-peerGot.Load()), 64); k > 0 {
			m := pool.GetN(tx, k)
			for i := range tx.Pkts {
				pk := &tx.Pkts[i]
				pk.SetData(seqOff(next+uint32(i)), 8)
				binary.LittleEndian.PutUint64(pk.Data(), uint64(next+uint32(i))*3+1)
			}
			if s, err := p.Send(tx); s != m || err != nil {
				return fmt.Errorf("Send = %d, %v (of %d)", s, err, m)
			}
			next += uint32(m)
			sent = m
		}
		r, err := p.Recv(rx)
		if err != nil {
			return err
		}
		for i := range rx.Pkts {
			pk := &rx.Pkts[i]
			if v := binary.LittleEndian.Uint64(pk.Data()); v != uint64(want)*3+1 || pk.Offset() != seqOff(want) {
				return fmt.Errorf("got %d at %d, want packet %d", v, pk.Offset(), want)
			}
			want++
		}
		got.Store(want)
		pool.PutBatch(rx)
		if r == 0 && sent == 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("stuck at %d received, %d sent (peer has %d)", want, next, peerGot.Load())
			}
			// The window opens without a wake-up here, so sleep briefly.
			if p.Arm(bell) {
				select {
				case <-bell.C():
				case <-time.After(time.Millisecond):
				}
			}
			p.Disarm()
		}
	}
	return nil
}

func TestAllocs(t *testing.T) {
	pool := newPool(t, 1024)
	for _, noEvent := range []bool{false, true} {
		a, b := mkPair(t, pool, Config{QueueSize: 256, NoEventIdx: noEvent}, 0)
		tx, rx := dataplane.NewBatch(64), dataplane.NewBatch(64)
		bell := dataplane.NewBell()
		allocs := testing.AllocsPerRun(1000, func() {
			pool.GetN(tx, 64)
			a.Send(tx)
			b.Recv(rx)
			pool.PutBatch(rx)
			b.Arm(bell)
			b.Disarm()
		})
		if allocs != 0 {
			t.Errorf("noEvent %v: %v allocations per Send+Recv", noEvent, allocs)
		}
		closeBoth(t, pool, a, b)
	}
}

// TestLoopForward runs a dataplane.Loop between two pairs: packets sent on
// a1 arrive at the loop on b1, are forwarded out of a2 and come out at b2,
// and the other way round.
func TestLoopForward(t *testing.T) {
	const packets = 50000
	pool := newPool(t, 2048)
	a1, b1 := mkPair(t, pool, Config{}, 0)
	a2, b2 := mkPair(t, pool, Config{NoEventIdx: true}, 65000)
	stage := dataplane.StageFunc(func(b *dataplane.Batch) {
		for i := range b.Pkts {
			b.Pkts[i].Forward(1 - int(b.Pkts[i].InPort))
		}
	})
	loop := &dataplane.Loop{Ports: []dataplane.Port{b1, a2}, Stage: stage, Pool: pool, Burst: 32}
	done := make(chan error, 1)
	go func() { done <- loop.Run(context.Background()) }()

	// One goroutine per outer end, each sending and expecting packets. The
	// loop drops what its output rings cannot take (as any port does), so
	// the ends keep at most a window of packets in flight, less than a
	// ring: then nothing is dropped and the counters are exact.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	var got [2]atomic.Uint32
	for s, p := range []*Port{a1, b2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[s] = runWindowed(pool, p, packets, 128, &got[s], &got[1-s])
		}()
	}
	wg.Wait()
	loop.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := loop.Stats
	for _, err := range errs {
		if err != nil {
			for i, ps := range st.Ports {
				t.Logf("port %d: rx %d tx %d dropped %d", i, ps.RxPackets.Load(), ps.TxPackets.Load(), ps.TxDropped.Load())
			}
			t.Logf("wakeups %d drops %v", loop.Wakeups(), st.Drops())
			t.Fatal(err)
		}
	}
	for i, ps := range st.Ports {
		rx, tx := ps.RxPackets.Load(), ps.TxPackets.Load()
		if rx != packets || tx != packets || ps.TxDropped.Load() != 0 || ps.RxBytes.Load() != 8*packets || ps.TxBytes.Load() != 8*packets {
			t.Errorf("port %d: rx %d (%d B) tx %d (%d B) dropped %d", i, rx, ps.RxBytes.Load(), tx, ps.TxBytes.Load(), ps.TxDropped.Load())
		}
	}
	if d := st.TotalDropped(); d != 0 {
		t.Errorf("%d dropped: %v", d, st.Drops())
	}
	for _, p := range []*Port{a1, b1, a2, b2} {
		p.Close()
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

// TestLoopIdle: a loop on mem ports sleeps when nothing arrives (no
// wake-ups at all without a Ticker) and wakes when the peer sends.
func TestLoopIdle(t *testing.T) {
	for _, noEvent := range []bool{false, true} {
		t.Run(fmt.Sprintf("noevent=%v", noEvent), func(t *testing.T) {
			pool := newPool(t, 256)
			a1, b1 := mkPair(t, pool, Config{NoEventIdx: noEvent}, 0)
			a2, b2 := mkPair(t, pool, Config{NoEventIdx: noEvent}, 0)
			stage := dataplane.StageFunc(func(b *dataplane.Batch) {
				for i := range b.Pkts {
					b.Pkts[i].Forward(1 - int(b.Pkts[i].InPort))
				}
			})
			loop := &dataplane.Loop{Ports: []dataplane.Port{b1, a2}, Stage: stage, Pool: pool, SpinFor: 20 * time.Microsecond}
			done := make(chan error, 1)
			go func() { done <- loop.Run(context.Background()) }()

			time.Sleep(100 * time.Millisecond)
			if w := loop.Wakeups(); w != 0 {
				t.Fatalf("idle loop woke %d times", w)
			}
			tx, rx := dataplane.NewBatch(8), dataplane.NewBatch(8)
			for round := 1; round <= 3; round++ {
				var seq uint32 = uint32(round * 100)
				fill(t, pool, tx, 5, &seq)
				if n, err := a1.Send(tx); n != 5 || err != nil {
					t.Fatalf("Send = %d, %v", n, err)
				}
				deadline := time.Now().Add(5 * time.Second)
				for rx.Len() < 5 && time.Now().Before(deadline) {
					if _, err := b2.Recv(rx); err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Millisecond)
				}
				if rx.Len() != 5 {
					t.Fatalf("round %d: %d of 5 packets came through", round, rx.Len())
				}
				for i := range rx.Pkts {
					if err := check(&rx.Pkts[i], uint32(round*100+i)); err != nil {
						t.Fatal(err)
					}
				}
				pool.PutBatch(rx)
				// Idle again: the loop goes back to sleep and stays there.
				time.Sleep(50 * time.Millisecond)
				w := loop.Wakeups()
				if w < uint64(round) {
					t.Fatalf("round %d: %d wake-ups: the loop did not sleep", round, w)
				}
				time.Sleep(50 * time.Millisecond)
				if w2 := loop.Wakeups(); w2 != w {
					t.Fatalf("round %d: idle loop woke %d more times", round, w2-w)
				}
			}
			loop.Stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for _, p := range []*Port{a1, b1, a2, b2} {
				p.Close()
			}
			if err := pool.CheckAllReturned(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLoopEOF: when the far end closes, the loop's Recv sees io.EOF and the
// loop ends by itself.
func TestLoopEOF(t *testing.T) {
	pool := newPool(t, 64)
	a, b := mkPair(t, pool, Config{}, 0)
	loop := &dataplane.Loop{Ports: []dataplane.Port{b}, Pool: pool,
		Stage: dataplane.StageFunc(func(b *dataplane.Batch) {})}
	done := make(chan error, 1)
	go func() { done <- loop.Run(context.Background()) }()
	time.Sleep(20 * time.Millisecond) // let it fall asleep
	tx := dataplane.NewBatch(4)
	var seq uint32
	fill(t, pool, tx, 4, &seq)
	a.Send(tx)
	a.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("loop did not end after the peer closed")
	}
	if got := loop.Stats.Ports[0].RxPackets.Load(); got != 4 {
		t.Fatalf("loop received %d of 4", got)
	}
	b.Close()
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}
