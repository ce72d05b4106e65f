package pcap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/gopacket/pcapgo"
)

// fuzzBuf is what records are read into: small, so that records longer
// than it (the port's too-big path) come from small inputs. Small seeds keep
// the fuzzer's minimisation of new inputs quick. Fuzzing runs one input at a
// time.
var fuzzBuf = make([]byte, 100)

// FuzzReader feeds arbitrary bytes to the reader. It must never panic, never
// return a record beyond the limits it checks, fail only with a *FormatError,
// and read every file it accepts as gopacket's pcapgo reads it. Seeds are in
// testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, file []byte) {
		// A small buffer keeps each run cheap (and reads across refills).
		r, err := NewReader(bufio.NewReaderSize(bytes.NewReader(file), 512))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("NewReader: %v is not a *FormatError", err)
			}
			return
		}
		if r.Snaplen() <= 0 || r.Snaplen() > MaxSnaplen || r.LinkType() != LinkTypeEthernet {
			t.Fatalf("header: snaplen %d, link type %d", r.Snaplen(), r.LinkType())
		}
		type seen struct {
			rec  Record
			data []byte // nil when skipped
		}
		var recs []seen
		for {
			rec, data, err := r.ReadPacket(fuzzBuf)
			if err == io.EOF {
				break
			}
			if err != nil && err != io.ErrShortBuffer {
				var fe *FormatError
				if !errors.As(err, &fe) || fe.Record != len(recs)+1 || fe.Offset < fileHeaderLen || fe.Offset >= int64(len(file)) {
					t.Fatalf("record %d: %v (%#v)", len(recs)+1, err, err)
				}
				return
			}
			if rec.CapLen < 0 || rec.CapLen > r.Snaplen() || rec.CapLen > rec.OrigLen || rec.Time < 0 {
				t.Fatalf("record %d out of bounds: %+v", len(recs)+1, rec)
			}
			if err == nil && len(data) != rec.CapLen {
				t.Fatalf("record %d: %d bytes, header says %d", len(recs)+1, len(data), rec.CapLen)
			}
			recs = append(recs, seen{rec, bytes.Clone(data)})
		}

		// A file read to its end reads the same with pcapgo, unless its
		// snaplen field is 0, which libpcap (and we) take as "no limit"
		// and pcapgo as a limit of zero.
		if r.ByteOrder().Uint32(file[16:20]) == 0 {
			return
		}
		g, err := pcapgo.NewReader(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("pcapgo rejects a file we read: %v", err)
		}
		for i, s := range recs {
			data, ci, err := g.ReadPacketData()
			if err != nil {
				t.Fatalf("pcapgo record %d: %v", i+1, err)
			}
			if ci.Timestamp.UnixNano() != s.rec.Time || ci.CaptureLength != s.rec.CapLen || ci.Length != s.rec.OrigLen ||
				(s.data != nil && !bytes.Equal(data, s.data)) {
				t.Fatalf("record %d: pcapgo reads %v %d/%d, we read %+v", i+1, ci.Timestamp, ci.CaptureLength, ci.Length, s.rec)
			}
		}
		if _, _, err := g.ReadPacketData(); err != io.EOF {
			t.Fatalf("pcapgo: more records than we read (%v)", err)
		}
	})
}
