package suite

import (
	"crypto/ecdh"
	"fmt"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
)

// DH is one side's ephemeral key of a group. Public is the KE data in
// IKE's encoding (RFC 5903 section 7 for ECP: x || y, no 0x04; RFC 8031
// for Curve25519: 32 bytes). Shared checks and uses the peer's value
// (wrong length, a point not on the curve, an all-zero X25519 result: an
// error) and returns g^ir in IKE's encoding (ECP: the x coordinate only,
// RFC 5903 section 7 as corrected by erratum 9).
type DH struct {
	group uint16
	priv  *ecdh.PrivateKey
	pub   []byte
}

// PublicLen is the length of a group's KE data, 0 for a group this
// package does not implement. The state machine checks a KE payload's
// length with it before anything else (RFC 7296 section 3.4).
func PublicLen(group uint16) int {
	switch group {
	case wire.DHECP256:
		return 64
	case wire.DHCurve25519:
		return 32
	}
	return 0
}

func curveOf(group uint16) (ecdh.Curve, error) {
	switch group {
	case wire.DHECP256:
		return ecdh.P256(), nil
	case wire.DHCurve25519:
		return ecdh.X25519(), nil
	}
	return nil, fmt.Errorf("suite: unsupported DH group %s", DHName(group))
}

// NewDH makes a fresh key of group (crypto/rand).
func NewDH(group uint16) (*DH, error) {
	c, err := curveOf(group)
	if err != nil {
		return nil, err
	}
	k, err := c.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("suite: DH %s: %w", DHName(group), err)
	}
	return newDH(group, k), nil
}

// newDHFromPrivate makes a DH from a known private key (big-endian scalar
// for ECP, the 32-byte scalar for X25519), for known-answer tests.
func newDHFromPrivate(group uint16, priv []byte) (*DH, error) {
	c, err := curveOf(group)
	if err != nil {
		return nil, err
	}
	k, err := c.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("suite: DH %s: %w", DHName(group), err)
	}
	return newDH(group, k), nil
}

func newDH(group uint16, k *ecdh.PrivateKey) *DH {
	pub := k.PublicKey().Bytes()
	if group == wire.DHECP256 {
		pub = pub[1:] // drop the SEC 1 uncompressed-point tag 0x04
	}
	return &DH{group: group, priv: k, pub: pub}
}

// Group is d's IANA group ID.
func (d *DH) Group() uint16 { return d.group }

// Public is d's KE data. The caller must not modify it.
func (d *DH) Public() []byte { return d.pub }

// Shared checks peer's KE data and returns g^ir.
func (d *DH) Shared(peer []byte) ([]byte, error) {
	if want := PublicLen(d.group); len(peer) != want {
		return nil, fmt.Errorf("suite: DH %s: peer's public value has %d bytes, want %d", DHName(d.group), len(peer), want)
	}
	var pk *ecdh.PublicKey
	var err error
	if d.group == wire.DHECP256 {
		// Back to SEC 1 form, whose parser checks that the point is on
		// the curve (and not the point at infinity, which has no x||y).
		var sec1 [65]byte
		sec1[0] = 4
		copy(sec1[1:], peer)
		pk, err = d.priv.Curve().NewPublicKey(sec1[:])
	} else {
		pk, err = d.priv.Curve().NewPublicKey(peer)
	}
	if err != nil {
		return nil, fmt.Errorf("suite: DH %s: peer's public value: %w", DHName(d.group), err)
	}
	// For P-256 the result is the x coordinate; for X25519 an all-zero
	// result (a low-order peer point, RFC 8031 section 2.3) is an error.
	z, err := d.priv.ECDH(pk)
	if err != nil {
		return nil, fmt.Errorf("suite: DH %s: %w", DHName(d.group), err)
	}
	return z, nil
}
