package afxdp

// Host plumbing for the tests, on top of internal/nettest (namespaces,
// veth pairs, raw sockets, Linux traffic): what only AF_XDP needs — the
// XDP state of an interface as ip(8) shows it, the offloads a Linux stack
// must give up to send through XDP, and opening a port inside a
// namespace.

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/internal/testenv"
	"golang.org/x/sys/unix"
)

// newNetns is a namespace made and removed by the test (skipping it where
// that is impossible).
func newNetns(t testing.TB) string {
	t.Helper()
	return nettest.Netns(t, "afxdp")
}

// veth is one end of a veth pair: its namespace and name.
type veth struct{ ns, name string }

// newVeth makes a veth pair with the ends in namespaces nsA and nsB, both
// up. Removing the namespaces removes it.
func newVeth(t testing.TB, nsA, nsB string) (a, b veth) {
	t.Helper()
	a, b = veth{nsA, nettest.Unique("xa")}, veth{nsB, nettest.Unique("xb")}
	nettest.Veth(t, a.ns, a.name, b.ns, b.name)
	return a, b
}

func (v veth) mac(t testing.TB) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	nettest.MustDo(t, v.ns, func() error {
		ifi, err := net.InterfaceByName(v.name)
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	})
	return mac
}

// xdpAttached reports whether ip(8) shows an XDP program on v (false when
// v is gone).
func (v veth) xdpAttached(t testing.TB) bool {
	t.Helper()
	out, err := nettest.IPErr("-n", v.ns, "-d", "link", "show", "dev", v.name)
	if err != nil {
		if strings.Contains(out, "does not exist") {
			return false
		}
		t.Fatalf("ip link show %s: %v\n%s", v.name, err, out)
	}
	for _, f := range strings.Fields(out) {
		switch f {
		case "xdp", "xdpgeneric", "xdpdrv", "xdpoffload", "xdpmulti", "prog/xdp":
			return true
		}
	}
	return false
}

// Legacy ethtool feature switches (struct ethtool_value).
const (
	ethtoolTxCsum = unix.ETHTOOL_STXCSUM
	ethtoolTSO    = unix.ETHTOOL_STSO
	ethtoolGSO    = unix.ETHTOOL_SGSO
	ethtoolGRO    = unix.ETHTOOL_SGRO
)

// setOffload is `ethtool -K DEV <feature> on|off` for one feature, through
// the SIOCETHTOOL ioctl, so the tests need no ethtool binary.
func (v veth) setOffload(t testing.TB, cmd uint32, on bool) {
	t.Helper()
	nettest.MustDo(t, v.ns, func() error {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		val := struct{ cmd, data uint32 }{cmd: cmd}
		if on {
			val.data = 1
		}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte
		}
		copy(ifr.name[:], v.name)
		ifr.data = unsafe.Pointer(&val)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
		runtime.KeepAlive(&val)
		if e != 0 {
			return e
		}
		return nil
	})
}

// hostOffloadsOff prepares the end of a veth whose Linux stack sends
// through an AF_XDP appliance: checksums finished in software (XDP cannot
// see that a checksum is partial, so it would forward it unfinished) and
// no TSO/GSO (a segment larger than a frame would be dropped on receive).
// It is `ethtool -K DEV tx off tso off gso off`.
func (v veth) hostOffloadsOff(t testing.TB) {
	v.setOffload(t, ethtoolTxCsum, false)
	v.setOffload(t, ethtoolTSO, false)
	v.setOffload(t, ethtoolGSO, false)
}

// testEtherType is IEEE's local experimental EtherType: nothing else sends
// it.
const testEtherType = 0x88b5

// testFrame is an Ethernet frame of n bytes to dst with the test EtherType
// and a payload that depends on seq.
func testFrame(dst, src net.HardwareAddr, seq, n int) []byte {
	f := make([]byte, n)
	copy(f[0:6], dst)
	copy(f[6:12], src)
	f[12], f[13] = testEtherType>>8, testEtherType&0xff
	for i := 14; i < n; i++ {
		f[i] = byte(seq*7 + i)
	}
	return f
}

func isTestFrame(f []byte) bool {
	return len(f) >= 14 && f[12] == testEtherType>>8 && f[13] == testEtherType&0xff
}

// expectTestFrame waits for the next test frame arriving on r.
func expectTestFrame(r *nettest.Raw, timeout time.Duration) []byte {
	return r.Expect(timeout, isTestFrame)
}

// openIn opens a port on v, in v's namespace, closed at cleanup.
func openIn(t testing.TB, v veth, c Config) *Port {
	t.Helper()
	p, err := openErr(v, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func openErr(v veth, c Config) (p *Port, err error) {
	c.Interface = v.name
	err = nettest.Do(v.ns, func() (err error) {
		p, err = Open(c)
		return err
	})
	return p, err
}

// needPing returns ping's path, skipping the test without it.
func needPing(t testing.TB) { testenv.NeedCommand(t, "ping", "iputils-ping") }
