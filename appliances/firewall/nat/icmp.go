package nat

import (
	"encoding/binary"
	"errors"

	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

var errNotRelated = errors.New("nat: not an ICMP error related to a connection")

// ApplyRelated rewrites an ICMP error about a translated connection, r
// being what Track said about it (State Related). The packet it quotes is
// changed to what its sender sent, or received, on the other side of the
// translation: its addresses, its ports or identifier, its IPv4 header
// checksum, and its transport checksum when the quote holds it. The outer
// header's addresses change as a packet of the connection going the same
// way would (so an error from a router beyond the translation seems to come
// from the translated address, as in Linux), and the ICMP checksum is
// updated for all of it, incrementally, so an error that arrived with a bad
// checksum keeps one. It does not allocate.
func ApplyRelated(p *packet.Parsed, r *conntrack.Result) error {
	e := r.Entry
	if e == nil || r.State != conntrack.StateRelated {
		return errNotRelated
	}
	f := e.NAT.Flags
	if f == 0 {
		return nil
	}
	d := r.Dir
	in := &r.Inner
	b := p.Bytes()
	q := &in.Tuple
	want := e.Tuple(d ^ 1) // the quoted packet went d^1: make it that direction's tuple
	v6 := q.V6
	ipLen := packet.IPv4MinLen
	if v6 {
		ipLen = packet.IPv6Len
	}
	l3, l4 := in.L3Off, in.L4Off
	n4 := min(18, in.End-l4) &^ 1
	if l3+ipLen > l4 || n4 < 0 {
		return errNotRelated
	}
	// Snapshots of the bytes that change, for the ICMP checksum.
	var oldIP [packet.IPv6Len]byte
	var oldL4 [18]byte
	copy(oldIP[:ipLen], b[l3:l3+ipLen])
	copy(oldL4[:n4], b[l4:l4+n4])

	quote := quoted{b: b, in: in, v6: v6}
	if q.Src != want.Src {
		quote.setAddr(true, &want.Src)
	}
	if q.Dst != want.Dst {
		quote.setAddr(false, &want.Dst)
	}
	switch {
	case q.Proto == packet.IPProtoTCP || q.Proto == packet.IPProtoUDP:
		if q.SrcPort != want.SrcPort {
			quote.setPort(0, want.SrcPort)
		}
		if q.DstPort != want.DstPort {
			quote.setPort(2, want.DstPort)
		}
	case q.IsICMP():
		if q.SrcPort != want.SrcPort {
			setICMPID(b[l4:in.End], want.SrcPort)
		}
	}
	m := b[p.L4Off:p.End]
	c := binary.BigEndian.Uint16(m[2:4])
	c = packet.UpdateChecksumBytes(c, oldIP[:ipLen], b[l3:l3+ipLen])
	c = packet.UpdateChecksumBytes(c, oldL4[:n4], b[l4:l4+n4])
	binary.BigEndian.PutUint16(m[2:4], c)
	*q = *want

	// The outer header, as a packet of the connection going d.
	o := want
	srcNAT, dstNAT := rewrites(f, d)
	if srcNAT {
		if a := o.DstAddr(); a != p.Src {
			if err := p.SetSrc(a); err != nil {
				return err
			}
		}
	}
	if dstNAT {
		if a := o.SrcAddr(); a != p.Dst {
			if err := p.SetDst(a); err != nil {
				return err
			}
		}
	}
	return nil
}

// quoted edits the packet an ICMP error quotes, keeping its checksums.
type quoted struct {
	b  []byte
	in *conntrack.Inner
	v6 bool
}

// setAddr sets the quoted source (src) or destination address: the IPv4
// header checksum and the transport checksum over the pseudo-header follow.
func (q quoted) setAddr(src bool, a *[16]byte) {
	l3 := q.in.L3Off
	var at int
	var buf [16]byte
	var old, new []byte
	if q.v6 {
		at = l3 + 24
		if src {
			at = l3 + 8
		}
		new = a[:]
		old = buf[:copy(buf[:], q.b[at:at+16])]
	} else {
		at = l3 + 16
		if src {
			at = l3 + 12
		}
		new = a[12:16]
		old = buf[:copy(buf[:], q.b[at:at+4])]
		ip := packet.IPv4(q.b[l3:])
		ip.SetChecksum(packet.UpdateChecksumBytes(ip.Checksum(), old, new))
	}
	copy(q.b[at:], new)
	if q.in.Tuple.Proto != packet.IPProtoICMPv4 || q.v6 {
		q.fixL4(old, new)
	}
}

// setPort sets the quoted TCP or UDP port at offset off (0 source, 2
// destination) of the transport header.
func (q quoted) setPort(off int, port uint16) {
	at := q.in.L4Off + off
	var old, new [2]byte
	copy(old[:], q.b[at:at+2])
	binary.BigEndian.PutUint16(new[:], port)
	copy(q.b[at:], new[:])
	q.fixL4(old[:], new[:])
}

// fixL4 updates the quoted transport checksum for a change of old to new
// in the data it covers, when the quote holds the checksum (a quoted TCP
// header is often cut before it) and it is in use (UDP over IPv4 may
// have none).
func (q quoted) fixL4(old, new []byte) {
	var off int
	switch q.in.Tuple.Proto {
	case packet.IPProtoTCP:
		off = 16
	case packet.IPProtoUDP:
		off = 6
	case packet.IPProtoICMPv6:
		off = 2
	default:
		return
	}
	at := q.in.L4Off + off
	if at+2 > q.in.End {
		return
	}
	c := binary.BigEndian.Uint16(q.b[at:])
	udp := q.in.Tuple.Proto == packet.IPProtoUDP
	if udp && c == 0 && !q.v6 {
		return
	}
	c = packet.UpdateChecksumBytes(c, old, new)
	if udp && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(q.b[at:], c)
}
