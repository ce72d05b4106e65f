package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/internal/hostnet"
	"golang.org/x/sys/unix"
)

// Layout of the shared rings (include/uapi/linux/if_packet.h).
const (
	// struct tpacket_block_desc: version, offset_to_priv, then
	// struct tpacket_hdr_v1.
	blkStatus   = 8
	blkNumPkts  = 12
	blkFirstPkt = 16
	// struct tpacket3_hdr.
	hdrNextOffset = 0
	hdrSnaplen    = 12
	hdrLen        = 16
	hdrStatus     = 20
	hdrMac        = 24
	hdrVlanTCI    = 32
	hdrVlanTPID   = 36

	vnetLen = hostnet.VnetHdrLen
)

// Port is a dataplane.Port on one AF_PACKET socket bound to one interface.
// Like every port it is used by one goroutine at a time; Counters may be
// read from any.
type Port struct {
	name  string
	fd    int
	w     *hostnet.Waker
	pool  *dataplane.Pool
	stats *dataplane.Stats
	burst int
	mtu   int
	mac   [6]byte
	hr    int // the region's headroom: where received data starts
	room  int // bytes a frame holds behind the headroom
	mem   []byte
	rx    rxRing

	msgs  []mmsghdr // sendmmsg's, allocated once
	iovs  []unix.Iovec
	spare dataplane.Batch // frames GetN gave that Recv did not fill
	kstat unix.TpacketStatsV3

	closed bool
	statMu sync.Mutex // orders PACKET_STATISTICS reads with Close
	fdGone bool

	received, sent, tooBig, noBuffer, ringFull atomic.Uint64
}

var (
	_ dataplane.Port   = (*Port)(nil)
	_ dataplane.Waiter = (*Port)(nil)
)

type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// rxRing walks the TPACKET_V3 receive ring: blocks the kernel fills with
// packets and hands over whole (TP_STATUS_USER), read in order and
// handed back (TP_STATUS_KERNEL) once every packet in them is copied out.
type rxRing struct {
	mem   []byte // the receive ring, blocks end to end
	bsize int
	nblk  int
	cur   int  // the block being read, or to be read next
	held  bool // cur is handed over and partly read
	left  int  // packets of cur not read yet
	next  int  // offset in cur of the next packet
}

func (r *rxRing) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&r.mem[off])) }

func (r *rxRing) userOwned(blk int) (status uint32, ok bool) {
	st := atomic.LoadUint32(r.u32(blk*r.bsize + blkStatus)) // acquire: the block's contents are visible
	return st, st&unix.TP_STATUS_USER != 0
}

// ready counts the packets that can be read now, stopping at max.
func (r *rxRing) ready(max int) int {
	n, i := 0, r.cur
	if r.held {
		n = r.left
		if i++; i == r.nblk {
			i = 0
		}
	}
	for n < max && (i != r.cur || !r.held) {
		if _, ok := r.userOwned(i); !ok {
			break
		}
		n += int(*r.u32(i*r.bsize + blkNumPkts))
		if i++; i == r.nblk {
			i = 0
		}
		if i == r.cur {
			break
		}
	}
	return min(n, max)
}

// frame returns the ring offset of the next packet's tpacket3_hdr, taking
// the next block when needed (losing reports that its status says the
// kernel dropped packets), or -1 when there is none.
func (r *rxRing) frame() (off int, losing bool) {
	for !r.held {
		st, ok := r.userOwned(r.cur)
		if !ok {
			return -1, losing
		}
		base := r.cur * r.bsize
		r.left = int(*r.u32(base + blkNumPkts))
		r.next = int(*r.u32(base + blkFirstPkt))
		r.held = true
		losing = losing || st&unix.TP_STATUS_LOSING != 0
		if r.left == 0 {
			r.release()
		}
	}
	return r.cur*r.bsize + r.next, losing
}

// advance moves past the packet at off, handing the block back to the
// kernel after its last packet.
func (r *rxRing) advance(off int) {
	if r.left--; r.left == 0 {
		r.release()
		return
	}
	r.next += int(*r.u32(off + hdrNextOffset))
}

