package tap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/internal/testenv"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/internal/hostnet"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
	"golang.org/x/sys/unix"
)

// open opens n queues of a TAP device in ns, closed when the test ends
// (if the test has not).
func open(t testing.TB, ns string, c Config, n int) []*Port {
	t.Helper()
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		testenv.Skip(t, "no /dev/net/tun: the kernel needs CONFIG_TUN (modprobe tun)")
	}
	var ps []*Port
	nettest.MustDo(t, ns, func() (err error) {
		ps, err = OpenQueues(c, n)
		return err
	})
	t.Cleanup(func() {
		for _, p := range ps {
			p.Close()
		}
	})
	return ps
}

func open1(t testing.TB, ns string, c Config) *Port { return open(t, ns, c, 1)[0] }

func linkAddr(t testing.TB, ns, ifname string) [6]byte {
	t.Helper()
	var mac [6]byte
	nettest.MustDo(t, ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err == nil {
			copy(mac[:], ifi.HardwareAddr)
		}
		return err
	})
	return mac
}

var (
	ipHost = netip.MustParseAddr("10.80.0.1")
	ipApp  = netip.MustParseAddr("10.80.0.2")
	macApp = [6]byte{0x02, 0, 0, 0, 0x80, 0x02}
)

func testFrame(i int, vlan uint16, size int) []byte {
	return nettest.Frame{
		Dst: [6]byte{0x02, 0, 0, 0, 0, 0xbb}, Src: [6]byte{0x02, 0, 0, 0, 0, 0xaa},
		VLAN: vlan, SrcIP: ipApp, DstIP: ipHost, SrcPort: uint16(1000 + i), DstPort: 9,
		Payload: bytes.Repeat([]byte{byte(i)}, max(size-14-20-8, 1)),
	}.Build()
}

func TestOpen(t *testing.T) {
	ns := nettest.Netns(t, "nfv-tap")
	pool := nettest.NewPool(t, 64)
	p := open1(t, ns, Config{Name: "t%d", Pool: pool, Up: true, MTU: 1400})
	if !strings.HasPrefix(p.Name(), "t") || p.Name() == "t%d" {
		t.Errorf("name %q", p.Name())
	}
	if p.MTU() != 1400 || p.BatchSize() != dataplane.DefaultBurst || p.HardwareAddr() != linkAddr(t, ns, p.Name()) {
		t.Errorf("MTU %d burst %d mac %x", p.MTU(), p.BatchSize(), p.HardwareAddr())
	}
	if out := nettest.IP(t, "-n", ns, "link", "show", "dev", p.Name()); !strings.Contains(out, ",UP") {
		t.Errorf("link not up: %s", out)
	}
	// A device the ports made goes with them.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := nettest.IPErr("-n", ns, "link", "show", "dev", p.Name()); err == nil {
		t.Error("device still there after Close")
	}

	// A device that existed is left as it was found.
	nettest.IP(t, "-n", ns, "tuntap", "add", "dev", "keep", "mode", "tap", "multi_queue")
	q := open(t, ns, Config{Name: "keep", Pool: pool, Up: true}, 2)
	if out := nettest.IP(t, "-n", ns, "link", "show", "dev", "keep"); !strings.Contains(out, ",UP") {
		t.Errorf("link not up: %s", out)
	}
	q[0].Close()
	q[1].Close()
	out := nettest.IP(t, "-n", ns, "link", "show", "dev", "keep")
	if strings.Contains(out, ",UP") {
		t.Errorf("existing device left up: %s", out)
	}
	if _, err := q[0].Recv(dataplane.NewBatch(1)); err != dataplane.ErrClosed {
		t.Errorf("Recv after Close: %v", err)
	}
}

