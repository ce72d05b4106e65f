package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func examples(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	return files
}

func mustParse(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return p
}

// clearPos zeroes the Pos and Source fields, which depend on the layout of
// the YAML rather than its meaning.
func clearPos(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			clearPos(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			clearPos(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			switch {
			case !f.IsExported():
			case f.Type == posType, f.Name == "Source":
				v.Field(i).SetZero()
			default:
				clearPos(v.Field(i))
			}
		}
	}
}

func TestExamples(t *testing.T) {
	for _, file := range examples(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			p, err := Load(file)
			if err != nil {
				t.Fatalf("example is invalid:\n%v", err)
			}
			if want := strings.TrimSuffix(filepath.Base(file), ".yaml"); string(p.Appliance) != want {
				t.Errorf("appliance %s in %s", p.Appliance, file)
			}
			// Writing the Spec back as YAML gives a policy with the same meaning.
			out, err := yaml.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			q, err := Parse("roundtrip.yaml", out)
			if err != nil {
				t.Fatalf("re-parse of marshalled policy: %v\n%s", err, out)
			}
			clearPos(reflect.ValueOf(p))
			clearPos(reflect.ValueOf(q))
			if !reflect.DeepEqual(p, q) {
				t.Errorf("round trip changed the policy:\n%s", out)
			}
		})
	}
}

// The demo boots examples/router.yaml between two namespaces and relies on
// these values.
func TestRouterExample(t *testing.T) {
	p, err := Load("../../examples/router.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lan, wan := p.Interface("lan"), p.Interface("wan")
	if lan == nil || wan == nil {
		t.Fatal("lan or wan missing")
	}
	pfx := netip.MustParsePrefix
	check := func(ifc *Interface, port string, addrs ...netip.Prefix) {
		if ifc.Port.String() != port || !reflect.DeepEqual([]netip.Prefix(ifc.Address), addrs) || ifc.MTU != 1500 {
			t.Errorf("%s: port %s, address %v, mtu %d", ifc.Name, ifc.Port, ifc.Address, ifc.MTU)
		}
	}
	check(lan, "virtio:0", pfx("192.0.2.1/24"), pfx("2001:db8:1::1/64"))
	check(wan, "virtio:1", pfx("198.51.100.2/30"), pfx("2001:db8:ff::2/64"))
	r := p.Routes[0]
	if r.To != pfx("0.0.0.0/0") || len(r.Via) != 1 || r.Via[0] != netip.MustParseAddr("198.51.100.1") {
		t.Errorf("first route is %+v, want the default route via 198.51.100.1", r)
	}
}

func TestFiveMistakes(t *testing.T) {
	const file = "testdata/five-mistakes.yaml"
	_, err := Load(file)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("want an ErrorList, got %v", err)
	}
	want := []string{
		file + ":9:10: interfaces[0].mtu: 70000 is out of range (expected an integer 68..65535)",
		file + `:12:5: interfaces[1]: unknown key "adress" (did you mean "address"?)`,
		file + `:15:10: routes[1].to: "10.20.0.0/33" is not a CIDR prefix`,
		file + ":16:29: routes[2].via: next hop 203.0.113.1 is not on a connected subnet",
		file + `:17:25: management.interface: unknown interface "lan0" (expected one of: lan, wan)`,
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want 5:\n%v", len(list), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d:\n got %s\nwant %s...", i, list[i], w)
		}
	}
	if got := strings.Count(err.Error(), "\n"); got != 4 {
		t.Errorf("Error() has %d line breaks, want one error per line", got)
	}
	var one Error
	if !errors.As(err, &one) || one.Line != 9 {
		t.Errorf("errors.As(Error) = %v", one)
	}
}

