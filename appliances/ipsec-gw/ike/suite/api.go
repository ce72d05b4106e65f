// Package suite is IKEv2's cryptography (RFC 7296 section 2.13-2.17):
// the Diffie-Hellman groups, the PRFs and prf+, the derivation of an IKE
// SA's keys (also when rekeyed) and of child SAs' keying material, the
// AUTH value of a pre-shared key, the NAT detection hashes and the
// anti-DoS cookie. It holds keys only as long as a caller keeps what it
// returns; nothing here logs or prints a key.
//
// THIS FILE IS THE AGREED API. Implementations live beside it.
package suite

import (
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// Algs is a negotiated IKE SA suite, by IANA transform ID (package wire's
// constants): the AEAD (EncrAESGCM16 with KeyBits 128 or 256, or
// EncrChaCha20Poly1305 with 256), the PRF and the DH group.
type Algs struct {
	Encr    uint16
	KeyBits uint16
	PRF     uint16
	DH      uint16
}

// Keys are an IKE SA's keys (no SK_a: the ciphers are AEADs). SKe* are
// the AEAD key followed by its 4-byte salt.
type Keys struct {
	SKd, SKei, SKer, SKpi, SKpr []byte
}

// The functions (implemented beside this file):
//
//	// FromConfig maps a policy's algorithm names to IANA transform IDs
//	// (and key lengths); and back, for logs.
//	func EncrOf(e config.Encr) (id, keyBits uint16)
//	func PRFOf(p config.PRF) uint16
//	func DHOf(g config.DHGroup) uint16
//	func (a Algs) String() string // e.g. aes256gcm16-prfsha256-x25519
//
//	// DH is one side's ephemeral key of a group. Public is the KE data in
//	// IKE's encoding (RFC 5903 section 7 for ECP: x || y, no 0x04; RFC
//	// 8031 for Curve25519: 32 bytes). Shared checks and uses the peer's
//	// value (wrong length, a point not on the curve, an all-zero X25519
//	// result: an error) and returns g^ir in IKE's encoding (ECP: x only).
//	func NewDH(group uint16) (*DH, error)
//	func (d *DH) Group() uint16
//	func (d *DH) Public() []byte
//	func (d *DH) Shared(peer []byte) ([]byte, error)
//
//	// PRF is a negotiated PRF. Sum is prf(key, data...); Plus is prf+
//	// (RFC 7296 section 2.13) giving n bytes. KeyLen is its preferred key
//	// length (the hash's size).
//	func NewPRF(id uint16) (PRF, error)
//	func (p PRF) Sum(key []byte, data ...[]byte) []byte
//	func (p PRF) Plus(key, seed []byte, n int) []byte
//	func (p PRF) Size() int
//
//	// IKEKeys derives a new IKE SA's keys (section 2.14): SKEYSEED =
//	// prf(Ni | Nr, g^ir); {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi |
//	// SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), with no SK_a* here.
//	func IKEKeys(a Algs, ni, nr, gir []byte, spii, spir uint64) (*Keys, error)
//	// RekeyKeys derives the keys of an IKE SA made by rekeying (section
//	// 2.18): SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), with the
//	// old SA's PRF, then as above with the new suite.
//	func RekeyKeys(oldPRF uint16, oldSKd []byte, a Algs, ni, nr, gir []byte, spii, spir uint64) (*Keys, error)
//	// ChildKeys derives a child SA's keying material (section 2.17):
//	// KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr); the first n bytes are
//	// the initiator-to-responder SA's, the next n the other's.
//	func ChildKeys(prf uint16, skd, gir, ni, nr []byte, n int) (initToResp, respToInit []byte, err error)
//	// Crypters makes the SK crypters of an IKE SA: out protects what we
//	// send, in opens what we receive (initiator: out uses SK_ei, in SK_er).
//	func (k *Keys) Crypters(a Algs, initiator bool) (out, in *wire.Crypter, err error)
//	// Wipe zeroes the keys.
//	func (k *Keys) Wipe()
//
//	// PSKAuth is the AUTH data for a pre-shared key (section 2.15):
//	// prf(prf(psk, "Key Pad for IKEv2"), msg | nonce | prf(skp, idBody)),
//	// where msg is the sender's IKE_SA_INIT message, nonce the peer's and
//	// skp the sender's SK_p. Compare with hmac.Equal.
//	func PSKAuth(prf uint16, psk, msg, peerNonce, skp, idBody []byte) ([]byte, error)
//
//	// NATHash is a NAT_DETECTION_*_IP value (section 2.23): SHA-1(SPIi |
//	// SPIr | IP | port).
//	func NATHash(spii, spir uint64, ap netip.AddrPort) [20]byte
//
//	// Cookies makes and checks the anti-DoS cookie (section 2.6): a
//	// version byte, then a hash of Ni | IPi | SPIi | secret; the secret
//	// is random and changes on Rotate, while the previous one is still
//	// accepted.
//	func NewCookies() *Cookies
//	func (c *Cookies) Make(ni []byte, ipi netip.Addr, spii uint64) []byte
//	func (c *Cookies) Check(cookie, ni []byte, ipi netip.Addr, spii uint64) bool
//	func (c *Cookies) Rotate()
//
//	// NewNonce returns a random nonce of n bytes (32 here).
//	func NewNonce(n int) []byte
var (
	_ = config.Encr("")
	_ wire.Crypter
)
