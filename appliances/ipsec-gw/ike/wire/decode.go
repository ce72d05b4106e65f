package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Bounds on what one message may hold, so that hostile input cannot make
// Decode allocate much more than its size or loop long.
const (
	MaxPayloads   = 64 // per message, and again inside its SK payload
	MaxProposals  = 64 // per SA payload
	MaxTransforms = 64 // per proposal
	MaxSelectors  = 64 // per TS payload
)

// Nonce lengths (RFC 7296 section 3.9).
const (
	MinNonce = 16
	MaxNonce = 256
)

// syntaxError is a malformed message: INVALID_SYNTAX.
func syntaxError(format string, args ...any) *Error {
	return &Error{Notify: InvalidSyntax, Msg: fmt.Sprintf(format, args...)}
}

// Decode reads a whole message: the header as DecodeHeader does, then the
// chain of payloads. A protected message ends with an *Encrypted, which
// Open replaces with the payloads it holds. The payloads alias b: the
// caller keeps b unchanged while it uses the message.
func Decode(b []byte) (*Message, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	ps, err := decodeChain(nil, h.Next, b[HeaderLen:], false)
	if err != nil {
		return nil, err
	}
	return &Message{Header: h, Payloads: ps}, nil
}

// decodeChain appends to dst the chain of payloads in b whose first has
// type next; inner is the chain inside an SK payload, which may not hold
// another.
func decodeChain(dst []Payload, next PayloadType, b []byte, inner bool) ([]Payload, error) {
	count := 0
	for next != PayloadNone {
		if count == MaxPayloads {
			return nil, syntaxError("more than %d payloads", MaxPayloads)
		}
		count++
		t := next
		if len(b) < 4 {
			return nil, syntaxError("%v payload: %d bytes left for its 4-byte header", t, len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 4 || n > len(b) {
			return nil, syntaxError("%v payload: length %d with %d bytes left", t, n, len(b))
		}
		next = PayloadType(b[0])
		critical := b[1]&0x80 != 0
		body := b[4:n]
		b = b[n:]
		if t == PayloadSK || t == PayloadSKF {
			// Its next payload field is the type of the first payload it
			// holds, and it ends the message (RFC 7296 section 3.14, RFC
			// 7383 section 2.5).
			if inner {
				return nil, syntaxError("%v payload inside an SK payload", t)
			}
			if len(b) != 0 {
				return nil, syntaxError("%v payload is not the last: %d bytes follow", t, len(b))
			}
			if t == PayloadSK {
				return append(dst, &Encrypted{First: next, Body: orNil(body)}), nil
			}
			return append(dst, &Unknown{PType: t, Critical: critical, Body: orNil(body)}), nil
		}
		p, err := decodeBody(t, critical, body)
		if err != nil {
			return nil, err
		}
		dst = append(dst, p)
	}
	if len(b) != 0 {
		return nil, syntaxError("%d bytes after the last payload", len(b))
	}
	return dst, nil
}

func decodeBody(t PayloadType, critical bool, b []byte) (Payload, error) {
	switch t {
	case PayloadSA:
		return decodeSA(b)
	case PayloadKE:
		if len(b) < 4 {
			return nil, syntaxError("KE payload: %d bytes", len(b))
		}
		p := &KE{Group: binary.BigEndian.Uint16(b), Data: b[4:]}
		return p, checkKE(p)
	case PayloadIDi, PayloadIDr:
		if len(b) < 4 {
			return nil, syntaxError("%v payload: %d bytes", t, len(b))
		}
		p := &ID{Responder: t == PayloadIDr, IDType: b[0], Data: b[4:]}
		return p, checkID(p)
	case PayloadAUTH:
		if len(b) < 5 {
			return nil, syntaxError("AUTH payload: %d bytes", len(b))
		}
		return &Auth{Method: b[0], Data: b[4:]}, nil
	case PayloadNonce:
		p := &Nonce{Data: b}
		return p, checkNonce(p)
	case PayloadNotify:
		if len(b) < 4 {
			return nil, syntaxError("Notify payload: %d bytes", len(b))
		}
		s := int(b[1])
		if s != 0 && s != 4 && s != 8 {
			return nil, syntaxError("Notify payload: SPI size %d", s)
		}
		if 4+s > len(b) {
			return nil, syntaxError("Notify payload: SPI size %d in %d bytes", s, len(b))
		}
		return &Notify{Protocol: Protocol(b[0]), SPI: orNil(b[4 : 4+s]), Type: NotifyType(binary.BigEndian.Uint16(b[2:])), Data: orNil(b[4+s:])}, nil
	case PayloadDelete:
		return decodeDelete(b)
	case PayloadVendor:
		return &Vendor{Data: orNil(b)}, nil
	case PayloadTSi, PayloadTSr:
		return decodeTS(t, b)
	case PayloadCERT, PayloadCERTREQ, PayloadCP, PayloadEAP:
		// Understood (so the critical bit does not matter), kept raw.
		return &Unknown{PType: t, Critical: critical, Body: orNil(b)}, nil
	}
	if critical {
		return nil, &Error{
			Notify: UnsupportedCriticalPayload,
			Msg:    fmt.Sprintf("unsupported critical %v", t),
			Data:   []byte{byte(t)},
		}
	}
	return &Unknown{PType: t, Critical: false, Body: orNil(b)}, nil
}

// orNil is b, or nil when empty: a field left empty reads the same
// decoded as built.
func orNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// keLen is the length of a KE payload's data for the groups whose values
// have a fixed size (RFC 7296 section 3.4 for MODP, RFC 5903 section 7
// for ECP, RFC 8031 for Curve25519 and Curve448); 0: not known here.
func keLen(group uint16) int {
	switch group {
	case 1:
		return 96
	case 2:
		return 128
	case 5:
		return 192
	case 14:
		return 256
	case 15:
		return 384
	case 16:
		return 512
	case 17:
		return 768
	case 18:
		return 1024
	case 19:
		return 64
	case 20:
		return 96
	case 21:
		return 132
	case 31:
		return 32
	case 32:
		return 56
	}
	return 0
}

func checkKE(p *KE) error {
	if len(p.Data) == 0 {
		return syntaxError("KE payload: no key exchange data")
	}
	if n := keLen(p.Group); n != 0 && len(p.Data) != n {
		return syntaxError("KE payload: %d bytes of data for group %d, want %d", len(p.Data), p.Group, n)
	}
	return nil
}

func checkID(p *ID) error {
	switch {
	case len(p.Data) == 0:
		return syntaxError("%v payload: no identification data", p.Kind())
	case p.IDType == IDIPv4 && len(p.Data) != 4, p.IDType == IDIPv6 && len(p.Data) != 16:
		return syntaxError("%v payload: %d bytes for an address of ID type %d", p.Kind(), len(p.Data), p.IDType)
	}
	return nil
}

func checkNonce(p *Nonce) error {
	if len(p.Data) < MinNonce || len(p.Data) > MaxNonce {
		return syntaxError("Nonce payload: %d bytes, want %d..%d", len(p.Data), MinNonce, MaxNonce)
	}
	return nil
}

// checkProposal checks the SPI size of p against its protocol, and its
// number against the previous proposal's (RFC 7296 section 3.3.1: the
// first is 1, the others the same as the previous or one more).
func checkProposal(p *Proposal, i int, prev uint8) error {
	switch {
	case i == 0 && p.Num != 1:
		return syntaxError("SA payload: first proposal numbered %d", p.Num)
	case i > 0 && p.Num != prev && p.Num != prev+1:
		return syntaxError("SA payload: proposal %d after %d", p.Num, prev)
	}
	switch p.Protocol {
	case ProtoIKE:
		if len(p.SPI) != 0 && len(p.SPI) != 8 {
			return syntaxError("SA payload: proposal %d: IKE SPI of %d bytes", p.Num, len(p.SPI))
		}
	case ProtoAH, ProtoESP:
		if len(p.SPI) != 4 {
			return syntaxError("SA payload: proposal %d: %v SPI of %d bytes", p.Num, p.Protocol, len(p.SPI))
		}
	default:
		return syntaxError("SA payload: proposal %d: protocol %d", p.Num, uint8(p.Protocol))
	}
	if len(p.Transforms) == 0 || len(p.Transforms) > MaxTransforms {
		return syntaxError("SA payload: proposal %d: %d transforms", p.Num, len(p.Transforms))
	}
	return nil
}

// decodeSA reads the proposal substructures (RFC 7296 section 3.3.1).
func decodeSA(b []byte) (Payload, error) {
	sa := &SA{}
	for i := 0; len(b) > 0; i++ {
		if i == MaxProposals {
			return nil, syntaxError("SA payload: more than %d proposals", MaxProposals)
		}
		if len(b) < 8 {
			return nil, syntaxError("SA payload: proposal %d: %d bytes left", i+1, len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 8 || n > len(b) {
			return nil, syntaxError("SA payload: proposal %d: length %d with %d bytes left", i+1, n, len(b))
		}
		if last := b[0]; !(last == 0 && n == len(b)) && !(last == 2 && n < len(b)) {
			return nil, syntaxError("SA payload: proposal %d: last substructure %d with %d bytes after it", i+1, last, len(b)-n)
		}
		p, rest := b[:n], b[n:]
		b = rest
		spi, nt := int(p[6]), int(p[7])
		if 8+spi > n {
			return nil, syntaxError("SA payload: proposal %d: SPI of %d bytes in a %d-byte proposal", i+1, spi, n)
		}
		if nt > MaxTransforms {
			return nil, syntaxError("SA payload: proposal %d: %d transforms", i+1, nt)
		}
		pr := Proposal{Num: p[4], Protocol: Protocol(p[5]), SPI: orNil(p[8 : 8+spi])}
		var err error
		if pr.Transforms, err = decodeTransforms(p[8+spi:], nt, i+1); err != nil {
			return nil, err
		}
		var prev uint8
		if i > 0 {
			prev = sa.Proposals[i-1].Num
		}
		if err := checkProposal(&pr, i, prev); err != nil {
			return nil, err
		}
		sa.Proposals = append(sa.Proposals, pr)
	}
	if len(sa.Proposals) == 0 {
		return nil, syntaxError("SA payload: no proposals")
	}
	return sa, nil
}

// decodeTransforms reads the nt transform substructures of proposal pn
// (RFC 7296 sections 3.3.2 and 3.3.5), which must fill b.
func decodeTransforms(b []byte, nt, pn int) ([]Transform, error) {
	trs := make([]Transform, 0, nt)
	for i := range nt {
		if len(b) < 8 {
			return nil, syntaxError("SA payload: proposal %d: transform %d: %d bytes left", pn, i+1, len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 8 || n > len(b) {
			return nil, syntaxError("SA payload: proposal %d: transform %d: length %d with %d bytes left", pn, i+1, n, len(b))
		}
		if last := b[0]; !(last == 0 && i == nt-1) && !(last == 3 && i < nt-1) {
			return nil, syntaxError("SA payload: proposal %d: transform %d of %d: last substructure %d", pn, i+1, nt, last)
		}
		t := Transform{Type: TransformType(b[4]), ID: binary.BigEndian.Uint16(b[6:])}
		for a := b[8:n]; len(a) > 0; {
			if len(a) < 4 {
				return nil, syntaxError("SA payload: proposal %d: transform %d: attribute of %d bytes", pn, i+1, len(a))
			}
			typ, v := binary.BigEndian.Uint16(a), binary.BigEndian.Uint16(a[2:])
			if typ&0x8000 != 0 { // TV: the value is in the header
				if typ&0x7fff == AttrKeyLength && t.KeyLen == 0 && v != 0 {
					t.KeyLen = v
				} else {
					t.UnknownAttrs = true
				}
				a = a[4:]
				continue
			}
			if 4+int(v) > len(a) {
				return nil, syntaxError("SA payload: proposal %d: transform %d: attribute length %d with %d bytes left", pn, i+1, v, len(a)-4)
			}
			t.UnknownAttrs = true
			a = a[4+int(v):]
		}
		trs = append(trs, t)
		b = b[n:]
	}
	if len(b) != 0 {
		return nil, syntaxError("SA payload: proposal %d: %d bytes after its %d transforms", pn, len(b), nt)
	}
	return trs, nil
}

// decodeDelete reads a Delete payload (RFC 7296 section 3.11): for IKE no
// SPIs, for AH and ESP 4-byte SPIs filling the payload.
func decodeDelete(b []byte) (Payload, error) {
	if len(b) < 4 {
		return nil, syntaxError("Delete payload: %d bytes", len(b))
	}
	p := &Delete{Protocol: Protocol(b[0])}
	s, n := int(b[1]), int(binary.BigEndian.Uint16(b[2:]))
	switch p.Protocol {
	case ProtoIKE:
		if s != 0 || n != 0 || len(b) != 4 {
			return nil, syntaxError("Delete payload: IKE with SPI size %d, %d SPIs, %d bytes", s, n, len(b))
		}
	case ProtoAH, ProtoESP:
		if s != 4 || len(b)-4 != 4*n {
			return nil, syntaxError("Delete payload: %v with SPI size %d, %d SPIs in %d bytes", p.Protocol, s, n, len(b)-4)
		}
		p.SPIs = make([]uint32, n)
		for i := range p.SPIs {
			p.SPIs[i] = binary.BigEndian.Uint32(b[4+4*i:])
		}
	default:
		return nil, syntaxError("Delete payload: protocol %d", uint8(p.Protocol))
	}
	return p, nil
}

// decodeTS reads a Traffic Selector payload (RFC 7296 section 3.13).
func decodeTS(t PayloadType, b []byte) (Payload, error) {
	if len(b) < 4 {
		return nil, syntaxError("%v payload: %d bytes", t, len(b))
	}
	n := int(b[0])
	if n == 0 || n > MaxSelectors {
		return nil, syntaxError("%v payload: %d selectors", t, n)
	}
	p := &TS{Responder: t == PayloadTSr, Selectors: make([]Selector, 0, n)}
	b = b[4:]
	for i := range n {
		if len(b) < 4 {
			return nil, syntaxError("%v payload: selector %d: %d bytes left", t, i+1, len(b))
		}
		l := int(binary.BigEndian.Uint16(b[2:]))
		if l < 4 || l > len(b) {
			return nil, syntaxError("%v payload: selector %d: length %d with %d bytes left", t, i+1, l, len(b))
		}
		var s Selector
		switch typ := b[0]; {
		case typ == TSIPv4Range && l == 16:
			s.Start = netip.AddrFrom4([4]byte(b[8:12]))
			s.End = netip.AddrFrom4([4]byte(b[12:16]))
		case typ == TSIPv6Range && l == 40:
			s.Start = netip.AddrFrom16([16]byte(b[8:24]))
			s.End = netip.AddrFrom16([16]byte(b[24:40]))
		case typ == TSIPv4Range || typ == TSIPv6Range:
			return nil, syntaxError("%v payload: selector %d: length %d for TS type %d", t, i+1, l, typ)
		default:
			return nil, &Error{Notify: TSUnacceptable, Msg: fmt.Sprintf("%v payload: selector %d: TS type %d", t, i+1, typ)}
		}
		s.IPProto = b[1]
		s.StartPort = binary.BigEndian.Uint16(b[4:])
		s.EndPort = binary.BigEndian.Uint16(b[6:])
		if err := checkSelector(t, i, &s); err != nil {
			return nil, err
		}
		p.Selectors = append(p.Selectors, s)
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, syntaxError("%v payload: %d bytes after its %d selectors", t, len(b), n)
	}
	return p, nil
}

func checkSelector(t PayloadType, i int, s *Selector) error {
	switch {
	case !s.Start.IsValid() || !s.End.IsValid() || s.Start.Is4() != s.End.Is4():
		return syntaxError("%v payload: selector %d: addresses %v and %v", t, i+1, s.Start, s.End)
	case s.Start.Zone() != "" || s.End.Zone() != "":
		return syntaxError("%v payload: selector %d: address with a zone", t, i+1)
	case s.Start.Compare(s.End) > 0:
		return syntaxError("%v payload: selector %d: address range %v-%v", t, i+1, s.Start, s.End)
	case s.StartPort > s.EndPort && !(s.StartPort == 65535 && s.EndPort == 0):
		return syntaxError("%v payload: selector %d: port range %d-%d", t, i+1, s.StartPort, s.EndPort)
	}
	return nil
}
