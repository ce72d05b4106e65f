package packet

import "strconv"

// EtherType is the 16-bit protocol field of an Ethernet or VLAN header.
// Values below 0x0600 are 802.3 lengths, not types.
type EtherType uint16

// EtherTypes the dataplane knows about.
const (
	EtherTypeIPv4          EtherType = 0x0800
	EtherTypeARP           EtherType = 0x0806
	EtherTypeVLAN          EtherType = 0x8100 // 802.1Q customer tag
	EtherTypeIPv6          EtherType = 0x86DD
	EtherTypeMPLSUnicast   EtherType = 0x8847
	EtherTypeMPLSMulticast EtherType = 0x8848
	EtherTypePPPoEDisc     EtherType = 0x8863
	EtherTypePPPoESession  EtherType = 0x8864
	EtherTypeQinQ          EtherType = 0x88A8 // 802.1ad service tag
	EtherTypeLLDP          EtherType = 0x88CC
	EtherTypeQinQLegacy    EtherType = 0x9100 // pre-802.1ad service tag
)

func (t EtherType) String() string {
	switch t {
	case EtherTypeIPv4:
		return "IPv4"
	case EtherTypeARP:
		return "ARP"
	case EtherTypeVLAN:
		return "802.1Q"
	case EtherTypeIPv6:
		return "IPv6"
	case EtherTypeMPLSUnicast:
		return "MPLS"
	case EtherTypeMPLSMulticast:
		return "MPLS-multicast"
	case EtherTypePPPoEDisc:
		return "PPPoE-discovery"
	case EtherTypePPPoESession:
		return "PPPoE-session"
	case EtherTypeQinQ:
		return "802.1ad"
	case EtherTypeLLDP:
		return "LLDP"
	case EtherTypeQinQLegacy:
		return "QinQ-9100"
	}
	return "0x" + strconv.FormatUint(uint64(t)|0x10000, 16)[1:]
}

// isVLANTPID reports whether t introduces a VLAN tag.
func isVLANTPID(t EtherType) bool {
	return t == EtherTypeVLAN || t == EtherTypeQinQ || t == EtherTypeQinQLegacy
}

// IPProtocol is an IPv4 protocol number or IPv6 next-header value (the IANA
// "Assigned Internet Protocol Numbers" registry).
type IPProtocol uint8

// IP protocol numbers, including the IPv6 extension headers.
const (
	IPProtoHopByHop     IPProtocol = 0
	IPProtoICMPv4       IPProtocol = 1
	IPProtoIGMP         IPProtocol = 2
	IPProtoIPIP         IPProtocol = 4 // IPv4 in IP
	IPProtoTCP          IPProtocol = 6
	IPProtoUDP          IPProtocol = 17
	IPProtoIPv6         IPProtocol = 41 // IPv6 in IP
	IPProtoRouting      IPProtocol = 43
	IPProtoFragment     IPProtocol = 44
	IPProtoGRE          IPProtocol = 47
	IPProtoESP          IPProtocol = 50
	IPProtoAH           IPProtocol = 51
	IPProtoICMPv6       IPProtocol = 58
	IPProtoNoNextHeader IPProtocol = 59
	IPProtoDestOpts     IPProtocol = 60
	IPProtoSCTP         IPProtocol = 132
	IPProtoUDPLite      IPProtocol = 136
)

func (p IPProtocol) String() string {
	switch p {
	case IPProtoHopByHop:
		return "HopByHop"
	case IPProtoICMPv4:
		return "ICMPv4"
	case IPProtoIGMP:
		return "IGMP"
	case IPProtoIPIP:
		return "IPIP"
	case IPProtoTCP:
		return "TCP"
	case IPProtoUDP:
		return "UDP"
	case IPProtoIPv6:
		return "IPv6"
	case IPProtoRouting:
		return "Routing"
	case IPProtoFragment:
		return "Fragment"
	case IPProtoGRE:
		return "GRE"
	case IPProtoESP:
		return "ESP"
	case IPProtoAH:
		return "AH"
	case IPProtoICMPv6:
		return "ICMPv6"
	case IPProtoNoNextHeader:
		return "NoNextHeader"
	case IPProtoDestOpts:
		return "DestOpts"
	case IPProtoSCTP:
		return "SCTP"
	case IPProtoUDPLite:
		return "UDPLite"
	}
	return "IPProto(" + strconv.Itoa(int(p)) + ")"
}

// TCPFlags is the flags byte of a TCP header (byte 13).
type TCPFlags uint8

// TCP flag bits.
const (
	TCPFin TCPFlags = 1 << iota
	TCPSyn
	TCPRst
	TCPPsh
	TCPAck
	TCPUrg
	TCPEce
	TCPCwr
)

// String returns the flags as tcpdump-like letters ("SA" for SYN+ACK), or
// "." for none.
func (f TCPFlags) String() string {
	if f == 0 {
		return "."
	}
	var b [8]byte
	n := 0
	for i, c := range "FSRPAUEC" {
		if f&(1<<i) != 0 {
			b[n] = byte(c)
			n++
		}
	}
	return string(b[:n])
}

