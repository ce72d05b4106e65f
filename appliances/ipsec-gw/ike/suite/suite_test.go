package suite

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"strings"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
	"github.com/nfvkit/nfvkit/pkg/config"
)

func TestAlgs(t *testing.T) {
	tests := []struct {
		e    config.Encr
		p    config.PRF
		g    config.DHGroup
		want Algs
		name string
	}{
		{config.AES256GCM16, config.PRFSHA256, config.X25519,
			Algs{wire.EncrAESGCM16, 256, wire.PRFHMACSHA256, wire.DHCurve25519}, "aes256gcm16-prfsha256-x25519"},
		{config.AES128GCM16, config.PRFSHA384, config.ECP256,
			Algs{wire.EncrAESGCM16, 128, wire.PRFHMACSHA384, wire.DHECP256}, "aes128gcm16-prfsha384-ecp256"},
		{config.ChaCha20Poly1305, config.PRFSHA256, config.X25519,
			Algs{wire.EncrChaCha20Poly1305, 256, wire.PRFHMACSHA256, wire.DHCurve25519}, "chacha20poly1305-prfsha256-x25519"},
	}
	for _, tt := range tests {
		var a Algs
		a.Encr, a.KeyBits = EncrOf(tt.e)
		a.PRF, a.DH = PRFOf(tt.p), DHOf(tt.g)
		if a != tt.want {
			t.Errorf("%s %s %s = %+v, want %+v", tt.e, tt.p, tt.g, a, tt.want)
		}
		if s := a.String(); s != tt.name {
			t.Errorf("%+v.String() = %q, want %q", a, s, tt.name)
		}
		if _, _, err := a.check(); err != nil {
			t.Errorf("%v: %v", a, err)
		}
		if n, _ := AEADKeyLen(a.Encr, a.KeyBits); n+SaltLen != tt.e.KeyLen() {
			t.Errorf("%v: key+salt %d, config says %d", a, n+SaltLen, tt.e.KeyLen())
		}
	}
	if id, bits := EncrOf("des"); id != 0 || bits != 0 {
		t.Errorf("EncrOf(des) = %d, %d", id, bits)
	}
	if PRFOf("prfmd5") != 0 || DHOf("modp1024") != 0 {
		t.Error("unknown PRF or group mapped")
	}
	if s := (Algs{12, 0, 7, 14}).String(); s != "encr12-prf7-dh14" {
		t.Errorf("unknown IDs print as %q", s)
	}
	// ChaCha20-Poly1305 is sent without a Key Length attribute (RFC 7634).
	if n, err := AEADKeyLen(wire.EncrChaCha20Poly1305, 0); n != 32 || err != nil {
		t.Errorf("AEADKeyLen(chacha, 0) = %d, %v", n, err)
	}
	for _, a := range []Algs{
		{wire.EncrAESGCM16, 192, wire.PRFHMACSHA256, wire.DHECP256},
		{wire.EncrAESGCM16, 256, 2, wire.DHECP256},
		{12, 256, wire.PRFHMACSHA256, wire.DHECP256},
	} {
		if _, err := IKEKeys(a, []byte("ni"), []byte("nr"), []byte("gir"), 1, 2); err == nil {
			t.Errorf("IKEKeys(%v) accepted", a)
		}
	}
	if _, err := NewDH(14); err == nil {
		t.Error("NewDH(14) accepted")
	}
}

// plainPRFPlus is RFC 7296 section 2.13's prf+, written as plainly as
// possible, to cross-check PRF.Plus independently of the vectors.
func plainPRFPlus(h func() hash.Hash, key, seed []byte, n int) []byte {
	var out, t []byte
	for i := byte(1); len(out) < n; i++ {
		m := hmac.New(h, key)
		m.Write(t)
		m.Write(seed)
		m.Write([]byte{i})
		t = m.Sum(nil)
		out = append(out, t...)
	}
	return out[:n]
}

