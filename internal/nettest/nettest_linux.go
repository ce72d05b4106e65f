package nettest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/nfvkit/nfvkit/internal/testenv"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
	"golang.org/x/sys/unix"
)

var seq atomic.Uint32

// Unique is a name no other test or process uses now: prefix, the pid and
// a counter.
func Unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
}

// IP runs ip(8) with args and fails t on error.
func IP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := IPErr(args...)
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// IPErr runs ip(8) with args, for at most ten seconds.
func IPErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	return string(out), err
}

// Netns makes a network namespace with loopback up and IPv6 off (so that
// nothing but the test's own traffic moves), and removes it, with
// everything in it, when the test ends. It skips the test unless it runs
// as root with ip(8).
func Netns(t testing.TB, prefix string) string {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "iproute2")
	ns := Unique(prefix)
	IP(t, "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := IPErr("netns", "del", ns); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
		}
	})
	err := Do(ns, func() error {
		for _, f := range []string{"all", "default"} {
			err := os.WriteFile("/proc/sys/net/ipv6/conf/"+f+"/disable_ipv6", []byte("1"), 0)
			if err != nil && !errors.Is(err, os.ErrNotExist) { // no IPv6 at all is as good
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("netns %s: %v", ns, err)
	}
	IP(t, "-n", ns, "link", "set", "dev", "lo", "up")
	return ns
}

// Sysctl writes value to /proc/sys/<key> (key with slashes) in ns.
func Sysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	MustDo(t, ns, func() error { return os.WriteFile("/proc/sys/"+key, []byte(value), 0) })
}

// Veth makes a veth pair, a in namespace nsA and b in nsB, both up.
func Veth(t testing.TB, nsA, a, nsB, b string) {
	t.Helper()
	IP(t, "link", "add", "name", a, "netns", nsA, "type", "veth", "peer", "name", b, "netns", nsB)
	IP(t, "-n", nsA, "link", "set", "dev", a, "up")
	IP(t, "-n", nsB, "link", "set", "dev", b, "up")
}

// Do runs f on an OS thread in network namespace ns: sockets and devices
// f makes belong to ns, and stay usable from any goroutine afterwards.
func Do(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored := false
		defer func() {
			if restored {
				runtime.UnlockOSThread()
			} // else the thread ends with the goroutine
		}()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(self)
		target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			restored = true
			errc <- fmt.Errorf("netns %s: %w", ns, err)
			return
		}
		err = unix.Setns(target, unix.CLONE_NEWNET)
		unix.Close(target)
		if err != nil {
			restored = true
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		err = f()
		restored = unix.Setns(self, unix.CLONE_NEWNET) == nil
		errc <- err
	}()
	return <-errc
}

// MustDo is Do that fails t.
func MustDo(t testing.TB, ns string, f func() error) {
	t.Helper()
	if err := Do(ns, f); err != nil {
		t.Fatal(err)
	}
}

// NoTSO turns TCP segmentation offload off on ifname in ns, so that the
// host's TCP sends packets no bigger than the MTU across a veth pair
// (over veth, TSO packets of up to 64 KiB cross whole, and no frame holds
// them). It is the equivalent of `ethtool -K ifname tso off`.
func NoTSO(t testing.TB, ns, ifname string) {
	t.Helper()
	ethtoolSet(t, ns, ifname, unix.ETHTOOL_STSO, 0)
}

// NoTxOffloads turns transmit checksum offload, TSO and GSO off on ifname
// in ns: what a port that carries no checksum metadata (AF_XDP) needs of
// the hosts that send to it, since a partial checksum would reach the far
// host unfinished. It is `ethtool -K ifname tx off tso off gso off`.
func NoTxOffloads(t testing.TB, ns, ifname string) {
	t.Helper()
	for _, cmd := range []uint32{unix.ETHTOOL_STXCSUM, unix.ETHTOOL_STSO, unix.ETHTOOL_SGSO} {
		ethtoolSet(t, ns, ifname, cmd, 0)
	}
}

