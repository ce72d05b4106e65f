package wire

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func hasUnknownAttrs(m *Message) bool {
	for _, p := range m.Payloads {
		if sa, ok := p.(*SA); ok {
			for _, pr := range sa.Proposals {
				for _, t := range pr.Transforms {
					if t.UnknownAttrs {
						return true
					}
				}
			}
		}
	}
	return false
}

// reencode checks that a decoded message encodes (by encode: Encode or
// a Seal) and decodes (by decode) to the same structure, or that Encode
// refuses it for the one reason it may: attributes not kept.
func reencode(t *testing.T, m *Message, encode func(*Message) ([]byte, error), decode func([]byte) (*Message, error)) {
	t.Helper()
	out, err := encode(m)
	if hasUnknownAttrs(m) {
		if err == nil {
			t.Fatal("encoded a transform with unknown attributes")
		}
		return
	}
	if err != nil {
		t.Fatalf("decoded %v but cannot encode it: %v", m, err)
	}
	m2, err := decode(out)
	if err != nil {
		t.Fatalf("encoded %x does not decode: %v", out, err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("decoded %+v\nencoded and decoded again %+v", m, m2)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds(f) {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		n := len(b)
		reencode(t, m, (*Message).Encode, func(b []byte) (*Message, error) {
			if len(b) != n {
				return nil, fmt.Errorf("encoded %d bytes from %d", len(b), n)
			}
			return Decode(b)
		})
	})
}

// fuzzCrypters are FuzzOpen's fixed keys: AES-128-GCM and
// ChaCha20-Poly1305.
func fuzzCrypters(t testing.TB) [2]*Crypter {
	return [2]*Crypter{testCrypter(t, testCiphers[0], 0x10, 0), testCrypter(t, testCiphers[2], 0x20, 0)}
}

// fuzzOpenMessage turns a fuzz input into a message to open. Mode bit 0
// clear: data follows an IKE header whose Next is SK and whose Length is
// right (so data starts with the SK payload's generic header). Set: data
// is the SK payload's next payload field and its plaintext (inner
// payloads, padding, pad length), sealed here under the crypter bit 1
// picks, with IV mode>>2, so that the fuzzer reaches what runs after the
// ICV check.
func fuzzOpenMessage(cs [2]*Crypter, mode byte, data []byte) []byte {
	total := HeaderLen + len(data)
	if mode&1 != 0 && len(data) > 0 {
		total = HeaderLen + 4 + IVLen + len(data) - 1 + ICVLen
	}
	if total > MaxMessage {
		return nil
	}
	h := Header{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, Next: PayloadSK, Exchange: IKEAuth,
		Flags: FlagInitiator, MsgID: 1, Length: uint32(total)}
	b := h.Encode(make([]byte, 0, total))
	if mode&1 == 0 || len(data) == 0 {
		return append(b, data...)
	}
	b = append(b, data[0], 0, byte((total-HeaderLen)>>8), byte(total-HeaderLen))
	b = append(b, 0, 0, 0, 0, 0, 0, 0, mode>>2)
	c := cs[mode>>1&1]
	nonce := append(c.Salt[:], b[HeaderLen+4:]...)
	return c.AEAD.Seal(b, nonce, data[1:], b[:HeaderLen+4])
}

func FuzzOpen(f *testing.F) {
	for _, s := range openSeeds(f) {
		f.Add(s.mode, s.data)
	}
	cs := fuzzCrypters(f)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		b := fuzzOpenMessage(cs, mode, data)
		m, err := Decode(b)
		if err != nil {
			return
		}
		c := *cs[mode>>1&1]
		in := c
		if err := m.Open(b, &in); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		if mode&1 == 0 {
			t.Fatalf("random bytes authenticated: %x", b)
		}
		// What opened seals and opens again to the same.
		reencode(t, m, func(m *Message) ([]byte, error) { return m.Seal(&c) }, func(b []byte) (*Message, error) {
			m, err := Decode(b)
			if err != nil {
				return nil, err
			}
			in := c
			return m, m.Open(b, &in)
		})
	})
}

type decodeSeed struct {
	name string
	data []byte
}

