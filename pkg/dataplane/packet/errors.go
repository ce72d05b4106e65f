package packet

// Error is a reason Decode rejected a frame. The values are small constants,
// so returning one as an error does not allocate, and a stage can count drops
// per reason with an array indexed by Error.
type Error uint8

// Decode and rewrite errors. Compare with == or errors.Is.
const (
	// ErrTruncated: the frame ends before a header, or before the length
	// a header declares (IPv4 total length, IPv6 payload length, an
	// extension header, TCP data offset).
	ErrTruncated Error = iota + 1
	// ErrBadVersion: the IP version field disagrees with the EtherType (or
	// is neither 4 nor 6 for DecodeIP).
	ErrBadVersion
	// ErrBadHeaderLen: a header length field is below its minimum (IPv4
	// IHL < 5, TCP data offset < 5, AH length too small).
	ErrBadHeaderLen
	// ErrBadLength: a length field is inconsistent (IPv4 total length
	// shorter than its header, UDP length outside [8, segment length]).
	ErrBadLength
	// ErrBadFragment: fragment fields are impossible (a non-last fragment
	// whose data is not a multiple of 8 bytes, a fragment reaching past
	// 65535 bytes, a second IPv6 fragment header).
	ErrBadFragment
	// ErrBadExtHeader: the IPv6 extension-header chain is malformed (a
	// hop-by-hop header that is not first).
	ErrBadExtHeader
	// ErrTooManyExtHeaders: more than MaxIPv6ExtHeaders extension headers.
	ErrTooManyExtHeaders
	// ErrTooManyVLANs: more than two stacked VLAN tags.
	ErrTooManyVLANs
	// ErrAddrFamily: an address of the wrong family was given for a rewrite.
	ErrAddrFamily
	// ErrNotSupported: the operation does not apply to this packet (no L4
	// header, a fragment, a protocol without ports or checksum).
	ErrNotSupported
	// ErrBadChecksum: a verified checksum is wrong.
	ErrBadChecksum

	// NumErrors bounds Error values, for arrays of per-reason counters.
	NumErrors
)

var errorText = [NumErrors]string{
	0:                    "packet: no error",
	ErrTruncated:         "packet: truncated",
	ErrBadVersion:        "packet: bad IP version",
	ErrBadHeaderLen:      "packet: bad header length",
	ErrBadLength:         "packet: bad length",
	ErrBadFragment:       "packet: bad fragment",
	ErrBadExtHeader:      "packet: bad IPv6 extension header",
	ErrTooManyExtHeaders: "packet: too many IPv6 extension headers",
	ErrTooManyVLANs:      "packet: too many VLAN tags",
	ErrAddrFamily:        "packet: wrong address family",
	ErrNotSupported:      "packet: not supported for this packet",
	ErrBadChecksum:       "packet: bad checksum",
}

func (e Error) Error() string {
	if e < NumErrors {
		return errorText[e]
	}
	return "packet: unknown error"
}
