// Package suite is IKEv2's cryptography (RFC 7296 section 2.13-2.17):
// the Diffie-Hellman groups, the PRFs and prf+, the derivation of an IKE
// SA's keys (also when rekeyed) and of child SAs' keying material, the
// AUTH value of a pre-shared key, the NAT detection hashes and the
// anti-DoS cookie. It holds keys only as long as a caller keeps what it
// returns; nothing here logs or prints a key.
//
// An IKE SA's life through this package: IKE_SA_INIT picks an Algs (EncrOf,
// PRFOf, DHOf map a policy's names), each side makes a DH and a nonce
// (NewDH, NewNonce) and, once it has the peer's KE, Shared gives g^ir;
// IKEKeys turns nonces, g^ir and SPIs into Keys, whose Crypters protect
// IKE_AUTH and everything after; PSKAuth makes and checks the AUTH
// payloads; ChildKeys gives each child SA its ESP keys from SK_d, and
// RekeyKeys the keys of the IKE SA that replaces this one. A responder
// under load asks for a Cookie first, NAT detection uses NATHash.
//
// All of it runs on the control plane: functions allocate their results
// and are safe for concurrent use, except that a DH and a Keys belong to
// one goroutine at a time.
package suite

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
