package pcap

import (
	"fmt"
)

// Format constants.
const (
	// LinkTypeEthernet is LINKTYPE_ETHERNET, the only link type the
	// dataplane speaks.
	LinkTypeEthernet = 1
	// DefaultSnaplen is the snaplen Writer puts in file headers: the
	// longest packet a dataplane frame can describe.
	DefaultSnaplen = 65535
	// MaxSnaplen bounds every record Reader accepts (libpcap's
	// MAXIMUM_SNAPLEN).
	MaxSnaplen = 262144

	fileHeaderLen   = 24
	recordHeaderLen = 16
	versionMajor    = 2
	versionMinor    = 4

	magicMicro = 0xa1b2c3d4
	magicNano  = 0xa1b23c4d
	// magicNG is the first word of a pcapng file (its section header
	// block type), the same in either byte order.
	magicNG = 0x0a0d0d0a
)

// Resolution is the unit of a capture's timestamp fractions.
type Resolution uint8

const (
	Nanosecond Resolution = iota
	Microsecond
)

func (r Resolution) String() string {
	if r == Microsecond {
		return "microsecond"
	}
	return "nanosecond"
}

// FormatError is a malformed or truncated capture.
type FormatError struct {
	// Record is the 1-based number of the record at fault; 0 for the file
	// header.
	Record int
	// Offset is the byte offset of that record's header (0 for the file
	// header).
	Offset int64
	// Msg says what is wrong.
	Msg string
	// Err is io.ErrUnexpectedEOF when the file ends inside a header or a
	// record, nil otherwise.
	Err error
}

func (e *FormatError) Error() string {
	if e.Record == 0 {
		return "pcap: file header: " + e.Msg
	}
	return fmt.Sprintf("pcap: record %d (offset %d): %s", e.Record, e.Offset, e.Msg)
}

func (e *FormatError) Unwrap() error { return e.Err }
