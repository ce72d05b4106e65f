package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Record is the header of one captured frame.
type Record struct {
	// Time is when the frame was captured, in Unix nanoseconds.
	Time int64
	// CapLen is how many bytes of the frame the file holds.
	CapLen int
	// OrigLen is how long the frame was on the wire; more than CapLen when
	// the capture cut it at the snaplen.
	OrigLen int
}

// Reader reads a classic pcap capture record by record. NextRecord reads a
// record's header and ReadData or Skip its bytes, so a caller can look at the
// length and time before choosing where the bytes go. Reading allocates
// nothing after NewReader.
type Reader struct {
	br      *bufio.Reader
	order   binary.ByteOrder
	res     Resolution
	snaplen int
	link    uint32

	off     int64 // file offset of the next unread byte
	recOff  int64 // file offset of the current record's header
	rec     int   // records begun
	pending int   // unread data bytes of the current record
	err     error // sticky: a malformed file stays malformed
	hdr     [recordHeaderLen]byte
}

// readBufferSize is the bufio buffer: a few typical records per refill.
const readBufferSize = 64 << 10

// NewReader reads and checks the file header of the capture r.
func NewReader(r io.Reader) (*Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, readBufferSize)
	}
	var h [fileHeaderLen]byte
	n, err := io.ReadFull(br, h[:])
	switch {
	case n == 0 && err == io.EOF:
		return nil, &FormatError{Msg: "empty file, not a pcap capture"}
	case n >= 4 && (binary.LittleEndian.Uint32(h[:4]) == magicNG):
		return nil, &FormatError{Msg: "this is a pcapng capture; only classic pcap is read (convert it with: editcap -F pcap IN OUT)"}
	case err == io.ErrUnexpectedEOF:
		return nil, &FormatError{Msg: fmt.Sprintf("truncated (%d of %d bytes)", n, fileHeaderLen), Err: io.ErrUnexpectedEOF}
	case err != nil:
		return nil, fmt.Errorf("pcap: reading file header: %w", err)
	}
	rd := &Reader{br: br, off: fileHeaderLen}
	switch le, be := binary.LittleEndian.Uint32(h[:4]), binary.BigEndian.Uint32(h[:4]); {
	case le == magicMicro:
		rd.order, rd.res = binary.LittleEndian, Microsecond
	case le == magicNano:
		rd.order, rd.res = binary.LittleEndian, Nanosecond
	case be == magicMicro:
		rd.order, rd.res = binary.BigEndian, Microsecond
	case be == magicNano:
		rd.order, rd.res = binary.BigEndian, Nanosecond
	default:
		return nil, &FormatError{Msg: fmt.Sprintf("not a pcap capture (magic %#08x; want %#08x or %#08x in either byte order)", be, uint32(magicMicro), uint32(magicNano))}
	}
	if major, minor := rd.order.Uint16(h[4:6]), rd.order.Uint16(h[6:8]); major != versionMajor || minor != versionMinor {
		return nil, &FormatError{Msg: fmt.Sprintf("unsupported version %d.%d (want %d.%d)", major, minor, versionMajor, versionMinor)}
	}
	rd.snaplen = int(rd.order.Uint32(h[16:20]))
	if rd.snaplen == 0 || rd.snaplen > MaxSnaplen {
		rd.snaplen = MaxSnaplen
	}
	// The link type field carries the type in its low 16 bits and, in its
	// top bits, whether frames end with an FCS (draft-ietf-opsawg-pcap:
	// FCS length in bits 28-31, counted in 16-bit words when bit 26 is set).
	lt := rd.order.Uint32(h[20:24])
	rd.link = lt & 0xffff
	if rd.link != LinkTypeEthernet {
		return nil, &FormatError{Msg: fmt.Sprintf("link type %d is not supported (want %d, Ethernet)", rd.link, LinkTypeEthernet)}
	}
	if lt>>16 != 0 {
		if lt&(1<<26) != 0 {
			return nil, &FormatError{Msg: fmt.Sprintf("frames end with a %d-byte FCS; not supported", 2*(lt>>28))}
		}
		return nil, &FormatError{Msg: fmt.Sprintf("link type field %#08x has reserved bits set", lt)}
	}
	return rd, nil
}

// ByteOrder is the byte order the capture was written in.
func (r *Reader) ByteOrder() binary.ByteOrder { return r.order }

// Resolution is the unit of the capture's timestamps.
func (r *Reader) Resolution() Resolution { return r.res }

