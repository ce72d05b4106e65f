package wire

import "strings"

// Find returns the first payload of kind k, or nil.
func (m *Message) Find(k PayloadType) Payload {
	for _, p := range m.Payloads {
		if p.Kind() == k {
			return p
		}
	}
	return nil
}

// Notify returns the first Notify payload of type t, or nil.
func (m *Message) Notify(t NotifyType) *Notify {
	for _, p := range m.Payloads {
		if n, ok := p.(*Notify); ok && n.Type == t {
			return n
		}
	}
	return nil
}

// Notifies returns the Notify payloads of type t, in order (there may be
// several NAT_DETECTION_SOURCE_IP).
func (m *Message) Notifies(t NotifyType) []*Notify {
	var ns []*Notify
	for _, p := range m.Payloads {
		if n, ok := p.(*Notify); ok && n.Type == t {
			ns = append(ns, n)
		}
	}
	return ns
}

// ErrorNotify returns the first Notify payload of an error type, or nil.
func (m *Message) ErrorNotify() *Notify {
	for _, p := range m.Payloads {
		if n, ok := p.(*Notify); ok && n.Type.IsError() {
			return n
		}
	}
	return nil
}

// Body is what AUTH covers of an ID payload (RestOfInitIDPayload, RFC 7296
// section 2.15): the ID type, three reserved octets (zero) and the data.
// It is a new slice.
func (p *ID) Body() []byte {
	b := make([]byte, 4+len(p.Data))
	b[0] = p.IDType
	copy(b[4:], p.Data)
	return b
}

// String describes the message for logs, e.g.
// "IKE_SA_INIT request 0 0102030405060708/0000000000000000 [SA KE Nonce
// N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP)]". It shows
// no key material.
func (m *Message) String() string {
	var sb strings.Builder
	sb.WriteString(m.Header.String())
	sb.WriteString(" [")
	for i, p := range m.Payloads {
		if i > 0 {
			sb.WriteByte(' ')
		}
		switch p := p.(type) {
		case *Notify:
			sb.WriteString("N(" + p.Type.String() + ")")
		case *Delete:
			sb.WriteString("D(" + p.Protocol.String() + ")")
		case nil:
			sb.WriteString("nil")
		default:
			sb.WriteString(p.Kind().String())
		}
	}
	sb.WriteByte(']')
	return sb.String()
}
