package conntrack

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strconv"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Dir is the direction of a packet within its connection.
type Dir uint8

const (
	// Original is the direction of the packet that created the entry.
	Original Dir = 0
	// Reply is the other direction.
	Reply Dir = 1
)

func (d Dir) String() string {
	if d == Original {
		return "original"
	}
	return "reply"
}

// State is what conntrack says about a packet. The values are the bits of
// config.ConnState, so a rule's state match is a mask test.
type State uint8

const (
	// StateNew: the packet starts a connection (no entry yet, Result.Entry is
	// nil), or belongs to one whose other side has not answered yet (an
	// entry exists; a retransmitted SYN, a second UDP datagram), as Linux's
	// IP_CT_NEW.
	StateNew State = 1 << iota
	// StateEstablished: the packet belongs to a connection that has seen
	// packets both ways, or is itself the first answer.
	StateEstablished
	// StateRelated: an ICMP error about a tracked connection; Result.Entry is
	// that connection.
	StateRelated
	// StateInvalid: the packet fits no connection and cannot start one (a TCP
	// segment outside the window, an ACK with no connection, an ICMP error
	// about nothing tracked); Result.Reason says why.
	StateInvalid
)

func (s State) String() string {
	switch s {
	case StateNew:
		return "new"
	case StateEstablished:
		return "established"
	case StateRelated:
		return "related"
	case StateInvalid:
		return "invalid"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Tuple is one direction of a connection as the hash index keys it: the
// addresses, the protocol and, for TCP, UDP, SCTP, UDP-Lite and DCCP, the
// ports. For an ICMP or ICMPv6 query (echo, timestamp, information, address
// mask, node information) SrcPort is the identifier and DstPort the message
// type, so a request and its reply are the two directions of one entry.
// Other protocols have zero ports: one entry per address pair.
//
// Addresses are 16 bytes, IPv4 ones in their IPv4-mapped form (as
// netip.Addr.As16 gives them); V6 tells the families apart. A Tuple holds
// no pointers, so a table of them costs the garbage collector nothing.
type Tuple struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            packet.IPProtocol
	V6               bool
	_                [2]byte
}

// SrcAddr returns the source address.
func (t *Tuple) SrcAddr() netip.Addr { return t.addr(&t.Src) }

// DstAddr returns the destination address.
func (t *Tuple) DstAddr() netip.Addr { return t.addr(&t.Dst) }

func (t *Tuple) addr(a *[16]byte) netip.Addr {
	if t.V6 {
		return netip.AddrFrom16(*a)
	}
	return netip.AddrFrom4([4]byte(a[12:16]))
}

// SetSrcAddr sets the source address (and V6 from its family).
func (t *Tuple) SetSrcAddr(a netip.Addr) { t.Src, t.V6 = a.As16(), a.Is6() }

// SetDstAddr sets the destination address (and V6 from its family).
func (t *Tuple) SetDstAddr(a netip.Addr) { t.Dst, t.V6 = a.As16(), a.Is6() }

// HasPorts reports whether the protocol's tuples carry ports.
func (t *Tuple) HasPorts() bool { return hasPorts(t.Proto) }

// IsICMP reports whether the tuple is an ICMP or ICMPv6 query, whose
// SrcPort is the identifier.
func (t *Tuple) IsICMP() bool { return isICMP(t.Proto, t.V6) }

func hasPorts(p packet.IPProtocol) bool {
	switch p {
	case packet.IPProtoTCP, packet.IPProtoUDP, packet.IPProtoSCTP, packet.IPProtoUDPLite, protoDCCP:
		return true
	}
	return false
}

const protoDCCP packet.IPProtocol = 33

func isICMP(p packet.IPProtocol, v6 bool) bool {
	return !v6 && p == packet.IPProtoICMPv4 || v6 && p == packet.IPProtoICMPv6
}

// Reverse returns the tuple of the other direction when no NAT is involved:
// addresses and ports swapped, an ICMP query type replaced by its reply's
// (and the reverse).
func (t *Tuple) Reverse() Tuple {
	r := *t
	r.Src, r.Dst = t.Dst, t.Src
	switch {
	case hasPorts(t.Proto):
		r.SrcPort, r.DstPort = t.DstPort, t.SrcPort
	case isICMP(t.Proto, t.V6):
		r.DstPort = uint16(queryPeer(t.V6, uint8(t.DstPort)))
	}
	return r
}

// queryPeer maps an ICMP query type to its answer and an answer to its
// query; 0xff for a type that is not a tracked query. ICMPv4 echo reply is
// type 0, so the map is explicit rather than "type+1".
func queryPeer(v6 bool, typ uint8) uint8 {
	if v6 {
		switch typ {
		case 128: // echo request, reply
			return 129
		case 129:
			return 128
		case 139: // node information query, response
			return 140
		case 140:
			return 139
		}
		return 0xff
	}
	switch typ {
	case 8:
		return 0 // echo
	case 0:
		return 8
	case 13, 14: // timestamp
		return 13 + 14 - typ
	case 15, 16: // information
		return 15 + 16 - typ
	case 17, 18: // address mask
		return 17 + 18 - typ
	}
	return 0xff
}

// isQueryRequest reports whether typ opens an ICMP exchange (as opposed to
// answering one); only requests may create an entry.
func isQueryRequest(v6 bool, typ uint8) bool {
	if v6 {
		return typ == 128 || typ == 139
	}
	return typ == 8 || typ == 13 || typ == 15 || typ == 17
}

func (t Tuple) String() string {
	p := t.Proto.String()
	switch {
	case t.HasPorts():
		return p + " " + netip.AddrPortFrom(t.SrcAddr(), t.SrcPort).String() + " > " +
			netip.AddrPortFrom(t.DstAddr(), t.DstPort).String()
	case t.IsICMP():
		return p + " " + t.SrcAddr().String() + " > " + t.DstAddr().String() +
			" id " + strconv.Itoa(int(t.SrcPort)) + " type " + strconv.Itoa(int(t.DstPort))
	}
	return p + " " + t.SrcAddr().String() + " > " + t.DstAddr().String()
}

// words returns the tuple as five 64-bit words, for hashing and comparing.
func (t *Tuple) words() (s0, s1, d0, d1, x uint64) {
	s0 = binary.LittleEndian.Uint64(t.Src[0:8])
	s1 = binary.LittleEndian.Uint64(t.Src[8:16])
	d0 = binary.LittleEndian.Uint64(t.Dst[0:8])
	d1 = binary.LittleEndian.Uint64(t.Dst[8:16])
	x = uint64(t.SrcPort) | uint64(t.DstPort)<<16 | uint64(t.Proto)<<32
	if t.V6 {
		x |= 1 << 40
	}
	return
}

// equal compares two tuples word by word (cheaper than the generated
// comparison of a 40-byte struct, which calls memequal).
func (t *Tuple) equal(u *Tuple) bool {
	a0, a1, a2, a3, a4 := t.words()
	b0, b1, b2, b3, b4 := u.words()
	return (a0^b0)|(a1^b1)|(a2^b2)|(a3^b3)|(a4^b4) == 0
}

// hashKey is the secret of the index hash: with it an outsider cannot
// choose tuples that pile into one chain.
type hashKey [6]uint64

// mum is the 64x64->128 multiply folded to 64 bits that wyhash is built
// from.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func (k *hashKey) hash(t *Tuple) uint64 {
	s0, s1, d0, d1, x := t.words()
	h1 := mum(s0^k[0], s1^k[1])
	h2 := mum(d0^k[2], d1^k[3])
	return mum(h1^x^k[4], h2^k[5])
}

// Hash returns a keyed hash of the tuple: equal for equal tuples within one
// Table, different from table to table unless Options.Seed is set. NAT uses
// it to spread its choices.
func (t *Table) Hash(k *Tuple) uint64 { return t.key.hash(k) }

// splitmix64 expands a seed into hash keys.
func splitmix64(x *uint64) uint64 {
	*x += 0x9e3779b97f4a7c15
	z := *x
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
