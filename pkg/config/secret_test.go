package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const secretValue = "hunter2-correct-horse-battery"

func TestSecretParse(t *testing.T) {
	tests := []struct {
		in   string
		kind SecretKind
		str  string
	}{
		{"file:/secrets/hq.psk", SecretFile, "file:/secrets/hq.psk"},
		{"file:/secrets/../secrets/hq.psk", SecretFile, "file:/secrets/hq.psk"},
		{"env:HQ_PSK", SecretEnv, "env:HQ_PSK"},
		{secretValue, SecretInline, Redacted},
		{"file:relative.psk", SecretUnset, ""},
		{"env:1BAD", SecretUnset, ""},
		{"env:", SecretUnset, ""},
		{"", SecretUnset, ""},
	}
	for _, tc := range tests {
		s, err := ParseSecret(tc.in)
		if s.Kind() != tc.kind || s.String() != tc.str || (err != nil) != (tc.kind == SecretUnset) {
			t.Errorf("ParseSecret(%q) = %v (%v), %v", tc.in, s, s.Kind(), err)
		}
		if err != nil && len(tc.in) > len("file:") && strings.Contains(err.Error(), tc.in) {
			t.Errorf("ParseSecret(%q): error quotes the input: %v", tc.in, err)
		}
	}
}

