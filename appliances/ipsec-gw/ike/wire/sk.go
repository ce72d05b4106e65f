package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The SK payload's fixed sizes with the AEADs of RFC 5282 and RFC 7634.
const (
	IVLen   = 8  // the explicit IV, our counter
	ICVLen  = 16 // the AEAD's tag
	SaltLen = 4  // the implicit part of the nonce, from SK_e
)

// skOverhead is what an SK payload adds to the payloads it holds: its
// generic header, the IV, the pad length octet and the ICV.
const skOverhead = 4 + IVLen + 1 + ICVLen

func (c *Crypter) check() error {
	if c == nil || c.AEAD == nil {
		return errors.New("ike: no crypter")
	}
	if c.AEAD.NonceSize() != SaltLen+IVLen || c.AEAD.Overhead() != ICVLen {
		return fmt.Errorf("ike: AEAD with a %d-byte nonce and a %d-byte tag, want %d and %d",
			c.AEAD.NonceSize(), c.AEAD.Overhead(), SaltLen+IVLen, ICVLen)
	}
	return nil
}

// nonceFor is the AEAD nonce of an SK payload with explicit IV iv:
// Salt || IV (RFC 5282 section 4, RFC 7634 section 2).
func (c *Crypter) nonceFor(iv []byte) []byte {
	copy(c.nonce[:], c.Salt[:])
	copy(c.nonce[SaltLen:], iv)
	return c.nonce[:]
}

// Seal writes a message whose payloads all travel in an SK payload
// (RFC 7296 section 3.14, RFC 5282): the header (Next SK, and Length, both
// stored in m.Header), the SK payload's generic header (its next payload
// field is the first inner payload's type), the IV (c.NextIV, which Seal
// then increments), and the AEAD's output for the inner payloads followed
// by a pad length of 0. The nonce is c.Salt || IV; the associated data is
// everything before the IV. An empty m.Payloads makes an empty SK payload
// (a liveness check).
func (m *Message) Seal(c *Crypter) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	const ivAt = HeaderLen + 4
	b := make([]byte, ivAt+IVLen, 512)
	b, err := appendChain(b, m.Payloads, true)
	if err != nil {
		return nil, err
	}
	b = append(b, 0) // pad length: no padding
	total := len(b) + ICVLen
	if total > MaxMessage {
		return nil, fmt.Errorf("ike: message of %d bytes is longer than %d", total, MaxMessage)
	}
	if c.NextIV == math.MaxUint64 {
		return nil, errors.New("ike: SK IVs exhausted")
	}
	iv := c.NextIV
	c.NextIV++

	m.Next = PayloadSK
	m.Length = uint32(total)
	m.Header.Encode(b[:0])
	first := PayloadNone
	if len(m.Payloads) > 0 {
		first = m.Payloads[0].Kind()
	}
	b[HeaderLen] = byte(first)
	b[HeaderLen+1] = 0
	binary.BigEndian.PutUint16(b[HeaderLen+2:], uint16(total-HeaderLen))
	binary.BigEndian.PutUint64(b[ivAt:], iv)

	nonce := c.nonceFor(b[ivAt : ivAt+IVLen])
	// Encrypt in place: the output starts where the plaintext does.
	return c.AEAD.Seal(b[:ivAt+IVLen], nonce, b[ivAt+IVLen:], b[:ivAt]), nil
}

// Open authenticates and decrypts m's SK payload with c and replaces it
// with the payloads it held, decoded as strictly as Decode does (their
// chain starts with the SK payload's next payload field). b is the
// message's bytes that Decode read: the header and the SK payload's
// generic header, as received, are the associated data.
//
// The plaintext is decrypted in place, into b, and the inner payloads
// alias it. If authentication fails, Open returns an *Error with Notify 0
// (drop silently, RFC 7296 section 2.21.2), m is unchanged and the SK
// payload's bytes in b are garbage.
func (m *Message) Open(b []byte, c *Crypter) error {
	if err := c.check(); err != nil {
		return err
	}
	k := len(m.Payloads) - 1
	if k < 0 {
		return &Error{Msg: "no SK payload to open"}
	}
	e, ok := m.Payloads[k].(*Encrypted)
	if !ok {
		return &Error{Msg: "no SK payload to open"}
	}
	body := e.Body
	if len(body) < IVLen+1+ICVLen {
		return &Error{Msg: fmt.Sprintf("SK payload: %d bytes, too short for IV, pad length and ICV", len(body))}
	}
	skAt := len(b) - len(body) - 4
	if skAt < HeaderLen || &b[len(b)-len(body)] != &body[0] {
		return errors.New("ike: Open: the SK payload is not at the end of the bytes given")
	}
	ct := body[IVLen:]
	pt, err := c.AEAD.Open(ct[:0], c.nonceFor(body[:IVLen]), ct, b[:skAt+4])
	if err != nil {
		return &Error{Msg: "SK payload: authentication failed"}
	}
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return syntaxError("SK payload: pad length %d in %d bytes of plaintext", pad, len(pt))
	}
	inner, err := decodeChain(nil, e.First, pt[:len(pt)-1-pad], true)
	if err != nil {
		return err
	}
	m.Payloads = append(m.Payloads[:k], inner...)
	return nil
}