func (r *rxRing) release() {
	atomic.StoreUint32(r.u32(r.cur*r.bsize+blkStatus), unix.TP_STATUS_KERNEL) // release: we are done reading it
	r.held = false
	if r.cur++; r.cur == r.nblk {
		r.cur = 0
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Open opens a port on c.Interface: an AF_PACKET socket with a TPACKET_V3
// receive ring, bound to the interface, in the network namespace of the
// calling thread.
func Open(c Config) (p *Port, err error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("afpacket %s: socket: %w", c.Interface, err)
	}
	reg := c.Pool.Region()
	p = &Port{
		name: c.Interface, fd: fd, pool: c.Pool, stats: c.Stats, burst: c.Burst,
		hr: reg.Headroom(), room: reg.FrameSize() - reg.Headroom(),
		msgs: make([]mmsghdr, c.Burst), iovs: make([]unix.Iovec, c.Burst),
	}
	for i := range p.msgs {
		p.msgs[i].hdr.Iov = &p.iovs[i]
		p.msgs[i].hdr.Iovlen = 1
	}
	defer func() {
		if err != nil {
			if p.mem != nil {
				unix.Munmap(p.mem)
			}
			if p.fd >= 0 {
				unix.Close(p.fd)
			}
			err = fmt.Errorf("afpacket %s: %w", c.Interface, err)
		}
	}()
	ifindex, err := hostnet.LinkIndex(fd, c.Interface)
	if err != nil {
		return nil, err
	}
	if p.mtu, err = hostnet.LinkMTU(fd, c.Interface); err != nil {
		return nil, err
	}
	// The port carries what a frame holds: an Ethernet header, a VLAN tag.
	p.mtu = min(p.mtu, p.room-14-4)
	if p.mac, err = hostnet.LinkAddr(fd, c.Interface); err != nil {
		return nil, err
	}
	type sockopt struct {
		name     string
		opt, val int
	}
	opts := []sockopt{
		{"PACKET_VERSION", unix.PACKET_VERSION, unix.TPACKET_V3},
		// A virtio-net header in front of every packet, both ways: how
		// checksum offload crosses (csum_start, csum_offset).
		{"PACKET_VNET_HDR", unix.PACKET_VNET_HDR, 1},
		// What the port sends is not received back.
		{"PACKET_IGNORE_OUTGOING", unix.PACKET_IGNORE_OUTGOING, 1},
	}
	if c.QdiscBypass {
		opts = append(opts, sockopt{"PACKET_QDISC_BYPASS", unix.PACKET_QDISC_BYPASS, 1})
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, o.opt, o.val); err != nil {
			return nil, fmt.Errorf("%s: %w", o.name, err)
		}
	}

	// Receive ring. tp_frame_size means little to TPACKET_V3 (packets
	// are packed into blocks) but must divide the blocks.
	const rxFrame = 2048
	tov := int((c.RetireTimeout + 999_999) / 1_000_000)
	rxReq := unix.TpacketReq3{
		Block_size: uint32(c.BlockSize), Block_nr: uint32(c.Blocks),
		Frame_size: rxFrame, Frame_nr: uint32(c.BlockSize / rxFrame * c.Blocks),
		Retire_blk_tov: uint32(tov),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &rxReq); err != nil {
		return nil, fmt.Errorf("PACKET_RX_RING: %w", err)
	}
	rxSize := c.BlockSize * c.Blocks
	if p.mem, err = unix.Mmap(fd, 0, rxSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return nil, fmt.Errorf("mapping the ring: %w", err)
	}
	p.rx = rxRing{mem: p.mem, bsize: c.BlockSize, nblk: c.Blocks}

	// Packets flow from here on.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if c.FanoutGroup != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(c.FanoutGroup)|unix.PACKET_FANOUT_HASH<<16); err != nil {
			return nil, fmt.Errorf("PACKET_FANOUT group %d: %w", c.FanoutGroup, err)
		}
	}
	if c.Promiscuous {
		mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return nil, fmt.Errorf("promiscuous mode: %w", err)
		}
	}
	w, err := hostnet.NewWaker(fd, "afpacket "+c.Interface)
	if err != nil {
		p.fd = -1 // closed by NewWaker
		return nil, err
	}
	p.w = w
	return p, nil
}

// Name is the interface's name.
func (p *Port) Name() string { return p.name }

// BatchSize is the configured burst.
func (p *Port) BatchSize() int { return p.burst }