func TestReceiveFromLinux(t *testing.T) {
	ns := nettest.Netns(t, "nfv-tap")
	pool := nettest.NewPool(t, 256)
	p := open1(t, ns, Config{Name: "t0", Pool: pool, Up: true})
	raw := nettest.OpenRaw(t, ns, "t0")
	var want [][]byte
	for i := range 40 {
		vlan := uint16(0)
		if i%2 == 1 {
			vlan = uint16(0x2000 | i)
		}
		want = append(want, testFrame(i, vlan, 60+i*37))
	}
	for _, f := range want {
		if err := raw.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	got := nettest.RecvFrames(t, p, pool, len(want), 5*time.Second)
	if len(got) != len(want) {
		t.Fatalf("received %d of %d frames", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d:\n got %x\nwant %x", i, got[i], want[i])
		}
	}
	if c := p.Counters(); c.Received != uint64(len(want)) || c.TooBig+c.NoBuffer != 0 {
		t.Errorf("counters %+v", c)
	}
}

func TestSendToLinux(t *testing.T) {
	ns := nettest.Netns(t, "nfv-tap")
	pool := nettest.NewPool(t, 256)
	p := open1(t, ns, Config{Name: "t0", Pool: pool, Up: true})
	raw := nettest.OpenRaw(t, ns, "t0")
	var want [][]byte
	for i := range 40 {
		vlan := uint16(0)
		if i%3 == 0 {
			vlan = uint16(100 + i)
		}
		want = append(want, testFrame(i, vlan, 60+i*37))
	}
	nettest.SendFrames(t, p, pool, want[:20]...)
	nettest.SendFrames(t, p, pool, want[20:]...)
	for i := range want {
		got := raw.Expect(2*time.Second, func([]byte) bool { return true })
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("frame %d:\n got %x\nwant %x", i, got, want[i])
		}
	}
	if c := p.Counters(); c.Sent != uint64(len(want)) {
		t.Errorf("counters %+v", c)
	}
}

// TestChecksumOffload: partial checksums cross in the virtio-net header,
// or are finished where offload is off.
func TestChecksumOffload(t *testing.T) {
	for _, sw := range []bool{false, true} {
		t.Run(map[bool]string{false: "offload", true: "software"}[sw], func(t *testing.T) {
			ns := nettest.Netns(t, "nfv-tap")
			pool := nettest.NewPool(t, 64)
			p := open1(t, ns, Config{Name: "t0", Pool: pool, Up: true, NoChecksumOffload: sw})
			macHost := p.HardwareAddr()
			nettest.IP(t, "-n", ns, "addr", "add", ipHost.String()+"/24", "dev", "t0")
			nettest.IP(t, "-n", ns, "neigh", "replace", ipApp.String(), "lladdr", net.HardwareAddr(macApp[:]).String(), "dev", "t0", "nud", "permanent")

			// Linux -> port.
			var conn *net.UDPConn
			nettest.MustDo(t, ns, func() (err error) {
				conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ipApp, 9)))
				return err
			})
			defer conn.Close()
			conn.Write([]byte("from the host"))
			b := dataplane.NewBatch(8)
			for deadline := time.Now().Add(2 * time.Second); b.Len() == 0 && time.Now().Before(deadline); {
				p.Recv(b)
				time.Sleep(time.Millisecond)
			}
			if b.Len() != 1 {
				t.Fatalf("%d packets from the host", b.Len())
			}
			pk := &b.Pkts[0]
			start, off, partial := pk.CsumPartialAt()
			switch {
			case !sw && (!partial || start != 34 || off != 6):
				t.Errorf("offload: flags %b, checksum at %d+%d; want CsumPartial at 34+6", pk.Flags, start, off)
			case sw && pk.Flags != 0:
				t.Errorf("no offload: flags %b", pk.Flags)
			}
			if partial {
				hostnet.FinishCsum(pk)
			}
			if !nettest.UDPChecksumOK(pk.Data()) {
				t.Errorf("bad checksum: %x", pk.Data())
			}
			pool.PutBatch(b)

			// Port -> Linux: a frame whose checksum field holds just the
			// pseudo-header sum reaches the socket only if it is either
			// marked NEEDS_CSUM or finished.
			var ln *net.UDPConn
			nettest.MustDo(t, ns, func() (err error) {
				ln, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ipHost, 4000)))
				return err
			})
			defer ln.Close()
			for _, partial := range []bool{false, true} {
				f := nettest.Frame{Dst: macHost, Src: macApp, SrcIP: ipApp, DstIP: ipHost, SrcPort: 5, DstPort: 4000,
					Payload: []byte(fmt.Sprint("partial ", partial))}.Build()
				pk, _ := pool.Get()
				pk.SetLen(len(f))
				copy(pk.Data(), f)
				d := pk.Data()
				binary.BigEndian.PutUint16(d[40:], pseudo(d)) // only the pseudo-header: wrong unless finished
				if partial {
					pk.SetCsumPartial(34, 6)
				}
				b.Add(pk)
				if n, err := p.Send(b); n != 1 || err != nil {
					t.Fatal(n, err)
				}
			}
			ln.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 100)
			n, err := ln.Read(buf)
			if err != nil || string(buf[:n]) != "partial true" {
				t.Fatalf("socket read %q, %v; want the partial-checksum datagram only", buf[:n], err)
			}
		})
	}
}

