package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// unhex decodes hex written with spaces, newlines and "|" between fields.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rep(b byte, n int) string { return strings.Repeat(hex.EncodeToString([]byte{b}), n) }

// saInitHex is an IKE_SA_INIT request laid out by hand from RFC 7296
// sections 3.1-3.10:
//
//	header:  SPIi 0102030405060708 | SPIr 0 | next SA (0x21) | version 0x20 |
//	         exchange 34 (0x22) | flags I (0x08) | message ID 0 | length 184 (0xb8)
//	SA:      next KE (0x22) | 0 | length 40
//	  proposal: last (0) | 0 | length 36 | #1 | IKE (1) | SPI size 0 | 3 transforms
//	    transform: more (3) | 0 | length 12 | ENCR (1) | 0 | AES-GCM-16 (20) |
//	               attribute TV key length (0x800e) 256 (0x0100)
//	    transform: more (3) | 0 | length 8 | PRF (2) | 0 | HMAC-SHA-256 (5)
//	    transform: last (0) | 0 | length 8 | DH (4) | 0 | Curve25519 (31)
//	KE:      next Nonce (0x28) | 0 | length 40 | group 31 | 0 0 | 32 bytes of 0x11
//	Nonce:   next Notify (0x29) | 0 | length 20 | 16 bytes of 0x22
//	Notify:  next Notify (0x29) | 0 | length 28 | protocol 0 | SPI size 0 |
//	         NAT_DETECTION_SOURCE_IP (16388, 0x4004) | 20 bytes of 0x33
//	Notify:  next none | 0 | length 28 | 0 | 0 | NAT_DETECTION_DESTINATION_IP
//	         (16389, 0x4005) | 20 bytes of 0x44
func saInitHex(t testing.TB) []byte {
	return unhex(t, `
		0102030405060708 0000000000000000 21 20 22 08 00000000 000000b8
		22 00 0028
		  00 00 0024 01 01 00 03
		    03 00 000c 01 00 0014 800e 0100
		    03 00 0008 02 00 0005
		    00 00 0008 04 00 001f
		28 00 0028 001f 0000 `+rep(0x11, 32)+`
		29 00 0014 `+rep(0x22, 16)+`
		29 00 001c 00 00 4004 `+rep(0x33, 20)+`
		00 00 001c 00 00 4005 `+rep(0x44, 20))
}

func saInitMessage() *Message {
	return &Message{
		Header: Header{SPIi: 0x0102030405060708, Exchange: IKESAInit, Flags: FlagInitiator},
		Payloads: []Payload{
			&SA{Proposals: []Proposal{{Num: 1, Protocol: ProtoIKE, Transforms: []Transform{
				{Type: TransformENCR, ID: EncrAESGCM16, KeyLen: 256},
				{Type: TransformPRF, ID: PRFHMACSHA256},
				{Type: TransformDH, ID: DHCurve25519},
			}}}},
			&KE{Group: DHCurve25519, Data: bytes.Repeat([]byte{0x11}, 32)},
			&Nonce{Data: bytes.Repeat([]byte{0x22}, 16)},
			&Notify{Type: NATDetectionSourceIP, Data: bytes.Repeat([]byte{0x33}, 20)},
			&Notify{Type: NATDetectionDestIP, Data: bytes.Repeat([]byte{0x44}, 20)},
		},
	}
}

func TestEncodeSAInitBytes(t *testing.T) {
	want := saInitHex(t)
	m := saInitMessage()
	got, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	if m.Length != 184 || m.Next != PayloadSA || m.Version != 0 {
		t.Fatalf("header after Encode: %+v", m.Header)
	}
}

func TestDecodeSAInitBytes(t *testing.T) {
	b := saInitHex(t)
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := saInitMessage()
	want.Next, want.Version, want.Length = PayloadSA, Version, 184
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("decoded %+v\nwant %+v", m, want)
	}
	// The payloads alias the input.
	if n := m.Find(PayloadNonce).(*Nonce); &n.Data[0] != &b[HeaderLen+40+40+4] {
		t.Fatal("nonce does not alias the message")
	}
	if len(m.Notifies(NATDetectionSourceIP)) != 1 || m.Notify(NATDetectionDestIP) == nil || m.Notify(Cookie) != nil {
		t.Fatal("Notify/Notifies")
	}
	if m.Find(PayloadAUTH) != nil || m.ErrorNotify() != nil {
		t.Fatal("Find found what is not there")
	}
	const s = "IKE_SA_INIT request 0 0102030405060708/0000000000000000 [SA KE Nonce N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP)]"
	if m.String() != s {
		t.Fatalf("String: %s", m)
	}
}

