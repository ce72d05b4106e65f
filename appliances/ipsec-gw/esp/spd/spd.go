// Package spd is the ipsec-gw's security policy database: traffic
// selectors (RFC 4301 section 4.4.1), compiled into a table that finds, for
// a clear-text packet, the first policy in order whose selector covers it.
//
// Outbound, the gateway looks up every clear-text packet from its protected
// side to learn which SA (if any) encrypts it. Inbound, an SA's own selector
// checks that what came out of the tunnel is traffic the SA may carry, and
// the same table tells clear-text packets that should have arrived
// protected (and must be dropped) from those allowed to bypass IPsec.
//
// How a lookup runs: the packet's flow is parsed once into a Key (addresses
// as 128-bit integers, protocol, ports). The remote address (the
// destination of an outbound packet) is looked up in a longest-prefix-match
// table, the router's poptrie (package fib), compiled from every remote
// prefix of every selector. Each prefix leads to a short, ordered list of the
// selectors whose remote side covers it; prefixes nest or are disjoint, so
// the longest match's list holds every selector whose remote side contains
// the address. The first of those whose local side, protocol and ports match
// wins. The cost is one LPM lookup plus a scan of the few selectors that
// share a remote network, whatever the table's size; nothing allocates.
package spd

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/nfvkit/nfvkit/appliances/router/fib"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// PortRange is an inclusive range of ports. The zero value, like
// {0, 65535}, matches any port, and also packets without ports
// (fragments after the first, protocols without ports).
type PortRange struct{ From, To uint16 }

// Any reports whether r matches every port.
func (r PortRange) Any() bool { return r.From == 0 && (r.To == 0 || r.To == 0xffff) }

// Contains reports whether port p is in r.
func (r PortRange) Contains(p uint16) bool { return r.Any() || r.From <= p && p <= r.To }

func (r PortRange) String() string {
	if r.Any() {
		return "any"
	}
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// Selector says which packets belong to a policy, from this gateway's point
// of view: Local is the protected networks behind it (the source of an
// outbound packet, the destination of an inbound one), Remote the networks
// behind the peer. A packet matches when its local address is in one of
// Local's prefixes, its remote address in one of Remote's, and its protocol
// and ports match. An empty Local or Remote matches nothing; write
// 0.0.0.0/0 or ::/0 for any address.
//
// For ICMP and ICMPv6 the "port" on both sides is Type<<8|Code, as IKEv2
// traffic selectors carry them (RFC 7296 section 3.13.1).
type Selector struct {
	Local, Remote []netip.Prefix
	// Proto is the IP protocol, 0 for any.
	Proto uint8
	// LocalPorts and RemotePorts restrict the ports; the zero value is any.
	LocalPorts, RemotePorts PortRange
}

func (s Selector) String() string {
	str := fmt.Sprintf("%v <-> %v", s.Local, s.Remote)
	if s.Proto != 0 {
		str += fmt.Sprintf(" proto %d", s.Proto)
	}
	if !s.LocalPorts.Any() || !s.RemotePorts.Any() {
		str += fmt.Sprintf(" ports %v <-> %v", s.LocalPorts, s.RemotePorts)
	}
	return str
}

// Key is the flow of one packet as the SPD sees it. Addresses are 128-bit
// integers (Hi, Lo), an IPv4 address left-aligned in Hi's top 32 bits, so
// that one prefix test serves both families.
type Key struct {
	V6                    bool
	LocalHi, LocalLo      uint64
	RemoteHi, RemoteLo    uint64
	Proto                 uint8
	HasPorts              bool
	LocalPort, RemotePort uint16
}

// Parse fills k from the IP packet pkt (no link header). Outbound, the
// source is local; inbound, the destination is. It reports false for a
// packet too short for its IP header or of another version; ports are left
// out (HasPorts false) when the transport header is missing, truncated or
// behind an IPv6 extension chain too long to walk.
func (k *Key) Parse(pkt []byte, outbound bool) bool {
	if len(pkt) < 1 {
		return false
	}
	var l4 []byte
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < packet.IPv4MinLen {
			return false
		}
		ip := packet.IPv4(pkt)
		hl := ip.HeaderLen()
		if hl < packet.IPv4MinLen || hl > len(pkt) {
			return false
		}
		k.V6 = false
		src := uint64(binary.BigEndian.Uint32(pkt[12:16])) << 32
		dst := uint64(binary.BigEndian.Uint32(pkt[16:20])) << 32
		if outbound {
			k.LocalHi, k.RemoteHi = src, dst
		} else {
			k.LocalHi, k.RemoteHi = dst, src
		}
		k.LocalLo, k.RemoteLo = 0, 0
		k.Proto = pkt[9]
		if ip.FragOffset() == 0 {
			l4 = pkt[hl:]
		}
	case 6:
		if len(pkt) < packet.IPv6Len {
			return false
		}
		k.V6 = true
		sh, sl := binary.BigEndian.Uint64(pkt[8:16]), binary.BigEndian.Uint64(pkt[16:24])
		dh, dl := binary.BigEndian.Uint64(pkt[24:32]), binary.BigEndian.Uint64(pkt[32:40])
		if outbound {
			k.LocalHi, k.LocalLo, k.RemoteHi, k.RemoteLo = sh, sl, dh, dl
		} else {
			k.LocalHi, k.LocalLo, k.RemoteHi, k.RemoteLo = dh, dl, sh, sl
		}
		k.Proto, l4 = upper6(pkt)
	default:
		return false
	}
	k.HasPorts = false
	k.LocalPort, k.RemotePort = 0, 0
	switch packet.IPProtocol(k.Proto) {
	case packet.IPProtoTCP, packet.IPProtoUDP, packet.IPProtoSCTP, packet.IPProtoUDPLite:
		if len(l4) >= 4 {
			sp, dp := binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
			if outbound {
				k.LocalPort, k.RemotePort = sp, dp
			} else {
				k.LocalPort, k.RemotePort = dp, sp
			}
			k.HasPorts = true
		}
	case packet.IPProtoICMPv4, packet.IPProtoICMPv6:
		if len(l4) >= 2 {
			tc := binary.BigEndian.Uint16(l4[0:2])
			k.LocalPort, k.RemotePort = tc, tc
			k.HasPorts = true
		}
	}
	return true
}

