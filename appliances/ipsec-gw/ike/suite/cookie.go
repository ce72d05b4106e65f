package suite

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
)

// CookieLen is the length of the cookies Make returns: a version byte
// and a SHA-256 (RFC 7296 section 3.10.1 allows up to 64 bytes).
const CookieLen = 1 + sha256.Size

// Cookies makes and checks the anti-DoS cookie (RFC 7296 section 2.6):
//
//	Cookie = <VersionIDofSecret> | SHA-256(Ni | IPi | SPIi | <secret>)
//
// The secret is random and changes on Rotate (every few minutes, and
// whenever a cookie could have leaked); the previous secret is still
// accepted so that a cookie handed out just before a Rotate works. Make,
// Check and Rotate are safe for concurrent use.
type Cookies struct {
	state atomic.Pointer[cookieState]
}

type cookieState struct {
	cur, prev cookieSecret
}

type cookieSecret struct {
	version byte
	valid   bool
	key     [32]byte
}

// NewCookies returns Cookies with a fresh secret.
func NewCookies() *Cookies {
	c := &Cookies{}
	s := &cookieState{cur: cookieSecret{version: 0, valid: true}}
	rand.Read(s.cur.key[:])
	c.state.Store(s)
	return c
}

// Rotate makes a new current secret; the current one becomes the
// previous, and the previous one is forgotten.
func (c *Cookies) Rotate() {
	for {
		old := c.state.Load()
		s := &cookieState{prev: old.cur, cur: cookieSecret{version: old.cur.version + 1, valid: true}}
		rand.Read(s.cur.key[:])
		if c.state.CompareAndSwap(old, s) {
			return
		}
	}
}

// Make returns the cookie for an IKE_SA_INIT request from ipi with
// nonce data ni and initiator SPI spii.
func (c *Cookies) Make(ni []byte, ipi netip.Addr, spii uint64) []byte {
	s := c.state.Load()
	out := make([]byte, CookieLen)
	out[0] = s.cur.version
	s.cur.sum(out[1:1], ni, ipi, spii)
	return out
}

// Check reports whether cookie is one Make returned, under the current
// or the previous secret, for the same Ni, IPi and SPIi. The comparison
// takes the same time whatever the cookie's bytes.
func (c *Cookies) Check(cookie, ni []byte, ipi netip.Addr, spii uint64) bool {
	if len(cookie) != CookieLen {
		return false
	}
	s := c.state.Load()
	var sec *cookieSecret
	switch v := cookie[0]; {
	case s.cur.valid && v == s.cur.version:
		sec = &s.cur
	case s.prev.valid && v == s.prev.version:
		sec = &s.prev
	default:
		return false
	}
	var want [sha256.Size]byte
	sec.sum(want[:0], ni, ipi, spii)
	return subtle.ConstantTimeCompare(want[:], cookie[1:]) == 1
}

// sum appends SHA-256(Ni | IPi | SPIi | secret) to b. IPi is 4 bytes for
// IPv4 (also when mapped into IPv6), 16 for IPv6.
func (k *cookieSecret) sum(b, ni []byte, ipi netip.Addr, spii uint64) []byte {
	h := sha256.New()
	h.Write(ni)
	if a := ipi.Unmap(); a.Is4() {
		a4 := a.As4()
		h.Write(a4[:])
	} else {
		a16 := a.As16()
		h.Write(a16[:])
	}
	var spi [8]byte
	binary.BigEndian.PutUint64(spi[:], spii)
	h.Write(spi[:])
	h.Write(k.key[:])
	return h.Sum(b)
}
