package nat

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync/atomic"

	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// NAT translates the connections of one conntrack Table: it chooses the
// translation of each new connection, stores it in the connection's entry
// (as its reply tuple) and rewrites packets. Like the Table, it belongs to
// the worker that owns the Table; only LoadStats may be called from
// elsewhere.
type NAT struct {
	ct    *conntrack.Table
	rules *Rules
	ports PortRange
	probe int
	// cursors remember, per hash of (protocol, new source, destination,
	// destination port), where the last port search ended, so that the
	// next search for the same destination starts past the ports in use.
	cursors [cursorSlots]uint16

	stats [numCounters]atomic.Uint64
}

const cursorSlots = 4096

// Options tune a NAT.
type Options struct {
	// Ports is the range source ports are translated into (default
	// 1024-65535). ICMP identifiers use 0-65535.
	Ports PortRange
	// MaxProbes bounds the ports tried for one new connection (default
	// 1024). Linux gives up after 128.
	MaxProbes int
}

// Errors of Create.
var (
	// ErrNoPort: every port tried made a tuple already in use (counted as
	// NoPort).
	ErrNoPort = errors.New("nat: no free port for the translated tuple")
	// ErrNoAddress: masquerade on an interface without an address of the
	// packet's family.
	ErrNoAddress = errors.New("nat: no address to translate to")
	// ErrUnsupported: a protocol whose checksum NAT cannot update
	// (UDP-Lite, DCCP).
	ErrUnsupported = errors.New("nat: protocol not supported")
)

// New returns a NAT for ct with rules (nil: none).
func New(ct *conntrack.Table, rules *Rules, o Options) *NAT {
	if o.Ports.isZero() {
		o.Ports = PortRange{1024, 65535}
	}
	if o.MaxProbes <= 0 {
		o.MaxProbes = 1024
	}
	if rules == nil {
		rules = &Rules{}
	}
	return &NAT{ct: ct, rules: rules, ports: o.Ports, probe: o.MaxProbes}
}

// SetRules replaces the rules (after a reload). Existing connections keep
// their translation.
func (n *NAT) SetRules(r *Rules) {
	if r == nil {
		r = &Rules{}
	}
	n.rules = r
}

// Target returns the destination a new connection's first packet (as Track
// left it in r) will have after destination NAT on ingress interface in,
// for routing and filtering it; ok is false when no dnat rule applies.
func (n *NAT) Target(r *conntrack.Result, in uint16) (dst netip.Addr, port uint16, ok bool) {
	k := r.Tuple()
	d := n.rules.matchDNAT(k, in)
	if d == nil {
		return netip.Addr{}, 0, false
	}
	port = k.DstPort
	if d.toPort != 0 && k.HasPorts() {
		port = d.toPort
	}
	return d.to, port, true
}

func (rs *Rules) matchDNAT(k *conntrack.Tuple, in uint16) *dnatRule {
	for i := range rs.dnat {
		d := &rs.dnat[i]
		if d.in != in || d.proto != 0 && d.proto != uint8(k.Proto) || d.to.Is6() != k.V6 {
			continue
		}
		if !d.ports.isZero() && (!k.HasPorts() || k.DstPort < d.ports.Lo || k.DstPort > d.ports.Hi) {
			continue
		}
		return d
	}
	return nil
}

func (rs *Rules) matchSNAT(k *conntrack.Tuple, out uint16) *snatRule {
	for i := range rs.snat {
		if s := &rs.snat[i]; s.out == out && s.v6 == k.V6 {
			return s
		}
	}
	return nil
}

