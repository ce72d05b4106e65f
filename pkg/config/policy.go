package config

import (
	"net/netip"
	"time"
)

// Appliance names the appliance a policy configures.
type Appliance string

// The appliances.
const (
	Router   Appliance = "router"
	Firewall Appliance = "firewall"
	IPsecGW  Appliance = "ipsec-gw"
)

// Appliances lists every appliance, in a fixed order.
var Appliances = []Appliance{Router, Firewall, IPsecGW}

// Policy is the Spec of one appliance: what its YAML said, typed, checked and
// with defaults filled in. It is pure data: the same bytes give an equal
// Policy, and nothing in it has been read from outside (secrets are
// references until Resolve). Sections that an appliance does not have are
// empty.
type Policy struct {
	Appliance  Appliance   `yaml:"appliance" doc:"Which appliance this policy configures; it decides which sections are allowed."`
	Interfaces []Interface `yaml:"interfaces" nfv:"nonempty" doc:"The appliance's interfaces: each is a dataplane port, or an 802.1Q VLAN on another interface's port."`
	Routes     []Route     `yaml:"routes,omitempty" doc:"Static routes. Each next hop must be on a connected subnet."`
	Neighbors  []Neighbor  `yaml:"neighbors,omitempty" doc:"Static ARP/ND entries."`
	Management *Management `yaml:"management,omitempty" doc:"Where the appliance itself is reached: the management interface and the metrics endpoint."`

	Zones     Zones      `yaml:"zones,omitempty" nfv:"only=firewall" doc:"Firewall zones: zone name -> its interfaces. An interface belongs to one zone at most. The zone name self is reserved for the appliance itself."`
	Sets      Sets       `yaml:"sets,omitempty" nfv:"only=firewall" doc:"Named address sets: set name -> CIDRs or addresses. Rules refer to them as @name."`
	Rules     []Rule     `yaml:"rules,omitempty" nfv:"only=firewall" doc:"Filter rules, first match wins; a packet no rule matches is dropped."`
	NAT       []NAT      `yaml:"nat,omitempty" nfv:"only=firewall" doc:"Address translation: masquerade, snat, dnat."`
	Conntrack *Conntrack `yaml:"conntrack,omitempty" nfv:"only=firewall" doc:"Connection tracking table size and timeouts."`

	IKE       []IKEConn   `yaml:"ike,omitempty" nfv:"only=ipsec-gw" doc:"IKEv2 connections (pre-shared key) and their child SAs."`
	ESP       []StaticSA  `yaml:"esp,omitempty" nfv:"only=ipsec-gw" doc:"Static, manually keyed ESP SAs."`
	WireGuard []WireGuard `yaml:"wireguard,omitempty" nfv:"only=ipsec-gw" doc:"WireGuard tunnels."`

	// Source is the file name the policy was parsed from, for messages.
	Source string `yaml:"-"`
}

// Interface is a named attachment of the appliance to a network.
type Interface struct {
	Name    string   `yaml:"name" doc:"Name that routes, zones and rules use: a letter, then letters, digits, '_', '-' or '.', at most 15 bytes."`
	Port    PortSpec `yaml:"port,omitempty" doc:"The dataplane port (required unless parent is set)."`
	Address Prefixes `yaml:"address,omitempty" nfv:"host" doc:"Addresses with prefix length, IPv4 and/or IPv6, e.g. [192.0.2.1/24, 2001:db8:1::1/64]."`
	MTU     int      `yaml:"mtu,omitempty" nfv:"min=68,max=65535" doc:"IP MTU in bytes; default 1500."`
	VLAN    int      `yaml:"vlan,omitempty" nfv:"min=1,max=4094" doc:"802.1Q VLAN ID, for a sub-interface of parent."`
	Parent  string   `yaml:"parent,omitempty" doc:"The interface whose port this VLAN sub-interface shares."`
	Pos     Pos      `yaml:"-"`
}

// DefaultMTU is an interface's MTU when the policy gives none.
const DefaultMTU = 1500

// Management says where the appliance's own services listen.
type Management struct {
	Interface string     `yaml:"interface" doc:"Interface that answers for the appliance itself."`
	Metrics   ListenAddr `yaml:"metrics,omitempty" doc:"Prometheus metrics listen address, e.g. \":9100\" or \"192.0.2.1:9100\"; unset: no metrics endpoint."`
}