// everyPayload holds one of each payload type, and the variants: SPIs,
// IPv4 and IPv6 selectors, raw and unknown payloads.
func everyPayload() []Payload {
	a4 := netip.MustParseAddr
	return []Payload{
		&SA{Proposals: []Proposal{
			{Num: 1, Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{
				{Type: TransformENCR, ID: EncrAESGCM16, KeyLen: 128}, {Type: TransformESN, ID: ESNNone}}},
			{Num: 2, Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{
				{Type: TransformENCR, ID: EncrChaCha20Poly1305}, {Type: TransformDH, ID: DHECP256}, {Type: TransformESN, ID: ESNYes}}},
			{Num: 2, Protocol: ProtoAH, SPI: []byte{5, 6, 7, 8}, Transforms: []Transform{{Type: TransformINTEG, ID: 12}}},
			{Num: 3, Protocol: ProtoIKE, SPI: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Transforms: []Transform{{Type: TransformPRF, ID: PRFHMACSHA384}}},
		}},
		&KE{Group: DHECP256, Data: bytes.Repeat([]byte{7}, 64)},
		&KE{Group: 999, Data: []byte{1}},
		&ID{IDType: IDFQDN, Data: []byte("gw.example.org")},
		&ID{Responder: true, IDType: IDIPv4, Data: []byte{192, 0, 2, 1}},
		&Auth{Method: AuthPSK, Data: bytes.Repeat([]byte{9}, 32)},
		&Nonce{Data: bytes.Repeat([]byte{3}, 256)},
		&Notify{Protocol: ProtoESP, SPI: []byte{0xa, 0xb, 0xc, 0xd}, Type: RekeySA},
		&Notify{Protocol: ProtoIKE, SPI: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Type: InvalidSPI, Data: []byte{1}},
		&Notify{Type: UnsupportedCriticalPayload, Data: []byte{200}},
		&Delete{Protocol: ProtoESP, SPIs: []uint32{0x01020304, 0xfffffffe}},
		&Delete{Protocol: ProtoIKE},
		&Vendor{Data: []byte("nfvkit")},
		&TS{Selectors: []Selector{
			{IPProto: 17, StartPort: 500, EndPort: 4500, Start: a4("10.0.0.0"), End: a4("10.0.0.255")},
			{StartPort: 65535, EndPort: 0, Start: a4("2001:db8::"), End: a4("2001:db8::ffff")},
			{EndPort: 65535, Start: a4("::ffff:10.1.2.3"), End: a4("::ffff:10.1.2.3")},
		}},
		&TS{Responder: true, Selectors: []Selector{{EndPort: 65535, Start: a4("0.0.0.0"), End: a4("255.255.255.255")}}},
		&Unknown{PType: PayloadCERTREQ, Critical: true, Body: []byte{4, 1, 2}},
		&Unknown{PType: PayloadCP},
		&Unknown{PType: 200, Body: []byte{1, 2, 3}},
	}
}

// decodeSame decodes b and checks it is m, with its header as Encode or
// Seal left it.
func decodeSame(t *testing.T, b []byte, m *Message) *Message {
	t.Helper()
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := *m
	if want.Version == 0 {
		want.Version = Version
	}
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("decoded %+v\nwant %+v", got, &want)
	}
	return got
}

