// Package config reads the YAML policy of an nfvkit appliance into a Spec:
// a typed, checked, deterministic Policy that the appliances compile into
// their runtime objects.
//
// # How a policy flows
//
//	bytes ──yaml.v3──▶ node tree ──decode──▶ Policy ──defaults, checks──▶ *Policy
//	                                   │                     │
//	                                   └──────── ErrorList ◀─┘
//
// Parse (or Load, which reads the file first) parses one YAML document into
// a yaml.Node tree and walks it against the Go types of the Spec: each
// struct field is a key (its yaml tag), each value is parsed into its typed
// form (netip.Prefix, netip.Addr, time.Duration, PortSpec, Secret, ...).
// Unknown and duplicate keys, wrong kinds of node, and bad values are
// reported at the node's position and the walk goes on. Defaults are then
// filled in (MTU 1500, conntrack timeouts, IKE proposals and lifetimes) and
// the checks that relate values run: names that must exist (interfaces,
// zones, sets) or be unique, next hops and tunnel peers that must be
// reachable, settings that contradict each other (ports without tcp/udp, a
// blackhole with a next hop), and firewall rules that an earlier rule
// hides. A value that failed to decode is not checked again, so one mistake
// gives one error.
//
// Every problem becomes an Error, "file:line:col: field.path: what is wrong
// (what was expected)"; Parse returns them all, sorted by position, as an
// ErrorList, and no Policy. Nothing is read but the bytes given: secrets
// stay references until Secret.Resolve at run time. Equal bytes give equal
// Policies, so a Policy can be hashed, compared, or rebuilt after a reload.
//
// # Appliances and sections
//
// The appliance key selects the sections a document may hold:
//
//	all:       appliance, interfaces, routes, neighbors, management
//	firewall:  zones, sets, rules, nat, conntrack
//	ipsec-gw:  ike, esp, wireguard
//
// The zone name "self" is reserved for the appliance itself. WireGuard
// tunnels share the namespace of interface names, so a route may use one
// as its dev.
//
// # Values
//
// Ports are KIND:ARG strings: virtio:N (the VM's Nth virtio-net device,
// 0..255), afpacket:IFNAME, afxdp:IFNAME (one worker per RX queue) or
// afxdp:IFNAME/QUEUE (that queue only), tap:IFNAME, pcap:FILE and mem:NAME.
// Linux interface names follow the kernel's rules: at most 15 bytes, no
// '/', ':' or white space.
//
// Lists of addresses, prefixes, ports, ICMP types and states accept a
// single value in place of a one-element list. A bare address where a
// network is expected means a host route (/32 or /128). Durations are Go
// durations: 30s, 5m, 2h. Algorithms use strongSwan's names
// (aes256gcm16-prfsha256-x25519).
//
// Secrets are file:/ABSOLUTE/PATH, env:NAME, or the value inline. A Secret
// prints, marshals and logs as its reference, or <redacted> for an inline
// value, and error messages never quote one.
//
// YAML anchors, aliases and merge keys (<<) work. To bound the cost of any
// input, a policy is at most MaxPolicySize bytes and its walk visits at
// most about a million nodes, aliases expanded; an anchor that contains its
// own alias is an error.
//
// # Schema
//
// Schema returns a JSON Schema generated from the same Go types, for
// editors. docs/policy.schema.json is a committed copy, kept current by a
// test; regenerate it with
//
//	go generate ./pkg/config
//
// which runs go run ./cmd/genschema -o ../../docs/policy.schema.json.
package config
