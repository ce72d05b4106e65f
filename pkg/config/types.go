package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Addresses, prefixes and durations.

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil && strings.Contains(s, "/"):
		return netip.Addr{}, fmt.Errorf("%s has a prefix length (expected a plain IP address like 192.0.2.1)", quote(s))
	case err != nil:
		return netip.Addr{}, fmt.Errorf("%s is not an IP address (expected an IP address like 192.0.2.1 or 2001:db8::1)", quote(s))
	}
	return a, plainAddr(s, a)
}

func plainAddr(s string, a netip.Addr) error {
	switch {
	case a.Zone() != "":
		return fmt.Errorf("%s has a zone (expected an address without %%zone)", quote(s))
	case a.Is4In6():
		return fmt.Errorf("%s is an IPv4-mapped IPv6 address (expected the IPv4 form %s)", quote(s), a.Unmap())
	}
	return nil
}

func parsePrefix(s string, o opts) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		if o.host {
			return netip.Prefix{}, fmt.Errorf("%s has no prefix length (expected an interface address like 192.0.2.1/24)", quote(s))
		}
		a, err := parseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%s is not a CIDR prefix or an address (expected 192.0.2.0/24 or 192.0.2.1)", quote(s))
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s is not a CIDR prefix (expected an address, '/', and a prefix length, like 192.0.2.0/24 or 2001:db8::/32)", quote(s))
	}
	if err := plainAddr(s, p.Addr()); err != nil {
		return netip.Prefix{}, err
	}
	if o.network && p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%s has host bits set (expected %s)", quote(s), p.Masked())
	}
	if o.host {
		a, bits := p.Addr(), p.Bits()
		switch {
		case a.Is4() && bits <= 30 && a == p.Masked().Addr():
			return netip.Prefix{}, fmt.Errorf("%s is a network address (expected a host address in %s)", quote(s), p.Masked())
		case a.Is4() && bits <= 30 && a == lastAddr(p):
			return netip.Prefix{}, fmt.Errorf("%s is the broadcast address (expected a host address in %s)", quote(s), p.Masked())
		case a.Is6() && bits <= 126 && a == p.Masked().Addr():
			return netip.Prefix{}, fmt.Errorf("%s is the subnet-router anycast address (expected a host address in %s)", quote(s), p.Masked())
		}
	}
	return p, nil
}

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := range b {
		lo := max(p.Bits()-i*8, 0)
		if lo < 8 {
			b[i] |= 0xff >> lo
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func parseAddrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%s is not an address and port (expected 192.0.2.1:51820 or [2001:db8::1]:51820; host names are not resolved)", quote(s))
	}
	if err := plainAddr(s, ap.Addr()); err != nil {
		return netip.AddrPort{}, err
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("%s has port 0 (expected a port 1..65535)", quote(s))
	}
	return ap, nil
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s is not a duration (expected a duration like 30s, 5m or 2h)", quote(s))
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s is not positive (expected a duration like 30s, 5m or 2h)", quote(s))
	}
	return d, nil
}

// Prefixes is a list of CIDR prefixes; YAML may give one without a list.
type Prefixes []netip.Prefix

func (Prefixes) oneOrMany() {}