// Route is a static route. Exactly one of Via, Dev alone, or Blackhole says
// where its packets go.
type Route struct {
	To        netip.Prefix `yaml:"to" nfv:"network" doc:"Destination network, e.g. 0.0.0.0/0 or 2001:db8::/32."`
	Via       Addrs        `yaml:"via,omitempty" doc:"Next hop, or a list of next hops for ECMP; same address family as to."`
	Dev       string       `yaml:"dev,omitempty" doc:"Interface (or WireGuard tunnel) to send through; alone it makes a directly connected route."`
	Metric    uint32       `yaml:"metric,omitempty" doc:"Preference among routes to the same network; lower wins."`
	Blackhole bool         `yaml:"blackhole,omitempty" doc:"Drop packets to this network."`
	Pos       Pos          `yaml:"-"`
}

// Neighbor is a static ARP (IPv4) or NDP (IPv6) entry.
type Neighbor struct {
	Interface string     `yaml:"interface" doc:"Interface the neighbour is on."`
	Address   netip.Addr `yaml:"address" doc:"The neighbour's IP address, on one of the interface's subnets."`
	MAC       MAC        `yaml:"mac" doc:"The neighbour's Ethernet address, e.g. 02:00:00:00:00:01."`
	Pos       Pos        `yaml:"-"`
}

// Zone is a named group of interfaces that firewall rules match on.
type Zone struct {
	Name       string
	Interfaces []string
	Pos        Pos
}

// SelfZone is the reserved zone of the appliance itself: rules with
// to: self match packets addressed to it, from: self packets it sends.
const SelfZone = "self"

// Set is a named list of networks that rules match as @name.
type Set struct {
	Name    string
	Members []netip.Prefix
	Pos     Pos
}

// Rule is one firewall filter rule. Empty match fields match anything.
type Rule struct {
	From     string      `yaml:"from,omitempty" doc:"Zone the packet arrives from (or self)."`
	To       string      `yaml:"to,omitempty" doc:"Zone the packet leaves to (or self)."`
	In       string      `yaml:"in,omitempty" doc:"Interface the packet arrives on."`
	Out      string      `yaml:"out,omitempty" doc:"Interface the packet leaves on."`
	Src      AddrMatches `yaml:"src,omitempty" doc:"Source: a CIDR, an address, @set, or a list of them."`
	Dst      AddrMatches `yaml:"dst,omitempty" doc:"Destination: a CIDR, an address, @set, or a list of them."`
	Proto    Proto       `yaml:"proto,omitempty" doc:"tcp, udp, icmp, icmpv6, gre, esp, ah, sctp or a protocol number 1..255."`
	Sport    PortRanges  `yaml:"sport,omitempty" doc:"Source ports (tcp/udp only): 53, \"1000-2000\" or a list."`
	Dport    PortRanges  `yaml:"dport,omitempty" doc:"Destination ports (tcp/udp only): 443, \"1000-2000\" or a list."`
	ICMPType ICMPTypes   `yaml:"icmp_type,omitempty" doc:"ICMP types (icmp/icmpv6 only): a number 0..255 or a name like echo-request, or a list."`
	State    ConnState   `yaml:"state,omitempty" doc:"Connection states: new, established, related, invalid, or a list."`
	Action   Action      `yaml:"action" doc:"What to do with a matching packet."`
	Log      bool        `yaml:"log,omitempty" doc:"Log matching packets (rate-limited)."`
	Pos      Pos         `yaml:"-"`
}

// NAT is one address translation: masquerade and snat rewrite the source of
// packets leaving Out, dnat the destination of packets arriving on In.
type NAT struct {
	Type  NATType   `yaml:"type" doc:"masquerade: source becomes out's address; snat: source becomes to; dnat: destination becomes to."`
	In    string    `yaml:"in,omitempty" doc:"dnat: interface the packets arrive on."`
	Out   string    `yaml:"out,omitempty" doc:"masquerade, snat: interface the packets leave on."`
	Proto Proto     `yaml:"proto,omitempty" doc:"dnat: tcp or udp, needed with dport."`
	Dport PortRange `yaml:"dport,omitempty" doc:"dnat: destination port or range to match."`
	To    NATTarget `yaml:"to,omitempty" doc:"snat: an address or a range A-B; dnat: ADDR, ADDR:PORT or [V6]:PORT."`
	Pos   Pos       `yaml:"-"`
}

// Conntrack sizes the connection tracking table.
type Conntrack struct {
	Max      int               `yaml:"max,omitempty" nfv:"min=1,max=1073741824" doc:"Most connections tracked at once; default 262144."`
	Timeouts ConntrackTimeouts `yaml:"timeouts,omitempty" doc:"Idle timeouts per protocol state."`
}

