package pcap

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// WriterOptions shape a capture being written. The zero value writes
// nanosecond timestamps with DefaultSnaplen.
type WriterOptions struct {
	// Snaplen is the longest record written; longer frames are cut to it
	// (their original length is kept). 0 means DefaultSnaplen.
	Snaplen int
	// Resolution of the timestamps written: Nanosecond (the default) keeps
	// the dataplane's clock exactly; Microsecond rounds down, for tools that
	// predate nanosecond captures.
	Resolution Resolution
}

// Writer writes a classic pcap capture, little-endian, link type Ethernet.
// Writes are buffered: call Flush before the capture is read. Writing a
// record allocates nothing.
type Writer struct {
	bw      *bufio.Writer
	snaplen int
	res     Resolution
	err     error
	hdr     [recordHeaderLen]byte
}

const writeBufferSize = 64 << 10

// NewWriter starts a capture on w: it buffers the file header, so the
// capture is well-formed even when no record follows.
func NewWriter(w io.Writer, o WriterOptions) (*Writer, error) {
	if o.Snaplen == 0 {
		o.Snaplen = DefaultSnaplen
	}
	if o.Snaplen < 0 || o.Snaplen > MaxSnaplen {
		return nil, fmt.Errorf("pcap: snaplen %d out of range (1..%d)", o.Snaplen, MaxSnaplen)
	}
	if o.Resolution > Microsecond {
		return nil, fmt.Errorf("pcap: unknown timestamp resolution %d", o.Resolution)
	}
	wr := &Writer{bw: bufio.NewWriterSize(w, writeBufferSize), snaplen: o.Snaplen, res: o.Resolution}
	var h [fileHeaderLen]byte
	magic := uint32(magicNano)
	if o.Resolution == Microsecond {
		magic = magicMicro
	}
	le := binary.LittleEndian
	le.PutUint32(h[0:4], magic)
	le.PutUint16(h[4:6], versionMajor)
	le.PutUint16(h[6:8], versionMinor)
	// h[8:16]: time zone offset and timestamp accuracy, always 0.
	le.PutUint32(h[16:20], uint32(o.Snaplen))
	le.PutUint32(h[20:24], LinkTypeEthernet)
	wr.bw.Write(h[:]) // a fresh bufio.Writer takes 24 bytes without error
	return wr, nil
}

// WritePacket appends a record of frame stamped t (Unix nanoseconds, within
// 1970..2106 as the format's 32-bit seconds allow). Frames longer than the
// snaplen are cut to it. An error is sticky: later writes return it too.
func (w *Writer) WritePacket(t int64, frame []byte) error {
	if w.err != nil {
		return w.err
	}
	if t < 0 || t/1e9 > math.MaxUint32 {
		return fmt.Errorf("pcap: timestamp %dns outside the format's range (1970..2106)", t)
	}
	if uint64(len(frame)) > math.MaxUint32 {
		return fmt.Errorf("pcap: frame of %d bytes too long", len(frame))
	}
	capLen := min(len(frame), w.snaplen)
	frac := uint32(t % 1e9)
	if w.res == Microsecond {
		frac /= 1e3
	}
	le := binary.LittleEndian
	le.PutUint32(w.hdr[0:4], uint32(t/1e9))
	le.PutUint32(w.hdr[4:8], frac)
	le.PutUint32(w.hdr[8:12], uint32(capLen))
	le.PutUint32(w.hdr[12:16], uint32(len(frame)))
	if _, err := w.bw.Write(w.hdr[:]); err != nil {
		w.err = fmt.Errorf("pcap: write: %w", err)
		return w.err
	}
	if _, err := w.bw.Write(frame[:capLen]); err != nil {
		w.err = fmt.Errorf("pcap: write: %w", err)
		return w.err
	}
	return nil
}

// Flush writes what is buffered to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("pcap: write: %w", err)
	}
	return w.err
}
