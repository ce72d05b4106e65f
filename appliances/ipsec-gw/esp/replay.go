package esp

// Anti-replay (RFC 4303 section 3.4.3 and Appendix A) with the bitmap of
// RFC 6479: the bits of the window live in a ring of 64-bit words indexed
// by the sequence number itself, so advancing the window clears the words
// it moves over instead of shifting the whole bitmap. The ring holds one
// word more than the window needs, so the word holding the newest packet
// never overlaps the oldest the window still accepts.

const (
	// replayBits is the size of the bitmap ring, a power of two.
	replayBits  = 4096
	replayWords = replayBits / 64
	// ReplayWindow is how far behind the highest sequence number received
	// a packet may arrive and still be accepted (once): the ring less one
	// word (RFC 6479 section 2).
	ReplayWindow = replayBits - 64
)

// replayWindow is an inbound SA's anti-replay state. It is not safe for
// concurrent use; the SA serialises access.
type replayWindow struct {
	top    uint64 // highest sequence number accepted; 0 before the first
	bitmap [replayWords]uint64
}

// infer returns the full sequence number of a packet whose low 32 bits are
// seql. Without ESN it is seql. With ESN the high half is guessed from the
// window as RFC 4303 Appendix A2.2 does: a low half at or after the bottom
// of the window is in the window's epoch, one before it in the next (or, when
// the window straddles a wrap, the previous) epoch. ok is false for a number
// outside 1..2^64-1.
func (r *replayWindow) infer(seql uint32, esn bool) (seq uint64, ok bool) {
	if !esn {
		return uint64(seql), seql != 0
	}
	const w = ReplayWindow
	tl, th := uint32(r.top), uint32(r.top>>32)
	bottom := tl - w + 1 // wraps when the window straddles an epoch (case B)
	var sh uint32
	if tl >= w-1 { // case A: the window lies within one epoch
		if seql >= bottom {
			sh = th
		} else {
			if th == ^uint32(0) {
				return 0, false
			}
			sh = th + 1
		}
	} else { // case B: the window's bottom is in the previous epoch
		if seql >= bottom {
			if th == 0 {
				return 0, false
			}
			sh = th - 1
		} else {
			sh = th
		}
	}
	seq = uint64(sh)<<32 | uint64(seql)
	return seq, seq != 0
}

// check reports whether seq may be accepted: new, or inside the window and
// not seen yet. It changes nothing; it runs before the ICV is verified.
func (r *replayWindow) check(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq > r.top {
		return true
	}
	if r.top-seq >= ReplayWindow {
		return false
	}
	bit := seq & (replayBits - 1)
	return r.bitmap[bit/64]&(1<<(bit%64)) == 0
}

// update records seq as received, after its ICV was verified. It checks
// again (another worker may have accepted the same number meanwhile) and
// reports false for a replay; advanced tells whether seq is the new top.
func (r *replayWindow) update(seq uint64) (ok, advanced bool) {
	if seq > r.top {
		cur, next := r.top/64, seq/64
		n := next - cur
		if n > replayWords {
			n = replayWords
		}
		for i := uint64(1); i <= n; i++ {
			r.bitmap[(cur+i)%replayWords] = 0
		}
		r.top = seq
		advanced = true
	} else if !r.check(seq) {
		return false, false
	}
	bit := seq & (replayBits - 1)
	r.bitmap[bit/64] |= 1 << (bit % 64)
	return true, advanced
}
