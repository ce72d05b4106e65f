package suite

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
)

// PRF is a negotiated PRF (HMAC-SHA-256 or HMAC-SHA-384, RFC 4868). The
// zero PRF is not usable: get one from NewPRF.
type PRF struct {
	id   uint16
	hash func() hash.Hash
	size int
}

// ErrPlusTooLong is what prf+ refuses: more than 255 blocks (RFC 7296
// section 2.13, the counter is one octet).
var ErrPlusTooLong = errors.New("suite: prf+ asked for more than 255 blocks")

// NewPRF returns the PRF of an IANA PRF transform ID.
func NewPRF(id uint16) (PRF, error) {
	switch id {
	case wire.PRFHMACSHA256:
		return PRF{id, sha256.New, sha256.Size}, nil
	case wire.PRFHMACSHA384:
		return PRF{id, sha512.New384, sha512.Size384}, nil
	}
	return PRF{}, fmt.Errorf("suite: unsupported PRF %s", prfName(id))
}

// ID is p's IANA transform ID.
func (p PRF) ID() uint16 { return p.id }

// Size is the length of p's output, which is also its preferred key
// length (RFC 7296 section 2.13).
func (p PRF) Size() int { return p.size }

// Sum is prf(key, data[0] | data[1] | ...). HMAC takes keys of any
// length, so key is used whole (RFC 7296 section 2.14's rule for
// fixed-key PRFs does not apply).
func (p PRF) Sum(key []byte, data ...[]byte) []byte {
	h := hmac.New(p.hash, key)
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(make([]byte, 0, p.size))
}

// MaxPlus is the most prf+ gives: 255 blocks.
func (p PRF) MaxPlus() int { return 255 * p.size }

// Plus is prf+(key, seed) cut to n bytes (RFC 7296 section 2.13):
//
//	T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), prf+ = T1 | T2 | ...
//
// Asking for more than MaxPlus bytes is a programming error (every length
// this package derives is bounded far below) and panics with
// ErrPlusTooLong; callers with a length from outside check it first, as
// ChildKeys does.
func (p PRF) Plus(key, seed []byte, n int) []byte {
	out, err := p.plus(key, seed, n)
	if err != nil {
		panic(err)
	}
	return out
}

func (p PRF) plus(key, seed []byte, n int) ([]byte, error) {
	if n < 0 || n > p.MaxPlus() {
		return nil, fmt.Errorf("%w (%d bytes, at most %d with %s)", ErrPlusTooLong, n, p.MaxPlus(), prfName(p.id))
	}
	blocks := (n + p.size - 1) / p.size
	out := make([]byte, 0, blocks*p.size)
	h := hmac.New(p.hash, key)
	var prev []byte
	for i := 1; i <= blocks; i++ {
		h.Reset()
		h.Write(prev)
		h.Write(seed)
		h.Write([]byte{byte(i)})
		start := len(out)
		out = h.Sum(out)
		prev = out[start:]
	}
	// The bytes past n are keying material nobody asked for: do not leave
	// them in the backing array.
	clear(out[n:])
	return out[:n:n], nil
}