// ConntrackTimeouts are idle timeouts; a zero in the YAML takes the default.
type ConntrackTimeouts struct {
	TCPSyn         time.Duration `yaml:"tcp_syn,omitempty" doc:"TCP during the handshake; default 30s."`
	TCPEstablished time.Duration `yaml:"tcp_established,omitempty" doc:"Established TCP; default 24h."`
	TCPFin         time.Duration `yaml:"tcp_fin,omitempty" doc:"TCP closing (FIN/RST seen); default 2m."`
	UDP            time.Duration `yaml:"udp,omitempty" doc:"UDP seen in one direction only; default 30s."`
	UDPStream      time.Duration `yaml:"udp_stream,omitempty" doc:"UDP seen in both directions; default 3m."`
	ICMP           time.Duration `yaml:"icmp,omitempty" doc:"ICMP queries; default 30s."`
	Other          time.Duration `yaml:"other,omitempty" doc:"Any other protocol; default 10m."`
}

// DefaultConntrack is the conntrack section when the policy gives none;
// fields it leaves zero take these values.
var DefaultConntrack = Conntrack{
	Max: 262144,
	Timeouts: ConntrackTimeouts{
		TCPSyn:         30 * time.Second,
		TCPEstablished: 24 * time.Hour,
		TCPFin:         2 * time.Minute,
		UDP:            30 * time.Second,
		UDPStream:      3 * time.Minute,
		ICMP:           30 * time.Second,
		Other:          10 * time.Minute,
	},
}

// IKEConn is an IKEv2 connection to one peer, authenticated by a pre-shared
// key, carrying one or more child SAs.
type IKEConn struct {
	Name      string        `yaml:"name" doc:"Connection name, used in logs and metrics."`
	Peer      netip.Addr    `yaml:"peer" doc:"The peer's address."`
	Local     netip.Addr    `yaml:"local,omitempty" doc:"Our address for this connection, one of the interfaces' addresses; default: chosen by route."`
	Auth      IKEAuth       `yaml:"auth" doc:"How both sides authenticate."`
	Proposals []IKEProposal `yaml:"proposals,omitempty" nfv:"nonempty" doc:"IKE SA proposals in strongSwan syntax, e.g. aes256gcm16-prfsha256-x25519; default [aes256gcm16-prfsha256-x25519]."`
	Lifetime  time.Duration `yaml:"lifetime,omitempty" doc:"Hard lifetime of the IKE SA; default 4h."`
	Rekey     time.Duration `yaml:"rekey,omitempty" doc:"When to rekey the IKE SA, before lifetime; default 90% of lifetime."`
	DPD       time.Duration `yaml:"dpd,omitempty" doc:"Dead peer detection interval; unset: off."`
	// DPDTimeout bounds every request of the connection's IKE SA, not
	// only liveness checks: an answer missing for that long is a dead
	// peer, whatever the retransmission schedule says.
	DPDTimeout time.Duration `yaml:"dpd_timeout,omitempty" doc:"How long a request may go unanswered, retransmissions included, before the peer is declared dead; default: when the retransmissions (1s, doubling, 6 times) run out, about 2 minutes."`
	Start      IKEStart      `yaml:"start,omitempty" doc:"When to bring the connection up: trap (default: when traffic for a child arrives), start (at once, and again whenever it goes down) or none (only answer the peer)."`
	Children   []Child       `yaml:"children" nfv:"nonempty" doc:"Child SAs: which traffic goes through the tunnel."`
	Pos        Pos           `yaml:"-"`
}

// IKEAuth holds the IKE authentication secret.
type IKEAuth struct {
	PSK Secret `yaml:"psk" doc:"Pre-shared key: file:/path, env:NAME or inline text (at least 16 bytes)."`
}

// Child is an IKE child SA: the traffic selectors and ESP proposals.
type Child struct {
	Name     string        `yaml:"name,omitempty" doc:"Child SA name; default CONN-N (1-based)."`
	Local    Prefixes      `yaml:"local" nfv:"network,nonempty" doc:"Local traffic selector: networks behind this gateway."`
	Remote   Prefixes      `yaml:"remote" nfv:"network,nonempty" doc:"Remote traffic selector: networks behind the peer."`
	ESP      []ESPProposal `yaml:"esp,omitempty" nfv:"nonempty" doc:"ESP proposals, e.g. aes256gcm16 or aes256gcm16-x25519 for PFS; default [aes256gcm16]."`
	Lifetime time.Duration `yaml:"lifetime,omitempty" doc:"Hard lifetime of the child SA; default 1h (rekeyed at 90%)."`
	Pos      Pos           `yaml:"-"`
}

// Defaults for IKE connections and children.
const (
	DefaultIKELifetime   = 4 * time.Hour
	DefaultChildLifetime = time.Hour
)

