package firewall

import (
	"encoding/binary"

	"github.com/nfvkit/nfvkit/appliances/router"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// reject answers the packet pp (packet i of b) that a rule rejected: a TCP
// segment other than a reset with a reset, as Linux's REJECT with
// tcp-reset does (RFC 9293 3.10.7.1), built in the packet's own frame and
// routed back as the firewall's own; anything else with an ICMP destination
// unreachable, administratively prohibited, which the router builds and
// rate-limits.
func (f *Firewall) reject(b *dataplane.Batch, i int, pp *packet.Parsed) (router.FilterVerdict, dataplane.Reason) {
	if pp.IPProto != packet.IPProtoTCP || !pp.HasL4 || pp.TCPFlags&packet.TCPRst != 0 || pp.FragOffset != 0 {
		return router.FilterUnreachable, ReasonRuleReject
	}
	ip := pp.Bytes()[pp.L3Off:]
	tcp := pp.TCP()
	sport, dport := tcp.SrcPort(), tcp.DstPort()
	seq, ack, flags := tcp.Seq(), tcp.Ack(), pp.TCPFlags
	seglen := uint32(pp.End - pp.PayloadOff)
	if flags&packet.TCPSyn != 0 {
		seglen++
	}
	if flags&packet.TCPFin != 0 {
		seglen++
	}
	src, dst := pp.Dst, pp.Src // the reply's
	var h []byte
	if pp.IPVersion == 4 {
		h = ip[:packet.IPv4MinLen+packet.TCPMinLen]
		h[0], h[1] = 0x45, 0
		binary.BigEndian.PutUint16(h[2:], uint16(len(h)))
		binary.BigEndian.PutUint32(h[4:], 0) // id 0, no flags
		h[8], h[9] = 64, uint8(packet.IPProtoTCP)
		a, d := src.As4(), dst.As4()
		copy(h[12:16], a[:])
		copy(h[16:20], d[:])
		binary.BigEndian.PutUint16(h[10:], 0)
		binary.BigEndian.PutUint16(h[10:], ^packet.Checksum(h[:20], 0))
		h = h[20:]
	} else {
		h = ip[:packet.IPv6Len+packet.TCPMinLen]
		binary.BigEndian.PutUint32(h[0:], 6<<28)
		binary.BigEndian.PutUint16(h[4:], packet.TCPMinLen)
		h[6], h[7] = uint8(packet.IPProtoTCP), 64
		a, d := src.As16(), dst.As16()
		copy(h[8:24], a[:])
		copy(h[24:40], d[:])
		h = h[packet.IPv6Len:]
	}
	t := packet.TCP(h)
	clear(h)
	t.SetSrcPort(dport)
	t.SetDstPort(sport)
	if flags&packet.TCPAck != 0 {
		t.SetSeq(ack)
		t.SetFlags(packet.TCPRst)
	} else {
		t.SetAck(seq + seglen)
		t.SetFlags(packet.TCPRst | packet.TCPAck)
	}
	t.SetDataOffset(packet.TCPMinLen / 4)
	cs := packet.Checksum(h, packet.PseudoHeaderChecksumAddr(packet.IPProtoTCP, src, dst, packet.TCPMinLen))
	binary.BigEndian.PutUint16(h[16:], ^cs)
	f.stats.Drop(ReasonRuleReject)
	return router.FilterReply, 0
}
