package esp

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// TestZeroAllocs: the whole path, classify, encapsulate, decapsulate, for
// every cipher and encapsulation, allocates nothing per packet.
func TestZeroAllocs(t *testing.T) {
	for _, o := range allTunnels() {
		t.Run(o.String(), func(t *testing.T) {
			tn := newTunnel(t, o)
			in := innerSet()
			b := tn.batch(t, 1, in...)
			run := func() {
				for i := range b.Pkts {
					p := &b.Pkts[i]
					p.SetData(dataplane.DefaultHeadroom, len(in[i]))
					copy(p.Data(), in[i])
					p.Forward(1)
				}
				tn.wa.Classify(b, tn.sas)
				tn.wa.Encap(b, tn.sas)
				tn.wb.Decap(b, tn.sas)
			}
			if n := testing.AllocsPerRun(50, run); n != 0 {
				t.Errorf("%.1f allocations per burst of %d", n, len(in))
			}
			for i, r := range reasons(b) {
				if r != "ok" || !bytes.Equal(b.Pkts[i].Data(), in[i]) {
					t.Fatalf("packet %d: %s", i, r)
				}
			}
			tn.free(b)
		})
	}
}

// TestZeroAllocsDrops: the drop paths allocate nothing.
func TestZeroAllocsDrops(t *testing.T) {
	tn := newTunnel(t, tunnelOpts{cipher: AES256GCM16, encap: true})
	good := wire(tn.encrypt(t, 1, innerSet()...))
	bad := make([][]byte, len(good))
	for i, d := range good {
		bad[i] = bytes.Clone(d)
		bad[i][len(d)-1-i%20] ^= 1 // tampered
	}
	b := tn.batch(t, 1, good...)
	tn.wb.Decap(b, nil) // accepted once: from now on replays
	tn.free(b)
	for _, set := range [][][]byte{good, bad} {
		b := tn.batch(t, 1, set...)
		n := testing.AllocsPerRun(50, func() {
			for i := range b.Pkts {
				p := &b.Pkts[i]
				p.SetData(dataplane.DefaultHeadroom, len(set[i]))
				copy(p.Data(), set[i])
			}
			tn.wb.Decap(b, nil)
		})
		if n != 0 {
			t.Errorf("%.1f allocations per burst of drops (%s)", n, reasons(b)[0])
		}
		tn.free(b)
	}
}

// TestConcurrentWorkers runs several workers on the same SAs at once (run
// it with -race): every sequence number is used once, every packet is
// accepted once, and a second delivery of all of them is refused.
func TestConcurrentWorkers(t *testing.T) {
	const workers, bursts, burst = 4, 20, 32 // 2560 packets: all inside the replay window
	tn := newTunnel(t, tunnelOpts{cipher: AES128GCM16, esn: true})
	pool := newPool(t, workers*bursts*burst+64)
	inner := udpPacket(hostA4, hostB4, 1, 2, 200, 0)
	var mu sync.Mutex
	var all [][]byte
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := tn.a.NewWorker()
			sas := make([]*SA, burst)
			for range bursts {
				b := dataplane.NewBatch(burst)
				pool.GetN(b, burst)
				for i := range b.Pkts {
					copy(b.Pkts[i].Append(len(inner)), inner)
					b.Pkts[i].Forward(0)
				}
				w.Classify(b, sas)
				w.Encap(b, sas)
				mu.Lock()
				all = append(all, wire(b)...)
				mu.Unlock()
				pool.PutBatch(b)
			}
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, d := range all {
		s := be32(d[ipv4Len+4:])
		if seen[s] {
			t.Fatalf("sequence number %d used twice", s)
		}
		seen[s] = true
	}
	// Every packet reaches two workers at once: exactly one accepts it.
	// Then every packet once more: all are replays.
	counts := make([]atomic.Int32, len(all))
	for round := range 2 {
		for k := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := tn.b.NewWorker()
				var idx []int
				for j := range all {
					if j%workers == k || round == 0 && j%workers == (k+1)%workers {
						idx = append(idx, j)
					}
				}
				for len(idx) > 0 {
					n := min(burst, len(idx))
					b := dataplane.NewBatch(n)
					for _, j := range idx[:n] {
						p, _ := pool.Get()
						copy(p.Append(len(all[j])), all[j])
						p.Forward(0)
						b.Add(p)
					}
					w.Decap(b, nil)
					for i, j := range idx[:n] {
						if b.Pkts[i].Verdict == dataplane.Forward {
							counts[j].Add(1)
						}
					}
					pool.PutBatch(b)
					idx = idx[n:]
				}
			}()
		}
		wg.Wait()
	}
	for j := range counts {
		if n := counts[j].Load(); n != 1 {
			t.Fatalf("packet %d accepted %d times", j, n)
		}
	}
	if c := tn.in.Counters(); c.Packets != uint64(len(all)) || c.Replays != uint64(2*len(all)) {
		t.Errorf("counters %+v, want %d packets and %d replays", c, len(all), 2*len(all))
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Error(err)
	}
}
