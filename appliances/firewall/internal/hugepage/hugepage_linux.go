package hugepage

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Advise asks the kernel to back the 2 MiB-aligned part of the n bytes at
// p with transparent huge pages. A table of a million connections is
// 160 MiB: in 4 KiB pages every lookup also misses the TLB, and the page
// walk is one more trip to memory. Pages not yet touched are huge from
// their first fault; those the Go heap had already used (memory freed and
// reused) are collapsed into huge pages there and then. It is advice: a
// kernel without transparent huge pages (or too old to collapse) says no,
// and nothing changes.
func Advise(p unsafe.Pointer, n uintptr) {
	start := (uintptr(p) + Size - 1) &^ (Size - 1)
	end := (uintptr(p) + n) &^ (Size - 1)
	if end <= start {
		return
	}
	b := unsafe.Slice((*byte)(p), n)
	off := start - uintptr(p)
	r := b[off : off+end-start]
	if unix.Madvise(r, unix.MADV_HUGEPAGE) == nil {
		_ = unix.Madvise(r, unix.MADV_COLLAPSE)
	}
}
