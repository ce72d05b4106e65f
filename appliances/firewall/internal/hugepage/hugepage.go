// Package hugepage places the firewall's big lookup structures (the
// connection table, the classifier's trees) in transparent huge pages, so
// that a lookup that misses the caches does not also miss the TLB.
package hugepage

import "unsafe"

// Size is the size of a transparent huge page on the platforms we run.
const Size = 2 << 20

// Uint64s returns n zeroed words starting on a huge page, the whole
// rounded up to huge pages and advised (see Advise): for structures of a
// few MiB, which a plain allocation would leave mostly in 4 KiB pages. It
// takes up to 4 MiB more than a plain allocation (the rounding, and the
// slack to find a huge-page boundary in Go's heap), and is for sizes
// where that is small beside the TLB misses saved.
func Uint64s(n int) []uint64 {
	bytes := (uintptr(n)*8 + Size - 1) &^ (Size - 1)
	buf := make([]uint64, (bytes+Size)/8)
	skip := 0
	if r := uintptr(unsafe.Pointer(&buf[0])) % Size; r != 0 {
		skip = int((Size - r) / 8)
	}
	area := buf[skip : skip+int(bytes/8)]
	Advise(unsafe.Pointer(&area[0]), bytes)
	return area[:n:n]
}