func TestPRFPlus(t *testing.T) {
	key, seed := []byte("some key"), []byte("a seed of some length")
	for _, c := range []struct {
		id uint16
		h  func() hash.Hash
	}{{wire.PRFHMACSHA256, sha256.New}, {wire.PRFHMACSHA384, sha512.New384}} {
		p, err := NewPRF(c.id)
		if err != nil {
			t.Fatal(err)
		}
		if p.ID() != c.id || p.Size() != c.h().Size() {
			t.Errorf("PRF %d: ID %d Size %d", c.id, p.ID(), p.Size())
		}
		for _, n := range []int{0, 1, p.Size() - 1, p.Size(), p.Size() + 1, 168, 1000, p.MaxPlus()} {
			got := p.Plus(key, seed, n)
			if want := plainPRFPlus(c.h, key, seed, n); !bytes.Equal(got, want) {
				t.Errorf("PRF %d: Plus(%d) differs from the plain prf+", c.id, n)
			}
			if len(got) != n || cap(got) != n {
				t.Errorf("PRF %d: Plus(%d) has len %d cap %d", c.id, n, len(got), cap(got))
			}
		}
		// 256 blocks would need a counter of 256.
		for _, n := range []int{p.MaxPlus() + 1, 256 * p.Size(), -1} {
			if _, err := p.plus(key, seed, n); !errors.Is(err, ErrPlusTooLong) {
				t.Errorf("PRF %d: plus(%d) error %v, want ErrPlusTooLong", c.id, n, err)
			}
			func() {
				defer func() {
					if r := recover(); r == nil || !errors.Is(r.(error), ErrPlusTooLong) {
						t.Errorf("PRF %d: Plus(%d) did not panic with ErrPlusTooLong: %v", c.id, n, r)
					}
				}()
				p.Plus(key, seed, n)
			}()
		}
		// Child SAs take their length from outside: an error, not a panic.
		if _, _, err := ChildKeys(c.id, key, nil, seed, seed, p.MaxPlus()/2+1); !errors.Is(err, ErrPlusTooLong) {
			t.Errorf("PRF %d: ChildKeys too long: %v", c.id, err)
		}
		if _, _, err := ChildKeys(c.id, key, nil, seed, seed, 0); err == nil {
			t.Errorf("PRF %d: ChildKeys(n=0) accepted", c.id)
		}
	}
	if _, err := NewPRF(2); err == nil { // HMAC-SHA1
		t.Error("NewPRF(2) accepted")
	}
}

func TestDHRoundTrip(t *testing.T) {
	for _, g := range []uint16{wire.DHECP256, wire.DHCurve25519} {
		a, err := NewDH(g)
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewDH(g)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Public()) != PublicLen(g) {
			t.Errorf("group %d: Public has %d bytes, want %d", g, len(a.Public()), PublicLen(g))
		}
		za, err := a.Shared(b.Public())
		if err != nil {
			t.Fatal(err)
		}
		zb, err := b.Shared(a.Public())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(za, zb) || len(za) != 32 {
			t.Errorf("group %d: shared secrets differ or have the wrong length (%d)", g, len(za))
		}
	}
}

func TestDHRejects(t *testing.T) {
	p, err := NewDH(wire.DHECP256)
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := NewDH(wire.DHECP256)
	offCurve := bytes.Clone(peer.Public())
	offCurve[63] ^= 1 // y no longer matches x
	sec1 := append([]byte{4}, peer.Public()...)
	x, _ := NewDH(wire.DHCurve25519)
	// Points of small order on Curve25519: 0 and 1 give an all-zero
	// result whatever the private key.
	one := make([]byte, 32)
	one[0] = 1
	tests := []struct {
		name string
		d    *DH
		peer []byte
	}{
		{"ecp256/empty", p, nil},
		{"ecp256/short", p, peer.Public()[:63]},
		{"ecp256/long", p, append(bytes.Clone(peer.Public()), 0)},
		{"ecp256/sec1-form", p, sec1},
		{"ecp256/off-curve", p, offCurve},
		{"ecp256/zero", p, make([]byte, 64)},
		{"ecp256/x-too-big", p, bytes.Repeat([]byte{0xff}, 64)},
		{"x25519/short", x, make([]byte, 31)},
		{"x25519/long", x, make([]byte, 33)},
		{"x25519/zero-point", x, make([]byte, 32)},
		{"x25519/one-point", x, one},
	}
	for _, tt := range tests {
		if z, err := tt.d.Shared(tt.peer); err == nil {
			t.Errorf("%s: accepted, g^ir %x", tt.name, z)
		}
	}
}