// ICMPv4Type is the type field of an ICMPv4 header.
type ICMPv4Type uint8

// ICMPv4 types (RFC 792 and successors).
const (
	ICMPv4EchoReply      ICMPv4Type = 0
	ICMPv4DstUnreachable ICMPv4Type = 3
	ICMPv4SourceQuench   ICMPv4Type = 4 // deprecated, RFC 6633
	ICMPv4Redirect       ICMPv4Type = 5
	ICMPv4Echo           ICMPv4Type = 8
	ICMPv4RouterAdvert   ICMPv4Type = 9
	ICMPv4RouterSolicit  ICMPv4Type = 10
	ICMPv4TimeExceeded   ICMPv4Type = 11
	ICMPv4ParamProblem   ICMPv4Type = 12
	ICMPv4Timestamp      ICMPv4Type = 13
	ICMPv4TimestampReply ICMPv4Type = 14
)

// IsError reports whether t is an ICMPv4 error message (one that quotes the
// offending packet), as opposed to a query.
func (t ICMPv4Type) IsError() bool {
	switch t {
	case ICMPv4DstUnreachable, ICMPv4SourceQuench, ICMPv4Redirect, ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return false
}

// ICMPv4 codes, by type.
const (
	// ICMPv4DstUnreachable codes.
	ICMPv4NetUnreachable     = 0
	ICMPv4HostUnreachable    = 1
	ICMPv4ProtoUnreachable   = 2
	ICMPv4PortUnreachable    = 3
	ICMPv4FragNeeded         = 4 // "packet too big": MTU in bytes 6-7
	ICMPv4SourceRouteFailed  = 5
	ICMPv4NetUnknown         = 6
	ICMPv4HostUnknown        = 7
	ICMPv4NetProhibited      = 9
	ICMPv4HostProhibited     = 10
	ICMPv4AdminProhibited    = 13
	ICMPv4HostPrecViolation  = 14
	ICMPv4PrecedenceCutoff   = 15
	ICMPv4NetTOSUnreachable  = 11
	ICMPv4HostTOSUnreachable = 12

	// ICMPv4TimeExceeded codes.
	ICMPv4TTLExceeded       = 0
	ICMPv4ReassemblyTimeout = 1

	// ICMPv4Redirect codes.
	ICMPv4RedirectNet     = 0
	ICMPv4RedirectHost    = 1
	ICMPv4RedirectTOSNet  = 2
	ICMPv4RedirectTOSHost = 3

	// ICMPv4ParamProblem codes.
	ICMPv4ParamPointer       = 0
	ICMPv4ParamMissingOption = 1
	ICMPv4ParamBadLength     = 2
)

// ICMPv6Type is the type field of an ICMPv6 header.
type ICMPv6Type uint8

// ICMPv6 types (RFC 4443, RFC 4861, RFC 2710, RFC 3810).
const (
	ICMPv6DstUnreachable  ICMPv6Type = 1
	ICMPv6PacketTooBig    ICMPv6Type = 2
	ICMPv6TimeExceeded    ICMPv6Type = 3
	ICMPv6ParamProblem    ICMPv6Type = 4
	ICMPv6EchoRequest     ICMPv6Type = 128
	ICMPv6EchoReply       ICMPv6Type = 129
	ICMPv6MLDQuery        ICMPv6Type = 130
	ICMPv6MLDReport       ICMPv6Type = 131
	ICMPv6MLDDone         ICMPv6Type = 132
	ICMPv6RouterSolicit   ICMPv6Type = 133
	ICMPv6RouterAdvert    ICMPv6Type = 134
	ICMPv6NeighborSolicit ICMPv6Type = 135
	ICMPv6NeighborAdvert  ICMPv6Type = 136
	ICMPv6Redirect        ICMPv6Type = 137
	ICMPv6MLDv2Report     ICMPv6Type = 143
)

// IsError reports whether t is an ICMPv6 error message (types 0-127).
func (t ICMPv6Type) IsError() bool { return t < 128 }

// ICMPv6 codes, by type.
const (
	// ICMPv6DstUnreachable codes.
	ICMPv6NoRoute          = 0
	ICMPv6AdminProhibited  = 1
	ICMPv6BeyondScope      = 2
	ICMPv6AddrUnreachable  = 3
	ICMPv6PortUnreachable  = 4
	ICMPv6SrcPolicyFailed  = 5
	ICMPv6RejectRoute      = 6
	ICMPv6SrcRoutingHeader = 7

	// ICMPv6TimeExceeded codes.
	ICMPv6HopLimitExceeded  = 0
	ICMPv6ReassemblyTimeout = 1

	// ICMPv6ParamProblem codes.
	ICMPv6ErroneousHeader   = 0
	ICMPv6UnknownNextHeader = 1
	ICMPv6UnknownOption     = 2
)