// Contains reports whether any prefix in the list contains a.
func (ps Prefixes) Contains(a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addrs is a list of addresses; YAML may give one without a list.
type Addrs []netip.Addr

func (Addrs) oneOrMany() {}

// ListenAddr is a TCP listen address: ":9100" (every address of the
// interface) or "192.0.2.1:9100".
type ListenAddr struct {
	Addr netip.Addr // invalid: any
	Port uint16
}

func (l ListenAddr) String() string {
	if l.IsZero() {
		return ""
	}
	if !l.Addr.IsValid() {
		return ":" + strconv.Itoa(int(l.Port))
	}
	return netip.AddrPortFrom(l.Addr, l.Port).String()
}

// IsZero reports whether no address is set.
func (l ListenAddr) IsZero() bool { return l.Port == 0 && !l.Addr.IsValid() }

// MarshalText implements encoding.TextMarshaler.
func (l ListenAddr) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

func (l *ListenAddr) decodeText(s string) error {
	if p, ok := strings.CutPrefix(s, ":"); ok {
		n, err := decimal(p, 65535)
		if err != nil || n == 0 {
			return fmt.Errorf("%s is not a listen address (%s)", quote(s), l.expected())
		}
		*l = ListenAddr{Port: uint16(n)}
		return nil
	}
	ap, err := parseAddrPort(s)
	if err != nil {
		return fmt.Errorf("%s is not a listen address (%s)", quote(s), l.expected())
	}
	*l = ListenAddr{Addr: ap.Addr(), Port: ap.Port()}
	return nil
}

func (ListenAddr) expected() string {
	return `a listen address like ":9100", "192.0.2.1:9100" or "[2001:db8::1]:9100"`
}

func (ListenAddr) jsonSchema() obj {
	return obj{}.set("type", "string").set("pattern", `^(\[[0-9A-Fa-f:.]+\]|[0-9.]*):[0-9]{1,5}$`).
		set("examples", []string{":9100", "192.0.2.1:9100", "[2001:db8:1::1]:9100"})
}

// MAC is an Ethernet address.
type MAC [6]byte

func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// MarshalText implements encoding.TextMarshaler.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

func (m *MAC) decodeText(s string) error {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return fmt.Errorf("%s is not a MAC address (%s)", quote(s), m.expected())
	}
	switch {
	case hw[0]&1 != 0:
		return fmt.Errorf("%s is a multicast or broadcast address (expected a unicast MAC address)", quote(s))
	case MAC(hw) == MAC{}:
		return fmt.Errorf("%s is all zeros (expected a unicast MAC address)", quote(s))
	}
	*m = MAC(hw)
	return nil
}

func (MAC) expected() string { return "a MAC address like 02:00:00:00:00:01" }

func (MAC) jsonSchema() obj {
	return obj{}.set("type", "string").set("pattern", `^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$`)
}

// WGKey is a WireGuard (Curve25519) public key.
type WGKey [32]byte

func (k WGKey) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// MarshalText implements encoding.TextMarshaler.
func (k WGKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func (k *WGKey) decodeText(s string) error {
	b, err := decodeBase64Key(s)
	if err != nil {
		return fmt.Errorf("public key %s: %w", quote(s), err)
	}
	*k = WGKey(b)
	return nil
}

func (WGKey) expected() string { return "a WireGuard public key: 44 characters of base64" }

func (WGKey) jsonSchema() obj {
	return obj{}.set("type", "string").set("pattern", `^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$`)
}

// decodeBase64Key decodes a 32-byte WireGuard key. Its errors never hold the
// key, since the same check applies to private keys.
func decodeBase64Key(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	switch {
	case err != nil || len(b) != 32:
		return nil, errors.New("not 32 bytes of base64 (expected 44 characters ending in '=', as wg genkey prints)")
	case [32]byte(b) == [32]byte{}:
		return nil, errors.New("all zeros (expected a real key)")
	}
	return b, nil
}

// PortRange is an inclusive range of TCP/UDP ports; Lo == Hi for one port.
type PortRange struct {
	Lo, Hi uint16
}

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
}

// IsZero reports whether no range is set.
func (r PortRange) IsZero() bool { return r == PortRange{} }

// Contains reports whether port p is in the range.
func (r PortRange) Contains(p uint16) bool { return r.Lo <= p && p <= r.Hi }

// MarshalYAML writes a single port as a number, a range as "lo-hi".
func (r PortRange) MarshalYAML() (any, error) {
	if r.Lo == r.Hi {
		return int(r.Lo), nil
	}
	return r.String(), nil
}

func (r *PortRange) decodeText(s string) error {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	l, err1 := decimal(strings.TrimSpace(lo), 65535)
	h, err2 := decimal(strings.TrimSpace(hi), 65535)
	switch {
	case err1 != nil || err2 != nil || l == 0 || h == 0:
		return fmt.Errorf("%s is not a port or port range (%s)", quote(s), r.expected())
	case l > h:
		return fmt.Errorf("port range %s is backwards (expected %d-%d)", quote(s), h, l)
	}
	*r = PortRange{uint16(l), uint16(h)}
	return nil
}

func (PortRange) expected() string { return `a port 1..65535 or a range like "1000-2000"` }

func (PortRange) jsonSchema() obj {
	return obj{}.set("anyOf", []obj{
		obj{}.set("type", "integer").set("minimum", 1).set("maximum", 65535),
		obj{}.set("type", "string").set("pattern", `^[0-9]{1,5}( *- *[0-9]{1,5})?$`),
	})
}

// PortRanges is a list of port ranges; YAML may give one without a list.
type PortRanges []PortRange