func TestCrypters(t *testing.T) {
	ni, nr := NewNonce(NonceLen), NewNonce(NonceLen)
	for _, a := range []Algs{
		{wire.EncrAESGCM16, 128, wire.PRFHMACSHA256, wire.DHECP256},
		{wire.EncrAESGCM16, 256, wire.PRFHMACSHA384, wire.DHCurve25519},
		{wire.EncrChaCha20Poly1305, 256, wire.PRFHMACSHA256, wire.DHCurve25519},
	} {
		k, err := IKEKeys(a, ni, nr, []byte("a shared secret of 32 bytes....."), 0x1122334455667788, 0x99aabbccddeeff00)
		if err != nil {
			t.Fatal(err)
		}
		iOut, iIn, err := k.Crypters(a, true)
		if err != nil {
			t.Fatal(err)
		}
		rOut, rIn, err := k.Crypters(a, false)
		if err != nil {
			t.Fatal(err)
		}
		ek, _ := AEADKeyLen(a.Encr, a.KeyBits)
		if !bytes.Equal(iOut.Salt[:], k.SKei[ek:]) || !bytes.Equal(iIn.Salt[:], k.SKer[ek:]) {
			t.Errorf("%v: salts are not SK_e's last 4 bytes", a)
		}
		k.Wipe() // the crypters keep their own copies
		for _, c := range []struct {
			name     string
			seal     *wire.Crypter
			open     *wire.Crypter
			wrongKey *wire.Crypter
		}{{"i->r", iOut, rIn, iIn}, {"r->i", rOut, iIn, rIn}} {
			if c.seal.AEAD.NonceSize() != 12 || c.seal.AEAD.Overhead() != 16 {
				t.Errorf("%v: nonce %d, ICV %d", a, c.seal.AEAD.NonceSize(), c.seal.AEAD.Overhead())
			}
			var nonce [12]byte
			copy(nonce[:], c.seal.Salt[:])
			binary.BigEndian.PutUint64(nonce[4:], c.seal.NextIV)
			ad, msg := []byte("ike header"), []byte("IDi AUTH SAi2 TSi TSr")
			ct := c.seal.AEAD.Seal(nil, nonce[:], msg, ad)
			copy(nonce[:], c.open.Salt[:])
			pt, err := c.open.AEAD.Open(nil, nonce[:], ct, ad)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Errorf("%v %s: does not open: %v", a, c.name, err)
			}
			copy(nonce[:], c.wrongKey.Salt[:])
			if _, err := c.wrongKey.AEAD.Open(nil, nonce[:], ct, ad); err == nil {
				t.Errorf("%v %s: opens with the other direction's key", a, c.name)
			}
		}
		if _, _, err := k.Crypters(a, true); err == nil {
			t.Errorf("%v: Crypters of wiped keys accepted", a)
		}
	}
}