// MTU is the interface's MTU, or less when a frame holds less.
func (p *Port) MTU() int { return p.mtu }

// HardwareAddr is the interface's Ethernet address.
func (p *Port) HardwareAddr() [6]byte { return p.mac }

// Counters reports what the port has done so far, the kernel's receive
// drops included.
func (p *Port) Counters() Counters {
	p.readKernelStats()
	return Counters{
		Received: p.received.Load(), Sent: p.sent.Load(),
		TooBig: p.tooBig.Load(), NoBuffer: p.noBuffer.Load(), RingFull: p.ringFull.Load(),
	}
}

// readKernelStats adds the kernel's receive drops since the last call
// (PACKET_STATISTICS resets them on read) to the counters.
func (p *Port) readKernelStats() {
	p.statMu.Lock()
	defer p.statMu.Unlock()
	if p.fdGone {
		return
	}
	l := uint32(unsafe.Sizeof(p.kstat))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(p.fd), unix.SOL_PACKET, unix.PACKET_STATISTICS,
		uintptr(unsafe.Pointer(&p.kstat)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 || p.kstat.Drops == 0 {
		return
	}
	p.ringFull.Add(uint64(p.kstat.Drops))
	if p.stats != nil {
		p.stats.DropN(ReasonRingFull, uint64(p.kstat.Drops))
	}
}

// Recv appends the packets waiting in the receive ring to b, at most
// BatchSize and b.Room(), each copied into a frame of the pool, and hands
// every block it finishes back to the kernel. It never blocks.
func (p *Port) Recv(b *dataplane.Batch) (int, error) {
	if p.closed {
		return 0, dataplane.ErrClosed
	}
	avail := p.rx.ready(min(p.burst, b.Room()))
	if avail == 0 {
		return 0, nil
	}
	start := len(b.Pkts)
	got := p.pool.GetN(b, avail)
	k := start // the next slot to fill
	var tooBig, noBuf uint64
	losing := false
	// With fewer frames than packets, take what the frames hold and leave
	// the rest in the ring for the next call; with none at all, drop what
	// is waiting, rather than leave the ring readable and the loop
	// spinning on it.
	for i := 0; i < avail && (k < start+got || got == 0); i++ {
		off, lose := p.rx.frame()
		if off < 0 {
			break
		}
		losing = losing || lose
		switch {
		case got == 0:
			noBuf++
		case p.fill(&b.Pkts[k], off):
			k++
		default:
			tooBig++
		}
		p.rx.advance(off)
	}
	if k < start+got { // frames for packets that were dropped
		p.spare.Pkts = b.Pkts[k : start+got]
		p.pool.PutBatch(&p.spare)
		b.Pkts = b.Pkts[:k]
	}
	n := k - start
	p.received.Add(uint64(n))
	if tooBig+noBuf > 0 {
		p.dropped(tooBig, noBuf)
	}
	if losing {
		p.readKernelStats()
	}
	return n, nil
}

func (p *Port) dropped(tooBig, noBuf uint64) {
	p.tooBig.Add(tooBig)
	p.noBuffer.Add(noBuf)
	if p.stats != nil {
		p.stats.DropN(dataplane.ReasonTooBig, tooBig)
		p.stats.DropN(dataplane.ReasonNoBuffer, noBuf)
	}
}

// fill copies the packet whose header is at ring offset off into pk, a
// fresh packet of the pool: the one copy of the receive path. The kernel
// took any VLAN tag off into the header; it goes back in front of the
// EtherType, in the headroom. It reports false for a packet the frame
// cannot hold or the dataplane cannot carry.
func (p *Port) fill(pk *dataplane.Packet, off int) bool {
	mem := p.rx.mem
	snap := int(*p.rx.u32(off + hdrSnaplen))
	status := *p.rx.u32(off + hdrStatus)
	mac := off + int(binary.NativeEndian.Uint16(mem[off+hdrMac:]))
	if snap > p.room || snap != int(*p.rx.u32(off + hdrLen)) {
		return false // too big for a frame, or cut short by the ring
	}
	vh := hostnet.DecodeVnetHdr(mem[mac-vnetLen : mac])
	data := mem[mac : mac+snap]
	buf := pk.Buffer()
	pk.Flags = 0
	shift := 0
	if status&unix.TP_STATUS_VLAN_VALID != 0 && snap >= 12 {
		tpid := uint16(unix.ETH_P_8021Q)
		if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			tpid = binary.NativeEndian.Uint16(mem[off+hdrVlanTPID:])
		}
		o := p.hr - 4
		copy(buf[o:o+12], data[:12])
		binary.BigEndian.PutUint16(buf[o+12:], tpid)
		binary.BigEndian.PutUint16(buf[o+14:], uint16(*p.rx.u32(off + hdrVlanTCI)))
		copy(buf[o+16:], data[12:])
		pk.SetData(o, snap+4)
		shift = 4
	} else {
		copy(buf[p.hr:], data)
		pk.SetData(p.hr, snap)
	}
	if !hostnet.ApplyRx(pk, &vh, shift) {
		return false
	}
	if status&unix.TP_STATUS_CSUM_VALID != 0 {
		pk.Flags |= dataplane.CsumValid
	}
	return true
}

