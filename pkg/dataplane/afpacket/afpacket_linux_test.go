package afpacket

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/nettest"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/internal/hostnet"
	"golang.org/x/sys/unix"
)

// open opens a port in ns and closes it when the test ends (if the test
// has not).
func open(t testing.TB, ns string, c Config) *Port {
	t.Helper()
	var p *Port
	nettest.MustDo(t, ns, func() (err error) {
		p, err = Open(c)
		return err
	})
	t.Cleanup(func() { p.Close() })
	return p
}

// vethNS makes a namespace holding the veth pair a <-> b.
func vethNS(t testing.TB) string {
	t.Helper()
	ns := nettest.Netns(t, "nfv-afp")
	nettest.Veth(t, ns, "a", ns, "b")
	return ns
}

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
	ipA = netip.MustParseAddr("10.77.0.1")
	ipB = netip.MustParseAddr("10.77.0.2")
)

func testFrame(i int, vlan uint16, size int) []byte {
	f := nettest.Frame{
		Dst: [6]byte{0x02, 0, 0, 0, 0, 0xbb}, Src: [6]byte{0x02, 0, 0, 0, 0, 0xaa},
		VLAN: vlan, SrcIP: ipA, DstIP: ipB, SrcPort: uint16(1000 + i), DstPort: 9,
		Payload: bytes.Repeat([]byte{byte(i)}, max(size-14-20-8, 1)),
	}
	return f.Build()
}