// ethtoolSet issues one ethtool set-value ioctl on ifname in ns.
func ethtoolSet(t testing.TB, ns, ifname string, cmd, data uint32) {
	t.Helper()
	MustDo(t, ns, func() error {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		val := struct{ cmd, data uint32 }{cmd, data}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte
		}
		copy(ifr.name[:], ifname)
		ifr.data = unsafe.Pointer(&val)
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
			return fmt.Errorf("ethtool ioctl %#x on %s: %w", cmd, ifname, e)
		}
		return nil
	})
}

// Raw is a plain AF_PACKET socket on one interface: the test's own view of
// the wire, independent of the port under test.
type Raw struct {
	fd      int
	ifindex int
}

// OpenRaw opens a raw socket on ifname in ns that receives every frame
// (with its VLAN tag put back from the kernel's auxiliary data) and sends
// frames as given. It is closed when the test ends.
func OpenRaw(t testing.TB, ns, ifname string) *Raw {
	t.Helper()
	r := &Raw{}
	MustDo(t, ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		r.fd, r.ifindex = fd, ifi.Index
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	t.Cleanup(func() { unix.Close(r.fd) })
	return r
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Send transmits frame on the interface.
func (r *Raw) Send(frame []byte) error {
	return unix.Sendto(r.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: r.ifindex})
}

// Recv returns the next frame received or sent on the interface, or nil
// after timeout. outgoing reports a frame the host sent.
func (r *Raw) Recv(timeout time.Duration) (frame []byte, outgoing bool) {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, false
		}
		pfd := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(pfd, int(left/time.Millisecond)+1); n <= 0 {
			continue
		}
		n, oobn, _, from, err := unix.Recvmsg(r.fd, buf, oob, unix.MSG_DONTWAIT)
		if err != nil {
			continue
		}
		f := append([]byte(nil), buf[:n]...)
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			outgoing = ll.Pkttype == unix.PACKET_OUTGOING
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
				continue
			}
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
			if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 && len(f) >= 12 {
				tpid := uint16(unix.ETH_P_8021Q)
				if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
					tpid = aux.Vlan_tpid
				}
				tag := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, tpid), aux.Vlan_tci)
				f = append(f[:12:12], append(tag, f[12:]...)...)
			}
		}
		return f, outgoing
	}
}

// Expect waits for an incoming frame for which match is true, for at
// most timeout, and returns it, or nil.
func (r *Raw) Expect(timeout time.Duration, match func([]byte) bool) []byte {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		f, out := r.Recv(time.Until(deadline))
		if f != nil && !out && match(f) {
			return f
		}
	}
	return nil
}

// Frame describes a test frame: Ethernet (with an optional 802.1Q tag),
// IPv4 and UDP with a correct checksum, and Payload.
type Frame struct {
	Dst, Src         [6]byte
	VLAN             uint16 // 802.1Q TCI; 0 for no tag
	SrcIP, DstIP     netip.Addr
	SrcPort, DstPort uint16
	Payload          []byte
}

// Build encodes f.
func (f Frame) Build() []byte {
	b := append([]byte(nil), f.Dst[:]...)
	b = append(b, f.Src[:]...)
	if f.VLAN != 0 {
		b = binary.BigEndian.AppendUint16(b, unix.ETH_P_8021Q)
		b = binary.BigEndian.AppendUint16(b, f.VLAN)
	}
	b = binary.BigEndian.AppendUint16(b, unix.ETH_P_IP)
	ip := len(b)
	ulen := 8 + len(f.Payload)
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(20+ulen))
	b = append(b, 0, 0, 0x40, 0, 64, 17, 0, 0)
	s, d := f.SrcIP.As4(), f.DstIP.As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	binary.BigEndian.PutUint16(b[ip+10:], ^packet.Checksum(b[ip:ip+20], 0))
	udp := len(b)
	b = binary.BigEndian.AppendUint16(b, f.SrcPort)
	b = binary.BigEndian.AppendUint16(b, f.DstPort)
	b = binary.BigEndian.AppendUint16(b, uint16(ulen))
	b = append(b, 0, 0)
	b = append(b, f.Payload...)
	ph := packet.PseudoHeaderChecksum(17, s[:], d[:], uint16(ulen))
	c := ^packet.Checksum(b[udp:], ph)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(b[udp+6:], c)
	return b
}

