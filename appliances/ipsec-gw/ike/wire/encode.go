package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Encode writes the message in the clear: the header, with Next and
// Length set from the payloads (and stored in m.Header), then the
// payloads. A decoded protected message may be encoded again: its last
// payload, the *Encrypted, is written as it was received.
//
// Encode checks what Decode would refuse (a short nonce, a bad proposal
// numbering, an empty range, ...), so that a bug here shows as an error
// rather than as a peer's INVALID_SYNTAX.
func (m *Message) Encode() ([]byte, error) {
	b := make([]byte, HeaderLen, 512)
	b, err := appendChain(b, m.Payloads, false)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("ike: message of %d bytes is longer than %d", len(b), MaxMessage)
	}
	m.Next = PayloadNone
	if len(m.Payloads) > 0 {
		m.Next = m.Payloads[0].Kind()
	}
	m.Length = uint32(len(b))
	m.Header.Encode(b[:0])
	return b, nil
}

// appendChain appends the payloads ps, each with its generic header
// pointing at the next; inner is the chain inside an SK payload.
func appendChain(b []byte, ps []Payload, inner bool) ([]byte, error) {
	for i, p := range ps {
		if p == nil {
			return nil, fmt.Errorf("ike: payload %d is nil", i)
		}
		last := i == len(ps)-1
		next := PayloadNone
		if !last {
			next = ps[i+1].Kind()
		}
		start := len(b)
		b = append(b, byte(next), 0, 0, 0)
		var err error
		switch p := p.(type) {
		case *Encrypted:
			if inner || !last {
				return nil, errors.New("ike: an SK payload must be the last, and not inside another")
			}
			b[start] = byte(p.First)
			b = append(b, p.Body...)
		case *Unknown:
			if p.Critical {
				b[start+1] = 0x80
			}
			b, err = appendUnknown(b, p, inner, last)
		default:
			b, err = appendBody(b, p)
		}
		if err != nil {
			return nil, err
		}
		n := len(b) - start
		if n > 0xffff {
			return nil, fmt.Errorf("ike: %v payload of %d bytes", p.Kind(), n)
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(n))
	}
	return b, nil
}

func appendUnknown(b []byte, p *Unknown, inner, last bool) ([]byte, error) {
	switch p.PType {
	case PayloadCERT, PayloadCERTREQ, PayloadCP, PayloadEAP:
	case PayloadSKF:
		if inner || !last {
			return nil, errors.New("ike: an SKF payload must be the last, and not inside an SK payload")
		}
	case PayloadNone, PayloadSA, PayloadKE, PayloadIDi, PayloadIDr, PayloadAUTH, PayloadNonce, PayloadNotify,
		PayloadDelete, PayloadVendor, PayloadTSi, PayloadTSr, PayloadSK:
		return nil, fmt.Errorf("ike: %v payload as an unknown one", p.PType)
	}
	return append(b, p.Body...), nil
}

