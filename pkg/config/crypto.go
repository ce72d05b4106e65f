package config

import (
	"fmt"
	"slices"
	"strings"
)

// Algorithms are named as strongSwan names them, so proposals can be copied
// between an ipsec-gw policy and a swanctl.conf. Only AEAD ciphers are
// offered: no separate integrity algorithm is ever needed.

// Encr is an AEAD encryption algorithm for IKE and ESP.
type Encr string

// The encryption algorithms.
const (
	AES128GCM16      Encr = "aes128gcm16"      // AES-GCM, 128-bit key, 16-byte ICV (RFC 4106)
	AES256GCM16      Encr = "aes256gcm16"      // AES-GCM, 256-bit key, 16-byte ICV
	ChaCha20Poly1305 Encr = "chacha20poly1305" // RFC 7634
)

var encrs = []Encr{AES128GCM16, AES256GCM16, ChaCha20Poly1305}

// KeyLen is the ESP keying material the cipher takes: the key and a 4-byte salt.
func (e Encr) KeyLen() int {
	if e == AES128GCM16 {
		return 16 + 4
	}
	return 32 + 4
}

func (e *Encr) decodeText(s string) error {
	if a, ok := algAliases[s]; ok {
		s = a
	}
	return decodeEnum(e, s, "cipher", encrs)
}
func (Encr) expected() string { return orList(encrs) }
func (Encr) jsonSchema() obj  { return enumSchema(encrs) }

// PRF is an IKE pseudo-random function.
type PRF string

// The PRFs.
const (
	PRFSHA256 PRF = "prfsha256"
	PRFSHA384 PRF = "prfsha384"
)

var prfs = []PRF{PRFSHA256, PRFSHA384}

// DHGroup is a Diffie-Hellman group, for IKE and for PFS in child SAs.
type DHGroup string

// The DH groups.
const (
	ECP256 DHGroup = "ecp256" // NIST P-256, IANA group 19
	X25519 DHGroup = "x25519" // Curve25519, IANA group 31
)

var dhGroups = []DHGroup{ECP256, X25519}

// algAliases maps other strongSwan spellings to ours.
var algAliases = map[string]string{
	"aes128gcm":  string(AES128GCM16),
	"aes256gcm":  string(AES256GCM16),
	"curve25519": string(X25519),
}

// IKEProposal is an IKE SA proposal: any of its ciphers, PRFs and groups may
// be chosen, in the order written.
type IKEProposal struct {
	Encr []Encr
	PRF  []PRF
	DH   []DHGroup
}

// ESPProposal is a child SA proposal; DH, when given, asks for PFS.
type ESPProposal struct {
	Encr []Encr
	DH   []DHGroup
}

// DefaultIKEProposal and DefaultESPProposal apply when a policy gives none.
var (
	DefaultIKEProposal = IKEProposal{Encr: []Encr{AES256GCM16}, PRF: []PRF{PRFSHA256}, DH: []DHGroup{X25519}}
	DefaultESPProposal = ESPProposal{Encr: []Encr{AES256GCM16}}
)

// tokens splits a proposal into typed algorithms.
func tokens(s string, ike bool) (e []Encr, p []PRF, d []DHGroup, err error) {
	if s == "" {
		return nil, nil, nil, fmt.Errorf("empty proposal (expected e.g. %s)", exampleProposal(ike))
	}
	for tok := range strings.SplitSeq(s, "-") {
		t := tok
		if a, ok := algAliases[t]; ok {
			t = a
		}
		var dup bool
		switch {
		case slices.Contains(encrs, Encr(t)):
			dup = slices.Contains(e, Encr(t))
			e = append(e, Encr(t))
		case slices.Contains(prfs, PRF(t)):
			if !ike {
				return nil, nil, nil, fmt.Errorf("proposal %s: ESP takes no PRF %s (expected encryption[-dh] like aes256gcm16-x25519)", quote(s), quote(tok))
			}
			dup = slices.Contains(p, PRF(t))
			p = append(p, PRF(t))
		case slices.Contains(dhGroups, DHGroup(t)):
			dup = slices.Contains(d, DHGroup(t))
			d = append(d, DHGroup(t))
		default:
			return nil, nil, nil, fmt.Errorf("proposal %s: unknown algorithm %s (expected %s)", quote(s), quote(tok), algList(ike))
		}
		if dup {
			return nil, nil, nil, fmt.Errorf("proposal %s names %s twice (expected each algorithm once)", quote(s), quote(tok))
		}
	}
	if len(e) == 0 {
		return nil, nil, nil, fmt.Errorf("proposal %s has no encryption algorithm (expected %s)", quote(s), orList(encrs))
	}
	return e, p, d, nil
}

func algList(ike bool) string {
	s := "encryption " + strings.Join(strs(encrs), "|")
	if ike {
		s += ", prf " + strings.Join(strs(prfs), "|")
	}
	return s + ", dh " + strings.Join(strs(dhGroups), "|")
}

func exampleProposal(ike bool) string {
	if ike {
		return "aes256gcm16-prfsha256-x25519"
	}
	return "aes256gcm16"
}

func strs[T enum](vals []T) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out
}

func proposalString(e []Encr, p []PRF, d []DHGroup) string {
	return strings.Join(slices.Concat(strs(e), strs(p), strs(d)), "-")
}

func (p IKEProposal) String() string { return proposalString(p.Encr, p.PRF, p.DH) }

// MarshalText implements encoding.TextMarshaler.
func (p IKEProposal) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

func (p *IKEProposal) decodeText(s string) error {
	e, prf, d, err := tokens(s, true)
	switch {
	case err != nil:
		return err
	case len(prf) == 0:
		return fmt.Errorf("proposal %s has no PRF (expected %s, e.g. %s)", quote(s), orList(prfs), exampleProposal(true))
	case len(d) == 0:
		return fmt.Errorf("proposal %s has no DH group (expected %s, e.g. %s)", quote(s), orList(dhGroups), exampleProposal(true))
	}
	*p = IKEProposal{Encr: e, PRF: prf, DH: d}
	return nil
}

func (IKEProposal) expected() string {
	return "an IKE proposal encryption-prf-dh like aes256gcm16-prfsha256-x25519"
}

func (IKEProposal) jsonSchema() obj {
	tok := "(" + strings.Join(slices.Concat(strs(encrs), strs(prfs), strs(dhGroups), []string{"aes128gcm", "aes256gcm", "curve25519"}), "|") + ")"
	return obj{}.set("type", "string").set("pattern", "^"+tok+"(-"+tok+")*$").
		set("examples", []string{"aes256gcm16-prfsha256-ecp256", "aes128gcm16-prfsha256-x25519"})
}

func (p ESPProposal) String() string { return proposalString(p.Encr, nil, p.DH) }

// MarshalText implements encoding.TextMarshaler.
func (p ESPProposal) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

func (p *ESPProposal) decodeText(s string) error {
	e, _, d, err := tokens(s, false)
	if err != nil {
		return err
	}
	*p = ESPProposal{Encr: e, DH: d}
	return nil
}

func (ESPProposal) expected() string {
	return "an ESP proposal encryption[-dh] like aes256gcm16 or aes256gcm16-x25519"
}

func (ESPProposal) jsonSchema() obj {
	tok := "(" + strings.Join(slices.Concat(strs(encrs), strs(dhGroups), []string{"aes128gcm", "aes256gcm", "curve25519"}), "|") + ")"
	return obj{}.set("type", "string").set("pattern", "^"+tok+"(-"+tok+")*$").
		set("examples", []string{"aes256gcm16", "aes256gcm16-x25519"})
}