func (PortRanges) oneOrMany() {}

// Proto is an IP protocol number; 0 means any.
type Proto uint8

// Protocols with names.
const (
	ProtoICMP   Proto = 1
	ProtoTCP    Proto = 6
	ProtoUDP    Proto = 17
	ProtoGRE    Proto = 47
	ProtoESP    Proto = 50
	ProtoAH     Proto = 51
	ProtoICMPv6 Proto = 58
	ProtoSCTP   Proto = 132
)

var protoNames = []struct {
	name  string
	proto Proto
}{
	{"tcp", ProtoTCP}, {"udp", ProtoUDP}, {"icmp", ProtoICMP}, {"icmpv6", ProtoICMPv6},
	{"gre", ProtoGRE}, {"esp", ProtoESP}, {"ah", ProtoAH}, {"sctp", ProtoSCTP},
}

func (p Proto) String() string {
	for _, n := range protoNames {
		if n.proto == p {
			return n.name
		}
	}
	return strconv.Itoa(int(p))
}

// MarshalText implements encoding.TextMarshaler.
func (p Proto) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// HasPorts reports whether the protocol has TCP/UDP ports.
func (p Proto) HasPorts() bool { return p == ProtoTCP || p == ProtoUDP }

func (p *Proto) decodeText(s string) error {
	for _, n := range protoNames {
		if n.name == s {
			*p = n.proto
			return nil
		}
	}
	n, err := decimal(s, 255)
	if err != nil || n == 0 {
		return fmt.Errorf("unknown protocol %s (%s)", quote(s), p.expected())
	}
	*p = Proto(n)
	return nil
}

func (Proto) expected() string {
	return "tcp, udp, icmp, icmpv6, gre, esp, ah, sctp or a protocol number 1..255"
}

func (Proto) jsonSchema() obj {
	names := make([]string, len(protoNames))
	for i, n := range protoNames {
		names[i] = n.name
	}
	return obj{}.set("anyOf", []obj{
		obj{}.set("enum", names),
		obj{}.set("type", "integer").set("minimum", 1).set("maximum", 255),
	})
}

// ICMPType is an ICMP or ICMPv6 message type. A name (echo-request) is kept
// as written and Type resolved for the rule's protocol once that is known.
type ICMPType struct {
	Type uint8
	Name string // as written; "" when given as a number
}

// icmpNames maps names to (ICMPv4, ICMPv6) types; -1 where there is none.
var icmpNames = []struct {
	name   string
	v4, v6 int
}{
	{"echo-reply", 0, 129},
	{"destination-unreachable", 3, 1},
	{"packet-too-big", -1, 2},
	{"time-exceeded", 11, 3},
	{"parameter-problem", 12, 4},
	{"redirect", 5, 137},
	{"echo-request", 8, 128},
	{"router-advertisement", 9, 134},
	{"router-solicitation", 10, 133},
	{"neighbor-solicitation", -1, 135},
	{"neighbor-advertisement", -1, 136},
}

func (t ICMPType) String() string {
	if t.Name != "" {
		return t.Name
	}
	return strconv.Itoa(int(t.Type))
}

// MarshalYAML writes the name as given, or the number.
func (t ICMPType) MarshalYAML() (any, error) {
	if t.Name != "" {
		return t.Name, nil
	}
	return int(t.Type), nil
}

func (t *ICMPType) decodeText(s string) error {
	if n, err := decimal(s, 255); err == nil {
		*t = ICMPType{Type: uint8(n)}
		return nil
	}
	for _, n := range icmpNames {
		if n.name == s {
			*t = ICMPType{Name: s}
			return nil
		}
	}
	return fmt.Errorf("unknown ICMP type %s (%s)", quote(s), t.expected())
}

// resolve sets Type from Name for ICMP (v6 false) or ICMPv6.
func (t *ICMPType) resolve(v6 bool) bool {
	if t.Name == "" {
		return true
	}
	for _, n := range icmpNames {
		if n.name == t.Name {
			v := n.v4
			if v6 {
				v = n.v6
			}
			t.Type = uint8(max(v, 0))
			return v >= 0
		}
	}
	return false
}

func (ICMPType) expected() string {
	names := make([]string, len(icmpNames))
	for i, n := range icmpNames {
		names[i] = n.name
	}
	return "a type number 0..255 or one of " + strings.Join(names, ", ")
}