// appendBody appends the body of a payload this package decodes.
func appendBody(b []byte, p Payload) ([]byte, error) {
	switch p := p.(type) {
	case *SA:
		return appendSA(b, p)
	case *KE:
		if err := checkKE(p); err != nil {
			return nil, err
		}
		b = binary.BigEndian.AppendUint16(b, p.Group)
		return append(append(b, 0, 0), p.Data...), nil
	case *ID:
		if err := checkID(p); err != nil {
			return nil, err
		}
		return append(append(b, p.IDType, 0, 0, 0), p.Data...), nil
	case *Auth:
		if len(p.Data) == 0 {
			return nil, errors.New("ike: AUTH payload without data")
		}
		return append(append(b, p.Method, 0, 0, 0), p.Data...), nil
	case *Nonce:
		if err := checkNonce(p); err != nil {
			return nil, err
		}
		return append(b, p.Data...), nil
	case *Notify:
		if s := len(p.SPI); s != 0 && s != 4 && s != 8 {
			return nil, fmt.Errorf("ike: Notify payload %v: SPI of %d bytes", p.Type, s)
		}
		b = append(b, byte(p.Protocol), byte(len(p.SPI)))
		b = binary.BigEndian.AppendUint16(b, uint16(p.Type))
		return append(append(b, p.SPI...), p.Data...), nil
	case *Delete:
		switch {
		case p.Protocol == ProtoIKE && len(p.SPIs) == 0:
			return append(b, byte(ProtoIKE), 0, 0, 0), nil
		case (p.Protocol == ProtoAH || p.Protocol == ProtoESP) && len(p.SPIs) <= 0xffff:
			b = append(b, byte(p.Protocol), 4)
			b = binary.BigEndian.AppendUint16(b, uint16(len(p.SPIs)))
			for _, s := range p.SPIs {
				b = binary.BigEndian.AppendUint32(b, s)
			}
			return b, nil
		}
		return nil, fmt.Errorf("ike: Delete payload: %d SPIs of %v", len(p.SPIs), p.Protocol)
	case *Vendor:
		return append(b, p.Data...), nil
	case *TS:
		return appendTS(b, p)
	}
	return nil, fmt.Errorf("ike: cannot encode a %T", p)
}

func appendSA(b []byte, sa *SA) ([]byte, error) {
	if len(sa.Proposals) == 0 || len(sa.Proposals) > MaxProposals {
		return nil, fmt.Errorf("ike: SA payload with %d proposals", len(sa.Proposals))
	}
	var prev uint8
	for i := range sa.Proposals {
		p := &sa.Proposals[i]
		if err := checkProposal(p, i, prev); err != nil {
			return nil, err
		}
		prev = p.Num
		start := len(b)
		more := byte(2)
		if i == len(sa.Proposals)-1 {
			more = 0
		}
		b = append(b, more, 0, 0, 0, p.Num, byte(p.Protocol), byte(len(p.SPI)), byte(len(p.Transforms)))
		b = append(b, p.SPI...)
		for j, t := range p.Transforms {
			if t.UnknownAttrs {
				return nil, fmt.Errorf("ike: SA payload: proposal %d: transform %v %d has attributes that were not kept", p.Num, t.Type, t.ID)
			}
			more := byte(3)
			if j == len(p.Transforms)-1 {
				more = 0
			}
			n := byte(8)
			if t.KeyLen != 0 {
				n = 12
			}
			b = append(b, more, 0, 0, n, byte(t.Type), 0)
			b = binary.BigEndian.AppendUint16(b, t.ID)
			if t.KeyLen != 0 {
				b = binary.BigEndian.AppendUint16(b, 0x8000|AttrKeyLength)
				b = binary.BigEndian.AppendUint16(b, t.KeyLen)
			}
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b, nil
}

func appendTS(b []byte, p *TS) ([]byte, error) {
	if len(p.Selectors) == 0 || len(p.Selectors) > MaxSelectors {
		return nil, fmt.Errorf("ike: %v payload with %d selectors", p.Kind(), len(p.Selectors))
	}
	b = append(b, byte(len(p.Selectors)), 0, 0, 0)
	for i := range p.Selectors {
		s := &p.Selectors[i]
		if err := checkSelector(p.Kind(), i, s); err != nil {
			return nil, err
		}
		typ, n := TSIPv6Range, byte(40)
		if s.Start.Is4() {
			typ, n = TSIPv4Range, 16
		}
		b = append(b, typ, s.IPProto, 0, n)
		b = binary.BigEndian.AppendUint16(b, s.StartPort)
		b = binary.BigEndian.AppendUint16(b, s.EndPort)
		if s.Start.Is4() {
			from, to := s.Start.As4(), s.End.As4()
			b = append(append(b, from[:]...), to[:]...)
		} else {
			from, to := s.Start.As16(), s.End.As16()
			b = append(append(b, from[:]...), to[:]...)
		}
	}
	return b, nil
}