// Snaplen is the longest record the capture may hold.
func (r *Reader) Snaplen() int { return r.snaplen }

// LinkType is the capture's link type (always LinkTypeEthernet).
func (r *Reader) LinkType() int { return int(r.link) }

// NextRecord skips what is left of the current record and reads the header
// of the next. At the end of the capture it returns io.EOF; a malformed or
// truncated header is a *FormatError, and every later call returns it again.
func (r *Reader) NextRecord() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	if r.pending > 0 {
		if err := r.Skip(); err != nil {
			return Record{}, err
		}
	}
	r.rec++
	r.recOff = r.off
	n, err := io.ReadFull(r.br, r.hdr[:])
	r.off += int64(n)
	switch {
	case n == 0 && err == io.EOF:
		r.rec--
		return Record{}, io.EOF
	case err == io.ErrUnexpectedEOF:
		return Record{}, r.fail(io.ErrUnexpectedEOF, "truncated header (%d of %d bytes)", n, recordHeaderLen)
	case err != nil:
		return Record{}, r.fail(err, "")
	}
	sec := r.order.Uint32(r.hdr[0:4])
	frac := r.order.Uint32(r.hdr[4:8])
	capLen := r.order.Uint32(r.hdr[8:12])
	origLen := r.order.Uint32(r.hdr[12:16])
	t := int64(sec) * 1e9
	if r.res == Microsecond {
		if frac >= 1e6 {
			return Record{}, r.fail(nil, "timestamp microseconds %d out of range (0..999999)", frac)
		}
		t += int64(frac) * 1e3
	} else {
		if frac >= 1e9 {
			return Record{}, r.fail(nil, "timestamp nanoseconds %d out of range (0..999999999)", frac)
		}
		t += int64(frac)
	}
	if capLen > uint32(r.snaplen) {
		return Record{}, r.fail(nil, "captured length %d exceeds the snaplen %d", capLen, r.snaplen)
	}
	if capLen > origLen {
		return Record{}, r.fail(nil, "captured length %d exceeds the original length %d", capLen, origLen)
	}
	r.pending = int(capLen)
	return Record{Time: t, CapLen: int(capLen), OrigLen: int(origLen)}, nil
}

// ReadData reads the bytes of the record NextRecord returned into dst, which
// must hold Record.CapLen bytes.
func (r *Reader) ReadData(dst []byte) error {
	if r.err != nil {
		return r.err
	}
	if len(dst) < r.pending {
		return io.ErrShortBuffer
	}
	want := r.pending
	n, err := io.ReadFull(r.br, dst[:want])
	r.off += int64(n)
	r.pending -= n
	if err != nil {
		return r.truncated(n, want, err)
	}
	return nil
}

// Skip discards the bytes of the current record.
func (r *Reader) Skip() error {
	if r.err != nil {
		return r.err
	}
	want := r.pending
	n, err := r.br.Discard(want)
	r.off += int64(n)
	r.pending -= n
	if err != nil {
		return r.truncated(n, want, err)
	}
	return nil
}

// ReadPacket reads the next record into dst and returns its header and
// data, a prefix of dst. A record longer than dst is skipped and reported
// with io.ErrShortBuffer, after which reading may go on.
func (r *Reader) ReadPacket(dst []byte) (Record, []byte, error) {
	rec, err := r.NextRecord()
	if err != nil {
		return rec, nil, err
	}
	if rec.CapLen > len(dst) {
		if err := r.Skip(); err != nil {
			return rec, nil, err
		}
		return rec, nil, io.ErrShortBuffer
	}
	if err := r.ReadData(dst); err != nil {
		return rec, nil, err
	}
	return rec, dst[:rec.CapLen], nil
}

func (r *Reader) truncated(n, want int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.fail(io.ErrUnexpectedEOF, "truncated data (%d of %d bytes)", n, want)
	}
	return r.fail(err, "")
}

// fail records a sticky error about the current record: a *FormatError, or
// the reader's own failure wrapped.
func (r *Reader) fail(err error, format string, args ...any) error {
	if err != nil && err != io.ErrUnexpectedEOF {
		r.err = fmt.Errorf("pcap: record %d (offset %d): %w", r.rec, r.recOff, err)
		return r.err
	}
	r.err = &FormatError{Record: r.rec, Offset: r.recOff, Msg: fmt.Sprintf(format, args...), Err: err}
	return r.err
}
