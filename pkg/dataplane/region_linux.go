package dataplane

import "golang.org/x/sys/unix"

// mapRegion maps anonymous memory outside the Go heap: the garbage collector
// never scans it and it stays put, as AF_XDP and virtio need.
func mapRegion(size int) ([]byte, func([]byte) error, error) {
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, err
	}
	return mem, unix.Munmap, nil
}