// decodeSeeds are valid messages of each kind, protected ones, and the
// malformed ones of TestDecodeMalformed's kinds.
func decodeSeeds(t testing.TB) []decodeSeed {
	seeds := []decodeSeed{{"sa-init", saInitHex(t)}}
	add := func(name string, m *Message, c *Crypter) {
		var b []byte
		var err error
		if c != nil {
			b, err = m.Seal(c)
		} else {
			b, err = m.Encode()
		}
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, decodeSeed{name, b})
	}
	add("every-payload", &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, MsgID: 1}, Payloads: everyPayload()}, nil)
	add("sealed-gcm", authMessage(), testCrypter(t, testCiphers[0], 1, 1))
	add("sealed-chacha", authMessage(), testCrypter(t, testCiphers[2], 1, 1))
	add("skf", &Message{Header: Header{Exchange: IKEAuth}, Payloads: []Payload{&Unknown{PType: PayloadSKF, Body: []byte{0, 1, 0, 2, 1, 2, 3}}}}, nil)
	add("unknown", &Message{Header: Header{Exchange: Informational}, Payloads: []Payload{&Unknown{PType: 200, Body: []byte{1}}, &Vendor{Data: []byte{2}}}}, nil)
	seeds = append(seeds,
		decodeSeed{"unknown-attrs", raw(t, 33, "00 00 0019 00 00 0015 01 01 00 01 00 00 000d 01 00 0014 0001 0001 ff")},
		decodeSeed{"critical", raw(t, 43, "c8 00 0004 00 80 0004")},
		decodeSeed{"ts-bad", raw(t, 44, "00 00 0018 01 000000 07 00 0010 0000ffff 0a000100 0a0000ff")},
		decodeSeed{"sk-not-last", raw(t, 46, "00 00 0008 00000000 2b 00 0004")},
		decodeSeed{"truncated", saInitHex(t)[:27]},
	)
	return seeds
}

type openSeed struct {
	name string
	mode byte
	data []byte
}

// openSeeds are, for both keys, the plaintext of a whole IKE_AUTH, an
// empty one, padding, and bad pad lengths; and a sealed message as random
// bytes would come.
func openSeeds(t testing.TB) []openSeed {
	m := authMessage()
	sealed, err := m.Seal(testCrypter(t, testCiphers[0], 0x10, 1))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := (&Message{Payloads: everyPayload()}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	plain := append([]byte{byte(PayloadSA)}, inner[HeaderLen:]...)
	return []openSeed{
		{"sealed", 0, sealed[HeaderLen:]},
		{"plain-gcm", 1, append(bytes.Clone(plain), 0)},
		{"plain-chacha", 3, append(bytes.Clone(plain), 1, 2, 3, 3)},
		{"empty", 5, []byte{0, 0}},
		{"bad-pad", 7, []byte{0, 0, 5}},
		{"inner-sk", 9, []byte{byte(PayloadSK), 0, 0, 0, 4, 0}},
	}
}

// TestWriteFuzzCorpus writes the seeds into testdata/fuzz/FuzzDecode and
// testdata/fuzz/FuzzOpen, in the format go test reads, when
// NFV_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("NFV_WRITE_CORPUS") != "1" {
		t.Skip("set NFV_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzDecode and FuzzOpen")
	}
	write := func(fuzz, name, body string) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range decodeSeeds(t) {
		write("FuzzDecode", s.name, fmt.Sprintf("[]byte(%q)\n", s.data))
	}
	for _, s := range openSeeds(t) {
		write("FuzzOpen", s.name, fmt.Sprintf("byte(%q)\n[]byte(%q)\n", rune(s.mode), s.data))
	}
}

// TestFuzzSeeds checks that the seeds reach what they are meant for.
func TestFuzzSeeds(t *testing.T) {
	for _, s := range decodeSeeds(t) {
		_, err := Decode(s.data)
		if bad := map[string]bool{"critical": true, "ts-bad": true, "sk-not-last": true, "truncated": true}[s.name]; bad != (err != nil) {
			t.Errorf("FuzzDecode seed %s: %v", s.name, err)
		}
	}
	cs := fuzzCrypters(t)
	for _, s := range openSeeds(t) {
		b := fuzzOpenMessage(cs, s.mode, s.data)
		m, err := Decode(b)
		if err == nil {
			c := *cs[s.mode>>1&1]
			err = m.Open(b, &c)
		}
		var e *Error
		switch s.name {
		case "sealed":
			if !errors.As(err, &e) || e.Notify != 0 {
				t.Errorf("FuzzOpen seed %s: %v", s.name, err)
			}
		case "bad-pad", "inner-sk":
			if !errors.As(err, &e) || e.Notify != InvalidSyntax {
				t.Errorf("FuzzOpen seed %s: %v", s.name, err)
			}
		default:
			if err != nil {
				t.Errorf("FuzzOpen seed %s: %v", s.name, err)
			}
		}
	}
}