// Create makes the conntrack entry of a new connection whose first packet
// Track said was new (with no entry) and the rules accepted, translated by
// the first dnat rule of ingress interface in and the first masquerade or
// snat rule of egress interface out that fit it. It is conntrack.Table.Create
// with the reply tuple NAT chose; the entry's NAT binding says what
// changed. Then Apply the entry to the packet.
//
// Source translation keeps the source port when the translated tuple is
// free (as Linux does), and otherwise searches the port range from where
// the last search for the same (protocol, new source, destination,
// destination port) ended, asking conntrack whether each tuple is taken:
// the translated 5-tuple is unique, ports are shared by different
// destinations, and a port is free again when its entry ends. No table
// grows per connection.
func (n *NAT) Create(r *conntrack.Result, in, out uint16, now int64) (*conntrack.Entry, error) {
	k := r.Tuple()
	reply := k.Reverse()
	var b conntrack.NATBinding
	if d := n.rules.matchDNAT(k, in); d != nil {
		reply.Src = d.to.As16()
		if d.toPort != 0 && k.HasPorts() {
			reply.SrcPort = d.toPort
		}
		b.Flags |= conntrack.DstNAT
		b.Rule = d.idx
	}
	if s := n.rules.matchSNAT(k, out); s != nil {
		if !n.natable(k) {
			n.count(cUnsupported)
			return nil, ErrUnsupported
		}
		// The address depends on the source host alone, so a host keeps
		// its public address across connections.
		var h conntrack.Tuple
		h.Src, h.V6 = k.Src, k.V6
		reply.Dst = s.pick(n.ct.Hash(&h))
		if err := n.pickPort(k, &reply, now); err != nil {
			return nil, err
		}
		portChanged := k.HasPorts() && reply.DstPort != k.SrcPort || k.IsICMP() && reply.SrcPort != k.SrcPort
		if reply.Dst != k.Src || portChanged {
			b.Flags |= conntrack.SrcNAT
			b.Rule = s.idx
		}
	}
	if b.Flags&conntrack.DstNAT != 0 && !n.natable(k) {
		n.count(cUnsupported)
		return nil, ErrUnsupported
	}
	e, err := n.ct.Create(r, &reply, now)
	if err != nil {
		return nil, err
	}
	e.NAT = b
	if b.Flags != 0 {
		n.count(cTranslated)
	}
	return e, nil
}

// natable reports whether NAT can rewrite the protocol: its checksum
// (if any) is one package packet updates.
func (n *NAT) natable(k *conntrack.Tuple) bool {
	return k.Proto != packet.IPProtoUDPLite && k.Proto != 33 // DCCP
}

// pick returns the range's address for a connection hashing to h.
func (s *snatRule) pick(h uint64) [16]byte {
	a := s.first
	if s.count <= 1 {
		return a
	}
	off := (h >> 1) % s.count
	lo := binary.BigEndian.Uint64(a[8:])
	sum := lo + off
	binary.BigEndian.PutUint64(a[8:], sum)
	if sum < lo { // carry into the high half
		binary.BigEndian.PutUint64(a[:8], binary.BigEndian.Uint64(a[:8])+1)
	}
	return a
}

// pickPort chooses the translated source port (or ICMP identifier) so that
// the reply tuple is unique. For protocols without ports the tuple must be
// free as it is.
func (n *NAT) pickPort(k *conntrack.Tuple, reply *conntrack.Tuple, now int64) error {
	var field *uint16 // the reply tuple's field that carries the new port
	lo, hi := n.ports.Lo, n.ports.Hi
	switch {
	case k.Proto == packet.IPProtoTCP || k.Proto == packet.IPProtoUDP:
		field = &reply.DstPort
	case k.IsICMP():
		field, lo, hi = &reply.SrcPort, 0, 0xffff
	default:
		// No port NAT can change (SCTP's CRC32c is not updated here):
		// the addresses alone must make a new tuple.
		if n.ct.InUse(reply, now) {
			n.count(cNoPort)
			return ErrNoPort
		}
		return nil
	}
	if orig := *field; orig >= lo && orig <= hi && !n.ct.InUse(reply, now) {
		return nil // the original port is free: keep it
	}
	size := uint32(hi) - uint32(lo) + 1
	// The cursor of this destination, and a per-destination starting
	// point so that destinations do not crowd the same ports.
	var d conntrack.Tuple
	d.Proto, d.V6, d.Src, d.Dst, d.SrcPort = k.Proto, k.V6, reply.Dst, reply.Src, reply.SrcPort
	h := n.ct.Hash(&d)
	c := &n.cursors[h%cursorSlots]
	// The cursor is an offset in the range: where the next search for
	// this destination starts, past the ports the last ones took.
	base := uint32(h>>32) % size
	tries := uint32(min(n.probe, int(size)))
	for i := range tries {
		off := (base + uint32(*c) + i) % size
		*field = lo + uint16(off)
		if !n.ct.InUse(reply, now) {
			*c = uint16((uint32(*c) + i + 1) % size)
			return nil
		}
	}
	// Next time, look further on.
	*c = uint16((uint32(*c) + tries) % size)
	n.count(cNoPort)
	return ErrNoPort
}

