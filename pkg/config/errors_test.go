package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Bases that the error cases extend; each is valid alone.
const (
	routerBase = `appliance: router
interfaces:
  - {name: lan, port: virtio:0, address: [192.0.2.1/24, 2001:db8:1::1/64]}
  - {name: wan, port: virtio:1, address: [198.51.100.2/30]}
`
	firewallBase = `appliance: firewall
interfaces:
  - {name: lan, port: virtio:0, address: [192.0.2.1/24, 2001:db8:1::1/64]}
  - {name: wan, port: virtio:1, address: [198.51.100.2/30]}
zones: {inside: [lan], outside: [wan]}
sets: {admins: [192.0.2.10, 192.0.2.11]}
`
	ipsecBase = `appliance: ipsec-gw
interfaces:
  - {name: lan, port: virtio:0, address: [192.0.2.1/24]}
  - {name: wan, port: virtio:1, address: [198.51.100.2/30]}
routes:
  - {to: 0.0.0.0/0, via: 198.51.100.1}
`
)

const pubKey = "o9X0xts6UTlPzayTjbKpcIJBSfYtBoc1+Ul9fkf9oIY="

func TestBasesAreValid(t *testing.T) {
	for _, src := range []string{routerBase, firewallBase, ipsecBase} {
		if _, err := Parse("base.yaml", []byte(src)); err != nil {
			t.Errorf("base policy: %v", err)
		}
	}
}