// TestSecretRedaction prints an inline secret every way Go code might and
// checks the value never shows.
func TestSecretRedaction(t *testing.T) {
	s, err := ParseSecret(secretValue)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := ParseSecret("file:/secrets/hq.psk")
	auth := IKEAuth{PSK: s}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, auth), fmt.Sprintf(verb, &auth))
	}
	hidden := struct{ psk Secret }{s} // fmt cannot call Format on an unexported field
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(auth), s.String(), s.GoString(),
		fmt.Sprintf("%v %+v %#v", hidden, hidden, hidden))
	for _, v := range []any{s, auth, &auth} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(y))
	}
	txt, _ := s.MarshalText()
	outs = append(outs, string(txt))
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("ike", "psk", s, "auth", auth)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("ike", "psk", s, "auth", auth)
	outs = append(outs, logs.String())

	p := mustParse(t, ipsecBase+"ike:\n  - {name: hq, peer: 203.0.113.7, auth: {psk: "+secretValue+"}, children: [{local: 192.0.2.0/24, remote: 10.0.0.0/8}]}\n")
	y, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(y), fmt.Sprintf("%+v", p.IKE), fmt.Sprintf("%#v", p))

	for _, out := range outs {
		if strings.Contains(out, secretValue) || strings.Contains(out, fmt.Sprintf("%x", secretValue)) {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if !strings.Contains(string(y), "psk: <redacted>") {
		t.Errorf("marshalled policy has no redacted psk:\n%s", y)
	}
	if got := fmt.Sprintf("%v %q %#v", ref, ref, ref); got != `file:/secrets/hq.psk "file:/secrets/hq.psk" config.Secret("file:/secrets/hq.psk")` {
		t.Errorf("reference prints as %s", got)
	}
}

func TestSecretResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "psk")
	if err := os.WriteFile(file, []byte(secretValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NFV_TEST_PSK", secretValue)
	for _, in := range []string{secretValue, "file:" + file, "env:NFV_TEST_PSK"} {
		s, err := ParseSecret(in)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.Resolve()
		if err != nil || string(v) != secretValue {
			t.Errorf("Resolve(%v) = %q, %v", s, v, err)
		}
	}

	missing, _ := ParseSecret("file:" + filepath.Join(dir, "nope"))
	if _, err := missing.Resolve(); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing file: %v", err)
	}
	unset, _ := ParseSecret("env:NFV_TEST_UNSET")
	if _, err := unset.Resolve(); err == nil || !strings.Contains(err.Error(), "env:NFV_TEST_UNSET") {
		t.Errorf("unset variable: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if s, _ := ParseSecret("file:" + empty); true {
		if _, err := s.Resolve(); err == nil {
			t.Error("empty file resolved")
		}
	}
	if _, err := (Secret{}).Resolve(); err == nil {
		t.Error("unset secret resolved")
	}

	// Keys: hex for ESP, base64 for WireGuard; a wrong key's error does not
	// hold it.
	hexFile := filepath.Join(dir, "key")
	key := strings.Repeat("ab", 20)
	os.WriteFile(hexFile, []byte("0x"+key+"\n"), 0o600)
	s, _ := ParseSecret("file:" + hexFile)
	if k, err := s.ResolveHex(20); err != nil || len(k) != 20 || k[0] != 0xab {
		t.Errorf("ResolveHex: %x %v", k, err)
	}
	if _, err := s.ResolveHex(36); err == nil || strings.Contains(err.Error(), key) {
		t.Errorf("ResolveHex of a short key: %v", err)
	}
	wg, _ := ParseSecret(pubKey)
	if k, err := wg.ResolveWGKey(); err != nil || WGKey(k).String() != pubKey {
		t.Errorf("ResolveWGKey: %v", err)
	}
	bad, _ := ParseSecret(secretValue)
	if _, err := bad.ResolveWGKey(); err == nil || strings.Contains(err.Error(), secretValue) {
		t.Errorf("ResolveWGKey of a bad key: %v", err)
	}
}

// TestSecretsNotInErrors feeds invalid inline secrets, and secrets in the
// wrong place, and checks no error message quotes them.
func TestSecretsNotInErrors(t *testing.T) {
	const (
		shortPSK = "s3cr3t-psk"
		badKey   = "zz-not-hex-zz-secret-key-material-zz"
		badWG    = "not-base64-secret-wireguard-key"
		stray    = "stray-secret-in-wrong-place-0123"
	)
	src := ipsecBase + `ike:
  - {name: hq, peer: 203.0.113.7, auth: {psk: ` + shortPSK + `}, children: [{local: 192.0.2.0/24, remote: 10.0.0.0/16}]}
  - {name: br, peer: 203.0.113.8, auth: ` + stray + `, children: [{local: 192.0.2.0/24, remote: 10.1.0.0/16}]}
  - {name: b2, peer: 203.0.113.9, auth: {psk: [` + stray + `]}, children: [{local: 192.0.2.0/24, remote: 10.2.0.0/16}]}
esp:
  - {name: legacy, peer: 203.0.113.30, spi_in: 0x1001, spi_out: 0x2001, cipher: aes128gcm16, key_in: ` + badKey + `, key_out: ` + badKey + `, local_ts: 192.0.2.0/24, remote_ts: 10.3.0.0/16}
wireguard:
  - {name: wg0, private_key: ` + badWG + `, peers: [{public_key: ` + pubKey + `, preshared_key: ` + badWG + `, allowed_ips: 10.9.0.0/16}]}
`
	_, err := Parse("secrets.yaml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("want errors, got %v", err)
	}
	wantErrs := []string{
		"ike[0].auth.psk: inline psk is shorter than 16 bytes",
		"ike[1].auth: got a string (expected a mapping",
		"ike[2].auth.psk: got a list (expected a secret",
		"esp[0].key_in: inline key for aes128gcm16: not 40 hex digits",
		"esp[0].key_out: inline key for aes128gcm16: not 40 hex digits",
		"esp[0].key_out: key_out is the same as key_in",
		"wireguard[0].private_key: inline private_key is not 32 bytes of base64",
		"wireguard[0].peers[0].preshared_key: inline preshared_key is not 32 bytes of base64",
	}
	for _, w := range wantErrs {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing error %q", w)
		}
	}
	if len(list) != len(wantErrs) {
		t.Errorf("got %d errors, want %d:\n%v", len(list), len(wantErrs), err)
	}
	for _, v := range []string{shortPSK, badKey, badWG, stray} {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error message holds secret %q:\n%v", v, err)
		}
	}
}
