package suite

import (
	"fmt"
	"strconv"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// SaltLen is the length of the salt that follows an AEAD key in SK_e and
// in a child SA's keying material (RFC 5282 section 7.1, RFC 4106 section
// 8.1, RFC 7634 section 2).
const SaltLen = 4

// EncrOf maps a policy's cipher to its IANA transform ID and key length
// in bits (the Key Length attribute; RFC 7634 sends none for
// ChaCha20-Poly1305, whose key is always 256 bits). An unknown name gives
// (0, 0).
func EncrOf(e config.Encr) (id, keyBits uint16) {
	switch e {
	case config.AES128GCM16:
		return wire.EncrAESGCM16, 128
	case config.AES256GCM16:
		return wire.EncrAESGCM16, 256
	case config.ChaCha20Poly1305:
		return wire.EncrChaCha20Poly1305, 256
	}
	return 0, 0
}

// PRFOf maps a policy's PRF to its IANA transform ID, 0 if unknown.
func PRFOf(p config.PRF) uint16 {
	switch p {
	case config.PRFSHA256:
		return wire.PRFHMACSHA256
	case config.PRFSHA384:
		return wire.PRFHMACSHA384
	}
	return 0
}

// DHOf maps a policy's DH group to its IANA transform ID, 0 if unknown.
func DHOf(g config.DHGroup) uint16 {
	switch g {
	case config.ECP256:
		return wire.DHECP256
	case config.X25519:
		return wire.DHCurve25519
	}
	return 0
}

// String names a in strongSwan's proposal syntax, as a policy does:
// aes256gcm16-prfsha256-x25519. IDs this package does not know are shown
// by number (encr12, prf7, dh14) so a log still says what was negotiated.
func (a Algs) String() string {
	return EncrName(a.Encr, a.KeyBits) + "-" + prfName(a.PRF) + "-" + DHName(a.DH)
}

// DHName is a DH group's name in strongSwan's syntax (ecp256, x25519).
func DHName(id uint16) string {
	switch id {
	case wire.DHECP256:
		return string(config.ECP256)
	case wire.DHCurve25519:
		return string(config.X25519)
	}
	return "dh" + strconv.Itoa(int(id))
}

// EncrName is a cipher's name in strongSwan's syntax (aes128gcm16,
// chacha20poly1305), for ESP's proposals as well as IKE's.
func EncrName(id, keyBits uint16) string {
	switch id {
	case wire.EncrAESGCM16:
		return "aes" + strconv.Itoa(int(keyBits)) + "gcm16"
	case wire.EncrChaCha20Poly1305:
		return string(config.ChaCha20Poly1305)
	}
	return "encr" + strconv.Itoa(int(id))
}

func prfName(id uint16) string {
	switch id {
	case wire.PRFHMACSHA256:
		return string(config.PRFSHA256)
	case wire.PRFHMACSHA384:
		return string(config.PRFSHA384)
	}
	return "prf" + strconv.Itoa(int(id))
}

// AEADKeyLen is the key length in bytes of a cipher this package
// implements, salt not included; an error names what is unsupported.
func AEADKeyLen(id, keyBits uint16) (int, error) {
	switch {
	case id == wire.EncrAESGCM16 && (keyBits == 128 || keyBits == 256):
		return int(keyBits) / 8, nil
	case id == wire.EncrChaCha20Poly1305 && (keyBits == 256 || keyBits == 0):
		return 32, nil
	}
	return 0, fmt.Errorf("suite: unsupported cipher %s (key length %d)", EncrName(id, keyBits), keyBits)
}

// check reports whether a is a suite this package implements (the DH
// group is not needed to derive keys and is not checked).
func (a Algs) check() (encrKey int, p PRF, err error) {
	if encrKey, err = AEADKeyLen(a.Encr, a.KeyBits); err != nil {
		return 0, PRF{}, err
	}
	p, err = NewPRF(a.PRF)
	return encrKey, p, err
}
