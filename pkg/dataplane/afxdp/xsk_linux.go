package afxdp

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"golang.org/x/sys/unix"
)

// bindRetry bounds how long Open waits for a queue whose previous socket
// the kernel is still releasing (it does that in a work item, after close).
const bindRetry = 2 * time.Second

// xsk is one AF_XDP socket and its four rings, mapped into the process.
type xsk struct {
	fd         int
	rx, tx     descRing
	fill, comp addrRing
	maps       [][]byte
	zc         bool
}

// sockConfig says how to make a socket.
type sockConfig struct {
	region   *dataplane.Region
	ringSize uint32
	ifindex  int
	queue    int
	bind     BindMode
	// sharedFD is a bound socket whose kernel UMEM this one shares
	// (XDP_SHARED_UMEM), or -1 to register the region as a UMEM of its
	// own.
	sharedFD int
}

// umemHeadroom is the UMEM headroom that makes the kernel put a received
// packet at the region's headroom: the kernel adds XDP_PACKET_HEADROOM
// (256) of its own, so a region with less headroom than that gets packets
// at 256.
func umemHeadroom(r *dataplane.Region) uint32 {
	return uint32(max(0, r.Headroom()-xdpPacketHeadroom))
}

// newXSK makes a socket, gives it its rings, binds it to the queue and maps
// the rings.
func newXSK(c sockConfig) (_ *xsk, err error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_XDP socket: %w", err)
	}
	s := &xsk{fd: fd}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if c.sharedFD < 0 {
		mem := c.region.Bytes()
		reg := unix.XDPUmemReg{
			Addr:     uint64(uintptr(unsafe.Pointer(&mem[0]))),
			Len:      uint64(len(mem)),
			Size:     uint32(c.region.FrameSize()),
			Headroom: umemHeadroom(c.region),
		}
		err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg))
		runtime.KeepAlive(mem)
		if err != nil {
			return nil, fmt.Errorf("registering the region as UMEM (%d frames of %d bytes): %w", c.region.Frames(), c.region.FrameSize(), err)
		}
	}
	// Every socket gets fill and completion rings of its own: the kernel
	// requires them for each (interface, queue) a shared UMEM is bound to,
	// and the port only ever binds one socket per queue.
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING, unix.XDP_TX_RING} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, opt, int(c.ringSize)); err != nil {
			return nil, fmt.Errorf("sizing ring %d to %d entries: %w", opt, c.ringSize, err)
		}
	}
	var off unix.XDPMmapOffsets
	if err := getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return nil, fmt.Errorf("ring offsets: %w", err)
	}
	if err := s.mapRings(off, c.ringSize); err != nil {
		return nil, err
	}

	sa := &unix.SockaddrXDP{Ifindex: uint32(c.ifindex), QueueID: uint32(c.queue)}
	if c.sharedFD >= 0 {
		// The mode and need_wakeup come from the socket that registered
		// the UMEM; the kernel refuses flags here.
		sa.Flags = unix.XDP_SHARED_UMEM
		sa.SharedUmemFD = uint32(c.sharedFD)
	} else {
		sa.Flags = unix.XDP_USE_NEED_WAKEUP
		switch c.bind {
		case BindZeroCopy:
			sa.Flags |= unix.XDP_ZEROCOPY
		case BindCopy:
			sa.Flags |= unix.XDP_COPY
		}
		// With neither flag the kernel tries zero-copy and falls back to
		// copy by itself.
	}
	deadline := time.Now().Add(bindRetry)
	for {
		err = unix.Bind(fd, sa)
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("bind: queue %d is in use by another AF_XDP socket: %w", c.queue, err)
		}
		if c.bind == BindZeroCopy && errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("bind: zero-copy asked, but the driver has no AF_XDP zero-copy: %w", err)
		}
		return nil, fmt.Errorf("bind: %w", err)
	}
	var opts uint32 // struct xdp_options
	if err := getsockopt(fd, unix.XDP_OPTIONS, unsafe.Pointer(&opts), unsafe.Sizeof(opts)); err != nil {
		return nil, fmt.Errorf("XDP_OPTIONS: %w", err)
	}
	s.zc = opts&unix.XDP_OPTIONS_ZEROCOPY != 0
	if !s.zc {
		// In copy mode one sendto transmits at most this many descriptors
		// (32 unless raised, on kernels that have the option).
		_ = unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, int(min(c.ringSize, 256)))
	}
	return s, nil
}