// Send transmits the packets of b in order with one sendmmsg(2) per burst
// of BatchSize, frees every frame and empties b. The kernel copies each
// packet out of its frame: the one copy of the transmit path. A
// CsumPartial packet goes with NEEDS_CSUM in its virtio-net header, so
// the kernel (or the NIC) finishes its checksum. n is how many the kernel
// took; when it takes no more (its queue is full) the rest are freed.
//
// Measured against a TPACKET_V3 transmit ring kicked once per burst (copy
// into the ring, one sendto), sendmmsg sent 64-byte frames into a veth
// pair at 1.66-1.70 Mpps per CPU-second against the ring's 1.44-1.54: the
// kernel copies a ring slot again when the packet crosses veth, so the
// ring saves nothing there, and it needs no memory of its own.
func (p *Port) Send(b *dataplane.Batch) (n int, err error) {
	if p.closed {
		err = dataplane.ErrClosed
	} else {
		n, err = p.sendmmsg(b)
	}
	p.sent.Add(uint64(n))
	p.pool.PutBatch(b)
	return n, err
}

func (p *Port) sendmmsg(b *dataplane.Batch) (int, error) {
	sent := 0
	for sent < len(b.Pkts) {
		// One burst of messages, each a virtio-net header written into
		// the headroom and the packet behind it: one iovec each.
		m := 0
		for _, pk := range b.Pkts[sent:min(len(b.Pkts), sent+len(p.msgs))] {
			if pk.Headroom() < vnetLen {
				break
			}
			hostnet.EncodeTx(pk.Buffer()[pk.Offset()-vnetLen:], &pk)
			d := pk.Buffer()[pk.Offset()-vnetLen : pk.Offset()+pk.Len()]
			p.iovs[m].Base = &d[0]
			p.iovs[m].SetLen(len(d))
			m++
		}
		if m == 0 {
			break
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&p.msgs[0])), uintptr(m), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN || e == unix.ENOBUFS:
			return sent, nil
		case e != 0:
			return sent, fmt.Errorf("afpacket %s: sendmmsg: %w", p.name, e)
		}
		sent += int(r)
		if int(r) < m {
			break
		}
	}
	return sent, nil
}

// Arm asks for bell to be rung when the receive ring has a block for us.
func (p *Port) Arm(bell *dataplane.Bell) bool {
	if p.closed {
		return false
	}
	// The ring says it without a system call; the waker asks the kernel
	// (poll) before it sleeps, which sees the same.
	if p.rx.ready(1) > 0 {
		return false
	}
	return p.w.Arm(bell)
}

// Disarm cancels Arm.
func (p *Port) Disarm() {
	if !p.closed {
		p.w.Disarm()
	}
}

// Close closes the socket, which drops its promiscuous membership and its
// fanout group, and unmaps the ring. The port holds no frames between
// calls, so it has none to return. Closing twice does nothing.
func (p *Port) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	p.readKernelStats()
	p.statMu.Lock()
	p.fdGone = true
	err := p.w.Close()
	p.statMu.Unlock()
	if merr := unix.Munmap(p.mem); merr != nil {
		err = errors.Join(err, merr)
	}
	p.mem, p.rx.mem = nil, nil
	if err != nil {
		return fmt.Errorf("afpacket %s: close: %w", p.name, err)
	}
	return nil
}
