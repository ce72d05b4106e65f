package hostnet

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The link ioctls take any socket of the network namespace the interface
// is in: the port's own (an AF_PACKET socket) or a control socket made for
// the purpose (ControlSocket).

// ControlSocket opens a socket for the link ioctls in the calling thread's
// network namespace. The caller closes it.
func ControlSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("control socket: %w", err)
	}
	return fd, nil
}

func ifreq(fd int, name string, req uint, set func(*unix.Ifreq)) (*unix.Ifreq, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", name, err)
	}
	if set != nil {
		set(ifr)
	}
	if err := unix.IoctlIfreq(fd, req, ifr); err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	return ifr, nil
}

// LinkIndex is the interface index of name.
func LinkIndex(fd int, name string) (int, error) {
	ifr, err := ifreq(fd, name, unix.SIOCGIFINDEX, nil)
	if err != nil {
		return 0, err
	}
	return int(ifr.Uint32()), nil
}

// LinkMTU is the MTU of name.
func LinkMTU(fd int, name string) (int, error) {
	ifr, err := ifreq(fd, name, unix.SIOCGIFMTU, nil)
	if err != nil {
		return 0, err
	}
	return int(ifr.Uint32()), nil
}

// SetLinkMTU sets the MTU of name.
func SetLinkMTU(fd int, name string, mtu int) error {
	_, err := ifreq(fd, name, unix.SIOCSIFMTU, func(ifr *unix.Ifreq) { ifr.SetUint32(uint32(mtu)) })
	return err
}

// LinkAddr is the Ethernet address of name.
func LinkAddr(fd int, name string) ([6]byte, error) {
	var mac [6]byte
	// struct ifreq with its union as ifr_hwaddr, a struct sockaddr.
	var r struct {
		name   [unix.IFNAMSIZ]byte
		family uint16
		data   [14]byte
		_      [8]byte
	}
	if len(name) >= unix.IFNAMSIZ {
		return mac, fmt.Errorf("interface %q: name too long", name)
	}
	copy(r.name[:], name)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCGIFHWADDR, uintptr(unsafe.Pointer(&r))); e != 0 {
		return mac, fmt.Errorf("interface %s: %w", name, e)
	}
	copy(mac[:], r.data[:6])
	return mac, nil
}

// LinkFlags are the interface flags of name (unix.IFF_UP, ...).
func LinkFlags(fd int, name string) (uint16, error) {
	ifr, err := ifreq(fd, name, unix.SIOCGIFFLAGS, nil)
	if err != nil {
		return 0, err
	}
	return ifr.Uint16(), nil
}

// SetLinkUp brings name up or down and reports whether that changed it.
func SetLinkUp(fd int, name string, up bool) (changed bool, err error) {
	flags, err := LinkFlags(fd, name)
	if err != nil {
		return false, err
	}
	want := flags &^ unix.IFF_UP
	if up {
		want |= unix.IFF_UP
	}
	if want == flags {
		return false, nil
	}
	_, err = ifreq(fd, name, unix.SIOCSIFFLAGS, func(ifr *unix.Ifreq) { ifr.SetUint16(want) })
	return err == nil, err
}