func (ICMPType) jsonSchema() obj {
	names := make([]string, len(icmpNames))
	for i, n := range icmpNames {
		names[i] = n.name
	}
	return obj{}.set("anyOf", []obj{
		obj{}.set("type", "integer").set("minimum", 0).set("maximum", 255),
		obj{}.set("enum", names),
	})
}

// ICMPTypes is a list of ICMP types; YAML may give one without a list.
type ICMPTypes []ICMPType

func (ICMPTypes) oneOrMany() {}

// ConnState is a set of connection-tracking states; 0 means any.
type ConnState uint8

// The states.
const (
	StateNew ConnState = 1 << iota
	StateEstablished
	StateRelated
	StateInvalid
)

var stateNames = []string{"new", "established", "related", "invalid"}

// Has reports whether every state in t is in s.
func (s ConnState) Has(t ConnState) bool { return s&t == t }

// Names lists the states in s.
func (s ConnState) Names() []string {
	var names []string
	for i, n := range stateNames {
		if s&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return names
}

func (s ConnState) String() string { return strings.Join(s.Names(), ",") }

// MarshalYAML writes the states as a list.
func (s ConnState) MarshalYAML() (any, error) { return s.Names(), nil }

func (s *ConnState) decodeNode(d *decoder, n *yaml.Node, at string) {
	items, single := n.Content, false
	switch n.Kind {
	case yaml.ScalarNode:
		items, single = []*yaml.Node{n}, true
	case yaml.SequenceNode:
	default:
		d.errorf(n, at, "got %s (expected %s)", describe(n), s.expected())
		return
	}
	if len(items) == 0 {
		d.errorf(n, at, "empty list (expected %s)", s.expected())
		return
	}
	for i, it := range items {
		p := at
		if !single {
			p = at + "[" + strconv.Itoa(i) + "]"
		}
		if it.Kind == yaml.AliasNode {
			t, ok := d.follow(it, p)
			if !ok {
				continue
			}
			it = t
		}
		if d.count(it) {
			return
		}
		if it.Kind != yaml.ScalarNode {
			d.errorf(it, p, "got %s (expected %s)", describe(it), s.expected())
			continue
		}
		j := slices.Index(stateNames, it.Value)
		switch {
		case j < 0:
			d.errorf(it, p, "unknown state %s (expected new, established, related or invalid)", quote(it.Value))
		case *s&(1<<j) != 0:
			d.errorf(it, p, "state %s listed twice (expected each state once)", quote(it.Value))
		default:
			*s |= 1 << j
		}
	}
}

func (ConnState) expected() string {
	return "new, established, related or invalid, or a list of them"
}

func (ConnState) jsonSchema() obj {
	one := obj{}.set("enum", stateNames)
	return obj{}.set("anyOf", []obj{one, obj{}.set("type", "array").set("items", one).set("minItems", 1).set("uniqueItems", true)})
}

// AddrMatch is a rule's address match: a prefix, or a reference to a set.
type AddrMatch struct {
	Prefix netip.Prefix // valid unless Set is given
	Set    string       // set name, without '@'
}

func (m AddrMatch) String() string {
	if m.Set != "" {
		return "@" + m.Set
	}
	return m.Prefix.String()
}

// MarshalText implements encoding.TextMarshaler.
func (m AddrMatch) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

func (m *AddrMatch) decodeText(s string) error {
	if name, ok := strings.CutPrefix(s, "@"); ok {
		if !isName(name) {
			return fmt.Errorf("%s is not a set reference (expected @NAME)", quote(s))
		}
		*m = AddrMatch{Set: name}
		return nil
	}
	p, err := parsePrefix(s, opts{network: true})
	if err != nil {
		return err
	}
	*m = AddrMatch{Prefix: p}
	return nil
}

func (AddrMatch) expected() string { return "a CIDR like 192.0.2.0/24, an address, or @SET" }

func (AddrMatch) jsonSchema() obj {
	return obj{}.set("type", "string").set("pattern", `^(@[A-Za-z][A-Za-z0-9_.-]*|[0-9A-Fa-f:.]+(/[0-9]{1,3})?)$`).
		set("examples", []string{"192.0.2.0/24", "2001:db8::1", "@admins"})
}

// AddrMatches is a list of address matches; YAML may give one without a list.
type AddrMatches []AddrMatch

func (AddrMatches) oneOrMany() {}

// NATTarget is where a NAT rule translates to: an address, an address
// range (snat), or an address and port (dnat).
type NATTarget struct {
	Addr netip.Addr
	Last netip.Addr // end of a range A-B, else invalid
	Port uint16     // 0: keep the port
}

func (t NATTarget) String() string {
	switch {
	case t.Last.IsValid():
		return t.Addr.String() + "-" + t.Last.String()
	case t.Port != 0:
		return netip.AddrPortFrom(t.Addr, t.Port).String()
	}
	return t.Addr.String()
}

// IsZero reports whether no target is set.
func (t NATTarget) IsZero() bool { return t == NATTarget{} }

// MarshalText implements encoding.TextMarshaler.
func (t NATTarget) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func (t *NATTarget) decodeText(s string) error {
	if a, b, ok := strings.Cut(s, "-"); ok {
		first, err1 := parseAddr(strings.TrimSpace(a))
		last, err2 := parseAddr(strings.TrimSpace(b))
		switch {
		case err1 != nil || err2 != nil:
			return fmt.Errorf("%s is not an address range (expected FIRST-LAST like 198.51.100.10-198.51.100.20)", quote(s))
		case first.Is4() != last.Is4():
			return fmt.Errorf("address range %s mixes IPv4 and IPv6 (expected one family)", quote(s))
		case last.Less(first):
			return fmt.Errorf("address range %s is backwards (expected %s-%s)", quote(s), last, first)
		}
		*t = NATTarget{Addr: first, Last: last}
		return nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if err := plainAddr(s, ap.Addr()); err != nil {
			return err
		}
		if ap.Port() == 0 {
			return fmt.Errorf("%s has port 0 (expected a port 1..65535)", quote(s))
		}
		*t = NATTarget{Addr: ap.Addr(), Port: ap.Port()}
		return nil
	}
	a, err := parseAddr(s)
	if err != nil {
		return fmt.Errorf("%s is not a NAT target (%s)", quote(s), t.expected())
	}
	*t = NATTarget{Addr: a}
	return nil
}

func (NATTarget) expected() string {
	return "ADDR, a range FIRST-LAST, ADDR:PORT or [IPV6]:PORT"
}

func (NATTarget) jsonSchema() obj {
	return obj{}.set("type", "string").set("pattern", `^([0-9A-Fa-f:.]+( *- *[0-9A-Fa-f:.]+)?|[0-9.]+:[0-9]{1,5}|\[[0-9A-Fa-f:.]+\]:[0-9]{1,5})$`).
		set("examples", []string{"198.51.100.10", "198.51.100.10-198.51.100.20", "192.0.2.20:443", "[2001:db8:1::20]:443"})
}

// SPI is an IPsec security parameter index.
type SPI uint32

func (s SPI) String() string { return fmt.Sprintf("0x%08x", uint32(s)) }

// reflectOf is the settable value behind a pointer.
func reflectOf(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

// enum is a string type with a fixed set of values.
type enum interface {
	~string
}

func decodeEnum[T enum](p *T, s, what string, vals []T) error {
	for _, v := range vals {
		if string(v) == s {
			*p = v
			return nil
		}
	}
	return fmt.Errorf("unknown %s %s (expected %s)", what, quote(s), orList(vals))
}

func orList[T enum](vals []T) string {
	var b strings.Builder
	for i, v := range vals {
		switch {
		case i == 0:
		case i == len(vals)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(v))
	}
	return b.String()
}

func enumSchema[T enum](vals []T) obj { return obj{}.set("type", "string").set("enum", vals) }

func (a *Appliance) decodeText(s string) error {
	return decodeEnum(a, s, "appliance", Appliances)
}
func (Appliance) expected() string { return orList(Appliances) }
func (Appliance) jsonSchema() obj  { return enumSchema(Appliances) }
func (a Appliance) String() string { return string(a) }

// Action is what a rule does with the packets it matches.
type Action string

// The actions.
const (
	Accept Action = "accept"
	Drop   Action = "drop"
	Reject Action = "reject" // drop and answer with TCP RST or ICMP unreachable
)

var actions = []Action{Accept, Drop, Reject}

func (a *Action) decodeText(s string) error { return decodeEnum(a, s, "action", actions) }
func (Action) expected() string             { return orList(actions) }
func (Action) jsonSchema() obj              { return enumSchema(actions) }

// NATType is the kind of a NAT rule.
type NATType string

// The NAT types.
const (
	Masquerade NATType = "masquerade"
	SNAT       NATType = "snat"
	DNAT       NATType = "dnat"
)

var natTypes = []NATType{Masquerade, SNAT, DNAT}

func (t *NATType) decodeText(s string) error { return decodeEnum(t, s, "NAT type", natTypes) }
func (NATType) expected() string             { return orList(natTypes) }
func (NATType) jsonSchema() obj              { return enumSchema(natTypes) }

// Encap is an ESP encapsulation.
type Encap string

// EncapUDP is ESP in UDP, RFC 3948, on port 4500.
const EncapUDP Encap = "udp"

var encaps = []Encap{EncapUDP}

func (e *Encap) decodeText(s string) error { return decodeEnum(e, s, "encapsulation", encaps) }
func (Encap) expected() string             { return orList(encaps) }
func (Encap) jsonSchema() obj              { return enumSchema(encaps) }

// IKEStart says when an IKE connection is initiated.
type IKEStart string

// The start actions.
const (
	StartTrap IKEStart = "trap" // when traffic for one of its children arrives
	StartNow  IKEStart = "start"
	StartNone IKEStart = "none" // never: the peer initiates
)

var ikeStarts = []IKEStart{StartTrap, StartNow, StartNone}

func (s *IKEStart) decodeText(v string) error { return decodeEnum(s, v, "start action", ikeStarts) }
func (IKEStart) expected() string             { return orList(ikeStarts) }
func (IKEStart) jsonSchema() obj              { return enumSchema(ikeStarts) }

// Zones is the firewall's zones in the order written; YAML writes them as a
// mapping from zone name to interface names.
type Zones []Zone

func (z *Zones) decodeNode(d *decoder, n *yaml.Node, at string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, at, "got %s (expected %s)", describe(n), z.expected())
		return
	}
	pairs := d.pairs(n, at)
	if len(pairs) == 0 {
		return
	}
	*z = make(Zones, len(pairs))
	for i, p := range pairs {
		zone := &(*z)[i]
		zone.Name, zone.Pos = p.key.Value, Pos{p.key.Line, p.key.Column}
		d.mark(reflectOf(&zone.Name), p.key, join(at, p.key.Value))
		d.value(reflectOf(&zone.Interfaces), p.val, join(at, p.key.Value), opts{nonempty: true})
	}
}

