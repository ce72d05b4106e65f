package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/nfvkit/nfvkit/pkg/config"
)

// Cipher is an ESP AEAD transform. All of them take keying material of
// the key followed by a 4-byte salt, use an 8-byte explicit IV and a
// 16-byte ICV, and need no block alignment beyond ESP's 4 bytes.
type Cipher uint8

// The ciphers.
const (
	// AES128GCM16 is AES-GCM with a 128-bit key and 16-byte ICV (RFC 4106),
	// IKEv2 transform ENCR_AES_GCM_16 (20) with a 128-bit key.
	AES128GCM16 Cipher = iota + 1
	// AES256GCM16 is the same with a 256-bit key.
	AES256GCM16
	// ChaCha20Poly1305 is RFC 7634, IKEv2 transform 28.
	ChaCha20Poly1305
)

// Wire constants shared by the ciphers.
const (
	hdrLen     = 8  // SPI and sequence number
	ivLen      = 8  // explicit IV, the 64-bit sequence number here
	icvLen     = 16 // integrity check value
	saltLen    = 4  // implicit part of the nonce, from the keying material
	trailerLen = 2  // pad length and next header
	// espOverhead is ESP's cost to a packet before padding: header, IV,
	// trailer and ICV.
	espOverhead = hdrLen + ivLen + trailerLen + icvLen
)

var cipherNames = [...]string{AES128GCM16: "aes128gcm16", AES256GCM16: "aes256gcm16", ChaCha20Poly1305: "chacha20poly1305"}

func (c Cipher) String() string {
	if c > 0 && int(c) < len(cipherNames) {
		return cipherNames[c]
	}
	return fmt.Sprintf("cipher(%d)", uint8(c))
}

// KeyLen is the length of the keying material: key and salt.
func (c Cipher) KeyLen() int {
	switch c {
	case AES128GCM16:
		return 16 + saltLen
	case AES256GCM16, ChaCha20Poly1305:
		return 32 + saltLen
	}
	return 0
}

// CipherOf maps a policy's cipher name to a Cipher.
func CipherOf(e config.Encr) (Cipher, error) {
	switch e {
	case config.AES128GCM16:
		return AES128GCM16, nil
	case config.AES256GCM16:
		return AES256GCM16, nil
	case config.ChaCha20Poly1305:
		return ChaCha20Poly1305, nil
	}
	return 0, fmt.Errorf("esp: unknown cipher %q", string(e))
}

// newAEAD splits keying material into key and salt and makes the AEAD. Its
// errors never include the key.
func newAEAD(c Cipher, keymat []byte) (cipher.AEAD, [saltLen]byte, error) {
	var salt [saltLen]byte
	if n := c.KeyLen(); n == 0 || len(keymat) != n {
		return nil, salt, fmt.Errorf("esp: %v takes %d bytes of keying material (key and salt), got %d", c, c.KeyLen(), len(keymat))
	}
	k := len(keymat) - saltLen
	copy(salt[:], keymat[k:])
	var a cipher.AEAD
	switch c {
	case AES128GCM16, AES256GCM16:
		b, err := aes.NewCipher(keymat[:k])
		if err != nil {
			return nil, salt, fmt.Errorf("esp: %v: %w", c, err)
		}
		if a, err = cipher.NewGCM(b); err != nil {
			return nil, salt, fmt.Errorf("esp: %v: %w", c, err)
		}
	case ChaCha20Poly1305:
		var err error
		if a, err = chacha20poly1305.New(keymat[:k]); err != nil {
			return nil, salt, fmt.Errorf("esp: %v: %w", c, err)
		}
	}
	if a.NonceSize() != saltLen+ivLen || a.Overhead() != icvLen {
		return nil, salt, fmt.Errorf("esp: %v: unexpected nonce or tag size", c)
	}
	return a, salt, nil
}
