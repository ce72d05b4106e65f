// Package wire encodes and decodes IKEv2 messages (RFC 7296 section 3):
// the header, the payloads this implementation understands, and the
// Encrypted and Authenticated payload (SK) protected by an AEAD
// (RFC 5282 for AES-GCM, RFC 7634 for ChaCha20-Poly1305).
//
// Decoding is strict and never panics: every length is checked against
// what contains it, and an error says which payload was wrong and how, so
// the caller can answer as RFC 7296 section 2.21 asks (INVALID_SYNTAX,
// UNSUPPORTED_CRITICAL_PAYLOAD) or drop the message and count it.
//
// A message moves through the package like this. Received: DecodeHeader
// (the SPIs and exchange, to find the IKE SA), Decode (the payloads, in
// the clear; a protected message ends with an *Encrypted), then Open with
// the IKE SA's inbound Crypter, which authenticates and decrypts the SK
// payload in place and replaces it with the payloads it held. Sent:
// Encode (IKE_SA_INIT and anything else in the clear) or Seal (everything
// else), which returns the datagram's bytes, the IKE header first.
//
// Decoded payloads alias the bytes they were decoded from: nothing is
// copied, so the caller must keep those bytes unchanged while it uses the
// message, and copy what it keeps longer (a nonce, a KE value, a cookie).
package wire

import (
	"crypto/cipher"
	"net/netip"
)

// Version is the IKE version octet of IKEv2 (major 2, minor 0).
const Version = 0x20

// HeaderLen is the length of the fixed IKE header.
const HeaderLen = 28

// MaxMessage bounds a message this implementation accepts or builds.
const MaxMessage = 64 * 1024

// Exchange is an exchange type (RFC 7296 section 3.1).
type Exchange uint8

// The exchange types.
const (
	IKESAInit     Exchange = 34
	IKEAuth       Exchange = 35
	CreateChildSA Exchange = 36
	Informational Exchange = 37
)

// Header flags.
const (
	FlagInitiator = 0x08 // sent by the original initiator of the IKE SA
	FlagVersion   = 0x10 // sender can speak a higher major version
	FlagResponse  = 0x20 // a response
)

// PayloadType is a payload type (RFC 7296 section 3.2).
type PayloadType uint8

// The payload types.
const (
	PayloadNone    PayloadType = 0
	PayloadSA      PayloadType = 33
	PayloadKE      PayloadType = 34
	PayloadIDi     PayloadType = 35
	PayloadIDr     PayloadType = 36
	PayloadCERT    PayloadType = 37
	PayloadCERTREQ PayloadType = 38
	PayloadAUTH    PayloadType = 39
	PayloadNonce   PayloadType = 40
	PayloadNotify  PayloadType = 41
	PayloadDelete  PayloadType = 42
	PayloadVendor  PayloadType = 43
	PayloadTSi     PayloadType = 44
	PayloadTSr     PayloadType = 45
	PayloadSK      PayloadType = 46
	PayloadCP      PayloadType = 47
	PayloadEAP     PayloadType = 48
	PayloadSKF     PayloadType = 53
)

// Header is the fixed IKE header. Next and Length are filled by Encode
// and Seal, and checked by Decode.
type Header struct {
	SPIi, SPIr uint64
	Next       PayloadType
	Version    uint8
	Exchange   Exchange
	Flags      uint8
	MsgID      uint32
	Length     uint32
}

