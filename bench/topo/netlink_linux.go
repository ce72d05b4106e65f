package topo

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// LinkStats are an interface's counters (struct rtnl_link_stats64, the
// first eight fields).
type LinkStats struct {
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
	RxErrors, TxErrors   uint64
	RxDropped, TxDropped uint64
}

// Sub is s - o, field by field: the counts of an interval.
func (s LinkStats) Sub(o LinkStats) LinkStats {
	return LinkStats{
		RxPackets: s.RxPackets - o.RxPackets, TxPackets: s.TxPackets - o.TxPackets,
		RxBytes: s.RxBytes - o.RxBytes, TxBytes: s.TxBytes - o.TxBytes,
		RxErrors: s.RxErrors - o.RxErrors, TxErrors: s.TxErrors - o.TxErrors,
		RxDropped: s.RxDropped - o.RxDropped, TxDropped: s.TxDropped - o.TxDropped,
	}
}

// LinkInfo is what rtnetlink says about an interface.
type LinkInfo struct {
	Index int
	MAC   net.HardwareAddr
	MTU   int
	Stats LinkStats
}

// Link asks the namespace's rtnetlink about interface name. The socket is
// opened inside the namespace on first use and kept, so a sample costs one
// request and one reply, and can be taken from any goroutine.
func (n *NS) Link(name string) (LinkInfo, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nl == 0 {
		var fd int
		err := n.Do(func() error {
			var err error
			fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
			if err != nil {
				return err
			}
			tv := unix.Timeval{Sec: 2}
			if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				unix.Close(fd)
				return err
			}
			return unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		})
		if err != nil {
			return LinkInfo{}, fmt.Errorf("netns %s: rtnetlink socket: %w", n.Name, err)
		}
		n.nl = fd
	}
	info, err := getLink(n.nl, name)
	if err != nil {
		return LinkInfo{}, fmt.Errorf("netns %s: link %s: %w", n.Name, name, err)
	}
	return info, nil
}

var nlSeq atomic.Uint32

// getLink sends RTM_GETLINK for name and parses the RTM_NEWLINK reply.
func getLink(fd int, name string) (LinkInfo, error) {
	seq := nlSeq.Add(1)
	attr := nlAttr(unix.IFLA_IFNAME, append([]byte(name), 0))
	req := make([]byte, unix.SizeofNlMsghdr+unix.SizeofIfInfomsg, unix.SizeofNlMsghdr+unix.SizeofIfInfomsg+len(attr))
	req = append(req, attr...)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:4], uint32(len(req)))
	ne.PutUint16(req[4:6], unix.RTM_GETLINK)
	ne.PutUint16(req[6:8], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:12], seq)
	req[unix.SizeofNlMsghdr] = unix.AF_UNSPEC
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return LinkInfo{}, err
	}
	buf := make([]byte, 32<<10)
	for {
		m, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return LinkInfo{}, err
		}
		b := buf[:m]
		for len(b) >= unix.SizeofNlMsghdr {
			l := int(ne.Uint32(b[0:4]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return LinkInfo{}, fmt.Errorf("rtnetlink: bad message length %d", l)
			}
			typ, mseq := ne.Uint16(b[4:6]), ne.Uint32(b[8:12])
			msg := b[:l]
			b = b[min(nlAlign(l), len(b)):]
			if mseq != seq {
				continue // a stale reply to an earlier, timed-out request
			}
			switch typ {
			case unix.NLMSG_ERROR:
				if errno := int32(ne.Uint32(msg[16:20])); errno != 0 {
					return LinkInfo{}, unix.Errno(-errno)
				}
			case unix.RTM_NEWLINK:
				return parseLink(msg[unix.SizeofNlMsghdr:])
			}
		}
	}
}

func parseLink(b []byte) (LinkInfo, error) {
	if len(b) < unix.SizeofIfInfomsg {
		return LinkInfo{}, fmt.Errorf("rtnetlink: short RTM_NEWLINK")
	}
	ne := binary.NativeEndian
	info := LinkInfo{Index: int(int32(ne.Uint32(b[4:8])))}
	b = b[unix.SizeofIfInfomsg:]
	for len(b) >= 4 {
		l, typ := int(ne.Uint16(b[0:2])), ne.Uint16(b[2:4])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER)
		if l < 4 || l > len(b) {
			break
		}
		v := b[4:l]
		switch typ {
		case unix.IFLA_ADDRESS:
			info.MAC = net.HardwareAddr(append([]byte(nil), v...))
		case unix.IFLA_MTU:
			if len(v) >= 4 {
				info.MTU = int(ne.Uint32(v))
			}
		case unix.IFLA_STATS64:
			if len(v) >= 64 {
				info.Stats = LinkStats{
					RxPackets: ne.Uint64(v[0:]), TxPackets: ne.Uint64(v[8:]),
					RxBytes: ne.Uint64(v[16:]), TxBytes: ne.Uint64(v[24:]),
					RxErrors: ne.Uint64(v[32:]), TxErrors: ne.Uint64(v[40:]),
					RxDropped: ne.Uint64(v[48:]), TxDropped: ne.Uint64(v[56:]),
				}
			}
		}
		b = b[min(nlAlign(l), len(b)):]
	}
	return info, nil
}

func nlAttr(typ uint16, v []byte) []byte {
	a := make([]byte, nlAlign(4+len(v)))
	binary.NativeEndian.PutUint16(a[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(a[2:4], typ)
	copy(a[4:], v)
	return a
}

func nlAlign(n int) int { return (n + 3) &^ 3 }
