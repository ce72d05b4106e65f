package afxdp

import (
	"testing"
	"unsafe"
)

// fakeRing is a ring whose shared indices live in Go memory, with the
// test playing the kernel.
func fakeRing(n uint32) (*ring, *[3]uint32) {
	var shared [3]uint32 // producer, consumer, flags
	return &ring{producer: &shared[0], consumer: &shared[1], flags: &shared[2], mask: n - 1}, &shared
}

// TestRingIndices drives a producer ring and a consumer ring across the
// 2^32 wrap of their free-running indices.
func TestRingIndices(t *testing.T) {
	const n = 8
	r, sh := fakeRing(n)
	start := ^uint32(0) - 5 // wraps within the test
	r.local, r.remote, sh[0], sh[1] = start, start, start, start

	// Producer side (fill/TX): the kernel consumes.
	if got := r.free(n); got != n {
		t.Fatalf("free on an empty ring = %d", got)
	}
	r.submit(6)
	if sh[0] != start+6 {
		t.Fatalf("producer index %d, want %d", sh[0], start+6)
	}
	if got := r.free(n); got != 2 {
		t.Fatalf("free after 6 of 8 = %d", got)
	}
	sh[1] = start + 4 // the kernel took 4
	if got := r.free(n); got != 6 {
		t.Fatalf("free after the kernel took 4 = %d", got)
	}
	if got := r.outstanding(); got != 2 {
		t.Fatalf("outstanding = %d", got)
	}

	// Consumer side (RX/completion): the kernel produces.
	c, csh := fakeRing(n)
	c.local, c.remote, csh[0], csh[1] = start, start, start, start
	if got := c.available(n); got != 0 {
		t.Fatalf("available on an empty ring = %d", got)
	}
	csh[0] = start + 7
	if got := c.available(4); got != 4 {
		t.Fatalf("available(4) = %d", got)
	}
	c.release(4)
	if got := c.available(n); got != 3 {
		t.Fatalf("available after releasing 4 of 7 = %d", got)
	}
	c.release(3)
	if csh[1] != start+7 || c.available(n) != 0 {
		t.Fatalf("consumer index %d, want %d", csh[1], start+7)
	}

	sh[2] = 1 // XDP_RING_NEED_WAKEUP
	if !r.needWakeup() {
		t.Fatal("need-wakeup flag not seen")
	}
}

func TestDescLayout(t *testing.T) {
	// struct xdp_desc: __u64 addr; __u32 len; __u32 options.
	var d descRing
	if s := unsafe.Sizeof(d.descs[0]); s != 16 {
		t.Fatalf("descriptor size %d, want 16", s)
	}
}