func TestRoundTrip(t *testing.T) {
	for i, p := range everyPayload() {
		m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: Informational, Flags: FlagResponse, MsgID: uint32(i)},
			Payloads: []Payload{p}}
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("%T: %v", p, err)
		}
		decodeSame(t, b, m)
	}
	m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, MsgID: 1, Version: 0x21}, Payloads: everyPayload()}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	decodeSame(t, b, m)

	// A protected message decodes with the SK payload last, and encodes
	// again to the same bytes; so does an SKF payload.
	for _, last := range []Payload{&Encrypted{First: PayloadIDi, Body: []byte{1, 2, 3}}, &Unknown{PType: PayloadSKF, Body: []byte{0, 1, 0, 2, 9}}} {
		m := &Message{Header: Header{Exchange: IKEAuth}, Payloads: []Payload{&Vendor{Data: []byte{1}}, last}}
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		decodeSame(t, b, m)
	}

	// An empty message (an INFORMATIONAL in the clear is not sent, but
	// decodes).
	m = &Message{Header: Header{Exchange: Informational}}
	if b, err = m.Encode(); err != nil || len(b) != HeaderLen {
		t.Fatal(len(b), err)
	}
	m.Payloads = []Payload{}
	got, err := Decode(b)
	if err != nil || len(got.Payloads) != 0 {
		t.Fatal(got, err)
	}
}

func TestIDBody(t *testing.T) {
	id := &ID{IDType: IDFQDN, Data: []byte("a.b")}
	if got := id.Body(); !bytes.Equal(got, []byte{2, 0, 0, 0, 'a', '.', 'b'}) {
		t.Fatalf("%x", got)
	}
	m := &Message{Payloads: []Payload{id}}
	b, _ := m.Encode()
	if !bytes.Equal(b[HeaderLen+4:], id.Body()) {
		t.Fatal("Body is not the payload's body")
	}
}