func TestWipe(t *testing.T) {
	a := Algs{wire.EncrAESGCM16, 256, wire.PRFHMACSHA256, wire.DHCurve25519}
	k, err := IKEKeys(a, []byte("ni"), []byte("nr"), []byte("gir"), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	all := [][]byte{k.SKd, k.SKei, k.SKer, k.SKpi, k.SKpr}
	k.Wipe()
	for i, b := range all {
		if !bytes.Equal(b, make([]byte, len(b))) {
			t.Errorf("key %d not zeroed", i)
		}
	}
	if k.SKd != nil || k.SKei != nil || k.SKer != nil || k.SKpi != nil || k.SKpr != nil {
		t.Error("Wipe left keys in place")
	}
}

func TestPSKAuth(t *testing.T) {
	psk, msg, nonce := []byte("correct horse battery staple"), []byte("IKE_SA_INIT request bytes"), NewNonce(32)
	skp, id := bytes.Repeat([]byte{0x5a}, 48), []byte{wire.IDFQDN, 0, 0, 0, 'g', 'w'}
	for _, c := range []struct {
		id uint16
		h  func() hash.Hash
	}{{wire.PRFHMACSHA256, sha256.New}, {wire.PRFHMACSHA384, sha512.New384}} {
		got, err := PSKAuth(c.id, psk, msg, nonce, skp, id)
		if err != nil {
			t.Fatal(err)
		}
		mac := func(key []byte, data ...[]byte) []byte {
			m := hmac.New(c.h, key)
			for _, d := range data {
				m.Write(d)
			}
			return m.Sum(nil)
		}
		want := mac(mac(psk, []byte("Key Pad for IKEv2")), msg, nonce, mac(skp, id))
		if !hmac.Equal(got, want) {
			t.Errorf("PRF %d: AUTH = %x, want %x", c.id, got, want)
		}
		other, _ := PSKAuth(c.id, []byte("wrong"), msg, nonce, skp, id)
		if hmac.Equal(got, other) {
			t.Errorf("PRF %d: AUTH does not depend on the PSK", c.id)
		}
	}
	if _, err := PSKAuth(2, psk, msg, nonce, skp, id); err == nil {
		t.Error("PSKAuth with PRF 2 accepted")
	}
}

func TestNATHash(t *testing.T) {
	const spii, spir = 0x0102030405060708, 0x1112131415161718
	spis := unhex(t, "0102030405060708 1112131415161718")
	for _, c := range []struct {
		ap string
		ip string
	}{
		{"192.0.2.1:500", "c0000201"},
		{"[::ffff:192.0.2.1]:4500", "c0000201"},
		{"[2001:db8::1]:500", "20010db8000000000000000000000001"},
	} {
		ap := netip.MustParseAddrPort(c.ap)
		var port [2]byte
		binary.BigEndian.PutUint16(port[:], ap.Port())
		want := sha1.Sum(concat(spis, unhex(t, c.ip), port[:]))
		if got := NATHash(spii, spir, ap); got != want {
			t.Errorf("%s: %x, want %x", c.ap, got, want)
		}
	}
	ap := netip.MustParseAddrPort("[2001:db8::1]:4500")
	if n := testing.AllocsPerRun(100, func() { NATHash(spii, spir, ap) }); n != 0 {
		t.Errorf("NATHash allocates %v times", n)
	}
}

func TestCookies(t *testing.T) {
	c := NewCookies()
	ni, ip, spi := NewNonce(32), netip.MustParseAddr("198.51.100.7"), uint64(0xdeadbeefcafe)
	ck := c.Make(ni, ip, spi)
	if len(ck) != CookieLen || len(ck) > 64 {
		t.Fatalf("cookie of %d bytes", len(ck))
	}
	if !c.Check(ck, ni, ip, spi) {
		t.Fatal("fresh cookie does not check")
	}
	if !c.Check(ck, ni, netip.MustParseAddr("::ffff:198.51.100.7"), spi) {
		t.Error("cookie does not check from the same IPv4 address seen mapped")
	}
	// Tampered cookies, or the right cookie for another request.
	for i := range ck {
		bad := bytes.Clone(ck)
		bad[i] ^= 0x80
		if c.Check(bad, ni, ip, spi) {
			t.Errorf("cookie with byte %d changed checks", i)
		}
	}
	otherNi := bytes.Clone(ni)
	otherNi[0] ^= 1
	for name, ok := range map[string]bool{
		"short":        c.Check(ck[:len(ck)-1], ni, ip, spi),
		"long":         c.Check(append(bytes.Clone(ck), 0), ni, ip, spi),
		"empty":        c.Check(nil, ni, ip, spi),
		"other Ni":     c.Check(ck, otherNi, ip, spi),
		"other IP":     c.Check(ck, ni, netip.MustParseAddr("198.51.100.8"), spi),
		"other v6":     c.Check(ck, ni, netip.MustParseAddr("2001:db8::7"), spi),
		"other SPI":    c.Check(ck, ni, ip, spi+1),
		"other secret": NewCookies().Check(ck, ni, ip, spi),
	} {
		if ok {
			t.Errorf("%s: checks", name)
		}
	}
	c.Rotate()
	if !c.Check(ck, ni, ip, spi) {
		t.Error("cookie of the previous secret does not check after one Rotate")
	}
	ck2 := c.Make(ni, ip, spi)
	if bytes.Equal(ck, ck2) {
		t.Error("Rotate did not change the cookie")
	}
	c.Rotate()
	if c.Check(ck, ni, ip, spi) {
		t.Error("cookie still checks after two Rotates")
	}
	if !c.Check(ck2, ni, ip, spi) {
		t.Error("cookie of the previous secret does not check after one Rotate")
	}
	// The version byte wraps; a secret 256 rotations old does not come back.
	for range 256 {
		c.Rotate()
	}
	if c.Check(ck2, ni, ip, spi) {
		t.Error("cookie checks again after the version byte wrapped")
	}
}

func TestNewNonce(t *testing.T) {
	a, b := NewNonce(NonceLen), NewNonce(NonceLen)
	if len(a) != NonceLen || bytes.Equal(a, b) {
		t.Errorf("nonces %x %x", a, b)
	}
}

// Formatting Keys in any way must not show a key, in hex (either case)
// or raw.
func TestKeysRedacted(t *testing.T) {
	a := Algs{wire.EncrAESGCM16, 256, wire.PRFHMACSHA256, wire.DHCurve25519}
	k, err := IKEKeys(a, []byte("ni"), []byte("nr"), []byte("gir"), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	type holder struct {
		Name string
		Keys *Keys
		Val  Keys
	}
	h := holder{"sa", k, *k}
	outs := []string{
		fmt.Sprintf("%v %+v %#v %s", k, k, k, k),
		fmt.Sprintf("%v %+v %#v %s", *k, *k, *k, *k),
		fmt.Sprintf("%x %X %q %d", *k, k, *k, k),
		fmt.Sprintf("%v %+v %#v", h, h, h),
		fmt.Sprint(k), k.String(), fmt.Sprintln(*k),
	}
	for _, out := range outs {
		if !strings.Contains(out, "redacted") {
			t.Errorf("output does not say it redacted: %q", out)
		}
		for _, key := range [][]byte{k.SKd, k.SKei, k.SKer, k.SKpi, k.SKpr} {
			// Any 4 consecutive key bytes are enough to count as a leak.
			for i := 0; i+4 <= len(key); i++ {
				frag := key[i : i+4]
				if strings.Contains(out, string(frag)) ||
					strings.Contains(out, hex.EncodeToString(frag)) ||
					strings.Contains(out, strings.ToUpper(hex.EncodeToString(frag))) ||
					strings.Contains(out, fmt.Sprint(frag[0], " ", frag[1], " ", frag[2], " ", frag[3])) {
					t.Fatalf("key bytes leak into %q", out)
				}
			}
		}
	}
}

// BenchmarkIKESetupCrypto is one side's crypto for an IKE_SA_INIT and
// IKE_AUTH exchange with a pre-shared key: a DH key and its shared
// secret, the IKE SA's keys and two AUTH values (ours to send, the
// peer's to check).
func BenchmarkIKESetupCrypto(b *testing.B) {
	for _, a := range []Algs{
		{wire.EncrAESGCM16, 256, wire.PRFHMACSHA256, wire.DHECP256},
		{wire.EncrAESGCM16, 256, wire.PRFHMACSHA256, wire.DHCurve25519},
	} {
		b.Run(DHName(a.DH), func(b *testing.B) {
			peer, err := NewDH(a.DH)
			if err != nil {
				b.Fatal(err)
			}
			ni, nr := NewNonce(NonceLen), NewNonce(NonceLen)
			psk, msg, id := []byte("a pre-shared key"), make([]byte, 300), []byte{wire.IDFQDN, 0, 0, 0, 'g', 'w'}
			b.ReportAllocs()
			for b.Loop() {
				d, err := NewDH(a.DH)
				if err != nil {
					b.Fatal(err)
				}
				gir, err := d.Shared(peer.Public())
				if err != nil {
					b.Fatal(err)
				}
				k, err := IKEKeys(a, ni, nr, gir, 1, 2)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := PSKAuth(a.PRF, psk, msg, nr, k.SKpi, id); err != nil {
					b.Fatal(err)
				}
				if _, err := PSKAuth(a.PRF, psk, msg, ni, k.SKpr, id); err != nil {
					b.Fatal(err)
				}
				k.Wipe()
			}
		})
	}
}