// pseudo is the UDP pseudo-header sum of an untagged IPv4 frame.
func pseudo(f []byte) uint16 {
	s := uint32(binary.BigEndian.Uint16(f[26:])) + uint32(binary.BigEndian.Uint16(f[28:])) +
		uint32(binary.BigEndian.Uint16(f[30:])) + uint32(binary.BigEndian.Uint16(f[32:])) +
		17 + uint32(binary.BigEndian.Uint16(f[38:]))
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// forwarder is a namespace that routes between two TAP devices, in and
// out: what the test writes to in as 10.81.0.2 -> 10.82.0.2 comes back on
// out. It is the TAP backend's loopback.
func forwarder(t testing.TB, pool *dataplane.Pool, c Config) (in, out *Port, frame func(i, size int) []byte) {
	t.Helper()
	ns := nettest.Netns(t, "nfv-tfw")
	c.Pool, c.Up = pool, true
	c.Name = "in"
	in = open1(t, ns, c)
	c.Name = "out"
	out = open1(t, ns, c)
	nettest.Sysctl(t, ns, "net/ipv4/ip_forward", "1")
	nettest.IP(t, "-n", ns, "addr", "add", "10.81.0.1/24", "dev", "in")
	nettest.IP(t, "-n", ns, "addr", "add", "10.82.0.1/24", "dev", "out")
	nettest.IP(t, "-n", ns, "neigh", "replace", "10.82.0.2", "lladdr", "02:00:00:00:82:02", "dev", "out", "nud", "permanent")
	mac := in.HardwareAddr()
	frame = func(i, size int) []byte {
		return nettest.Frame{
			Dst: mac, Src: [6]byte{2, 0, 0, 0, 0x81, 2},
			SrcIP: netip.MustParseAddr("10.81.0.2"), DstIP: netip.MustParseAddr("10.82.0.2"),
			SrcPort: uint16(1000 + i), DstPort: 9, Payload: make([]byte, max(size-42, 1)),
		}.Build()
	}
	return in, out, frame
}

// TestPartialThroughForwarding: a partial checksum written to one TAP
// comes back partial, at the same place, out of another.
func TestPartialThroughForwarding(t *testing.T) {
	pool := nettest.NewPool(t, 64)
	in, out, frame := forwarder(t, pool, Config{})
	f := frame(1, 100)
	pk, _ := pool.Get()
	pk.SetLen(len(f))
	copy(pk.Data(), f)
	binary.BigEndian.PutUint16(pk.Data()[40:], pseudo(pk.Data()))
	pk.SetCsumPartial(34, 6)
	b := dataplane.NewBatch(4)
	b.Add(pk)
	in.Send(b)
	for deadline := time.Now().Add(2 * time.Second); b.Len() == 0 && time.Now().Before(deadline); {
		out.Recv(b)
		time.Sleep(time.Millisecond)
	}
	if b.Len() != 1 {
		t.Fatalf("%d packets forwarded", b.Len())
	}
	got := &b.Pkts[0]
	if s, o, ok := got.CsumPartialAt(); !ok || s != 34 || o != 6 {
		t.Errorf("forwarded: flags %b, checksum at %d+%d", got.Flags, s, o)
	}
	hostnet.FinishCsum(got)
	if !nettest.UDPChecksumOK(got.Data()) {
		t.Errorf("bad checksum after finishing: %x", got.Data())
	}
	pool.PutBatch(b)
}

func TestMultiQueue(t *testing.T) {
	ns := nettest.Netns(t, "nfv-tap")
	pool := nettest.NewPool(t, 512)
	qs := open(t, ns, Config{Name: "mq", Pool: pool, Up: true}, 2)
	if qs[0].Queue() != 0 || qs[1].Queue() != 1 || qs[1].Name() != "mq" {
		t.Fatalf("queues %d %d on %s", qs[0].Queue(), qs[1].Queue(), qs[1].Name())
	}
	raw := nettest.OpenRaw(t, ns, "mq")
	const flows, per = 64, 4
	for r := range per {
		for i := range flows {
			raw.Send(testFrame(i, 0, 64+r))
		}
	}
	owner := map[uint16]int{}
	counts := [2]int{}
	b := dataplane.NewBatch(64)
	for deadline := time.Now().Add(5 * time.Second); counts[0]+counts[1] < flows*per && time.Now().Before(deadline); {
		for k, q := range qs {
			q.Recv(b)
			for i := range b.Pkts {
				sport := binary.BigEndian.Uint16(b.Pkts[i].Data()[34:])
				if o, ok := owner[sport]; ok && o != k {
					t.Errorf("flow %d on both queues", sport)
				}
				owner[sport] = k
				counts[k]++
			}
			pool.PutBatch(b)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("queues: %v", counts)
	if counts[0]+counts[1] != flows*per || counts[0] == 0 || counts[1] == 0 {
		t.Errorf("queues got %v of %d", counts, flows*per)
	}
}

func TestDrops(t *testing.T) {
	ns := nettest.Netns(t, "nfv-tap")
	stats := dataplane.NewStats("t0")
	reg, err := dataplane.NewRegion(4, 256, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	pool := dataplane.NewPool(reg)
	p := open1(t, ns, Config{Name: "t0", Pool: pool, Stats: stats, Up: true})
	raw := nettest.OpenRaw(t, ns, "t0")
	raw.Send(testFrame(1, 0, 300)) // too big for 192 bytes
	for i := range 6 {
		raw.Send(testFrame(i, 0, 60))
	}
	time.Sleep(20 * time.Millisecond)
	b := dataplane.NewBatch(64)
	if _, err := p.Recv(b); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 4 {
		t.Errorf("received %d with a pool of 4", b.Len())
	}
	if c := p.Counters(); c.TooBig != 1 || c.NoBuffer != 0 || c.Received != 4 {
		t.Errorf("counters %+v", c)
	}
	// The pool is empty now: what waits is dropped, not left queued.
	b2 := dataplane.NewBatch(64)
	if n, err := p.Recv(b2); n != 0 || err != nil {
		t.Errorf("Recv with an empty pool: %d, %v", n, err)
	}
	pool.PutBatch(b)
	if c := p.Counters(); c.NoBuffer != 2 || stats.Dropped(dataplane.ReasonNoBuffer) != 2 || stats.Dropped(dataplane.ReasonTooBig) != 1 {
		t.Errorf("counters %+v, stats %v", c, stats.Drops())
	}
	if n, _ := p.Recv(b); n != 0 {
		t.Errorf("%d packets after the drops", n)
	}
	p.Close()
	if err := pool.CheckAllReturned(); err != nil {
		t.Error(err)
	}
}

func TestZeroAllocs(t *testing.T) {
	pool := nettest.NewPool(t, 256)
	in, out, frame := forwarder(t, pool, Config{})
	f := frame(1, 64)
	tx, rx := dataplane.NewBatch(16), dataplane.NewBatch(64)
	received := 0
	round := func() {
		pool.GetN(tx, 16)
		for i := range tx.Pkts {
			tx.Pkts[i].SetLen(len(f))
			copy(tx.Pkts[i].Data(), f)
		}
		in.Send(tx)
		for range 3 {
			out.Recv(rx)
			received += rx.Len()
			pool.PutBatch(rx)
		}
	}
	round()
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Errorf("%v allocations per Send+Recv burst", n)
	}
	time.Sleep(10 * time.Millisecond)
	out.Recv(rx)
	received += rx.Len()
	pool.PutBatch(rx)
	if received == 0 {
		t.Error("nothing came back")
	}
}

func TestIdleSleeps(t *testing.T) {
	ns := nettest.Netns(t, "nfv-tap")
	pool := nettest.NewPool(t, 256)
	p0 := open1(t, ns, Config{Name: "t0", Pool: pool, Up: true})
	p1 := open1(t, ns, Config{Name: "t1", Pool: pool, Up: true})
	raw0, raw1 := nettest.OpenRaw(t, ns, "t0"), nettest.OpenRaw(t, ns, "t1")
	l := nettest.RunLoop(t, pool, p0, p1)
	time.Sleep(500 * time.Millisecond)
	if w := l.Wakeups(); w > 5 {
		t.Errorf("%d wakeups in 500ms idle", w)
	}
	before := l.Wakeups()
	f := testFrame(3, 0, 100)
	raw0.Send(f)
	if got := raw1.Expect(2*time.Second, func(g []byte) bool { return bytes.Equal(g, f) }); got == nil {
		t.Fatal("the sleeping loop did not forward the frame")
	}
	time.Sleep(300 * time.Millisecond)
	if w := l.Wakeups() - before; w < 1 || w > 5 {
		t.Errorf("%d wakeups for one frame", w)
	}
}

// TestEndToEnd: two hosts, each in its namespace behind its TAP device,
// talk through a loop that bridges the two TAP ports.
func TestEndToEnd(t *testing.T) {
	for _, sw := range []bool{false, true} {
		t.Run(map[bool]string{false: "offload", true: "software-checksum-on-b"}[sw], func(t *testing.T) {
			hostA, hostB := nettest.Netns(t, "nfv-ha"), nettest.Netns(t, "nfv-hb")
			pool := nettest.NewPool(t, 2048)
			a := open1(t, hostA, Config{Name: "eth0", Pool: pool, Up: true})
			b := open1(t, hostB, Config{Name: "eth0", Pool: pool, Up: true, NoChecksumOffload: sw})
			nettest.IP(t, "-n", hostA, "addr", "add", "10.79.0.1/24", "dev", "eth0")
			nettest.IP(t, "-n", hostB, "addr", "add", "10.79.0.2/24", "dev", "eth0")
			nettest.RunLoop(t, pool, a, b)
			nettest.Ping(t, hostA, netip.MustParseAddr("10.79.0.2"), 3)
			nettest.TCPTransfer(t, hostA, hostB, netip.MustParseAddr("10.79.0.2"), 8<<20, 60*time.Second)
			nettest.TCPTransfer(t, hostB, hostA, netip.MustParseAddr("10.79.0.1"), 8<<20, 60*time.Second)
			t.Logf("a %+v b %+v", a.Counters(), b.Counters())
		})
	}
}

// TestDataValid: a packet whose checksum the host verified (here by GRO on
// a NAPI TAP it arrived on) is read with DATA_VALID, as CsumValid.
func TestDataValid(t *testing.T) {
	ns := nettest.Netns(t, "nfv-tap")
	pool := nettest.NewPool(t, 64)
	out := open1(t, ns, Config{Name: "out", Pool: pool, Up: true})
	// The test's own TAP, with NAPI (and so GRO) on its write path.
	var fd int
	nettest.MustDo(t, ns, func() (err error) {
		if fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
			return err
		}
		ifr, _ := unix.NewIfreq("gro")
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_NAPI)
		return unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	})
	defer unix.Close(fd)
	nettest.Sysctl(t, ns, "net/ipv4/ip_forward", "1")
	nettest.IP(t, "-n", ns, "link", "set", "dev", "gro", "up")
	nettest.IP(t, "-n", ns, "addr", "add", "10.83.0.1/24", "dev", "gro")
	nettest.IP(t, "-n", ns, "addr", "add", "10.84.0.1/24", "dev", "out")
	nettest.IP(t, "-n", ns, "neigh", "replace", "10.84.0.2", "lladdr", "02:00:00:00:84:02", "dev", "out", "nud", "permanent")
	groMAC := linkAddr(t, ns, "gro")
	syn := tcpSYN(groMAC, netip.MustParseAddr("10.83.0.2"), netip.MustParseAddr("10.84.0.2"))
	b := dataplane.NewBatch(8)
	for deadline := time.Now().Add(2 * time.Second); b.Len() == 0 && time.Now().Before(deadline); {
		unix.Write(fd, syn)
		time.Sleep(5 * time.Millisecond)
		out.Recv(b)
	}
	if b.Len() == 0 {
		t.Fatal("nothing forwarded")
	}
	if f := b.Pkts[0].Flags; f != dataplane.CsumValid {
		t.Errorf("flags %b, want CsumValid", f)
	}
	pool.PutBatch(b)
}

// tcpSYN is an Ethernet/IPv4/TCP SYN with correct checksums.
func tcpSYN(dst [6]byte, src, to netip.Addr) []byte {
	f := make([]byte, 14+20+20)
	copy(f, dst[:])
	copy(f[6:], []byte{2, 0, 0, 0, 0x83, 2})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], 40)
	s, d := src.As4(), to.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	binary.BigEndian.PutUint16(ip[10:], ^packet.Checksum(ip[:20], 0))
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	binary.BigEndian.PutUint32(tcp[4:], 1)
	tcp[12], tcp[13] = 5<<4, 0x02
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	binary.BigEndian.PutUint16(tcp[16:], ^packet.Checksum(tcp, packet.PseudoHeaderChecksum(6, s[:], d[:], 20)))
	return f
}