func (Zones) expected() string {
	return "a mapping of zone name to a list of interface names, like {inside: [lan], outside: [wan]}"
}

func (Zones) jsonSchema() obj {
	return obj{}.set("type", "object").
		set("propertyNames", obj{}.set("pattern", namePattern)).
		set("additionalProperties", obj{}.set("type", "array").set("items", obj{}.set("type", "string")).set("minItems", 1))
}

// MarshalYAML writes the zones as a mapping in order.
func (z Zones) MarshalYAML() (any, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, zone := range z {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, i := range zone.Interfaces {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: i})
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: zone.Name}, seq)
	}
	return m, nil
}

// Sets is the firewall's address sets in the order written; YAML writes them
// as a mapping from set name to members.
type Sets []Set

func (s *Sets) decodeNode(d *decoder, n *yaml.Node, at string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, at, "got %s (expected %s)", describe(n), s.expected())
		return
	}
	pairs := d.pairs(n, at)
	if len(pairs) == 0 {
		return
	}
	*s = make(Sets, len(pairs))
	for i, p := range pairs {
		set := &(*s)[i]
		set.Name, set.Pos = p.key.Value, Pos{p.key.Line, p.key.Column}
		d.mark(reflectOf(&set.Name), p.key, join(at, p.key.Value))
		d.value(reflectOf(&set.Members), p.val, join(at, p.key.Value), opts{network: true, nonempty: true})
	}
}

func (Sets) expected() string {
	return "a mapping of set name to a list of CIDRs or addresses, like {admins: [192.0.2.10, 192.0.2.11]}"
}

func (Sets) jsonSchema() obj {
	return obj{}.set("type", "object").
		set("propertyNames", obj{}.set("pattern", namePattern)).
		set("additionalProperties", obj{}.set("type", "array").set("items", prefixSchema(opts{network: true})).set("minItems", 1))
}

// MarshalYAML writes the sets as a mapping in order.
func (s Sets) MarshalYAML() (any, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, set := range s {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, p := range set.Members {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: p.String()})
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: set.Name}, seq)
	}
	return m, nil
}