func TestReceiveFromLinux(t *testing.T) {
	ns := vethNS(t)
	pool := nettest.NewPool(t, 256)
	p := open(t, ns, Config{Interface: "a", Pool: pool})
	raw := nettest.OpenRaw(t, ns, "b")
	if p.MTU() != 1500 || p.BatchSize() != dataplane.DefaultBurst {
		t.Errorf("MTU %d, burst %d", p.MTU(), p.BatchSize())
	}
	if p.HardwareAddr() != linkAddr(t, ns, "a") {
		t.Errorf("HardwareAddr %x", p.HardwareAddr())
	}
	var want [][]byte
	for i := range 40 {
		vlan := uint16(0)
		if i%2 == 1 {
			vlan = uint16(0x2000 | i) // priority 1, VLAN i
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
	if c := p.Counters(); c.Received != uint64(len(want)) || c.TooBig+c.NoBuffer+c.RingFull != 0 {
		t.Errorf("counters %+v", c)
	}
	// Nothing the port did not receive shows up later (no duplicates).
	if extra := nettest.RecvFrames(t, p, pool, 1, 50*time.Millisecond); len(extra) != 0 {
		t.Errorf("%d unexpected frames", len(extra))
	}
}

func TestSendToLinux(t *testing.T) {
	for _, bypass := range []bool{false, true} {
		t.Run(fmt.Sprint("qdisc-bypass=", bypass), func(t *testing.T) {
			ns := vethNS(t)
			pool := nettest.NewPool(t, 256)
			p := open(t, ns, Config{Interface: "a", Pool: pool, QdiscBypass: bypass})
			raw := nettest.OpenRaw(t, ns, "b")
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
			// PACKET_IGNORE_OUTGOING: the port does not receive what it sent.
			if got := nettest.RecvFrames(t, p, pool, 1, 50*time.Millisecond); len(got) != 0 {
				t.Errorf("the port received %d of its own frames", len(got))
			}
			if c := p.Counters(); c.Sent != uint64(len(want)) {
				t.Errorf("counters %+v", c)
			}
		})
	}
}

// TestChecksumOffload: a partial checksum crosses both ways in the
// virtio-net header.
func TestChecksumOffload(t *testing.T) {
	ns := vethNS(t)
	pool := nettest.NewPool(t, 64)
	p := open(t, ns, Config{Interface: "a", Pool: pool})
	macA, macB := linkAddr(t, ns, "a"), linkAddr(t, ns, "b")
	nettest.IP(t, "-n", ns, "addr", "add", ipB.String()+"/24", "dev", "b")
	nettest.IP(t, "-n", ns, "neigh", "replace", ipA.String(), "lladdr", net.HardwareAddr(macA[:]).String(), "dev", "b", "nud", "permanent")

	// Linux -> port: a UDP datagram sent by the host leaves over veth
	// with its checksum to be done (veth offers checksum offload).
	var conn *net.UDPConn
	nettest.MustDo(t, ns, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ipA, 9)))
		return err
	})
	defer conn.Close()
	var got []dataplane.Packet
	var frames [][]byte
	b := dataplane.NewBatch(8)
	deadline := time.Now().Add(3 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		conn.Write([]byte("offloaded checksum"))
		time.Sleep(5 * time.Millisecond)
		p.Recv(b)
		for i := range b.Pkts {
			if d := b.Pkts[i].Data(); len(d) > 23 && binary.BigEndian.Uint16(d[12:]) == unix.ETH_P_IP && d[23] == 17 {
				got = append(got, b.Pkts[i])
				frames = append(frames, append([]byte(nil), d...))
				continue
			}
		}
		if len(got) > 0 {
			pk := &got[0]
			if _, _, ok := pk.CsumPartialAt(); !ok {
				t.Errorf("UDP from the host: flags %b, want CsumPartial", pk.Flags)
			} else if start, off, _ := pk.CsumPartialAt(); start != 34 || off != 6 {
				t.Errorf("checksum at %d+%d, want 34+6", start, off)
			}
			if !hostnet.FinishCsum(pk) || !nettest.UDPChecksumOK(pk.Data()) {
				t.Errorf("finished checksum wrong: %x", pk.Data())
			}
		}
		pool.PutBatch(b)
	}
	if len(got) == 0 {
		t.Fatal("no UDP datagram from the host arrived")
	}

	// Port -> Linux: a frame with only the pseudo-header sum in its
	// checksum reaches a socket only if NEEDS_CSUM went with it.
	var ln *net.UDPConn
	nettest.MustDo(t, ns, func() (err error) {
		ln, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ipB, 4000)))
		return err
	})
	defer ln.Close()
	partial := func(payload string) []byte {
		f := nettest.Frame{Dst: macB, Src: macA, SrcIP: ipA, DstIP: ipB, SrcPort: 5, DstPort: 4000, Payload: []byte(payload)}.Build()
		binary.BigEndian.PutUint16(f[40:], ^binary.BigEndian.Uint16(f[40:])^0x5555) // wrong
		return f
	}
	sendPartial := func(f []byte, flag bool) {
		pk, _ := pool.Get()
		pk.SetLen(len(f))
		copy(pk.Data(), f)
		if flag {
			// The field holds the pseudo-header sum, as Linux leaves it.
			d := pk.Data()
			ph := pseudo(d)
			binary.BigEndian.PutUint16(d[40:], ph)
			pk.SetCsumPartial(34, 6)
		}
		b.Add(pk)
		if n, err := p.Send(b); n != 1 || err != nil {
			t.Fatal(n, err)
		}
	}
	ln.SetReadDeadline(time.Now().Add(time.Second))
	sendPartial(partial("bad checksum"), false)
	sendPartial(partial("partial checksum"), true)
	buf := make([]byte, 100)
	n, err := ln.Read(buf)
	if err != nil || string(buf[:n]) != "partial checksum" {
		t.Fatalf("socket read %q, %v; want the partial-checksum datagram only", buf[:n], err)
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

func TestPromiscuous(t *testing.T) {
	ns := vethNS(t)
	pool := nettest.NewPool(t, 16)
	// A socket's promiscuous membership counts in the device's
	// promiscuity, which netlink shows (not SIOCGIFFLAGS).
	promisc := func() bool {
		out := nettest.IP(t, "-d", "-n", ns, "link", "show", "dev", "a")
		return !strings.Contains(out, "promiscuity 0 ")
	}
	if promisc() {
		t.Fatal("promiscuous before")
	}
	p := open(t, ns, Config{Interface: "a", Pool: pool, Promiscuous: true})
	if !promisc() {
		t.Error("not promiscuous while open")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if promisc() {
		t.Error("still promiscuous after Close")
	}
	if _, err := p.Recv(dataplane.NewBatch(1)); err != dataplane.ErrClosed {
		t.Errorf("Recv after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestFanout(t *testing.T) {
	ns := vethNS(t)
	pool := nettest.NewPool(t, 512)
	c := Config{Interface: "a", Pool: pool, FanoutGroup: uint16(1 + time.Now().UnixNano()%60000)}
	p1, p2 := open(t, ns, c), open(t, ns, c)
	raw := nettest.OpenRaw(t, ns, "b")
	const flows, per = 64, 4
	for r := range per {
		for i := range flows {
			if err := raw.Send(testFrame(i, 0, 64+r)); err != nil {
				t.Fatal(err)
			}
		}
	}
	owner := map[uint16]int{}
	counts := [2]int{}
	deadline := time.Now().Add(5 * time.Second)
	b := dataplane.NewBatch(64)
	for counts[0]+counts[1] < flows*per && time.Now().Before(deadline) {
		idle := true
		for k, p := range []*Port{p1, p2} {
			p.Recv(b)
			for i := range b.Pkts {
				idle = false
				sport := binary.BigEndian.Uint16(b.Pkts[i].Data()[34:])
				if o, ok := owner[sport]; ok && o != k {
					t.Errorf("flow %d went to both sockets", sport)
				}
				owner[sport] = k
				counts[k]++
			}
			pool.PutBatch(b)
		}
		if idle {
			time.Sleep(time.Millisecond)
		}
	}
	t.Logf("fanout: %d and %d packets", counts[0], counts[1])
	if counts[0]+counts[1] != flows*per {
		t.Fatalf("received %v of %d", counts, flows*per)
	}
	if counts[0] == 0 || counts[1] == 0 {
		t.Errorf("fanout did not spread: %v", counts)
	}
}

// TestDrops: what cannot be received is counted, per reason.
func TestDrops(t *testing.T) {
	ns := vethNS(t)
	stats := dataplane.NewStats("a")
	reg, err := dataplane.NewRegion(4, 256, 64) // 192 bytes behind the headroom
	if err != nil {
		t.Fatal(err)
	}
	pool := dataplane.NewPool(reg)
	defer reg.Close()
	p := open(t, ns, Config{Interface: "a", Pool: pool, Stats: stats, BlockSize: 4096, Blocks: 2})
	raw := nettest.OpenRaw(t, ns, "b")
	if p.MTU() != 192-18 {
		t.Errorf("MTU %d with 192-byte frames", p.MTU())
	}
	// Too big for a frame.
	raw.Send(testFrame(1, 0, 300))
	// More than the pool has frames.
	for i := range 6 {
		raw.Send(testFrame(i, 0, 60))
	}
	time.Sleep(20 * time.Millisecond)
	b := dataplane.NewBatch(64)
	if _, err := p.Recv(b); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 4 {
		t.Errorf("received %d with 4 frames in the pool", b.Len())
	}
	if c := p.Counters(); c.TooBig != 1 || c.NoBuffer != 0 || c.Received != 4 {
		t.Errorf("counters %+v, want 4 received, 1 too big", c)
	}
	// The pool is empty now: what waits is dropped, not left in the ring.
	if n, err := p.Recv(dataplane.NewBatch(64)); n != 0 || err != nil {
		t.Errorf("Recv with an empty pool: %d, %v", n, err)
	}
	pool.PutBatch(b)
	if c := p.Counters(); c.TooBig != 1 || c.NoBuffer != 2 || c.RingFull != 0 {
		t.Errorf("counters %+v, want 1 too big, 2 without a buffer", c)
	}
	// Overrun the ring (2 blocks of 4 KiB) without reading it.
	for i := range 400 {
		raw.Send(testFrame(i, 0, 60))
	}
	time.Sleep(20 * time.Millisecond)
	for range 200 {
		b.Pkts = b.Pkts[:0:4] // no more than the pool has
		p.Recv(b)
		pool.PutBatch(b)
	}
	c := p.Counters()
	t.Logf("counters %+v", c)
	if c.TooBig != 1 || c.NoBuffer != 2 || c.RingFull == 0 || c.Received+c.RingFull != 4+400 {
		t.Errorf("counters %+v, want 1 too big, 2 without a buffer, 404 received or dropped by the kernel", c)
	}
	if stats.Dropped(dataplane.ReasonTooBig) != 1 || stats.Dropped(dataplane.ReasonNoBuffer) != 2 || stats.Dropped(ReasonRingFull) != c.RingFull {
		t.Errorf("stats %v", stats.Drops())
	}
	p.Close()
	if err := pool.CheckAllReturned(); err != nil {
		t.Error(err)
	}
}

func TestZeroAllocs(t *testing.T) {
	for _, bypass := range []bool{false, true} {
		t.Run(fmt.Sprint("qdisc-bypass=", bypass), func(t *testing.T) {
			ns := vethNS(t)
			pool := nettest.NewPool(t, 256)
			a := open(t, ns, Config{Interface: "a", Pool: pool, QdiscBypass: bypass})
			bp := open(t, ns, Config{Interface: "b", Pool: pool, QdiscBypass: bypass})
			frame := testFrame(1, 7, 64)
			tx, rx := dataplane.NewBatch(32), dataplane.NewBatch(64)
			round := func() {
				pool.GetN(tx, 32)
				for i := range tx.Pkts {
					tx.Pkts[i].SetLen(len(frame))
					copy(tx.Pkts[i].Data(), frame)
				}
				a.Send(tx)
				for range 3 {
					bp.Recv(rx)
					pool.PutBatch(rx)
				}
			}
			round()
			time.Sleep(5 * time.Millisecond)
			if n := testing.AllocsPerRun(200, round); n != 0 {
				t.Errorf("%v allocations per Send+Recv burst", n)
			}
			time.Sleep(5 * time.Millisecond)
			for range 10 {
				bp.Recv(rx)
				pool.PutBatch(rx)
			}
			if c := bp.Counters(); c.Received == 0 {
				t.Error("nothing received")
			}
		})
	}
}

// TestIdleSleeps: an idle loop over afpacket ports sleeps in the kernel
// and wakes when a packet comes.
func TestIdleSleeps(t *testing.T) {
	ns := nettest.Netns(t, "nfv-afp")
	nettest.Veth(t, ns, "a", ns, "b")
	nettest.Veth(t, ns, "c", ns, "d")
	pool := nettest.NewPool(t, 256)
	pa := open(t, ns, Config{Interface: "a", Pool: pool})
	pc := open(t, ns, Config{Interface: "c", Pool: pool})
	rawB, rawD := nettest.OpenRaw(t, ns, "b"), nettest.OpenRaw(t, ns, "d")
	l := nettest.RunLoop(t, pool, pa, pc)
	time.Sleep(500 * time.Millisecond)
	if w := l.Wakeups(); w > 5 {
		t.Errorf("%d wakeups in 500ms idle", w)
	}
	before := l.Wakeups()
	f := testFrame(3, 0, 100)
	rawB.Send(f)
	if got := rawD.Expect(2*time.Second, func(g []byte) bool { return bytes.Equal(g, f) }); got == nil {
		t.Fatal("the sleeping loop did not forward the frame")
	}
	time.Sleep(300 * time.Millisecond)
	if w := l.Wakeups() - before; w < 1 || w > 5 {
		t.Errorf("%d wakeups for one frame", w)
	}
	t.Logf("wakeups: %d", l.Wakeups())
}

// TestEndToEnd: two hosts in their own namespaces talk through a loop
// that bridges two afpacket ports in a third.
func TestEndToEnd(t *testing.T) {
	for _, bypass := range []bool{false, true} {
		t.Run(fmt.Sprint("qdisc-bypass=", bypass), func(t *testing.T) {
			hostA, fwd, hostB := nettest.Netns(t, "nfv-ha"), nettest.Netns(t, "nfv-fw"), nettest.Netns(t, "nfv-hb")
			nettest.Veth(t, hostA, "eth0", fwd, "lan")
			nettest.Veth(t, hostB, "eth0", fwd, "wan")
			nettest.IP(t, "-n", hostA, "addr", "add", "10.78.0.1/24", "dev", "eth0")
			nettest.IP(t, "-n", hostB, "addr", "add", "10.78.0.2/24", "dev", "eth0")
			// Over veth the hosts' TCP would hand 64 KiB segments across
			// whole; a real link carries MTU-sized frames.
			nettest.NoTSO(t, hostA, "eth0")
			nettest.NoTSO(t, hostB, "eth0")
			pool := nettest.NewPool(t, 2048)
			c := Config{Pool: pool, Promiscuous: true, QdiscBypass: bypass}
			c.Interface = "lan"
			lan := open(t, fwd, c)
			c.Interface = "wan"
			wan := open(t, fwd, c)
			nettest.RunLoop(t, pool, lan, wan)
			nettest.Ping(t, hostA, netip.MustParseAddr("10.78.0.2"), 3)
			nettest.TCPTransfer(t, hostA, hostB, netip.MustParseAddr("10.78.0.2"), 8<<20, 60*time.Second)
			nettest.TCPTransfer(t, hostB, hostA, netip.MustParseAddr("10.78.0.1"), 8<<20, 60*time.Second)
			t.Logf("lan %+v wan %+v", lan.Counters(), wan.Counters())
		})
	}
}

func ExampleOpen() {
	pool, _ := dataplane.NewMemPool(4096)
	lan, err := Open(Config{Interface: "eth1", Pool: pool, Promiscuous: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lan.Close()
}
