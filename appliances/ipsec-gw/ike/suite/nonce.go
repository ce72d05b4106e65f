package suite

import "crypto/rand"

// NonceLen is the nonce length this implementation sends: 32 bytes, at
// least half the key size of the strongest PRF here as RFC 7296 section
// 2.10 asks.
const NonceLen = 32

// NewNonce returns a random nonce of n bytes (crypto/rand, which does not
// fail).
func NewNonce(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