// TestErrors checks each class of mistake: its exact line:col, and the
// message (a substring, so wording can improve without churn here). The
// list is complete: a case fails on any error it does not expect.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // "line:col: message substring"
	}{
		// YAML itself.
		{"syntax error", "appliance: router\ninterfaces: [\n", []string{
			`2:1: invalid YAML: did not find expected node content`}},
		{"empty document", "# nothing\n", []string{
			`1:1: empty policy (expected a mapping that starts with appliance:`}},
		{"not a mapping", "- appliance: router\n", []string{
			`1:1: got a list (expected a mapping`}},
		{"second document", routerBase + "---\nappliance: router\n", []string{
			`6:1: a second YAML document`}},
		{"alias cycle", routerBase + "routes: &r\n  - {to: 10.0.0.0/8, via: *r}\n", []string{
			`6:27: routes[0].via: alias *r refers to a node that contains it`}},
		{"undefined tag", routerBase + "routes:\n  - {to: !ip 10.0.0.0/8, dev: lan}\n", []string{
			`6:10: routes[0].to: unsupported YAML tag "!ip"`}},

		// Keys.
		{"unknown key", routerBase + "routes:\n  - {to: 10.0.0.0/8, vai: 192.0.2.254}\n", []string{
			`6:5: routes[0]: route to 10.0.0.0/8 goes nowhere (expected via, dev or blackhole: true)`,
			`6:22: routes[0]: unknown key "vai" (did you mean "via"?)`}},
		{"unknown key far from any", routerBase + "colour: blue\n", []string{
			`5:1: unknown key "colour" (expected one of: appliance, interfaces, routes,`}},
		{"duplicate key", "appliance: router\ninterfaces:\n  - name: lan\n    port: virtio:0\n    name: wan\n", []string{
			`5:5: interfaces[0]: duplicate key "name" (first at line 3)`}},
		{"missing key", "appliance: router\ninterfaces:\n  - {name: lan}\n", []string{
			`3:5: interfaces[0]: missing key "port" (expected a port spec`}},
		{"missing appliance", "interfaces:\n  - {name: lan, port: virtio:0}\n", []string{
			`1:1: missing key "appliance" (expected router, firewall or ipsec-gw)`}},
		{"unknown appliance", "appliance: switch\ninterfaces:\n  - {name: lan, port: virtio:0}\n", []string{
			`1:12: appliance: unknown appliance "switch" (expected router, firewall or ipsec-gw)`}},
		{"section of another appliance", routerBase + "rules:\n  - {action: accept}\nike: []\n", []string{
			`5:1: section "rules" is not allowed in a router policy (expected it only in firewall policies)`,
			`7:1: section "ike" is not allowed in a router policy (expected it only in ipsec-gw policies)`}},

		// Types and values.
		{"wrong type", "appliance: router\ninterfaces: lan\n", []string{
			`2:13: interfaces: got a string (expected a list, each a mapping with keys name, port,`}},
		{"empty value", routerBase + "routes:\n", []string{
			`5:8: routes: empty value (expected a list, each a mapping`}},
		{"integer out of range", "appliance: router\ninterfaces:\n  - {name: lan, port: virtio:0, mtu: 70000}\n", []string{
			`3:38: interfaces[0].mtu: 70000 is out of range (expected an integer 68..65535)`}},
		{"integer with a leading zero", "appliance: router\ninterfaces:\n  - {name: lan, port: virtio:0, mtu: 01500}\n", []string{
			`3:38: interfaces[0].mtu: 01500 has a leading zero (expected an integer 68..65535 written without it, or 0o for octal)`}},
		{"integer as string", "appliance: router\ninterfaces:\n  - {name: lan, port: virtio:0, mtu: \"1500\"}\n", []string{
			`3:38: interfaces[0].mtu: got a string (expected an integer 68..65535)`}},
		{"bool", firewallBase + "rules:\n  - {action: drop, log: yes}\n", []string{
			`8:25: rules[0].log: got a string (expected true or false)`}},
		{"bad cidr", "appliance: router\ninterfaces:\n  - {name: lan, port: virtio:0, address: [192.0.2.1/24, 300.0.0.1/24]}\n", []string{
			`3:57: interfaces[0].address[1]: "300.0.0.1/24" is not a CIDR prefix`}},
		{"address without length", "appliance: router\ninterfaces:\n  - {name: lan, port: virtio:0, address: 192.0.2.1}\n", []string{
			`3:42: interfaces[0].address: "192.0.2.1" has no prefix length (expected an interface address like 192.0.2.1/24)`}},
		{"network address on interface", "appliance: router\ninterfaces:\n  - {name: lan, port: virtio:0, address: 192.0.2.0/24}\n", []string{
			`3:42: interfaces[0].address: "192.0.2.0/24" is a network address`}},
		{"host bits set", routerBase + "routes:\n  - {to: 10.1.2.3/8, via: 192.0.2.254}\n", []string{
			`6:10: routes[0].to: "10.1.2.3/8" has host bits set (expected 10.0.0.0/8)`}},
		{"bad address", routerBase + "routes:\n  - {to: 10.0.0.0/8, via: 192.0.2.300}\n", []string{
			`6:27: routes[0].via: "192.0.2.300" is not an IP address`}},
		{"bad port spec kind", "appliance: router\ninterfaces:\n  - {name: lan, port: eth0}\n", []string{
			`3:23: interfaces[0].port: "eth0" is not a port spec`}},
		{"bad virtio index", "appliance: router\ninterfaces:\n  - {name: lan, port: virtio:01}\n", []string{
			`3:23: interfaces[0].port: virtio device "01": not a decimal number`}},
		{"bad ifname", "appliance: router\ninterfaces:\n  - {name: lan, port: afpacket:averyverylongname}\n", []string{
			`3:23: interfaces[0].port: afpacket: interface name "averyverylongname" is 17 bytes long (expected at most 15)`}},
		{"bad port", firewallBase + "rules:\n  - {proto: tcp, dport: 70000, action: accept}\n", []string{
			`8:25: rules[0].dport: "70000" is not a port or port range`}},
		{"backwards range", firewallBase + "rules:\n  - {proto: tcp, dport: \"2000-1000\", action: accept}\n", []string{
			`8:25: rules[0].dport: port range "2000-1000" is backwards (expected 1000-2000)`}},
		{"duration as number", firewallBase + "conntrack: {timeouts: {udp: 30}}\n", []string{
			`7:29: conntrack.timeouts.udp: got a number (expected a duration like 30s, 5m or 2h)`}},
		{"bad duration", firewallBase + "conntrack: {timeouts: {udp: 5 minutes}}\n", []string{
			`7:29: conntrack.timeouts.udp: "5 minutes" is not a duration`}},
		{"bad enum", firewallBase + "rules:\n  - {action: allow}\n", []string{
			`8:14: rules[0].action: unknown action "allow" (expected accept, drop or reject)`}},
		{"bad state", firewallBase + "rules:\n  - {state: [new, open], action: accept}\n", []string{
			`8:19: rules[0].state[1]: unknown state "open"`}},

		// References.
		{"unknown route dev", routerBase + "routes:\n  - {to: 10.0.0.0/8, dev: eth9}\n", []string{
			`6:27: routes[0].dev: unknown interface "eth9" (expected one of: lan, wan)`}},
		{"unknown parent", routerBase + "  - {name: v10, parent: trunk, vlan: 10}\n", []string{
			`5:25: interfaces[2].parent: unknown interface "trunk" (expected one of: lan, wan, v10)`}},
		{"unknown zone member", "appliance: firewall\ninterfaces:\n  - {name: lan, port: virtio:0}\nzones: {inside: [lan, lan2]}\n", []string{
			`4:23: zones.inside[1]: unknown interface "lan2" (expected one of: lan)`}},
		{"unknown zone", firewallBase + "rules:\n  - {from: dmz, action: accept}\n", []string{
			`8:12: rules[0].from: unknown zone "dmz" (expected one of: self, inside, outside)`}},
		{"unknown set", firewallBase + "rules:\n  - {src: \"@nope\", action: accept}\n", []string{
			`8:11: rules[0].src: unknown set "nope" (expected one of: admins)`}},
		{"unknown management interface", routerBase + "management: {interface: mgmt}\n", []string{
			`5:25: management.interface: unknown interface "mgmt" (expected one of: lan, wan)`}},

		// Duplicates.
		{"duplicate interface", routerBase + "  - {name: lan, port: virtio:2}\n", []string{
			`5:12: interfaces[2].name: duplicate interface name "lan" (first at line 3)`}},
		{"duplicate port", routerBase + "  - {name: dmz, port: virtio:1}\n", []string{
			`5:23: interfaces[2].port: port virtio:1 is already used by interface wan at line 4`}},
		{"duplicate address", routerBase + "  - {name: dmz, port: virtio:2, address: 192.0.2.1/25}\n", []string{
			`5:42: interfaces[2].address: address 192.0.2.1 is already on lan at line 3`}},
		{"overlapping subnets", routerBase + "  - {name: dmz, port: virtio:2, address: 192.0.2.129/25}\n", []string{
			`5:42: interfaces[2].address: subnet 192.0.2.128/25 overlaps 192.0.2.0/24 on lan at line 3`}},
		{"duplicate route", routerBase + "routes:\n  - {to: 10.0.0.0/8, dev: lan}\n  - {to: 10.0.0.0/8, dev: wan}\n", []string{
			`7:10: routes[1].to: duplicate route to 10.0.0.0/8 (first at line 6;`}},
		{"interface in two zones", "appliance: firewall\ninterfaces:\n  - {name: lan, port: virtio:0}\nzones: {inside: [lan], trusted: [lan]}\n", []string{
			`4:34: zones.trusted[0]: interface lan is already in zone inside at line 4`}},
		{"duplicate zone", "appliance: firewall\ninterfaces:\n  - {name: lan, port: virtio:0}\nzones: {inside: [lan], inside: [lan]}\n", []string{
			`4:24: zones: duplicate key "inside" (first at line 4)`}},

		// Reachability.
		{"unreachable next hop", routerBase + "routes:\n  - {to: 10.0.0.0/8, via: 203.0.113.1}\n", []string{
			`6:27: routes[0].via: next hop 203.0.113.1 is not on a connected subnet (expected an address in 192.0.2.0/24, 2001:db8:1::/64, 198.51.100.0/30)`}},
		{"next hop on other dev", routerBase + "routes:\n  - {to: 10.0.0.0/8, via: 192.0.2.254, dev: wan}\n", []string{
			`6:27: routes[0].via: next hop 192.0.2.254 is not on a connected subnet of wan (expected an address in 198.51.100.0/30)`}},
		{"next hop family", routerBase + "routes:\n  - {to: 10.0.0.0/8, via: 2001:db8:1::2}\n", []string{
			`6:27: routes[0].via: next hop 2001:db8:1::2 is IPv6 but 10.0.0.0/8 is IPv4 (expected an IPv4 next hop)`}},
		{"ecmp", routerBase + "routes:\n  - {to: 10.0.0.0/8, via: [192.0.2.254, 203.0.113.1]}\n", []string{
			`6:41: routes[0].via[1]: next hop 203.0.113.1 is not on a connected subnet`}},
		{"own address as next hop", routerBase + "routes:\n  - {to: 10.0.0.0/8, via: 192.0.2.1}\n", []string{
			`6:27: routes[0].via: next hop 192.0.2.1 is this appliance's own address`}},
		{"unreachable peer", "appliance: ipsec-gw\ninterfaces:\n  - {name: wan, port: virtio:1, address: [198.51.100.2/30]}\n" +
			"ike:\n  - {name: hq, peer: 203.0.113.7, auth: {psk: env:PSK}, children: [{local: 192.0.2.0/24, remote: 10.0.0.0/8}]}\n", []string{
			`5:22: ike[0].peer: peer 203.0.113.7 is not reachable: no connected subnet or route covers it`}},

		// Contradictions.
		{"ports without tcp or udp", firewallBase + "rules:\n  - {proto: icmp, dport: 22, action: accept}\n", []string{
			`8:26: rules[0].dport: dport with proto icmp (expected proto: tcp or udp)`}},
		{"ports without proto", firewallBase + "rules:\n  - {sport: 53, action: accept}\n", []string{
			`8:13: rules[0].sport: sport with no proto (expected proto: tcp or udp)`}},
		{"icmp type without icmp", firewallBase + "rules:\n  - {proto: tcp, icmp_type: echo-request, action: accept}\n", []string{
			`8:29: rules[0].icmp_type: icmp_type with proto tcp (expected proto: icmp or icmpv6)`}},
		{"icmp type of the other family", firewallBase + "rules:\n  - {proto: icmp, icmp_type: neighbor-solicitation, action: accept}\n", []string{
			`8:30: rules[0].icmp_type: ICMP type neighbor-solicitation does not exist in icmp`}},
		{"icmp with ipv6 addresses", firewallBase + "rules:\n  - {proto: icmp, dst: 2001:db8:1::/64, action: accept}\n", []string{
			`8:13: rules[0].proto: proto icmp with IPv6 addresses only (expected icmpv6 for IPv6)`}},
		{"src and dst families", firewallBase + "rules:\n  - {src: \"@admins\", dst: 2001:db8:1::/64, action: accept}\n", []string{
			`8:27: rules[0].dst: dst has no address family in common with src`}},
		{"interface outside its zone", firewallBase + "rules:\n  - {from: inside, in: wan, action: accept}\n", []string{
			`8:24: rules[0].in: in wan is not in zone inside (contradicts from: inside;`}},
		{"shadowed rule", firewallBase + "rules:\n  - {from: inside, action: accept}\n  - {from: inside, proto: tcp, dport: 22, action: drop}\n", []string{
			`9:5: rules[1]: rule never matches: rule at line 8 (action accept) matches every packet it would`}},
		{"shadowed by a set", firewallBase + "rules:\n  - {src: \"@admins\", proto: tcp, action: accept}\n  - {src: 192.0.2.10, proto: tcp, dport: 22, action: drop}\n", []string{
			`9:5: rules[1]: rule never matches: rule at line 8`}},
		{"blackhole with via", routerBase + "routes:\n  - {to: 10.0.0.0/8, via: 192.0.2.254, blackhole: true}\n", []string{
			`6:51: routes[0].blackhole: blackhole route with via or dev`}},
		{"vlan without parent", routerBase + "  - {name: v10, port: virtio:2, vlan: 10}\n", []string{
			`5:39: interfaces[2].vlan: vlan without parent`}},
		{"vlan with its own port", routerBase + "  - {name: v10, parent: lan, vlan: 10, port: virtio:2}\n", []string{
			`5:46: interfaces[2].port: port on a VLAN sub-interface`}},
		{"vlan mtu above parent", routerBase + "  - {name: v10, parent: lan, vlan: 10, mtu: 9000}\n", []string{
			`5:45: interfaces[2].mtu: mtu 9000 is larger than parent lan's mtu 1500`}},
		{"masquerade with to", firewallBase + "nat:\n  - {type: masquerade, out: wan, to: 198.51.100.2}\n", []string{
			`8:38: nat[0].to: masquerade takes no to (contradicts type: masquerade)`}},
		{"dnat port without dport", firewallBase + "nat:\n  - {type: dnat, in: wan, to: 192.0.2.20:443}\n", []string{
			`8:31: nat[0].to: to has a port but no dport is matched`}},
		{"dnat needs in", firewallBase + "nat:\n  - {type: dnat, proto: tcp, dport: 443, to: \"[2001:db8:1::20]:443\"}\n", []string{
			`8:5: nat[0]: dnat needs in`}},
		{"rekey after lifetime", ipsecBase + "ike:\n  - {name: hq, peer: 203.0.113.7, auth: {psk: env:PSK}, rekey: 5h, children: [{local: 192.0.2.0/24, remote: 10.0.0.0/8}]}\n", []string{
			`8:64: ike[0].rekey: rekey 5h0m0s is not before lifetime 4h0m0s`}},
		{"key_out same as key_in", ipsecBase + "esp:\n  - {name: legacy, peer: 203.0.113.30, spi_in: 0x1001, spi_out: 0x2001, cipher: aes128gcm16, key_in: env:K, key_out: env:K, local_ts: 192.0.2.0/24, remote_ts: 10.0.0.0/8}\n", []string{
			`8:118: esp[0].key_out: key_out is the same as key_in`}},
		{"overlapping selectors", ipsecBase + "ike:\n  - {name: hq, peer: 203.0.113.7, auth: {psk: env:PSK}, children: [{local: 192.0.2.0/24, remote: 10.0.0.0/8}, {local: 192.0.2.0/25, remote: 10.1.0.0/16}]}\n", []string{
			`8:111: ike[0].children[1]: traffic selectors of hq-2 overlap those of hq-1 at line 8`}},

		// Algorithms and keys.
		{"unknown proposal token", ipsecBase + "ike:\n  - {name: hq, peer: 203.0.113.7, auth: {psk: env:PSK}, proposals: [aes256-sha256-modp2048], children: [{local: 192.0.2.0/24, remote: 10.0.0.0/8}]}\n", []string{
			`8:69: ike[0].proposals[0]: proposal "aes256-sha256-modp2048": unknown algorithm "aes256" (expected encryption aes128gcm16|aes256gcm16|chacha20poly1305, prf prfsha256|prfsha384, dh ecp256|x25519)`}},
		{"prf in esp", ipsecBase + "ike:\n  - {name: hq, peer: 203.0.113.7, auth: {psk: env:PSK}, children: [{local: 192.0.2.0/24, remote: 10.0.0.0/8, esp: [aes256gcm16-prfsha256]}]}\n", []string{
			`8:116: ike[0].children[0].esp[0]: proposal "aes256gcm16-prfsha256": ESP takes no PRF "prfsha256"`}},
		{"bad public key", ipsecBase + "wireguard:\n  - {name: wg0, private_key: env:K, peers: [{public_key: abc, allowed_ips: 10.9.0.0/16}]}\n", []string{
			`8:58: wireguard[0].peers[0].public_key: public key "abc": not 32 bytes of base64`}},
		{"wireguard on the IKE port", ipsecBase + "ike:\n  - {name: hq, peer: 203.0.113.7, auth: {psk: env:PSK}, children: [{local: 192.0.2.0/24, remote: 10.0.0.0/8}]}\n" +
			"wireguard:\n  - {name: wg0, private_key: env:K, listen_port: 4500, peers: [{public_key: " + pubKey + ", allowed_ips: 10.9.0.0/16}]}\n", []string{
			`10:50: wireguard[0].listen_port: listen_port 4500 is IKE's`}},
		{"relative secret file", ipsecBase + "ike:\n  - {name: hq, peer: 203.0.113.7, auth: {psk: file:hq.psk}, children: [{local: 192.0.2.0/24, remote: 10.0.0.0/8}]}\n", []string{
			`8:47: ike[0].auth.psk: file: reference is not an absolute path (expected file:/PATH)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.src))
			var got ErrorList
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error is %T, not ErrorList: %v", err, err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(tc.want), err)
			}
			for i, w := range tc.want {
				pos, msg, _ := strings.Cut(w, ": ")
				e := got[i]
				if gotPos := fmt.Sprintf("%d:%d", e.Line, e.Col); gotPos != pos || !strings.Contains(e.Msg, msg) || e.File != "p.yaml" {
					t.Errorf("error %d:\n got %s\nwant p.yaml:%s: ...%s...", i, e.Error(), pos, msg)
				}
			}
		})
	}
}

// TestValid holds policies near the edge of the checks, which must pass:
// each guards against a false alarm.
func TestValid(t *testing.T) {
	tests := map[string]string{
		"wider port list after": firewallBase + "rules:\n  - {proto: tcp, dport: 22, action: accept}\n  - {proto: tcp, dport: [22, 23], action: drop}\n",
		"narrower match first":  firewallBase + "rules:\n  - {src: 192.0.2.10, action: accept}\n  - {action: drop}\n",
		"state after none":      firewallBase + "rules:\n  - {state: new, proto: tcp, action: accept}\n  - {proto: tcp, action: drop}\n",
		"interface then zone":   firewallBase + "rules:\n  - {in: lan, action: accept}\n  - {from: inside, proto: udp, action: drop}\n",
		"other family first":    firewallBase + "rules:\n  - {dst: 2001:db8:1::/64, action: accept}\n  - {dst: 192.0.2.0/24, action: drop}\n",
		"icmp names by family": firewallBase + "rules:\n  - {proto: icmpv6, icmp_type: [packet-too-big, neighbor-solicitation], action: accept}\n" +
			"  - {proto: icmp, icmp_type: [echo-request, 3], action: accept}\n",
		"one or many": routerBase + "routes:\n  - {to: 10.0.0.0/8, via: 192.0.2.254}\n  - {to: 10.1.0.0/16, via: [192.0.2.253, 192.0.2.254], metric: 5}\n",
		"link-local next hop": strings.Replace(routerBase, "198.51.100.2/30]", "198.51.100.2/30, 2001:db8:ff::2/64]", 1) +
			"routes:\n  - {to: \"::/0\", via: fe80::1, dev: wan}\n",
		"vlans on one port": routerBase + "  - {name: v10, parent: lan, vlan: 10, address: 10.10.0.1/24, mtu: 1496}\n  - {name: v20, parent: lan, vlan: 20}\n",
		"static neighbour":  routerBase + "neighbors:\n  - {interface: lan, address: 192.0.2.9, mac: 02:00:00:00:00:09}\n  - {interface: lan, address: fe80::9, mac: 02-00-00-00-00-0A}\n",
		"nat forms": firewallBase + "nat:\n  - {type: snat, out: wan, to: 198.51.100.2-198.51.100.2}\n" +
			"  - {type: dnat, in: wan, to: 192.0.2.20}\n  - {type: dnat, in: wan, proto: udp, dport: \"5000-5010\", to: 192.0.2.21:53}\n",
		"octal and hex ints": ipsecBase + "esp:\n  - {name: s, peer: 203.0.113.1, spi_in: 0o777, spi_out: 0xFFFFFFFF, cipher: chacha20poly1305, key_in: env:A, key_out: env:B, local_ts: 192.0.2.0/24, remote_ts: 10.0.0.0/8}\n",
		"inline keys": ipsecBase + "esp:\n  - {name: s, peer: 203.0.113.1, spi_in: 300, spi_out: 301, cipher: aes128gcm16, key_in: 0x" + strings.Repeat("01", 20) +
			", key_out: " + strings.Repeat("02", 20) + ", local_ts: 192.0.2.0/24, remote_ts: 10.0.0.0/8}\n" +
			"wireguard:\n  - {name: wg0, private_key: " + pubKey + ", listen_port: 51821, peers: [{public_key: " + pubKey + ", allowed_ips: [10.9.0.0/16, 10.10.0.0/16]}]}\n",
	}
	for name, src := range tests {
		if _, err := Parse("valid.yaml", []byte(src)); err != nil {
			t.Errorf("%s:\n%v", name, err)
		}
	}
}
