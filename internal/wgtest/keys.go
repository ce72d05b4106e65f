package wgtest

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"golang.org/x/crypto/curve25519"
)

// Key is a WireGuard key pair in base64, as wg genkey/pubkey print them.
type Key struct{ Priv, Pub string }

// NewKey makes a random key pair.
func NewKey(t testing.TB) Key {
	t.Helper()
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	k[0] &= 248
	k[31] = k[31]&127 | 64
	pub, err := curve25519.X25519(k[:], curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	return Key{base64.StdEncoding.EncodeToString(k[:]), base64.StdEncoding.EncodeToString(pub)}
}