// UDPChecksumOK reports whether the IPv4/UDP frame fr (untagged) carries a
// correct UDP checksum.
func UDPChecksumOK(fr []byte) bool {
	if len(fr) < 14+20+8 {
		return false
	}
	ip := fr[14:]
	ihl := int(ip[0]&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:4]))
	if tot > len(ip) || ihl+8 > tot {
		return false
	}
	udp := ip[ihl:tot]
	ph := packet.PseudoHeaderChecksum(17, ip[12:16], ip[16:20], uint16(len(udp)))
	return packet.Checksum(udp, ph) == 0xffff
}

// Ping runs `ping -c count` from namespace ns to addr and fails t unless
// every echo is answered.
func Ping(t testing.TB, ns string, addr netip.Addr, count int) {
	t.Helper()
	testenv.NeedCommand(t, "ping", "iputils-ping")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns,
		"ping", "-n", "-c", fmt.Sprint(count), "-i", "0.2", "-w", "10", addr.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping from %s to %s: %v\n%s", ns, addr, err, out)
	}
	if !bytes.Contains(out, []byte(fmt.Sprintf("%d received", count))) {
		t.Fatalf("ping from %s to %s lost echoes:\n%s", ns, addr, out)
	}
	t.Logf("ping %s -> %s: %s", ns, addr, lastLine(out))
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// TCPTransfer sends size pseudo-random bytes over TCP from namespace
// fromNS to a listener on addr in toNS, within timeout, and fails t unless
// every byte arrives unchanged (SHA-256 of both ends). It returns the
// achieved rate in bits per second.
func TCPTransfer(t testing.TB, fromNS, toNS string, addr netip.Addr, size int, timeout time.Duration) float64 {
	t.Helper()
	return tcpSend(t, fromNS, toNS, addr, size, 0, timeout)
}

// TCPStream is TCPTransfer paced: the bytes go out at about rate bytes per
// second in 16 KiB writes, so one connection stays open for size/rate
// (for a test that changes something under a running transfer).
func TCPStream(t testing.TB, fromNS, toNS string, addr netip.Addr, size, rate int, timeout time.Duration) float64 {
	t.Helper()
	return tcpSend(t, fromNS, toNS, addr, size, rate, timeout)
}

func tcpSend(t testing.TB, fromNS, toNS string, addr netip.Addr, size, pace int, timeout time.Duration) float64 {
	t.Helper()
	var ln net.Listener
	MustDo(t, toNS, func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(addr, 0).String())
		return err
	})
	defer ln.Close()
	deadline := time.Now().Add(timeout)
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		ln.(*net.TCPListener).SetDeadline(deadline)
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		done <- r
	}()

	var c net.Conn
	MustDo(t, fromNS, func() (err error) {
		d := net.Dialer{Deadline: deadline}
		c, err = d.Dial("tcp4", ln.Addr().String())
		return err
	})
	c.SetDeadline(deadline)
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{'n', 'f', 'v'})
	rng.Read(data)
	want := sha256.Sum256(data)
	start := time.Now()
	var werr error
	if pace <= 0 {
		_, werr = c.Write(data)
	} else {
		for sent := 0; sent < size && werr == nil; {
			n := min(16<<10, size-sent)
			_, werr = c.Write(data[sent : sent+n])
			sent += n
			time.Sleep(time.Until(start.Add(time.Duration(float64(sent) / float64(pace) * float64(time.Second)))))
		}
	}
	c.(*net.TCPConn).CloseWrite()
	r := <-done
	elapsed := time.Since(start)
	c.Close()
	if werr != nil {
		t.Fatalf("TCP %s -> %s: write: %v", fromNS, toNS, werr)
	}
	if r.err != nil && !errors.Is(r.err, io.EOF) {
		t.Fatalf("TCP %s -> %s: read after %d of %d bytes: %v", fromNS, toNS, r.n, size, r.err)
	}
	if r.n != int64(size) || r.sum != want {
		t.Fatalf("TCP %s -> %s: %d of %d bytes arrived, checksum match %v", fromNS, toNS, r.n, size, r.sum == want)
	}
	rate := float64(size) * 8 / elapsed.Seconds()
	t.Logf("TCP %s -> %s: %d bytes intact in %v (%.0f Mbit/s)", fromNS, toNS, size, elapsed.Round(time.Millisecond), rate/1e6)
	return rate
}
