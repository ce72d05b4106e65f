package esp

import (
	"math/rand/v2"
	"testing"
)

// accept runs the receiver's sequence: infer, check, update.
func (r *replayWindow) accept(seql uint32, esn bool) (uint64, bool) {
	seq, ok := r.infer(seql, esn)
	if !ok || !r.check(seq) {
		return seq, false
	}
	ok, _ = r.update(seq)
	return seq, ok
}

func TestReplayWindow(t *testing.T) {
	var r replayWindow
	steps := []struct {
		seq  uint32
		want bool
	}{
		{0, false}, // never valid
		{1, true}, {1, false}, {3, true}, {2, true}, {2, false}, {3, false},
		{ReplayWindow + 3, true}, // top moves: 3 is now the oldest in the window... 3 is out (top-3 == W)
		{3, false}, {4, true}, {4, false},
		{ReplayWindow + 2, true}, {ReplayWindow + 100000, true}, // a jump past the whole ring clears it
		{ReplayWindow + 2, false},
		{100001, true}, {100001, false}, {100000 + 64, true},
	}
	for i, s := range steps {
		if _, got := r.accept(s.seq, false); got != s.want {
			t.Fatalf("step %d: seq %d accepted %v, want %v (top %d)", i, s.seq, got, s.want, r.top)
		}
	}
	if ReplayWindow < 1024 {
		t.Errorf("window %d is below 1024", ReplayWindow)
	}
}

// TestReplayModel compares the bitmap with a plain set and the RFC's rule,
// over random traffic: bursts, reordering, duplicates and jumps.
func TestReplayModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var r replayWindow
	seen := map[uint64]bool{}
	var top uint64
	next := uint64(1)
	for i := range 300000 {
		var seq uint64
		switch x := rng.IntN(100); {
		case x < 60:
			seq = next
			next++
		case x < 80: // late: up to 1.5 windows back
			seq = next - uint64(rng.IntN(ReplayWindow*3/2)) - 1
		case x < 90: // a duplicate of something recent
			seq = next - uint64(rng.IntN(200)) - 1
		case x < 99:
			next += uint64(rng.IntN(3000))
			seq = next
		default:
			next += uint64(rng.IntN(3 * replayBits))
			seq = next
		}
		if seq == 0 || seq > 1<<31 {
			continue
		}
		want := !seen[seq] && (seq > top || top-seq < ReplayWindow)
		got := r.check(seq)
		if got != want {
			t.Fatalf("packet %d: seq %d (top %d): check %v, want %v", i, seq, top, got, want)
		}
		if got {
			if ok, _ := r.update(seq); !ok {
				t.Fatalf("update refused seq %d after check accepted it", seq)
			}
			seen[seq] = true
			top = max(top, seq)
		}
	}
}

// TestESNInference checks RFC 4303 Appendix A2.2's cases at and around the
// window's edges and across epochs.
func TestESNInference(t *testing.T) {
	const w = ReplayWindow
	cases := []struct {
		top  uint64
		seql uint32
		want uint64
		ok   bool
	}{
		// Case A: the window lies in one epoch (Tl >= W-1).
		{5 << 32, 5, 5<<32 | 5, true},
		{5<<32 | 10000, 10000 - w + 1, 5<<32 | (10000 - w + 1), true}, // bottom of the window
		{5<<32 | 10000, 10000 - w, 6<<32 | (10000 - w), true},         // below it: next epoch
		{5<<32 | 10000, 0xffffffff, 5<<32 | 0xffffffff, true},         // ahead, same epoch
		{5<<32 | 0xffffffff, 3, 6<<32 | 3, true},                      // the low half wrapped
		{0xffffffff<<32 | 10000, 3, 0, false},                         // no epoch after the last
		// Case B: the window's bottom is in the previous epoch (Tl < W-1).
		{5<<32 | 10, 0xffffffff, 4<<32 | 0xffffffff, true},                   // late, from the previous epoch
		{5<<32 | 10, 1<<32 + 10 - w + 1, 4<<32 | (1<<32 + 10 - w + 1), true}, // the window's bottom
		{5<<32 | 10, 11, 5<<32 | 11, true},
		{5<<32 | 10, 1<<32 + 10 - w, 5<<32 | (1<<32 + 10 - w), true}, // below the bottom: ahead in this epoch
		{10, 0xfffffff0, 0, false},                                   // epoch -1 does not exist
		{0, 0, 0, false},                                             // sequence number 0
		{0, 1, 1, true},
	}
	for _, c := range cases {
		r := replayWindow{top: c.top}
		got, ok := r.infer(c.seql, true)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("top %#x seql %#x: %#x %v, want %#x %v", c.top, c.seql, got, ok, c.want, c.ok)
		}
	}
	// Without ESN the low half is the number.
	r := replayWindow{top: 7 << 32}
	if got, ok := r.infer(9, false); !ok || got != 9 {
		t.Errorf("no ESN: %d %v", got, ok)
	}
}

// TestESNAcrossEpochs runs a receiver across three epoch boundaries with
// reordering at each.
func TestESNAcrossEpochs(t *testing.T) {
	var r replayWindow
	for epoch := uint64(0); epoch < 3; epoch++ {
		// Half an epoch on: the receiver cannot tell a jump of nearly
		// 2^32 from a late packet, so the top must move in smaller steps.
		if got, ok := r.accept(0x80000000, true); !ok || got != epoch<<32|0x80000000 {
			t.Fatalf("epoch %d: middle: %#x %v", epoch, got, ok)
		}
		base := epoch<<32 | 0xffffff00
		order := []uint64{base, base + 2, base + 1, base + 0x100, base + 0x102, base + 0xff, base + 0x101, base + 0x103}
		for _, seq := range order {
			got, ok := r.accept(uint32(seq), true)
			if !ok || got != seq {
				t.Fatalf("seq %#x: got %#x %v", seq, got, ok)
			}
			if _, ok := r.accept(uint32(seq), true); ok {
				t.Fatalf("seq %#x accepted twice", seq)
			}
		}
	}
}