// StaticSA is a pair of manually keyed ESP SAs (one per direction) with a
// peer, in tunnel mode.
type StaticSA struct {
	Name     string     `yaml:"name" doc:"SA name, used in logs and metrics."`
	Peer     netip.Addr `yaml:"peer" doc:"Remote tunnel endpoint."`
	Local    netip.Addr `yaml:"local,omitempty" doc:"Local tunnel endpoint, one of the interfaces' addresses; default: chosen by route."`
	SPIIn    SPI        `yaml:"spi_in" nfv:"min=256" doc:"SPI of the inbound SA, 256..4294967295 (0x100..0xffffffff)."`
	SPIOut   SPI        `yaml:"spi_out" nfv:"min=256" doc:"SPI of the outbound SA."`
	Cipher   Encr       `yaml:"cipher" doc:"AEAD cipher for both directions."`
	KeyIn    Secret     `yaml:"key_in" doc:"Inbound key as hex, key then 4-byte salt (20 bytes for aes128gcm16, 36 for aes256gcm16 and chacha20poly1305); file:, env: or inline."`
	KeyOut   Secret     `yaml:"key_out" doc:"Outbound key, same form as key_in; must differ from it."`
	LocalTS  Prefixes   `yaml:"local_ts" nfv:"network,nonempty" doc:"Local traffic selector: networks behind this gateway."`
	RemoteTS Prefixes   `yaml:"remote_ts" nfv:"network,nonempty" doc:"Remote traffic selector: networks behind the peer."`
	Encap    Encap      `yaml:"encap,omitempty" doc:"udp: ESP in UDP on port 4500 (NAT traversal)."`
	Pos      Pos        `yaml:"-"`
}

// WireGuard is one WireGuard tunnel: a key pair, a UDP port and its peers.
type WireGuard struct {
	Name       string   `yaml:"name" doc:"Tunnel name, usable as a route's dev; shares the namespace of interface names."`
	PrivateKey Secret   `yaml:"private_key" doc:"The tunnel's private key (base64, as wg genkey prints): file:, env: or inline."`
	ListenPort uint16   `yaml:"listen_port,omitempty" nfv:"min=1" doc:"UDP port to listen on; unset: chosen at random."`
	Address    Prefixes `yaml:"address,omitempty" nfv:"host" doc:"The tunnel's own addresses with prefix length."`
	MTU        int      `yaml:"mtu,omitempty" nfv:"min=576,max=65535" doc:"Inner MTU; default 1420."`
	Peers      []WGPeer `yaml:"peers" nfv:"nonempty" doc:"The tunnel's peers."`
	Pos        Pos      `yaml:"-"`
}

// DefaultWireGuardMTU is a WireGuard tunnel's MTU when the policy gives none.
const DefaultWireGuardMTU = 1420

// WGPeer is one WireGuard peer.
type WGPeer struct {
	Name                string         `yaml:"name,omitempty" doc:"Peer name, used in logs and metrics."`
	PublicKey           WGKey          `yaml:"public_key" doc:"The peer's public key, 44 characters of base64."`
	PresharedKey        Secret         `yaml:"preshared_key,omitempty" doc:"Optional pre-shared key (base64): file:, env: or inline."`
	Endpoint            netip.AddrPort `yaml:"endpoint,omitempty" doc:"The peer's address and port, e.g. 203.0.113.9:51820; unset: learnt when the peer connects."`
	AllowedIPs          Prefixes       `yaml:"allowed_ips" nfv:"network,nonempty" doc:"Networks routed to this peer and accepted from it."`
	PersistentKeepalive time.Duration  `yaml:"persistent_keepalive,omitempty" doc:"Keepalive interval in whole seconds, 1s..65535s; unset: off."`
	Pos                 Pos            `yaml:"-"`
}

// Interface returns the interface called name, or nil.
func (p *Policy) Interface(name string) *Interface {
	for i := range p.Interfaces {
		if p.Interfaces[i].Name == name {
			return &p.Interfaces[i]
		}
	}
	return nil
}

// Zone returns the zone called name, or nil.
func (p *Policy) Zone(name string) *Zone {
	for i := range p.Zones {
		if p.Zones[i].Name == name {
			return &p.Zones[i]
		}
	}
	return nil
}

// ZoneOf returns the name of the zone an interface belongs to, or "".
func (p *Policy) ZoneOf(iface string) string {
	for _, z := range p.Zones {
		for _, n := range z.Interfaces {
			if n == iface {
				return z.Name
			}
		}
	}
	return ""
}

// Set returns the address set called name, or nil.
func (p *Policy) Set(name string) *Set {
	for i := range p.Sets {
		if p.Sets[i].Name == name {
			return &p.Sets[i]
		}
	}
	return nil
}

// PortOf returns the port an interface sends on: its own, or its parent's
// for a VLAN sub-interface.
func (p *Policy) PortOf(iface *Interface) PortSpec {
	if iface.Parent != "" {
		if parent := p.Interface(iface.Parent); parent != nil {
			return parent.Port
		}
	}
	return iface.Port
}
