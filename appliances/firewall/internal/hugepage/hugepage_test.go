package hugepage

import (
	"testing"
	"unsafe"
)

func TestUint64s(t *testing.T) {
	for _, n := range []int{1, 1000, Size / 8, Size/8 + 1, 3 * Size / 8} {
		w := Uint64s(n)
		if len(w) != n {
			t.Fatalf("%d words: got %d", n, len(w))
		}
		if a := uintptr(unsafe.Pointer(&w[0])); a%Size != 0 {
			t.Errorf("%d words at %#x: not on a huge page", n, a)
		}
		for i := range w {
			if w[i] != 0 {
				t.Fatalf("%d words: word %d not zero", n, i)
			}
			w[i] = uint64(i)
		}
	}
}