// Apply rewrites a packet of connection e going direction d as the
// connection's translation says: in the original direction the source
// (masquerade, snat) and the destination (dnat) become the reply tuple's,
// in the reply direction they return to the original's. Addresses, ports
// and ICMP identifiers change with the IPv4 header checksum and the TCP,
// UDP or ICMP checksum updated incrementally (RFC 1624); a non-first
// fragment has its addresses changed only. A connection without a binding
// costs one test. It does not allocate.
func Apply(p *packet.Parsed, e *conntrack.Entry, d conntrack.Dir) error {
	f := e.NAT.Flags
	if f == 0 {
		return nil
	}
	o := e.Tuple(d ^ 1) // the other direction: the packet must become its reverse
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
	if !p.HasL4 {
		return nil
	}
	switch p.IPProto {
	case packet.IPProtoTCP, packet.IPProtoUDP:
		if srcNAT && p.SrcPort != o.DstPort {
			if err := p.SetSrcPort(o.DstPort); err != nil {
				return err
			}
		}
		if dstNAT && p.DstPort != o.SrcPort {
			if err := p.SetDstPort(o.SrcPort); err != nil {
				return err
			}
		}
	case packet.IPProtoICMPv4, packet.IPProtoICMPv6:
		// A query's identifier is SrcPort in both directions' tuples.
		if o.IsICMP() {
			m := p.L4()
			setICMPID(m, o.SrcPort)
		}
	}
	return nil
}

// rewrites says which addresses a packet going d has rewritten: its
// source (SNAT going out, DNAT coming back) and its destination.
func rewrites(f conntrack.NATFlags, d conntrack.Dir) (src, dst bool) {
	if d == conntrack.Original {
		return f&conntrack.SrcNAT != 0, f&conntrack.DstNAT != 0
	}
	return f&conntrack.DstNAT != 0, f&conntrack.SrcNAT != 0
}

// setICMPID changes an ICMP query's identifier and its checksum.
func setICMPID(m []byte, id uint16) {
	old := binary.BigEndian.Uint16(m[4:6])
	if old == id {
		return
	}
	binary.BigEndian.PutUint16(m[4:6], id)
	binary.BigEndian.PutUint16(m[2:4], packet.UpdateChecksum16(binary.BigEndian.Uint16(m[2:4]), old, id))
}

// counters
const (
	cTranslated  = iota // connections created with a translation
	cNoPort             // refused: no free port
	cUnsupported        // refused: protocol NAT cannot rewrite
	numCounters
)

func (n *NAT) count(c int) { n.stats[c].Add(1) }

// Stats are a NAT's counters.
type Stats struct {
	// Translated counts connections created with a translation.
	Translated uint64
	// NoPort counts connections refused because no port made the
	// translated tuple unique; Unsupported those of a protocol NAT cannot
	// rewrite.
	NoPort, Unsupported uint64
}

// LoadStats returns the counters; any goroutine may call it.
func (n *NAT) LoadStats() Stats {
	return Stats{Translated: n.stats[cTranslated].Load(), NoPort: n.stats[cNoPort].Load(), Unsupported: n.stats[cUnsupported].Load()}
}
