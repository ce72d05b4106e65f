package config

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// SecretKind says where a secret's value lives.
type SecretKind uint8

// The kinds of secret.
const (
	SecretUnset  SecretKind = iota
	SecretInline            // the value is in the policy
	SecretFile              // file:/PATH, read at run time
	SecretEnv               // env:NAME, read at run time
)

// Secret is a key or password given in a policy: inline, or as a file: or
// env: reference that Resolve reads at run time. Every way of printing or
// encoding a Secret shows only the reference, or <redacted> for an inline
// value; the value itself is reachable only through Resolve. Messages about
// a secret never quote it either.
type Secret struct {
	kind SecretKind
	ref  string // file path or variable name
	// The inline value sits behind a pointer so that even printing a
	// struct that holds a Secret in an unexported field (where fmt cannot
	// call Format) shows an address, not the value.
	value *string
}

// Redacted is what an inline secret prints as.
const Redacted = "<redacted>"

// maxSecretFile bounds what Resolve reads from a file.
const maxSecretFile = 64 << 10

// ParseSecret parses a policy's secret string: file:/PATH (absolute),
// env:NAME, or anything else as the inline value. Its errors never hold s.
func ParseSecret(s string) (Secret, error) {
	if path, ok := strings.CutPrefix(s, "file:"); ok {
		if !filepath.IsAbs(path) || strings.ContainsRune(path, 0) {
			return Secret{}, errors.New("file: reference is not an absolute path (expected file:/PATH)")
		}
		return Secret{kind: SecretFile, ref: filepath.Clean(path)}, nil
	}
	if name, ok := strings.CutPrefix(s, "env:"); ok {
		if !isEnvName(name) {
			return Secret{}, errors.New("env: reference is not a variable name (expected env:NAME with letters, digits and '_')")
		}
		return Secret{kind: SecretEnv, ref: name}, nil
	}
	if s == "" {
		return Secret{}, errors.New("empty secret (expected file:/PATH, env:NAME or the value)")
	}
	return Secret{kind: SecretInline, value: &s}, nil
}

func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Kind says where the value lives.
func (s Secret) Kind() SecretKind { return s.kind }

// IsZero reports whether no secret is set.
func (s Secret) IsZero() bool { return s.kind == SecretUnset }

// String is the redacted form: file:/PATH, env:NAME, <redacted> or "".
func (s Secret) String() string {
	switch s.kind {
	case SecretFile:
		return "file:" + s.ref
	case SecretEnv:
		return "env:" + s.ref
	case SecretInline:
		return Redacted
	}
	return ""
}

// GoString keeps %#v redacted too.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format prints the redacted form whatever the verb (%x of an inline secret
// must not leak it either).
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		io.WriteString(f, s.GoString())
	case verb == 'q':
		fmt.Fprintf(f, "%q", s.String())
	default:
		io.WriteString(f, s.String())
	}
}

// MarshalJSON writes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML writes the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText writes the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue keeps structured logs redacted.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Resolve returns the secret's value, reading a file: or env: reference now.
// Trailing line breaks of a file or variable are dropped. Its errors name the
// reference, never the value.
func (s Secret) Resolve() ([]byte, error) {
	switch s.kind {
	case SecretInline:
		return []byte(*s.value), nil
	case SecretFile:
		f, err := os.Open(s.ref)
		if err != nil {
			return nil, fmt.Errorf("resolve secret %s: %w", s, err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		switch {
		case err != nil:
			return nil, fmt.Errorf("resolve secret %s: %w", s, err)
		case len(b) > maxSecretFile:
			return nil, fmt.Errorf("resolve secret %s: file is larger than %d bytes", s, maxSecretFile)
		}
		b = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(b) == 0 {
			return nil, fmt.Errorf("resolve secret %s: file is empty", s)
		}
		return b, nil
	case SecretEnv:
		v, ok := os.LookupEnv(s.ref)
		v = strings.TrimRight(v, "\r\n")
		switch {
		case !ok:
			return nil, fmt.Errorf("resolve secret %s: variable is not set", s)
		case v == "":
			return nil, fmt.Errorf("resolve secret %s: variable is empty", s)
		}
		return []byte(v), nil
	}
	return nil, errors.New("resolve secret: no secret set")
}

// ResolveHex resolves a key written in hex (an optional 0x first) and
// checks that it is n bytes long.
func (s Secret) ResolveHex(n int) ([]byte, error) {
	v, err := s.Resolve()
	if err != nil {
		return nil, err
	}
	k, err := hexKey(string(v), n)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", s, err)
	}
	return k, nil
}

// ResolveWGKey resolves a WireGuard key written in base64.
func (s Secret) ResolveWGKey() ([32]byte, error) {
	v, err := s.Resolve()
	if err != nil {
		return [32]byte{}, err
	}
	k, err := decodeBase64Key(strings.TrimSpace(string(v)))
	if err != nil {
		return [32]byte{}, fmt.Errorf("secret %s: %w", s, err)
	}
	return [32]byte(k), nil
}

// hexKey decodes an n-byte hex key; its errors never hold the key.
func hexKey(v string, n int) ([]byte, error) {
	v = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(v), "0x"), "0X")
	k, err := hex.DecodeString(v)
	if err != nil || len(k) != n {
		return nil, fmt.Errorf("not %d hex digits (expected a %d-byte key in hex)", 2*n, n)
	}
	return k, nil
}

// inline returns the value of an inline secret, for parse-time checks.
func (s Secret) inline() (string, bool) {
	if s.kind != SecretInline {
		return "", false
	}
	return *s.value, true
}

// same reports whether two secrets are the same reference or inline value.
func (s Secret) same(t Secret) bool {
	v, _ := s.inline()
	w, _ := t.inline()
	return s.kind == t.kind && s.ref == t.ref && v == w
}

func (s *Secret) decodeText(v string) error {
	x, err := ParseSecret(v)
	if err != nil {
		return err
	}
	*s = x
	return nil
}

func (Secret) expected() string { return "a secret: file:/PATH, env:NAME or the value itself" }

func (Secret) jsonSchema() obj {
	return obj{}.set("type", "string").set("minLength", 1).
		set("description", "A secret: file:/PATH or env:NAME (read at run time), or the value itself. Never printed.").
		set("examples", []string{"file:/secrets/hq.psk", "env:HQ_PSK"})
}
