//go:build !linux

package hugepage

import "unsafe"

// Advise does nothing here (see the Linux version).
func Advise(unsafe.Pointer, uintptr) {}