func TestDeterministic(t *testing.T) {
	for _, file := range append(examples(t), "testdata/five-mistakes.yaml") {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p1, err1 := Parse(file, data)
		for range 5 {
			p2, err2 := Parse(file, data)
			if !reflect.DeepEqual(p1, p2) || fmt.Sprint(err1) != fmt.Sprint(err2) {
				t.Fatalf("%s: two parses differ", file)
			}
			if p1 != nil {
				y1, _ := yaml.Marshal(p1)
				y2, _ := yaml.Marshal(p2)
				if string(y1) != string(y2) {
					t.Fatalf("%s: marshalled specs differ", file)
				}
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	p := mustParse(t, firewallBase)
	if p.Interfaces[0].MTU != DefaultMTU {
		t.Errorf("mtu %d", p.Interfaces[0].MTU)
	}
	if !reflect.DeepEqual(*p.Conntrack, DefaultConntrack) {
		t.Errorf("conntrack %+v", *p.Conntrack)
	}
	p = mustParse(t, firewallBase+"conntrack: {max: 10, timeouts: {udp: 1m}}\n")
	if p.Conntrack.Max != 10 || p.Conntrack.Timeouts.UDP != time.Minute || p.Conntrack.Timeouts.TCPSyn != DefaultConntrack.Timeouts.TCPSyn {
		t.Errorf("conntrack %+v", *p.Conntrack)
	}

	p = mustParse(t, ipsecBase+`ike:
  - name: hq
    peer: 203.0.113.7
    auth: {psk: env:PSK}
    lifetime: 2h
    children: [{local: 192.0.2.0/24, remote: 10.0.0.0/8}]
wireguard:
  - {name: wg0, private_key: env:WG, peers: [{public_key: `+pubKey+`, allowed_ips: 10.9.0.0/16}]}
`)
	k := p.IKE[0]
	if k.Proposals[0].String() != "aes256gcm16-prfsha256-x25519" || k.Lifetime != 2*time.Hour || k.Rekey != 108*time.Minute {
		t.Errorf("ike defaults: %v %v %v", k.Proposals, k.Lifetime, k.Rekey)
	}
	ch := k.Children[0]
	if ch.Name != "hq-1" || ch.ESP[0].String() != "aes256gcm16" || ch.Lifetime != DefaultChildLifetime {
		t.Errorf("child defaults: %v %v %v", ch.Name, ch.ESP, ch.Lifetime)
	}
	if p.WireGuard[0].MTU != DefaultWireGuardMTU {
		t.Errorf("wireguard mtu %d", p.WireGuard[0].MTU)
	}
	// Defaults are copies: changing one policy leaves the next alone.
	p.IKE[0].Proposals[0].Encr[0] = ChaCha20Poly1305
	q := mustParse(t, ipsecBase+"ike:\n  - {name: hq, peer: 203.0.113.7, auth: {psk: env:PSK}, children: [{local: 192.0.2.0/24, remote: 10.0.0.0/8}]}\n")
	if q.IKE[0].Proposals[0].Encr[0] != AES256GCM16 {
		t.Error("default proposal shared between policies")
	}
}

func TestAliasesAndMergeKeys(t *testing.T) {
	p := mustParse(t, `appliance: ipsec-gw
interfaces:
  - {name: lan, port: virtio:0, address: [192.0.2.1/24]}
  - {name: wan, port: virtio:1, address: [198.51.100.2/30]}
routes:
  - {to: 0.0.0.0/0, via: &gw 198.51.100.1}
  - {to: 10.50.0.0/16, via: *gw}
ike:
  - &conn
    name: hq
    peer: 203.0.113.7
    auth: {psk: env:PSK}
    proposals: &props [aes256gcm16-prfsha256-x25519]
    children: [{local: 192.0.2.0/24, remote: 10.0.0.0/16}]
  - <<: *conn
    name: branch
    peer: 203.0.113.8
    children: [{local: 192.0.2.0/24, remote: 10.1.0.0/16}]
`)
	if p.Routes[1].Via[0] != netip.MustParseAddr("198.51.100.1") {
		t.Errorf("alias: %v", p.Routes[1].Via)
	}
	b := p.IKE[1]
	if b.Name != "branch" || b.Peer != netip.MustParseAddr("203.0.113.8") || b.Auth.PSK.String() != "env:PSK" || len(b.Proposals) != 1 {
		t.Errorf("merge: %+v", b)
	}
}

func TestLimits(t *testing.T) {
	// "Billion laughs": each level repeats the one before ten times.
	var b strings.Builder
	b.WriteString("appliance: firewall\ninterfaces: [{name: lan, port: virtio:0}]\nsets:\n  a0: &a0 [10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8, 10.0.0.9, 10.0.0.10]\n")
	b.WriteString("rules:\n")
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "  - &r%d {action: drop, src: [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]}\n", i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	b.WriteString("nested: &n0 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "n%d: &n%d [*n%d, *n%d, *n%d, *n%d, *n%d, *n%d, *n%d, *n%d, *n%d, *n%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil {
		t.Fatal("no error")
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v", time.Since(start))
	}

	// A wide alias bomb inside a list the schema does walk.
	b.Reset()
	b.WriteString("appliance: firewall\ninterfaces: [{name: lan, port: virtio:0}]\nsets: {big: &big [")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "10.%d.%d.0/24", i/256, i%256)
	}
	b.WriteString("]}\nrules:\n")
	for range 1000 {
		b.WriteString("  - {action: drop, src: *big}\n")
	}
	_, err = Parse("wide.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "policy too large") {
		t.Errorf("want a size error, got %.300v", err)
	}

	big := make([]byte, MaxPolicySize+1)
	if _, err := Parse("huge.yaml", big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized input: %v", err)
	}
}

func TestErrorsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("appliance: router\ninterfaces:\n")
	for range 3000 {
		b.WriteString("  - {name: 1, port: bad}\n")
	}
	_, err := Parse("many.yaml", []byte(b.String()))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatal(err)
	}
	if len(list) != maxErrors || !strings.Contains(list[len(list)-1].Msg, "too many errors") {
		t.Errorf("%d errors, last %v", len(list), list[len(list)-1])
	}
	for i := 1; i < len(list); i++ {
		if list[i].Line < list[i-1].Line {
			t.Fatalf("not sorted at %d", i)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "load policy: ") {
		t.Errorf("got %v", err)
	}
}

func TestHelpers(t *testing.T) {
	p := mustParse(t, strings.Replace(firewallBase, "zones:", "  - {name: guest, parent: lan, vlan: 20, address: 10.0.20.1/24}\nzones:", 1))
	if p.Interface("wan") == nil || p.Interface("nope") != nil {
		t.Error("Interface")
	}
	if p.Zone("inside") == nil || p.ZoneOf("wan") != "outside" || p.ZoneOf("guest") != "" {
		t.Error("Zone/ZoneOf")
	}
	if s := p.Set("admins"); s == nil || len(s.Members) != 2 || s.Members[0] != netip.MustParsePrefix("192.0.2.10/32") {
		t.Errorf("Set: %+v", s)
	}
	if got := p.PortOf(p.Interface("guest")); got.String() != "virtio:0" {
		t.Errorf("PortOf(guest) = %v", got)
	}
	if pos := p.Interface("guest").Pos; pos != (Pos{5, 5}) {
		t.Errorf("Pos = %v", pos)
	}
}

func TestParsePortSpec(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		index   int
		ifname  string
		queue   int
		queueOK bool
	}{
		{"virtio:0", true, 0, "", 0, false},
		{"virtio:255", true, 255, "", 0, false},
		{"virtio:256", false, 0, "", 0, false},
		{"virtio:-1", false, 0, "", 0, false},
		{"virtio:", false, 0, "", 0, false},
		{"afpacket:eth1", true, -1, "eth1", 0, false},
		{"afpacket:123456789012345", true, -1, "123456789012345", 0, false},
		{"afpacket:1234567890123456", false, 0, "", 0, false},
		{"afpacket:eth 1", false, 0, "", 0, false},
		{"afpacket:..", false, 0, "", 0, false},
		{"afxdp:eth1", true, -1, "eth1", 0, false},
		{"afxdp:eth1/3", true, -1, "eth1", 3, true},
		{"afxdp:eth1/x", false, 0, "", 0, false},
		{"afxdp:eth1/", false, 0, "", 0, false},
		{"tap:tap0", true, -1, "tap0", 0, false},
		{"tap:a/b", false, 0, "", 0, false},
		{"pcap:in.pcap", true, -1, "", 0, false},
		{"pcap:", false, 0, "", 0, false},
		{"mem:a", true, -1, "", 0, false},
		{"mem:a b", false, 0, "", 0, false},
		{"eth0", false, 0, "", 0, false},
		{"usb:0", false, 0, "", 0, false},
	}
	for _, tc := range tests {
		p, err := ParsePortSpec(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if !tc.ok {
			continue
		}
		q, qok := p.Queue()
		if p.String() != tc.in || p.Index() != tc.index || p.IfName() != tc.ifname || q != tc.queue || qok != tc.queueOK {
			t.Errorf("%q: %v index %d ifname %q queue %d %v", tc.in, p, p.Index(), p.IfName(), q, qok)
		}
		var u PortSpec
		if err := u.UnmarshalText([]byte(tc.in)); err != nil || u != p {
			t.Errorf("%q: UnmarshalText %v %v", tc.in, u, err)
		}
	}
}

func TestProposals(t *testing.T) {
	tests := []struct {
		in   string
		ike  bool
		want string // canonical form, or "" for an error
	}{
		{"aes256gcm16-prfsha256-ecp256", true, "aes256gcm16-prfsha256-ecp256"},
		{"aes128gcm16-prfsha256-curve25519", true, "aes128gcm16-prfsha256-x25519"},
		{"aes256gcm-aes128gcm16-prfsha384-prfsha256-x25519-ecp256", true, "aes256gcm16-aes128gcm16-prfsha384-prfsha256-x25519-ecp256"},
		{"chacha20poly1305-prfsha256-x25519", true, "chacha20poly1305-prfsha256-x25519"},
		{"aes256gcm16-x25519", true, ""},       // no PRF
		{"aes256gcm16-prfsha256", true, ""},    // no DH
		{"aes256-sha256-modp2048", true, ""},   // not AEAD
		{"aes256gcm16-aes256gcm16", false, ""}, // twice
		{"", false, ""},
		{"aes256gcm16", false, "aes256gcm16"},
		{"aes256gcm16-x25519", false, "aes256gcm16-x25519"},
		{"aes256gcm16-prfsha256", false, ""},
	}
	for _, tc := range tests {
		var got string
		var err error
		if tc.ike {
			var p IKEProposal
			err = p.decodeText(tc.in)
			got = p.String()
		} else {
			var p ESPProposal
			err = p.decodeText(tc.in)
			got = p.String()
		}
		if tc.want == "" && err == nil || tc.want != "" && (err != nil || got != tc.want) {
			t.Errorf("%q (ike %v): got %q, %v; want %q", tc.in, tc.ike, got, err, tc.want)
		}
	}
}