func TestEncodeRefuses(t *testing.T) {
	a := netip.MustParseAddr
	tr := []Transform{{Type: TransformENCR, ID: EncrAESGCM16}}
	bad := map[string]Payload{
		"nonce short":     &Nonce{Data: make([]byte, 15)},
		"nonce long":      &Nonce{Data: make([]byte, 257)},
		"ke empty":        &KE{Group: 999},
		"ke length":       &KE{Group: DHCurve25519, Data: make([]byte, 33)},
		"sa empty":        &SA{},
		"proposal 0":      &SA{Proposals: []Proposal{{Num: 0, Protocol: ProtoIKE, Transforms: tr}}},
		"proposal gap":    &SA{Proposals: []Proposal{{Num: 1, Protocol: ProtoIKE, Transforms: tr}, {Num: 3, Protocol: ProtoIKE, Transforms: tr}}},
		"esp no spi":      &SA{Proposals: []Proposal{{Num: 1, Protocol: ProtoESP, Transforms: tr}}},
		"no transforms":   &SA{Proposals: []Proposal{{Num: 1, Protocol: ProtoIKE}}},
		"unknown attrs":   &SA{Proposals: []Proposal{{Num: 1, Protocol: ProtoIKE, Transforms: []Transform{{Type: 1, ID: 20, UnknownAttrs: true}}}}},
		"notify spi":      &Notify{SPI: []byte{1, 2}},
		"delete ike spi":  &Delete{Protocol: ProtoIKE, SPIs: []uint32{1}},
		"delete proto":    &Delete{Protocol: 9},
		"ts empty":        &TS{},
		"ts families":     &TS{Selectors: []Selector{{Start: a("10.0.0.1"), End: a("::1")}}},
		"ts invalid":      &TS{Selectors: []Selector{{}}},
		"ts range":        &TS{Selectors: []Selector{{Start: a("10.0.0.2"), End: a("10.0.0.1")}}},
		"ts ports":        &TS{Selectors: []Selector{{StartPort: 2, EndPort: 1, Start: a("10.0.0.1"), End: a("10.0.0.1")}}},
		"id ipv4":         &ID{IDType: IDIPv4, Data: []byte{1, 2, 3}},
		"auth empty":      &Auth{Method: AuthPSK},
		"unknown as SA":   &Unknown{PType: PayloadSA},
		"unknown as none": &Unknown{},
		"nil":             nil,
	}
	for name, p := range bad {
		m := &Message{Payloads: []Payload{p}}
		if _, err := m.Encode(); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	for name, ps := range map[string][]Payload{
		"sk not last":  {&Encrypted{}, &Vendor{}},
		"skf not last": {&Unknown{PType: PayloadSKF}, &Vendor{}},
		"too long":     {&Vendor{Data: make([]byte, 0xffff)}},
		"message long": {&Vendor{Data: make([]byte, 0xfff0)}, &Vendor{Data: make([]byte, 0xfff0)}},
	} {
		m := &Message{Payloads: ps}
		if _, err := m.Encode(); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

// raw builds a message around hand-written payloads: the header (next
// payload next, length computed) and the payload bytes.
func raw(t testing.TB, next byte, payloads string) []byte {
	p := unhex(t, payloads)
	h := Header{SPIi: 1, Next: PayloadType(next), Exchange: IKESAInit, Length: uint32(HeaderLen + len(p))}
	return append(h.Encode(nil), p...)
}

func TestDecodeMalformed(t *testing.T) {
	nonce := rep(0x22, 16)
	tr := "00 00 0008 01 00 0014"          // one transform, last
	prop := "00 00 0010 01 01 00 01 " + tr // one IKE proposal #1
	cases := []struct {
		name   string
		b      []byte
		notify NotifyType
	}{
		{"empty", nil, 0},
		{"truncated header", saInitHex(t)[:27], 0},
		{"version 3.0", func() []byte { b := saInitHex(t); b[17] = 0x30; return b }(), InvalidMajorVersion},
		{"version 1.0", func() []byte { b := saInitHex(t); b[17] = 0x10; return b }(), InvalidMajorVersion},
		{"length short", func() []byte { b := saInitHex(t); b[27]--; return b }(), InvalidSyntax},
		{"length long", func() []byte { b := saInitHex(t); b[27]++; return b }(), InvalidSyntax},
		{"trailing bytes", append(saInitHex(t), 0), InvalidSyntax},
		{"truncated message", saInitHex(t)[:100], InvalidSyntax},
		{"too long", raw(t, 43, "00 00 ffff"+rep(0, 0xfffb)+"00 00 0004"), InvalidSyntax},
		{"payload header truncated", raw(t, 40, "00 00"), InvalidSyntax},
		{"payload past the end", raw(t, 40, "00 00 0015 "+nonce), InvalidSyntax},
		{"zero-length payload", raw(t, 43, "00 00 0000"), InvalidSyntax},
		{"payload length 3", raw(t, 43, "00 00 0003 00"), InvalidSyntax},
		{"bytes after last payload", raw(t, 43, "00 00 0004 00"), InvalidSyntax},
		{"next payload missing", raw(t, 43, "2b 00 0004"), InvalidSyntax},
		{"critical unknown", raw(t, 43, "c8 00 0004 00 80 0004"), UnsupportedCriticalPayload},
		{"too many payloads", raw(t, 43, strings.Repeat("2b 00 0004 ", 64)+"00 00 0004"), InvalidSyntax},
		{"SK not last", raw(t, 46, "00 00 0008 00000000 2b 00 0004"), InvalidSyntax},
		{"SKF not last", raw(t, 53, "00 00 0008 00010001 2b 00 0004"), InvalidSyntax},
		{"nonce too short", raw(t, 40, "00 00 0013 "+rep(0x22, 15)), InvalidSyntax},
		{"nonce too long", raw(t, 40, "00 00 0105 "+rep(0x22, 257)), InvalidSyntax},
		{"ke short", raw(t, 34, "00 00 0007 001f 00"), InvalidSyntax},
		{"ke empty", raw(t, 34, "00 00 0008 03e7 0000"), InvalidSyntax},
		{"ke wrong length", raw(t, 34, "00 00 0029 001f 0000 "+rep(1, 33)), InvalidSyntax},
		{"id empty", raw(t, 35, "00 00 0008 02 000000"), InvalidSyntax},
		{"id ipv4 length", raw(t, 36, "00 00 000b 01 000000 0a0000"), InvalidSyntax},
		{"auth empty", raw(t, 39, "00 00 0008 02 000000"), InvalidSyntax},
		{"notify short", raw(t, 41, "00 00 0007 00 00 40"), InvalidSyntax},
		{"notify spi size 3", raw(t, 41, "00 00 000b 03 03 0001 010203"), InvalidSyntax},
		{"notify spi past end", raw(t, 41, "00 00 000b 03 04 0001 010203"), InvalidSyntax},
		{"delete ike with spi", raw(t, 42, "00 00 000c 01 04 0001 01020304"), InvalidSyntax},
		{"delete esp count", raw(t, 42, "00 00 000c 03 04 0002 01020304"), InvalidSyntax},
		{"delete esp spi size", raw(t, 42, "00 00 000c 03 08 0001 01020304"), InvalidSyntax},
		{"delete protocol", raw(t, 42, "00 00 0008 09 00 0000"), InvalidSyntax},
		{"sa empty", raw(t, 33, "00 00 0004"), InvalidSyntax},
		{"sa ok", raw(t, 33, "00 00 0014 "+prop), 0xffff},
		{"proposal numbered 0", raw(t, 33, "00 00 0014 00 00 0010 00 01 00 01 "+tr), InvalidSyntax},
		{"proposal numbered 2", raw(t, 33, "00 00 0014 00 00 0010 02 01 00 01 "+tr), InvalidSyntax},
		{"proposal skips", raw(t, 33, "00 00 0024 02 00 0010 01 01 00 01 "+tr+" 00 00 0010 03 01 00 01 "+tr), InvalidSyntax},
		{"proposal same number", raw(t, 33, "00 00 0024 02 00 0010 01 01 00 01 "+tr+" 00 00 0010 01 01 00 01 "+tr), 0xffff},
		{"proposal more but last", raw(t, 33, "00 00 0014 02 00 0010 01 01 00 01 "+tr), InvalidSyntax},
		{"proposal last but more", raw(t, 33, "00 00 0024 00 00 0010 01 01 00 01 "+tr+" 00 00 0010 02 01 00 01 "+tr), InvalidSyntax},
		{"proposal length short", raw(t, 33, "00 00 0014 00 00 0007 01 01 00 01 "+tr), InvalidSyntax},
		{"proposal length long", raw(t, 33, "00 00 0014 00 00 0011 01 01 00 01 "+tr), InvalidSyntax},
		{"proposal truncated", raw(t, 33, "00 00 000a 00 00 0010 01 01"), InvalidSyntax},
		{"proposal protocol", raw(t, 33, "00 00 0014 00 00 0010 01 07 00 01 "+tr), InvalidSyntax},
		{"ike spi size 4", raw(t, 33, "00 00 0018 00 00 0014 01 01 04 01 01020304 "+tr), InvalidSyntax},
		{"esp spi size 0", raw(t, 33, "00 00 0014 00 00 0010 01 03 00 01 "+tr), InvalidSyntax},
		{"spi past proposal", raw(t, 33, "00 00 0014 00 00 0010 01 01 ff 01 "+tr), InvalidSyntax},
		{"no transforms", raw(t, 33, "00 00 000c 00 00 0008 01 01 00 00"), InvalidSyntax},
		{"transform count high", raw(t, 33, "00 00 0014 00 00 0010 01 01 00 02 "+tr), InvalidSyntax},
		{"transform count low", raw(t, 33, "00 00 001c 00 00 0018 01 01 00 01 03 00 0008 01 00 0014 "+tr), InvalidSyntax},
		{"transform length short", raw(t, 33, "00 00 0014 00 00 0010 01 01 00 01 00 00 0007 01 00 0014"), InvalidSyntax},
		{"transform length long", raw(t, 33, "00 00 0014 00 00 0010 01 01 00 01 00 00 0009 01 00 0014"), InvalidSyntax},
		{"transform more but last", raw(t, 33, "00 00 0014 00 00 0010 01 01 00 01 03 00 0008 01 00 0014"), InvalidSyntax},
		{"attribute truncated", raw(t, 33, "00 00 0016 00 00 0012 01 01 00 01 00 00 000a 01 00 0014 800e"), InvalidSyntax},
		{"tlv attribute past end", raw(t, 33, "00 00 0018 00 00 0014 01 01 00 01 00 00 000c 01 00 0014 0001 0001"), InvalidSyntax},
		{"unknown attribute", raw(t, 33, "00 00 0019 00 00 0015 01 01 00 01 00 00 000d 01 00 0014 0001 0001 ff"), 0xffff},
		{"ts empty", raw(t, 44, "00 00 0008 00 000000"), InvalidSyntax},
		{"ts type unknown", raw(t, 44, "00 00 0018 01 000000 09 00 0010 0000ffff 0a000000 0a0000ff"), TSUnacceptable},
		{"ts ipv4 length 40", raw(t, 44, "00 00 0030 01 000000 07 00 0028 0000ffff"+rep(0, 32)), InvalidSyntax},
		{"ts ipv6 length 16", raw(t, 45, "00 00 0018 01 000000 08 00 0010 0000ffff 0a000000 0a0000ff"), InvalidSyntax},
		{"ts start > end", raw(t, 44, "00 00 0018 01 000000 07 00 0010 0000ffff 0a000100 0a0000ff"), InvalidSyntax},
		{"ts ports reversed", raw(t, 44, "00 00 0018 01 000000 07 11 0010 00020001 0a000000 0a0000ff"), InvalidSyntax},
		{"ts opaque ports", raw(t, 44, "00 00 0018 01 000000 07 11 0010 ffff0000 0a000000 0a0000ff"), 0xffff},
		{"ts count high", raw(t, 44, "00 00 0018 02 000000 07 00 0010 0000ffff 0a000000 0a0000ff"), InvalidSyntax},
		{"ts count low", raw(t, 44, "00 00 0019 01 000000 07 00 0010 0000ffff 0a000000 0a0000ff 00"), InvalidSyntax},
		{"ts selector truncated", raw(t, 44, "00 00 000a 01 000000 07 00"), InvalidSyntax},
		{"ts selector length 0", raw(t, 44, "00 00 000c 01 000000 07 00 0000"), InvalidSyntax},
	}
	for _, c := range cases {
		m, err := Decode(c.b)
		t.Logf("%s: %v", c.name, err)
		if c.notify == 0xffff { // the valid neighbours of the invalid cases
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: decoded %v, %v", c.name, m, err)
			continue
		}
		if e.Notify != c.notify {
			t.Errorf("%s: %v: notify %v, want %v", c.name, err, e.Notify, c.notify)
		}
	}
}

func TestDecodeDetails(t *testing.T) {
	// The unsupported critical payload's type is the notify's data.
	_, err := Decode(raw(t, 43, "c8 00 0004 00 80 0004"))
	if e := err.(*Error); !bytes.Equal(e.Data, []byte{200}) {
		t.Fatalf("data %x", e.Data)
	}
	// A non-critical unknown payload is kept; CERTREQ with the critical
	// bit too (it is understood, just not decoded).
	m, err := Decode(raw(t, 38, "c8 80 0005 01 28 00 0004 00 00 0014 "+rep(0x22, 16)))
	if err != nil {
		t.Fatal(err)
	}
	want := []Payload{
		&Unknown{PType: PayloadCERTREQ, Critical: true, Body: []byte{1}},
		&Unknown{PType: 200},
		&Nonce{Data: bytes.Repeat([]byte{0x22}, 16)},
	}
	if !reflect.DeepEqual(m.Payloads, want) {
		t.Fatalf("%+v", m.Payloads)
	}
	// Key length attributes: only one, TV, non-zero.
	for attrs, want := range map[string]Transform{
		"800e 0080":           {Type: 1, ID: 20, KeyLen: 128},
		"800e 0080 800e 0100": {Type: 1, ID: 20, KeyLen: 128, UnknownAttrs: true},
		"800e 0000":           {Type: 1, ID: 20, UnknownAttrs: true},
		"000e 0002 0080":      {Type: 1, ID: 20, UnknownAttrs: true},
		"8001 0001":           {Type: 1, ID: 20, UnknownAttrs: true},
	} {
		a := unhex(t, attrs)
		tr := append([]byte{0, 0, 0, byte(8 + len(a)), 1, 0, 0, 20}, a...)
		prop := append([]byte{0, 0, 0, byte(8 + len(tr)), 1, 1, 0, 1}, tr...)
		m, err := Decode(raw(t, 33, hex.EncodeToString(append([]byte{0, 0, 0, byte(4 + len(prop))}, prop...))))
		if err != nil {
			t.Fatal(attrs, err)
		}
		if got := m.Payloads[0].(*SA).Proposals[0].Transforms[0]; got != want {
			t.Errorf("%s: %+v, want %+v", attrs, got, want)
		}
	}
	// The header comes back with the errors after it.
	b := saInitHex(t)
	b[17] = 0x30
	h, err := DecodeHeader(b)
	if err == nil || h.SPIi != 0x0102030405060708 {
		t.Fatal(h, err)
	}
}

func BenchmarkDecode(b *testing.B) {
	msg := saInitHex(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	m := saInitMessage()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}
