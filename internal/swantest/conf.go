package swantest

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Conn describes one swanctl connection (swanctl.conf(5), section
// connections.<name>) and the pre-shared key its two ends share.
// Zero values leave strongSwan's defaults.
type Conn struct {
	Name          string
	Local, Remote netip.Addr // local_addrs, remote_addrs: the IKE endpoints
	// LocalID and RemoteID are the IKE identities (local.id, remote.id);
	// empty means the addresses.
	LocalID, RemoteID string
	// PSK is the pre-shared key (any bytes). It reaches charon base64
	// encoded in swanctl.conf (0s...) and is never printed by this package.
	PSK string
	// Proposals are the IKE SA proposals, strongSwan syntax; default
	// [DefaultIKEProposal].
	Proposals []string
	Version   int // IKE version; default 2
	// RekeyTime, OverTime and ReauthTime: rekey_time, over_time and
	// reauth_time of the IKE SA.
	RekeyTime, OverTime, ReauthTime time.Duration
	DPDDelay                        time.Duration // dpd_delay
	// Encap forces UDP encapsulation (encap = yes). kernel-libipsec
	// encapsulates anyway (it fakes a NAT, see the package doc).
	Encap    bool
	Children []Child
	// Options are further connection options, written verbatim as
	// "key = value" (e.g. "mobike": "no", "unique": "never").
	Options map[string]string
}

// Child describes one child SA of a Conn (connections.<conn>.children.<name>).
type Child struct {
	Name              string
	LocalTS, RemoteTS []netip.Prefix
	// ESPProposals, strongSwan syntax; default [DefaultESPProposal].
	ESPProposals []string
	// RekeyTime and LifeTime: rekey_time and life_time.
	RekeyTime, LifeTime time.Duration
	// StartAction (none, trap, start), DPDAction (clear, trap, restart)
	// and CloseAction (none, trap, start).
	StartAction, DPDAction, CloseAction string
	// Options are further child options, written verbatim.
	Options map[string]string
}

// Default proposals: AES-256-GCM with X25519, as the ipsec-gw's config
// defaults to.
const (
	DefaultIKEProposal = "aes256gcm16-prfsha256-x25519"
	DefaultESPProposal = "aes256gcm16-x25519"
)

// Mirror is the same connection seen from the other end: addresses,
// identities and traffic selectors swapped, and the same name and key.
func (c Conn) Mirror() Conn {
	m := c
	m.Local, m.Remote = c.Remote, c.Local
	m.LocalID, m.RemoteID = c.RemoteID, c.LocalID
	m.Children = make([]Child, len(c.Children))
	for i, ch := range c.Children {
		ch.LocalTS, ch.RemoteTS = ch.RemoteTS, ch.LocalTS
		m.Children[i] = ch
	}
	return m
}

func (c Conn) localID() string {
	if c.LocalID != "" {
		return c.LocalID
	}
	return c.Local.String()
}

func (c Conn) remoteID() string {
	if c.RemoteID != "" {
		return c.RemoteID
	}
	return c.Remote.String()
}

// renderSwanctl writes the swanctl.conf that loads conns and their keys.
func renderSwanctl(conns []Conn) (string, error) {
	var b strings.Builder
	b.WriteString("connections {\n")
	for _, c := range conns {
		if err := renderConn(&b, c); err != nil {
			return "", err
		}
	}
	b.WriteString("}\n\nsecrets {\n")
	for _, c := range conns {
		if c.PSK == "" {
			continue
		}
		fmt.Fprintf(&b, "  ike-%s {\n    id-local = %s\n    id-remote = %s\n    secret = 0s%s\n  }\n",
			c.Name, c.localID(), c.remoteID(), base64.StdEncoding.EncodeToString([]byte(c.PSK)))
	}
	b.WriteString("}\n")
	return b.String(), nil
}

func renderConn(b *strings.Builder, c Conn) error {
	if !validName(c.Name) {
		return fmt.Errorf("conn name %q: want letters, digits, '-' or '_'", c.Name)
	}
	if !c.Local.IsValid() || !c.Remote.IsValid() {
		return fmt.Errorf("conn %s: local and remote addresses are required", c.Name)
	}
	version := c.Version
	if version == 0 {
		version = 2
	}
	fmt.Fprintf(b, "  %s {\n", c.Name)
	kv(b, 4, "version", fmt.Sprint(version))
	kv(b, 4, "local_addrs", c.Local.String())
	kv(b, 4, "remote_addrs", c.Remote.String())
	kv(b, 4, "proposals", orDefault(c.Proposals, DefaultIKEProposal))
	dur(b, 4, "rekey_time", c.RekeyTime)
	dur(b, 4, "over_time", c.OverTime)
	dur(b, 4, "reauth_time", c.ReauthTime)
	dur(b, 4, "dpd_delay", c.DPDDelay)
	if c.Encap {
		kv(b, 4, "encap", "yes")
	}
	options(b, 4, c.Options)
	fmt.Fprintf(b, "    local {\n      auth = psk\n      id = %s\n    }\n", c.localID())
	fmt.Fprintf(b, "    remote {\n      auth = psk\n      id = %s\n    }\n", c.remoteID())
	b.WriteString("    children {\n")
	for _, ch := range c.Children {
		if !validName(ch.Name) {
			return fmt.Errorf("conn %s: child name %q: want letters, digits, '-' or '_'", c.Name, ch.Name)
		}
		if len(ch.LocalTS) == 0 || len(ch.RemoteTS) == 0 {
			return fmt.Errorf("conn %s child %s: traffic selectors are required", c.Name, ch.Name)
		}
		fmt.Fprintf(b, "      %s {\n", ch.Name)
		kv(b, 8, "local_ts", prefixes(ch.LocalTS))
		kv(b, 8, "remote_ts", prefixes(ch.RemoteTS))
		kv(b, 8, "esp_proposals", orDefault(ch.ESPProposals, DefaultESPProposal))
		dur(b, 8, "rekey_time", ch.RekeyTime)
		dur(b, 8, "life_time", ch.LifeTime)
		for _, o := range [][2]string{{"start_action", ch.StartAction}, {"dpd_action", ch.DPDAction}, {"close_action", ch.CloseAction}} {
			if o[1] != "" {
				kv(b, 8, o[0], o[1])
			}
		}
		options(b, 8, ch.Options)
		b.WriteString("      }\n")
	}
	b.WriteString("    }\n  }\n")
	return nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func kv(b *strings.Builder, indent int, k, v string) {
	fmt.Fprintf(b, "%*s%s = %s\n", indent, "", k, v)
}

// dur writes a duration in whole seconds (swanctl's smallest unit); zero
// writes nothing.
func dur(b *strings.Builder, indent int, k string, d time.Duration) {
	if d > 0 {
		kv(b, indent, k, fmt.Sprintf("%ds", max(1, int(d.Round(time.Second)/time.Second))))
	}
}

func options(b *strings.Builder, indent int, o map[string]string) {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic files
	for _, k := range keys {
		kv(b, indent, k, o[k])
	}
}

func orDefault(list []string, def string) string {
	if len(list) == 0 {
		return def
	}
	return strings.Join(list, ",")
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Masked().String()
	}
	return strings.Join(s, ",")
}

// Plugins is charon's explicit load list. kernel-libipsec (ESP in
// userspace over the TUN device ipsec0) comes before kernel-netlink so that
// it, not the kernel, takes the IPsec SAs, and kdf must be named or key
// derivation fails; openssl provides AES-GCM and X25519 (Debian ships no
// curve25519 plugin).
const Plugins = "random nonce openssl aes gcm sha1 sha2 hmac kdf pem pkcs1 pubkey x509 " +
	"kernel-libipsec kernel-netlink socket-default vici"

// renderStrongswan writes charon's strongswan.conf for a charon whose
// files live in dir; extra goes inside charon { } verbatim.
func renderStrongswan(dir string, threads int, logLevels map[string]int, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by package swantest: one charon per network namespace.
charon {
  load = %s
  # vici, kernel-libipsec, the netlink watcher and the sockets hold 9
  # workers for good, and every swanctl call waiting for an initiate or
  # terminate holds one more: with none left, charon stops processing.
  threads = %d
  plugins {
    vici {
      socket = unix://%s/charon.vici
    }
  }
  filelog {
    harness {
      path = %s/charon.log
      time_format = %%H:%%M:%%S
      ike_name = yes
      flush_line = yes
      append = no
`, Plugins, threads, dir, dir)
	keys := make([]string, 0, len(logLevels))
	for k := range logLevels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if _, ok := logLevels["default"]; !ok {
		b.WriteString("      default = 1\n")
	}
	for _, k := range keys {
		// Level 4 (private) would log keys and the PSK: cap it.
		fmt.Fprintf(&b, "      %s = %d\n", k, min(logLevels[k], 3))
	}
	b.WriteString("    }\n  }\n  syslog {\n  }\n")
	for line := range strings.Lines(extra) {
		b.WriteString("  " + line)
		if !strings.HasSuffix(line, "\n") {
			b.WriteString("\n")
		}
	}
	// swanctl reads the same file: without its own list it tries to load
	// plugins Debian does not ship, and says so on every call.
	b.WriteString("}\n\nswanctl {\n  load = pem pkcs1 x509 pubkey openssl random\n}\n")
	return b.String()
}
