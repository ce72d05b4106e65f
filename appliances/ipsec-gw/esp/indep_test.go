package esp

// An independent, minimal ESP implementation for tests: it builds and opens
// tunnel-mode ESP packets straight from crypto/cipher, x/crypto and the RFCs'
// layouts (RFC 4303 section 2, RFC 4106 sections 3-5, RFC 7634 sections
// 2-3, RFC 3948 section 2.1), sharing no code with the package: not its
// cipher setup, nonce or AAD assembly, padding, trailer or header
// templates. Tests use it to check the package's packets against something
// written separately, in both directions, and tshark checks it in turn.

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"net/netip"

	"golang.org/x/crypto/chacha20poly1305"
)

type indepSA struct {
	aead cipher.AEAD
	salt []byte
	spi  uint32
	esn  bool
}

// newIndepSA splits keymat as RFC 4106 section 8.1 / RFC 7634 section 2
// say: the last four octets are the salt.
func newIndepSA(chacha bool, keymat []byte, spi uint32, esn bool) *indepSA {
	k, salt := keymat[:len(keymat)-4], keymat[len(keymat)-4:]
	var a cipher.AEAD
	var err error
	if chacha {
		a, err = chacha20poly1305.New(k)
	} else {
		var b cipher.Block
		if b, err = aes.NewCipher(k); err == nil {
			a, err = cipher.NewGCM(b)
		}
	}
	if err != nil {
		panic(err)
	}
	return &indepSA{aead: a, salt: salt, spi: spi, esn: esn}
}

func (s *indepSA) aad(seq uint64) []byte {
	a := binary.BigEndian.AppendUint32(nil, s.spi)
	if s.esn {
		a = binary.BigEndian.AppendUint32(a, uint32(seq>>32))
	}
	return binary.BigEndian.AppendUint32(a, uint32(seq))
}

// payload is the ESP plaintext: the inner packet, extra bytes of padding
// beyond the minimum to reach 4-byte alignment (TFC style), the padding
// 1, 2, 3, ..., its length and the next header.
func indepPayload(inner []byte, next byte, extra int) []byte {
	pad := 0
	for (len(inner)+pad+2)%4 != 0 {
		pad++
	}
	pad += extra
	out := append([]byte(nil), inner...)
	for i := 1; i <= pad; i++ {
		out = append(out, byte(i))
	}
	return append(out, byte(pad), next)
}

// seal returns the ESP packet SPI | Seq | IV | ciphertext | ICV.
func (s *indepSA) seal(seq uint64, iv [8]byte, plaintext []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, s.spi)
	out = binary.BigEndian.AppendUint32(out, uint32(seq))
	out = append(out, iv[:]...)
	nonce := append(append([]byte(nil), s.salt...), iv[:]...)
	return s.aead.Seal(out, nonce, plaintext, s.aad(seq))
}

// open returns the plaintext of an ESP packet whose full sequence number
// is seq.
func (s *indepSA) open(esp []byte, seq uint64) ([]byte, error) {
	nonce := append(append([]byte(nil), s.salt...), esp[8:16]...)
	return s.aead.Open(nil, nonce, esp[16:], s.aad(seq))
}

// indepOuter wraps an ESP packet in an outer IPv4 or IPv6 header, with a
// UDP header when sport is not 0.
func indepOuter(src, dst netip.Addr, sport, dport uint16, esp []byte) []byte {
	body := esp
	proto := byte(50)
	if sport != 0 {
		u := make([]byte, 8, 8+len(esp))
		binary.BigEndian.PutUint16(u[0:], sport)
		binary.BigEndian.PutUint16(u[2:], dport)
		binary.BigEndian.PutUint16(u[4:], uint16(8+len(esp)))
		body, proto = append(u, esp...), 17
	}
	var h []byte
	if src.Is4() {
		h = make([]byte, 20)
		h[0], h[8], h[9] = 0x45, 64, proto
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(body)))
		s, d := src.As4(), dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		binary.BigEndian.PutUint16(h[10:], ^sum16(h, 0))
	} else {
		h = make([]byte, 40)
		h[0], h[6], h[7] = 0x60, proto, 64
		binary.BigEndian.PutUint16(h[4:], uint16(len(body)))
		s, d := src.As16(), dst.As16()
		copy(h[8:], s[:])
		copy(h[24:], d[:])
		if proto == 17 {
			// Pseudo-header: addresses, length, next header.
			ps := append(append([]byte(nil), h[8:40]...), 0, 0, byte(len(body)>>8), byte(len(body)), 0, 0, 0, 17)
			c := ^sum16(body, sum16(ps, 0))
			if c == 0 {
				c = 0xffff
			}
			binary.BigEndian.PutUint16(body[6:], c)
		}
	}
	return append(h, body...)
}

// sum16 is a plain RFC 1071 sum, written out here rather than taken from
// package packet.
func sum16(b []byte, init uint16) uint16 {
	s := uint32(init)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
