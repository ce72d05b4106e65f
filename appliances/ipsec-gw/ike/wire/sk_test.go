package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

type testCipher struct {
	name string
	key  int
	new  func(key []byte) (cipher.AEAD, error)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

var testCiphers = []testCipher{
	{"aes128gcm16", 16, newGCM},
	{"aes256gcm16", 32, newGCM},
	{"chacha20poly1305", 32, chacha20poly1305.New},
}

// testCrypter makes a crypter of c with a key and salt derived from seed,
// and its IV counter at iv.
func testCrypter(t testing.TB, c testCipher, seed byte, iv uint64) *Crypter {
	key := make([]byte, c.key)
	for i := range key {
		key[i] = seed + byte(i)
	}
	a, err := c.new(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Crypter{AEAD: a, Salt: [4]byte{seed, 0xa, 0xb, 0xc}, NextIV: iv}
}

func authMessage() *Message {
	ps := everyPayload()
	return &Message{Header: Header{SPIi: 0x1111, SPIr: 0x2222, Exchange: IKEAuth, Flags: FlagInitiator, MsgID: 1}, Payloads: ps}
}

func TestSealOpen(t *testing.T) {
	for _, tc := range testCiphers {
		t.Run(tc.name, func(t *testing.T) {
			out, in := testCrypter(t, tc, 1, 5), testCrypter(t, tc, 1, 0)
			m := authMessage()
			b, err := m.Seal(out)
			if err != nil {
				t.Fatal(err)
			}
			if out.NextIV != 6 || binary.BigEndian.Uint64(b[HeaderLen+4:]) != 5 {
				t.Fatalf("IV %x, next %d", b[HeaderLen+4:HeaderLen+12], out.NextIV)
			}
			if m.Length != uint32(len(b)) || m.Next != PayloadSK {
				t.Fatalf("header after Seal: %+v", m.Header)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if e, ok := got.Payloads[0].(*Encrypted); !ok || e.First != PayloadSA || len(got.Payloads) != 1 {
				t.Fatalf("decoded %v", got)
			}
			if err := got.Open(b, in); err != nil {
				t.Fatal(err)
			}
			want := authMessage()
			want.Header = m.Header
			want.Version = Version
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("opened %+v\nwant %+v", got, want)
			}
			// Decrypted in place: the payloads alias the message.
			v := got.Find(PayloadVendor).(*Vendor)
			if i := bytes.Index(b, []byte("nfvkit")); i < 0 || &b[i] != &v.Data[0] {
				t.Fatal("vendor ID does not alias the message")
			}

			// The next message has the next IV.
			b2, err := authMessage().Seal(out)
			if err != nil || binary.BigEndian.Uint64(b2[HeaderLen+4:]) != 6 || out.NextIV != 7 {
				t.Fatalf("second IV %x, %v", b2[HeaderLen+4:HeaderLen+12], err)
			}
		})
	}
}

// TestSealOpenEmpty: an empty SK payload (a liveness check) and payloads
// in the clear before the SK payload.
func TestSealOpenEmpty(t *testing.T) {
	tc := testCiphers[2]
	m := &Message{Header: Header{Exchange: Informational, MsgID: 9}}
	b, err := m.Seal(testCrypter(t, tc, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != HeaderLen+skOverhead || b[HeaderLen] != 0 {
		t.Fatalf("%x", b)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Open(b, testCrypter(t, tc, 2, 0)); err != nil || len(got.Payloads) != 0 {
		t.Fatal(got, err)
	}
}

func TestTamper(t *testing.T) {
	for _, tc := range testCiphers {
		out := testCrypter(t, tc, 3, 1)
		m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: CreateChildSA, MsgID: 3},
			Payloads: []Payload{&Nonce{Data: make([]byte, 32)}, &Notify{Type: InitialContact}}}
		orig, err := m.Seal(out)
		if err != nil {
			t.Fatal(err)
		}
		opened := 0
		for i := range orig {
			for _, bit := range []byte{0x01, 0x80} {
				b := bytes.Clone(orig)
				b[i] ^= bit
				got, err := Decode(b)
				if err != nil {
					continue // refused before the ICV: fine
				}
				opened++
				err = got.Open(b, testCrypter(t, tc, 3, 0))
				var e *Error
				if err == nil || !errors.As(err, &e) || e.Notify != 0 {
					t.Fatalf("%s: byte %d ^ %#x: %v", tc.name, i, bit, err)
				}
			}
		}
		// Only flips in the version, the first next payload and the
		// lengths are refused before the ICV.
		if opened < 2*len(orig)-16 {
			t.Fatalf("%s: %d of %d tampered messages reached Open", tc.name, opened, 2*len(orig))
		}
		// And the wrong key.
		var e *Error
		b := bytes.Clone(orig)
		got, _ := Decode(b)
		if err := got.Open(b, testCrypter(t, tc, 4, 0)); !errors.As(err, &e) || e.Notify != 0 || len(got.Payloads) != 1 {
			t.Fatal(err)
		}
	}
}

// TestSKLayout checks the layout of what Seal builds with crypto/cipher
// alone: the SK payload is generic header | IV | ciphertext | ICV, the
// nonce salt || IV, the associated data the IKE header and the SK
// payload's generic header, and the plaintext the inner payloads and a
// zero pad length (RFC 5282 sections 3 and 5.1).
func TestSKLayout(t *testing.T) {
	for _, tc := range testCiphers {
		c := testCrypter(t, tc, 5, 0x0102030405060708)
		m := &Message{
			Header:   Header{SPIi: 0xa1a2a3a4a5a6a7a8, SPIr: 0xb1b2b3b4b5b6b7b8, Exchange: Informational, Flags: FlagResponse, MsgID: 7},
			Payloads: []Payload{&Notify{Type: InitialContact}, &Vendor{Data: []byte{0xde, 0xad}}},
		}
		b, err := m.Seal(c)
		if err != nil {
			t.Fatal(err)
		}
		// Notify: next Vendor (43) | 0 | length 8 | protocol 0 | SPI size 0 | 16384
		// Vendor: next none | 0 | length 6 | de ad
		// pad length 0
		plain := unhex(t, "2b 00 0008 00 00 4000 | 00 00 0006 dead | 00")
		total := HeaderLen + 4 + 8 + len(plain) + 16
		header := unhex(t, "a1a2a3a4a5a6a7a8 b1b2b3b4b5b6b7b8 2e 20 25 20 00000007")
		header = binary.BigEndian.AppendUint32(header, uint32(total))
		skHeader := []byte{0x29, 0, 0, byte(total - HeaderLen)}
		if len(b) != total || !bytes.Equal(b[:HeaderLen], header) || !bytes.Equal(b[HeaderLen:HeaderLen+4], skHeader) {
			t.Fatalf("%s: %x", tc.name, b)
		}
		iv := b[HeaderLen+4 : HeaderLen+12]
		if !bytes.Equal(iv, []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Fatalf("IV %x", iv)
		}
		a := testCrypter(t, tc, 5, 0).AEAD
		nonce := append([]byte{5, 0xa, 0xb, 0xc}, iv...)
		aad := append(header, skHeader...)
		got, err := a.Open(nil, nonce, b[HeaderLen+12:], aad)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("%s: plaintext %x", tc.name, got)
		}
		// And the other way: what the AEAD seals with padding, Open takes.
		padded := append(bytes.Clone(plain[:len(plain)-1]), 0xff, 0xee, 2)
		total = HeaderLen + 4 + 8 + len(padded) + 16
		msg := binary.BigEndian.AppendUint32(bytes.Clone(header[:24]), uint32(total))
		msg = append(msg, 0x29, 0, 0, byte(total-HeaderLen))
		msg = append(msg, iv...)
		msg = a.Seal(msg, nonce, padded, msg[:HeaderLen+4])
		om, err := Decode(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := om.Open(msg, testCrypter(t, tc, 5, 0)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(om.Payloads, m.Payloads) {
			t.Fatalf("%s: opened %+v", tc.name, om.Payloads)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	tc := testCiphers[0]
	seal := func(plain []byte, first PayloadType) []byte {
		c := testCrypter(t, tc, 6, 1)
		total := HeaderLen + 4 + 8 + len(plain) + 16
		h := Header{Next: PayloadSK, Exchange: Informational, Length: uint32(total)}
		msg := h.Encode(nil)
		msg = append(msg, byte(first), 0, byte((total-HeaderLen)>>8), byte(total-HeaderLen))
		msg = append(msg, 0, 0, 0, 0, 0, 0, 0, 1)
		nonce := append(c.Salt[:], msg[HeaderLen+4:]...)
		return c.AEAD.Seal(msg, nonce, plain, msg[:HeaderLen+4])
	}
	cases := []struct {
		name   string
		b      []byte
		notify NotifyType
	}{
		{"pad length past the start", seal(unhex(t, "00 02"), 0), InvalidSyntax},
		{"no pad length", seal(nil, 0), 0},
		{"inner truncated", seal(unhex(t, "00 00 0008 00"), PayloadVendor), InvalidSyntax},
		{"inner SK", seal(unhex(t, "00 00 0004 00"), PayloadSK), InvalidSyntax},
		{"inner SKF", seal(unhex(t, "00 00 0004 00"), PayloadSKF), InvalidSyntax},
		{"inner critical unknown", seal(unhex(t, "00 80 0004 00"), 99), UnsupportedCriticalPayload},
		{"inner bad nonce", seal(unhex(t, "00 00 0005 00 00"), PayloadNonce), InvalidSyntax},
		{"inner trailing", seal(unhex(t, "00 00 0004 01 02 00"), PayloadVendor), InvalidSyntax},
		{"ok", seal(unhex(t, "00 00 0004 ffff 02"), PayloadVendor), 0xffff},
	}
	for _, c := range cases {
		m, err := Decode(c.b)
		if err == nil {
			err = m.Open(c.b, testCrypter(t, tc, 6, 0))
		}
		if c.notify == 0xffff {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Notify != c.notify {
			t.Errorf("%s: %v, want notify %v", c.name, err, c.notify)
		}
	}
	// Opening what has no SK payload, or with other bytes than decoded.
	m, _ := Decode(saInitHex(t))
	if err := m.Open(saInitHex(t), testCrypter(t, tc, 6, 0)); err == nil {
		t.Error("opened a message in the clear")
	}
	b := seal(unhex(t, "00"), 0)
	m, _ = Decode(b)
	if err := m.Open(bytes.Clone(b), testCrypter(t, tc, 6, 0)); err == nil {
		t.Error("opened with a copy of the bytes")
	}
	if err := m.Open(b, &Crypter{}); err == nil {
		t.Error("opened without an AEAD")
	}
	if _, err := m.Seal(&Crypter{AEAD: testCrypter(t, tc, 6, 0).AEAD, NextIV: ^uint64(0)}); err == nil {
		t.Error("sealed with the last IV")
	}
	if _, err := (&Message{Payloads: []Payload{&Encrypted{}}}).Seal(testCrypter(t, tc, 6, 0)); err == nil {
		t.Error("sealed SK inside SK")
	}
}

func BenchmarkSealOpen(b *testing.B) {
	for _, tc := range testCiphers {
		b.Run(tc.name, func(b *testing.B) {
			out, in := testCrypter(b, tc, 7, 0), testCrypter(b, tc, 7, 0)
			m := authMessage()
			b.ReportAllocs()
			for b.Loop() {
				msg, err := m.Seal(out)
				if err != nil {
					b.Fatal(err)
				}
				d, err := Decode(msg)
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Open(msg, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