func (s *xsk) mapRings(off unix.XDPMmapOffsets, n uint32) error {
	descSize, addrSize := unsafe.Sizeof(unix.XDPDesc{}), unsafe.Sizeof(uint64(0))
	for _, m := range []struct {
		name  string
		pgoff int64
		off   unix.XDPRingOffset
		size  uintptr
		r     *ring
		set   func(unsafe.Pointer)
	}{
		{"fill", unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, addrSize, &s.fill.ring, func(p unsafe.Pointer) { s.fill.addrs = unsafe.Slice((*uint64)(p), n) }},
		{"completion", unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, addrSize, &s.comp.ring, func(p unsafe.Pointer) { s.comp.addrs = unsafe.Slice((*uint64)(p), n) }},
		{"rx", unix.XDP_PGOFF_RX_RING, off.Rx, descSize, &s.rx.ring, func(p unsafe.Pointer) { s.rx.descs = unsafe.Slice((*unix.XDPDesc)(p), n) }},
		{"tx", unix.XDP_PGOFF_TX_RING, off.Tx, descSize, &s.tx.ring, func(p unsafe.Pointer) { s.tx.descs = unsafe.Slice((*unix.XDPDesc)(p), n) }},
	} {
		mem, entries, err := mapRing(s.fd, m.pgoff, m.off, n, m.size, m.r)
		if err != nil {
			return fmt.Errorf("mapping the %s ring: %w", m.name, err)
		}
		s.maps = append(s.maps, mem)
		m.set(entries)
	}
	return nil
}

// unmap unmaps the rings. The mappings hold the socket open, so the kernel
// releases it only once they are gone and the descriptor is closed.
func (s *xsk) unmap() error {
	var errs []error
	for _, m := range s.maps {
		errs = append(errs, unix.Munmap(m))
	}
	s.maps = nil
	s.rx, s.tx, s.fill, s.comp = descRing{}, descRing{}, addrRing{}, addrRing{}
	return errors.Join(errs...)
}

// close unmaps the rings and closes the descriptor (for sockets not yet
// handed to an os.File).
func (s *xsk) close() error {
	err := s.unmap()
	if s.fd >= 0 {
		err = errors.Join(err, unix.Close(s.fd))
		s.fd = -1
	}
	return err
}

// stats reads the kernel's counters for the socket.
func (s *xsk) stats() (KernelStats, error) {
	var st unix.XDPStatistics
	if err := getsockopt(s.fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)); err != nil {
		return KernelStats{}, err
	}
	return KernelStats{
		RxDropped:        st.Rx_dropped,
		RxInvalidDescs:   st.Rx_invalid_descs,
		TxInvalidDescs:   st.Tx_invalid_descs,
		RxRingFull:       st.Rx_ring_full,
		RxFillRingEmpty:  st.Rx_fill_ring_empty_descs,
		TxRingEmptyDescs: st.Tx_ring_empty_descs,
	}, nil
}

// releaseProbe learns when the kernel has let go of a queue. The kernel
// unbinds a closed socket at once, but it detaches the socket's buffer pool
// from the queue — and, with a zero-copy driver, takes the frames back from
// the NIC — later, in a work item. Until then the NIC may still write into
// frames that were on the fill ring, so they cannot go back to the pool
// yet. The probe is a spare socket with a one-page UMEM of its own, made
// beside the port's socket (so in the interface's network namespace): a
// copy-mode bind to the queue fails with EBUSY exactly while a buffer pool
// is still attached to it.
type releaseProbe struct {
	fd  int
	mem []byte
}

func newReleaseProbe() (*releaseProbe, error) {
	page := os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	pr := &releaseProbe{fd: fd, mem: mem}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))), Len: uint64(page), Size: 2048}
	err = setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg))
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING} {
		if err == nil {
			err = unix.SetsockoptInt(fd, unix.SOL_XDP, opt, 2)
		}
	}
	if err != nil {
		pr.close()
		return nil, err
	}
	return pr, nil
}

// wait returns once no buffer pool is attached to the queue, or fails
// after timeout. A missing interface (ENODEV) counts as released: the
// kernel releases pools when a device goes away.
func (pr *releaseProbe) wait(ifindex, queue int, timeout time.Duration) error {
	sa := &unix.SockaddrXDP{Flags: unix.XDP_COPY, Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Bind(pr.fd, sa)
		switch {
		case err == nil, errors.Is(err, unix.ENODEV):
			return nil
		case !errors.Is(err, unix.EBUSY):
			return err
		case time.Now().After(deadline):
			return fmt.Errorf("queue %d still busy after %v", queue, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func (pr *releaseProbe) close() error {
	return errors.Join(unix.Close(pr.fd), unix.Munmap(pr.mem))
}

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	l := uint32(n)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return nil
}
