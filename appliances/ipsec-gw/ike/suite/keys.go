package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
)

// IKEKeys derives a new IKE SA's keys (RFC 7296 section 2.14):
//
//	SKEYSEED = prf(Ni | Nr, g^ir)
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
//
// with SK_a* empty (AEAD ciphers) and each SK_e* the AEAD key and its
// salt (RFC 5282 section 7.1). ni and nr are the nonces' data, gir is
// DH.Shared's result, the SPIs are the IKE header's.
func IKEKeys(a Algs, ni, nr, gir []byte, spii, spir uint64) (*Keys, error) {
	encrKey, p, err := a.check()
	if err != nil {
		return nil, err
	}
	seed := skeyseed(p, ni, nr, gir)
	defer clear(seed)
	return expand(p, encrKey, seed, ni, nr, spii, spir), nil
}

// RekeyKeys derives the keys of an IKE SA made by rekeying (section
// 2.18): SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with the old
// SA's PRF, then the same expansion as IKEKeys with the new SA's suite,
// nonces and SPIs.
func RekeyKeys(oldPRF uint16, oldSKd []byte, a Algs, ni, nr, gir []byte, spii, spir uint64) (*Keys, error) {
	old, err := NewPRF(oldPRF)
	if err != nil {
		return nil, err
	}
	encrKey, p, err := a.check()
	if err != nil {
		return nil, err
	}
	seed := rekeySeed(old, oldSKd, gir, ni, nr)
	defer clear(seed)
	return expand(p, encrKey, seed, ni, nr, spii, spir), nil
}

// ChildKeys derives a child SA's keying material (section 2.17):
// KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr), gir empty without PFS. The
// first n bytes are the initiator-to-responder SA's, the next n the
// other's; n is the ESP cipher's key and salt (config.Encr.KeyLen, e.g.
// 36 for aes256gcm16). Both results share one backing array.
func ChildKeys(prf uint16, skd, gir, ni, nr []byte, n int) (initToResp, respToInit []byte, err error) {
	p, err := NewPRF(prf)
	if err != nil {
		return nil, nil, err
	}
	if n <= 0 {
		return nil, nil, fmt.Errorf("suite: child SA key length %d", n)
	}
	seed := concat(gir, ni, nr)
	defer clear(seed)
	km, err := p.plus(skd, seed, 2*n)
	if err != nil {
		return nil, nil, err
	}
	return km[:n:n], km[n:], nil
}

// skeyseed is SKEYSEED = prf(Ni | Nr, g^ir).
func skeyseed(p PRF, ni, nr, gir []byte) []byte {
	key := concat(ni, nr)
	defer clear(key)
	return p.Sum(key, gir)
}

// rekeySeed is SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr).
func rekeySeed(old PRF, skd, gir, ni, nr []byte) []byte {
	return old.Sum(skd, gir, ni, nr)
}

// expand cuts prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) into Keys. The keys
// share one backing array, capped so that appending to one cannot spill
// into the next.
func expand(p PRF, encrKey int, seed, ni, nr []byte, spii, spir uint64) *Keys {
	var spis [16]byte
	binary.BigEndian.PutUint64(spis[0:], spii)
	binary.BigEndian.PutUint64(spis[8:], spir)
	s := concat(ni, nr, spis[:])
	e := encrKey + SaltLen
	km := p.Plus(seed, s, 3*p.size+2*e)
	next := func(n int) []byte {
		k := km[:n:n]
		km = km[n:]
		return k
	}
	return &Keys{SKd: next(p.size), SKei: next(e), SKer: next(e), SKpi: next(p.size), SKpr: next(p.size)}
}

func concat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// Crypters makes the SK crypters of an IKE SA: out protects what we
// send, in opens what we receive (initiator: out uses SK_ei, in SK_er).
// Their IV counters start at 0; the AEADs hold their own copies of the
// keys, so Wipe does not disturb them.
func (k *Keys) Crypters(a Algs, initiator bool) (out, in *wire.Crypter, err error) {
	mine, theirs := k.SKei, k.SKer
	if !initiator {
		mine, theirs = theirs, mine
	}
	if out, err = newCrypter(a, mine); err != nil {
		return nil, nil, err
	}
	if in, err = newCrypter(a, theirs); err != nil {
		return nil, nil, err
	}
	return out, in, nil
}

func newCrypter(a Algs, ske []byte) (*wire.Crypter, error) {
	n, err := AEADKeyLen(a.Encr, a.KeyBits)
	if err != nil {
		return nil, err
	}
	if len(ske) != n+SaltLen {
		return nil, fmt.Errorf("suite: SK_e has %d bytes, %s wants %d", len(ske), EncrName(a.Encr, a.KeyBits), n+SaltLen)
	}
	aead, err := NewAEAD(a.Encr, ske[:n])
	if err != nil {
		return nil, err
	}
	c := &wire.Crypter{AEAD: aead}
	copy(c.Salt[:], ske[n:])
	return c, nil
}

// NewAEAD makes the AEAD of a cipher from its key (salt not included):
// AES-GCM with a 16-byte ICV, or ChaCha20-Poly1305; both take a 12-byte
// nonce.
func NewAEAD(encr uint16, key []byte) (cipher.AEAD, error) {
	switch encr {
	case wire.EncrAESGCM16:
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("suite: %w", err)
		}
		return cipher.NewGCM(b)
	case wire.EncrChaCha20Poly1305:
		a, err := chacha20poly1305.New(key)
		if err != nil {
			return nil, fmt.Errorf("suite: %w", err)
		}
		return a, nil
	}
	return nil, fmt.Errorf("suite: unsupported cipher %s", EncrName(encr, 0))
}

// Wipe zeroes the keys and drops them. Crypters made before keep working.
func (k *Keys) Wipe() {
	for _, b := range []*[]byte{&k.SKd, &k.SKei, &k.SKer, &k.SKpi, &k.SKpr} {
		clear(*b)
		*b = nil
	}
}

// Format prints k without its keys, whatever the verb (%v, %+v, %#v, %s,
// %x all give the same), so that logging Keys cannot leak one. Lengths
// are not secret and help when two sides disagree.
func (k Keys) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "suite.Keys{<redacted> SK_d:%d SK_e:%d/%d SK_p:%d/%d}", len(k.SKd), len(k.SKei), len(k.SKer), len(k.SKpi), len(k.SKpr))
}

// String is Format's text.
func (k Keys) String() string { return fmt.Sprint(k) }
