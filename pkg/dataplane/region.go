package dataplane

import (
	"errors"
	"fmt"
)

// Default frame geometry. 2 KiB frames hold a 1500-byte MTU Ethernet frame
// with room for ESP or WireGuard headers in front and trailers behind; the
// size is a power of two as AF_XDP's aligned UMEM mode requires.
const (
	DefaultFrameSize = 2048
	DefaultHeadroom  = 128
	MinHeadroom      = 64
)

// Region is one contiguous block of fixed-size frames. Its memory is mapped
// outside the Go heap where the platform allows, so that a kernel (AF_XDP
// UMEM) or a device can be given it directly.
type Region struct {
	mem       []byte
	frameSize int
	headroom  int
	frames    int
	unmap     func([]byte) error
}

// NewRegion maps a region of n frames of frameSize bytes each, leaving
// headroom bytes in front of every packet.
func NewRegion(n, frameSize, headroom int) (*Region, error) {
	switch {
	case n <= 0 || n > 1<<24:
		return nil, fmt.Errorf("region: frame count %d out of range (1..%d)", n, 1<<24)
	case frameSize < 256 || frameSize > 65536 || frameSize&(frameSize-1) != 0:
		return nil, fmt.Errorf("region: frame size %d is not a power of two in 256..65536", frameSize)
	case headroom < MinHeadroom || headroom > frameSize/2:
		return nil, fmt.Errorf("region: headroom %d out of range (%d..%d)", headroom, MinHeadroom, frameSize/2)
	}
	mem, unmap, err := mapRegion(n * frameSize)
	if err != nil {
		return nil, fmt.Errorf("region: mapping %d bytes: %w", n*frameSize, err)
	}
	return &Region{mem: mem, frameSize: frameSize, headroom: headroom, frames: n, unmap: unmap}, nil
}

// Bytes is the whole region: for backends that register it with a kernel or
// device (AF_XDP UMEM, virtqueue buffers addressed by offset).
func (r *Region) Bytes() []byte { return r.mem }

// FrameSize is the size of one frame in bytes.
func (r *Region) FrameSize() int { return r.frameSize }

// Headroom is how many bytes a fresh packet leaves free in front of its data.
func (r *Region) Headroom() int { return r.headroom }

// Frames is the number of frames in the region.
func (r *Region) Frames() int { return r.frames }

// Frame is the memory of frame id, its full size.
func (r *Region) Frame(id uint32) []byte {
	o := int(id) * r.frameSize
	return r.mem[o : o+r.frameSize : o+r.frameSize]
}

// FrameOf returns the frame holding region offset off and the offset within
// it. It is how a backend that deals in region offsets (virtqueue
// descriptors, AF_XDP descriptors) turns one back into a frame.
func (r *Region) FrameOf(off uint64) (id uint32, within int, ok bool) {
	if off >= uint64(len(r.mem)) {
		return 0, 0, false
	}
	return uint32(off / uint64(r.frameSize)), int(off % uint64(r.frameSize)), true
}

// Offset is the region offset of byte within of frame id.
func (r *Region) Offset(id uint32, within int) uint64 {
	return uint64(id)*uint64(r.frameSize) + uint64(within)
}

// Close unmaps the region. No frame may be used afterwards.
func (r *Region) Close() error {
	if r.mem == nil {
		return errors.New("region: already closed")
	}
	err := r.unmap(r.mem)
	r.mem = nil
	return err
}
