package afxdp

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// linkInfo is what Open needs to know about an interface.
type linkInfo struct {
	index    int
	mac      [6]byte
	mtu      int
	rxQueues int
	txQueues int
	// xdpAttached is IFLA_XDP_ATTACHED: XDP_ATTACHED_NONE (0), DRV (1),
	// SKB (2), HW (3) or MULTI (4); xdpProg is the attached program's id.
	xdpAttached uint8
	xdpProg     uint32
}

// linkByName asks rtnetlink, in the network namespace of the calling
// thread, about the interface called name.
func linkByName(name string) (linkInfo, error) {
	rib, err := syscall.NetlinkRIB(unix.RTM_GETLINK, unix.AF_UNSPEC)
	if err != nil {
		return linkInfo{}, fmt.Errorf("rtnetlink: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return linkInfo{}, fmt.Errorf("rtnetlink: %w", err)
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			continue
		}
		info := linkInfo{index: int((*unix.IfInfomsg)(unsafe.Pointer(&m.Data[0])).Index)}
		match := false
		for _, a := range attrs {
			v := a.Value
			switch a.Attr.Type &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER) {
			case unix.IFLA_IFNAME:
				match = cstring(v) == name
			case unix.IFLA_ADDRESS:
				copy(info.mac[:], v)
			case unix.IFLA_MTU:
				info.mtu = int(u32(v))
			case unix.IFLA_NUM_RX_QUEUES:
				info.rxQueues = int(u32(v))
			case unix.IFLA_NUM_TX_QUEUES:
				info.txQueues = int(u32(v))
			case unix.IFLA_XDP:
				info.xdpAttached, info.xdpProg = parseXDPAttr(v)
			}
		}
		if match {
			return info, nil
		}
	}
	return linkInfo{}, fmt.Errorf("no interface %q in this network namespace", name)
}

// parseXDPAttr reads the nested IFLA_XDP attribute.
func parseXDPAttr(b []byte) (attached uint8, prog uint32) {
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < unix.SizeofRtAttr || l > len(b) {
			break
		}
		v := b[unix.SizeofRtAttr:l]
		switch t {
		case unix.IFLA_XDP_ATTACHED:
			if len(v) >= 1 {
				attached = v[0]
			}
		case unix.IFLA_XDP_PROG_ID:
			prog = u32(v)
		}
		l = (l + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1)
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return attached, prog
}

func u32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(b)
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
