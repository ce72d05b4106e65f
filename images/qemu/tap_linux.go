package qemu

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openTap opens a queue of TAP device name in network namespace netns
// ("" for this process's), creating the device if it does not exist, with
// a virtio-net header on every frame (which QEMU's vnet_hdr=on expects),
// and sets it up.
func openTap(name, netns string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// A namespace belongs to a thread: this goroutine's, alone.
		runtime.LockOSThread()
		f, back, err := openTapHere(name, netns)
		ch <- result{f, err}
		if back {
			runtime.UnlockOSThread()
		}
		// Otherwise the thread is left in another namespace: the
		// goroutine ends locked, and the runtime ends the thread with it.
	}()
	r := <-ch
	return r.f, r.err
}

// openTapHere opens the TAP from the calling thread; back says whether the
// thread is in its own network namespace again.
func openTapHere(name, netns string) (f *os.File, back bool, err error) {
	back = true
	if netns != "" {
		path := netns
		if !strings.Contains(netns, "/") {
			path = filepath.Join("/var/run/netns", netns)
		}
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			return nil, true, err
		}
		defer orig.Close()
		target, err := os.Open(path)
		if err != nil {
			return nil, true, fmt.Errorf("network namespace %s: %w", netns, err)
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			return nil, true, fmt.Errorf("entering network namespace %s: %w", netns, err)
		}
		defer func() { back = unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil }()
	}
	f, err = tapHere(name)
	return f, back, err
}

func tapHere(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("/dev/net/tun: %w", err)
	}
	var ifr struct {
		name  [unix.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(ifr.name[:], name)
	ifr.flags = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("TAP %s: TUNSETIFF: %w (a TUN device or a TAP with other flags of that name?)", name, errno)
	}
	if err := setUp(name); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TAP %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tap:"+name), nil
}

func setUp(name string) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr)
}
