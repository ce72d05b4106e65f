package wire

import (
	"encoding/binary"
	"fmt"
)

// DecodeHeader reads the fixed header of b, a whole datagram, and checks
// the version and that Length is exactly len(b). When b holds at least a
// header, the fields read are returned with any error, so that the
// caller can answer (INVALID_MAJOR_VERSION, INVALID_SYNTAX) to the SPIs;
// a shorter b is an error with Notify 0: there is no one to answer.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, &Error{Msg: fmt.Sprintf("message of %d bytes is shorter than the IKE header", len(b))}
	}
	h := Header{
		SPIi:     binary.BigEndian.Uint64(b[0:]),
		SPIr:     binary.BigEndian.Uint64(b[8:]),
		Next:     PayloadType(b[16]),
		Version:  b[17],
		Exchange: Exchange(b[18]),
		Flags:    b[19],
		MsgID:    binary.BigEndian.Uint32(b[20:]),
		Length:   binary.BigEndian.Uint32(b[24:]),
	}
	if h.Version>>4 != Version>>4 {
		return h, &Error{Notify: InvalidMajorVersion, Msg: fmt.Sprintf("version %d.%d", h.Version>>4, h.Version&0xf)}
	}
	if len(b) > MaxMessage {
		return h, &Error{Notify: InvalidSyntax, Msg: fmt.Sprintf("message of %d bytes is longer than %d", len(b), MaxMessage)}
	}
	if h.Length != uint32(len(b)) {
		return h, &Error{Notify: InvalidSyntax, Msg: fmt.Sprintf("header length %d in a message of %d bytes", h.Length, len(b))}
	}
	return h, nil
}

// Encode appends the header's HeaderLen bytes to b, as they are (Encode
// and Seal fill Next and Length of a message's header themselves). A
// zero Version is written as Version.
func (h *Header) Encode(b []byte) []byte {
	v := h.Version
	if v == 0 {
		v = Version
	}
	b = binary.BigEndian.AppendUint64(b, h.SPIi)
	b = binary.BigEndian.AppendUint64(b, h.SPIr)
	b = append(b, byte(h.Next), v, byte(h.Exchange), h.Flags)
	b = binary.BigEndian.AppendUint32(b, h.MsgID)
	return binary.BigEndian.AppendUint32(b, h.Length)
}

// String describes the header for logs, e.g.
// "IKE_AUTH request 1 0102030405060708/1112131415161718".
func (h *Header) String() string {
	dir := "request"
	if h.IsResponse() {
		dir = "response"
	}
	return fmt.Sprintf("%v %s %d %016x/%016x", h.Exchange, dir, h.MsgID, h.SPIi, h.SPIr)
}

func (e Exchange) String() string {
	switch e {
	case IKESAInit:
		return "IKE_SA_INIT"
	case IKEAuth:
		return "IKE_AUTH"
	case CreateChildSA:
		return "CREATE_CHILD_SA"
	case Informational:
		return "INFORMATIONAL"
	}
	return fmt.Sprintf("exchange-%d", uint8(e))
}

var payloadNames = map[PayloadType]string{
	PayloadNone: "none", PayloadSA: "SA", PayloadKE: "KE", PayloadIDi: "IDi", PayloadIDr: "IDr",
	PayloadCERT: "CERT", PayloadCERTREQ: "CERTREQ", PayloadAUTH: "AUTH", PayloadNonce: "Nonce",
	PayloadNotify: "Notify", PayloadDelete: "Delete", PayloadVendor: "Vendor", PayloadTSi: "TSi",
	PayloadTSr: "TSr", PayloadSK: "SK", PayloadCP: "CP", PayloadEAP: "EAP", PayloadSKF: "SKF",
}

func (t PayloadType) String() string {
	if s, ok := payloadNames[t]; ok {
		return s
	}
	return fmt.Sprintf("payload-%d", uint8(t))
}

var notifyNames = map[NotifyType]string{
	UnsupportedCriticalPayload: "UNSUPPORTED_CRITICAL_PAYLOAD", InvalidIKESPI: "INVALID_IKE_SPI",
	InvalidMajorVersion: "INVALID_MAJOR_VERSION", InvalidSyntax: "INVALID_SYNTAX",
	InvalidMessageID: "INVALID_MESSAGE_ID", InvalidSPI: "INVALID_SPI", NoProposalChosen: "NO_PROPOSAL_CHOSEN",
	InvalidKEPayload: "INVALID_KE_PAYLOAD", AuthenticationFailed: "AUTHENTICATION_FAILED",
	SinglePairRequired: "SINGLE_PAIR_REQUIRED", NoAdditionalSAs: "NO_ADDITIONAL_SAS",
	InternalAddressFailure: "INTERNAL_ADDRESS_FAILURE", FailedCPRequired: "FAILED_CP_REQUIRED",
	TSUnacceptable: "TS_UNACCEPTABLE", InvalidSelectors: "INVALID_SELECTORS",
	TemporaryFailure: "TEMPORARY_FAILURE", ChildSANotFound: "CHILD_SA_NOT_FOUND",
	InitialContact: "INITIAL_CONTACT", SetWindowSize: "SET_WINDOW_SIZE",
	AdditionalTSPossible: "ADDITIONAL_TS_POSSIBLE", IPCompSupported: "IPCOMP_SUPPORTED",
	NATDetectionSourceIP: "NAT_DETECTION_SOURCE_IP", NATDetectionDestIP: "NAT_DETECTION_DESTINATION_IP",
	Cookie: "COOKIE", UseTransportMode: "USE_TRANSPORT_MODE", RekeySA: "REKEY_SA",
	ESPTFCPaddingNotSupported: "ESP_TFC_PADDING_NOT_SUPPORTED", NonFirstFragmentsAlso: "NON_FIRST_FRAGMENTS_ALSO",
	MobikeSupported: "MOBIKE_SUPPORTED", FragmentationSupported: "IKEV2_FRAGMENTATION_SUPPORTED",
	ChildlessIKEv2Supported: "CHILDLESS_IKEV2_SUPPORTED",
	SignatureHashAlgorithms: "SIGNATURE_HASH_ALGORITHMS",
}

func (t NotifyType) String() string {
	if s, ok := notifyNames[t]; ok {
		return s
	}
	return fmt.Sprintf("notify-%d", uint16(t))
}

func (p Protocol) String() string {
	switch p {
	case ProtoIKE:
		return "IKE"
	case ProtoAH:
		return "AH"
	case ProtoESP:
		return "ESP"
	}
	return fmt.Sprintf("protocol-%d", uint8(p))
}

func (t TransformType) String() string {
	switch t {
	case TransformENCR:
		return "ENCR"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "INTEG"
	case TransformDH:
		return "KE"
	case TransformESN:
		return "ESN"
	}
	return fmt.Sprintf("transform-%d", uint8(t))
}