// upper6 walks an IPv6 packet's extension headers (at most
// packet.MaxIPv6ExtHeaders) to its upper-layer protocol and header; the
// header is nil for a non-first fragment or a chain that does not fit.
func upper6(pkt []byte) (uint8, []byte) {
	nh := pkt[6]
	off := packet.IPv6Len
	for range packet.MaxIPv6ExtHeaders {
		var n int
		switch packet.IPProtocol(nh) {
		case packet.IPProtoHopByHop, packet.IPProtoRouting, packet.IPProtoDestOpts:
			if off+2 > len(pkt) {
				return nh, nil
			}
			n = (int(pkt[off+1]) + 1) * 8
		case packet.IPProtoFragment:
			if off+8 > len(pkt) {
				return nh, nil
			}
			if binary.BigEndian.Uint16(pkt[off+2:off+4])&^7 != 0 {
				return pkt[off], nil // a non-first fragment has no ports
			}
			n = 8
		case packet.IPProtoAH:
			if off+2 > len(pkt) {
				return nh, nil
			}
			n = (int(pkt[off+1]) + 2) * 4
		default:
			return nh, pkt[off:]
		}
		if off+n > len(pkt) {
			return nh, nil
		}
		nh = pkt[off]
		off += n
	}
	return nh, nil
}

// Local returns the local address of k.
func (k *Key) Local() netip.Addr { return addrOf(k.V6, k.LocalHi, k.LocalLo) }

// Remote returns the remote address of k.
func (k *Key) Remote() netip.Addr { return addrOf(k.V6, k.RemoteHi, k.RemoteLo) }

func addrOf(v6 bool, hi, lo uint64) netip.Addr {
	if !v6 {
		return netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, uint32(hi>>32))))
	}
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], hi)
	binary.BigEndian.PutUint64(a[8:], lo)
	return netip.AddrFrom16(a)
}

// pfx is a prefix as masks over the Key's 128-bit form.
type pfx struct {
	hi, lo, mhi, mlo uint64
	v6               bool
}

func compilePrefix(p netip.Prefix) (pfx, error) {
	if !p.IsValid() {
		return pfx{}, fmt.Errorf("invalid prefix %v", p)
	}
	p = p.Masked()
	a := p.Addr()
	if a.Is4In6() {
		return pfx{}, fmt.Errorf("prefix %v: IPv4-mapped IPv6 (expected plain IPv4 or IPv6)", p)
	}
	var x pfx
	bits := p.Bits()
	if a.Is4() {
		a4 := a.As4()
		x.hi = uint64(binary.BigEndian.Uint32(a4[:])) << 32
		x.mhi = mask64(bits)
		return x, nil
	}
	a16 := a.As16()
	x.v6 = true
	x.hi, x.lo = binary.BigEndian.Uint64(a16[:8]), binary.BigEndian.Uint64(a16[8:])
	x.mhi = mask64(bits)
	x.mlo = mask64(bits - 64)
	return x, nil
}

// mask64 is a mask of the top n bits of a uint64 (n clamped to 0..64).
func mask64(n int) uint64 {
	switch {
	case n <= 0:
		return 0
	case n >= 64:
		return ^uint64(0)
	}
	return ^uint64(0) << (64 - n)
}

func (x *pfx) contains(v6 bool, hi, lo uint64) bool {
	return x.v6 == v6 && hi&x.mhi == x.hi && lo&x.mlo == x.lo
}

// Matcher is a compiled Selector: it answers whether a Key matches, without
// allocating.
type Matcher struct {
	local, remote []pfx
	proto         uint8
	lports        PortRange
	rports        PortRange
}

