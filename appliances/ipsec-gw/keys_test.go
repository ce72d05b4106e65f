package ipsecgw_test

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"golang.org/x/crypto/curve25519"
)

// wgKey is a WireGuard key pair in base64, as wg genkey/pubkey print them.
type wgKey struct{ priv, pub string }

func newKey(t testing.TB) wgKey { return testKey(t) }

// testKey makes a random key pair.
func testKey(t testing.TB) wgKey {
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
	return wgKey{base64.StdEncoding.EncodeToString(k[:]), base64.StdEncoding.EncodeToString(pub)}
}