// IsResponse and IsInitiator read the flags.
func (h *Header) IsResponse() bool  { return h.Flags&FlagResponse != 0 }
func (h *Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

// Payload is one decoded payload: one of the pointer types below.
type Payload interface {
	Kind() PayloadType
}

// Protocol IDs (RFC 7296 section 3.3.1).
type Protocol uint8

// The protocols.
const (
	ProtoIKE Protocol = 1
	ProtoAH  Protocol = 2
	ProtoESP Protocol = 3
)

// TransformType is a transform type (RFC 7296 section 3.3.2).
type TransformType uint8

// The transform types.
const (
	TransformENCR  TransformType = 1
	TransformPRF   TransformType = 2
	TransformINTEG TransformType = 3
	TransformDH    TransformType = 4 // "Key Exchange Method" since RFC 9370
	TransformESN   TransformType = 5
)

// Transform IDs used here (IANA "IKEv2 Parameters").
const (
	EncrAESGCM16         uint16 = 20
	EncrChaCha20Poly1305 uint16 = 28
	PRFHMACSHA256        uint16 = 5
	PRFHMACSHA384        uint16 = 6
	DHECP256             uint16 = 19
	DHCurve25519         uint16 = 31
	ESNNone              uint16 = 0
	ESNYes               uint16 = 1
)

// AttrKeyLength is the transform attribute carrying a cipher's key length
// in bits (TV format).
const AttrKeyLength = 14

// Transform is one transform of a proposal. KeyLen is the Key Length
// attribute in bits, 0 when absent. Any other attribute (or a Key Length
// of 0, twice, or in TLV format) sets UnknownAttrs: the message still
// decodes, and the proposal chooser skips the proposal (RFC 7296 section
// 3.3.6 lets a responder reject what it does not understand). Encode
// refuses a transform with UnknownAttrs, whose attributes were not kept.
type Transform struct {
	Type         TransformType
	ID           uint16
	KeyLen       uint16
	UnknownAttrs bool
}

// Proposal is one proposal of an SA payload. SPI is 8 bytes for IKE when
// rekeying, 4 for ESP, empty in IKE_SA_INIT.
type Proposal struct {
	Num        uint8
	Protocol   Protocol
	SPI        []byte
	Transforms []Transform
}

// SA is the Security Association payload.
type SA struct{ Proposals []Proposal }

// KE is the Key Exchange payload.
type KE struct {
	Group uint16
	Data  []byte
}

// ID types (RFC 7296 section 3.5).
const (
	IDIPv4   uint8 = 1
	IDFQDN   uint8 = 2
	IDRFC822 uint8 = 3
	IDIPv6   uint8 = 5
	IDKeyID  uint8 = 11
)

// ID is an Identification payload, IDi or IDr (Responder tells which).
// Body returns the bytes AUTH covers: ID type, three reserved octets, data.
type ID struct {
	Responder bool
	IDType    uint8
	Data      []byte
}

// Auth methods (RFC 7296 section 3.8).
const AuthPSK uint8 = 2

// Auth is the Authentication payload.
type Auth struct {
	Method uint8
	Data   []byte
}

// Nonce is the Nonce payload (16..256 bytes, checked by Decode).
type Nonce struct{ Data []byte }

// NotifyType is a Notify message type (RFC 7296 section 3.10.1; errors
// are below 16384).
type NotifyType uint16

// The notify types used here.
const (
	UnsupportedCriticalPayload NotifyType = 1
	InvalidIKESPI              NotifyType = 4
	InvalidMajorVersion        NotifyType = 5
	InvalidSyntax              NotifyType = 7
	InvalidMessageID           NotifyType = 9
	InvalidSPI                 NotifyType = 11
	NoProposalChosen           NotifyType = 14
	InvalidKEPayload           NotifyType = 17
	AuthenticationFailed       NotifyType = 24
	SinglePairRequired         NotifyType = 34
	NoAdditionalSAs            NotifyType = 35
	InternalAddressFailure     NotifyType = 36
	FailedCPRequired           NotifyType = 37
	TSUnacceptable             NotifyType = 38
	InvalidSelectors           NotifyType = 39
	TemporaryFailure           NotifyType = 43
	ChildSANotFound            NotifyType = 44

	InitialContact            NotifyType = 16384
	SetWindowSize             NotifyType = 16385
	AdditionalTSPossible      NotifyType = 16386
	IPCompSupported           NotifyType = 16387
	NATDetectionSourceIP      NotifyType = 16388
	NATDetectionDestIP        NotifyType = 16389
	Cookie                    NotifyType = 16390
	UseTransportMode          NotifyType = 16391
	RekeySA                   NotifyType = 16393
	ESPTFCPaddingNotSupported NotifyType = 16394
	NonFirstFragmentsAlso     NotifyType = 16395
	MobikeSupported           NotifyType = 16396
	ChildlessIKEv2Supported   NotifyType = 16418 // RFC 6023
	FragmentationSupported    NotifyType = 16430
	SignatureHashAlgorithms   NotifyType = 16431
)

// IsError reports whether t is an error type.
func (t NotifyType) IsError() bool { return t < 16384 }

// Notify is a Notify payload. SPI is empty, or 4 bytes (ESP) or 8 (IKE).
type Notify struct {
	Protocol Protocol
	SPI      []byte
	Type     NotifyType
	Data     []byte
}

// Delete is a Delete payload: for IKE no SPIs (the IKE SA of the message),
// for ESP 4-byte SPIs.
type Delete struct {
	Protocol Protocol
	SPIs     []uint32
}

// Vendor is a Vendor ID payload.
type Vendor struct{ Data []byte }

// TS types (RFC 7296 section 3.13.1).
const (
	TSIPv4Range uint8 = 7
	TSIPv6Range uint8 = 8
)

// Selector is one traffic selector: an IP protocol (0 any), a port range
// and an address range, both inclusive.
type Selector struct {
	IPProto            uint8
	StartPort, EndPort uint16
	Start, End         netip.Addr
}

// TS is a Traffic Selector payload, TSi or TSr (Responder tells which).
// Selectors of unknown TS types are an error whose Notify is
// TS_UNACCEPTABLE (the syntax may well be right, so INVALID_SYNTAX would
// be wrong; RFC 7296 does not say; we refuse the message). A port range
// is StartPort <= EndPort, or the OPAQUE range 65535..0 (RFC 4301 section
// 4.4.1.1).
type TS struct {
	Responder bool
	Selectors []Selector
}

// Unknown is a payload of a type this package does not decode (or
// CERT, CERTREQ, CP, EAP, which it keeps raw). Critical is the critical bit.
type Unknown struct {
	PType    PayloadType
	Critical bool
	Body     []byte
}

// Encrypted is a decoded but not yet opened SK payload: First is the type
// of the first inner payload; Body is IV, ciphertext and ICV.
//
// An SKF payload (RFC 7383 fragments, which we never offer) decodes as an
// *Unknown; like SK, it must be the last payload.
type Encrypted struct {
	First PayloadType
	Body  []byte
}

func (*SA) Kind() PayloadType        { return PayloadSA }
func (*KE) Kind() PayloadType        { return PayloadKE }
func (*Auth) Kind() PayloadType      { return PayloadAUTH }
func (*Nonce) Kind() PayloadType     { return PayloadNonce }
func (*Notify) Kind() PayloadType    { return PayloadNotify }
func (*Delete) Kind() PayloadType    { return PayloadDelete }
func (*Vendor) Kind() PayloadType    { return PayloadVendor }
func (p *Unknown) Kind() PayloadType { return p.PType }
func (*Encrypted) Kind() PayloadType { return PayloadSK }

// Kind of an ID or TS depends on Responder.
func (p *ID) Kind() PayloadType {
	if p.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}
func (p *TS) Kind() PayloadType {
	if p.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}

// Message is a decoded message: the header and its payloads in order. For
// a protected message Payloads holds, after Open, the payloads in the
// clear before the SK payload (usually none) and then the inner payloads
// (the Encrypted payload itself is removed); before Open, the last
// payload is the *Encrypted.
type Message struct {
	Header
	Payloads []Payload
}

// Crypter protects SK payloads in one direction of an IKE SA: an AEAD
// with a 12-byte nonce (salt || 8-byte explicit IV) and a 16-byte ICV.
// IVs are a counter (unique per key, as RFC 5282 requires), starting at
// NextIV. A Crypter is used by one goroutine at a time.
type Crypter struct {
	AEAD   cipher.AEAD
	Salt   [4]byte
	NextIV uint64

	nonce [12]byte // scratch, so that no nonce escapes to the heap
}

// Errors decoding a message: each names the payload at fault. An
// *Error's Notify says what RFC 7296 section 2.21 asks a responder to
// answer with (0: drop silently), and Data the notification data to send
// with it (for UNSUPPORTED_CRITICAL_PAYLOAD, the one-octet payload type).
type Error struct {
	Notify NotifyType
	Msg    string
	Data   []byte
}

func (e *Error) Error() string { return "ike: " + e.Msg }