// Compile compiles s.
func (s *Selector) Compile() (Matcher, error) {
	m := Matcher{proto: s.Proto, lports: s.LocalPorts, rports: s.RemotePorts}
	for _, p := range s.Local {
		x, err := compilePrefix(p)
		if err != nil {
			return Matcher{}, fmt.Errorf("local: %w", err)
		}
		m.local = append(m.local, x)
	}
	for _, p := range s.Remote {
		x, err := compilePrefix(p)
		if err != nil {
			return Matcher{}, fmt.Errorf("remote: %w", err)
		}
		m.remote = append(m.remote, x)
	}
	if r := s.LocalPorts; !r.Any() && r.From > r.To {
		return Matcher{}, fmt.Errorf("local ports %d-%d: empty range", r.From, r.To)
	}
	if r := s.RemotePorts; !r.Any() && r.From > r.To {
		return Matcher{}, fmt.Errorf("remote ports %d-%d: empty range", r.From, r.To)
	}
	return m, nil
}

// Match reports whether k matches the selector.
func (m *Matcher) Match(k *Key) bool {
	return m.matchRemote(k) && m.matchRest(k)
}

func (m *Matcher) matchRemote(k *Key) bool {
	for i := range m.remote {
		if m.remote[i].contains(k.V6, k.RemoteHi, k.RemoteLo) {
			return true
		}
	}
	return false
}

// matchRest is Match without the remote addresses.
func (m *Matcher) matchRest(k *Key) bool {
	if m.proto != 0 && m.proto != k.Proto {
		return false
	}
	if !m.lports.Any() && (!k.HasPorts || !m.lports.Contains(k.LocalPort)) {
		return false
	}
	if !m.rports.Any() && (!k.HasPorts || !m.rports.Contains(k.RemotePort)) {
		return false
	}
	for i := range m.local {
		if m.local[i].contains(k.V6, k.LocalHi, k.LocalLo) {
			return true
		}
	}
	return false
}

// Table is a compiled, immutable SPD: an ordered list of selectors, the
// first matching one winning. It is safe for concurrent lookups.
type Table struct {
	v4    *fib.LPM4
	v6    *fib.LPM6
	lists []span    // per distinct remote prefix: its candidates in cands
	cands []int32   // selector indices, ascending within a list
	m     []Matcher // per selector
}

type span struct{ from, to uint32 }

// NoMatch is what Lookup returns when no selector matches.
const NoMatch = -1

// Compile builds a Table from sels, in priority order (first match wins).
func Compile(sels []Selector) (*Table, error) {
	t := &Table{m: make([]Matcher, len(sels))}
	// owners: for each distinct remote prefix, the selectors naming it.
	owners := map[netip.Prefix][]int32{}
	for i := range sels {
		m, err := sels[i].Compile()
		if err != nil {
			return nil, fmt.Errorf("selector %d (%v): %w", i, sels[i], err)
		}
		t.m[i] = m
		for _, p := range sels[i].Remote {
			p = p.Masked()
			if o := owners[p]; len(o) == 0 || o[len(o)-1] != int32(i) {
				owners[p] = append(o, int32(i))
			}
		}
	}
	prefixes := make([]netip.Prefix, 0, len(owners))
	for p := range owners {
		prefixes = append(prefixes, p)
	}
	slices.SortFunc(prefixes, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	var e4, e6 []fib.Entry
	var list []int32
	for _, p := range prefixes {
		// Every selector whose remote side contains p: its owners and
		// those of each shorter prefix above it.
		list = list[:0]
		for l := p.Bits(); l >= 0; l-- {
			anc, _ := p.Addr().Prefix(l)
			list = append(list, owners[anc]...)
		}
		slices.Sort(list)
		list = slices.Compact(list)
		e := fib.Entry{Prefix: p, NextHop: uint32(len(t.lists))}
		t.lists = append(t.lists, span{uint32(len(t.cands)), uint32(len(t.cands) + len(list))})
		t.cands = append(t.cands, list...)
		if p.Addr().Is4() {
			e4 = append(e4, e)
		} else {
			e6 = append(e6, e)
		}
	}
	var err error
	if len(e4) > 0 {
		if t.v4, err = fib.Compile4(e4, fib.Options{Compact: true}); err != nil {
			return nil, err
		}
	}
	if len(e6) > 0 {
		if t.v6, err = fib.Compile6(e6, fib.Options{}); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Len is the number of selectors.
func (t *Table) Len() int { return len(t.m) }

// Matcher returns the compiled selector i.
func (t *Table) Matcher(i int) *Matcher { return &t.m[i] }

// Lookup returns the index of the first selector matching k, or NoMatch.
func (t *Table) Lookup(k *Key) int {
	var l uint32
	if !k.V6 {
		if t.v4 == nil {
			return NoMatch
		}
		l = t.v4.LookupUint32(uint32(k.RemoteHi >> 32))
	} else {
		if t.v6 == nil {
			return NoMatch
		}
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], k.RemoteHi)
		binary.BigEndian.PutUint64(a[8:], k.RemoteLo)
		l = t.v6.Lookup(a)
	}
	if l == fib.NoRoute {
		return NoMatch
	}
	s := t.lists[l]
	for _, i := range t.cands[s.from:s.to] {
		if t.m[i].matchRest(k) {
			return int(i)
		}
	}
	return NoMatch
}
