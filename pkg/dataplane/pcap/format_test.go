package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// rawRec is a record as the file holds it, fields unchecked.
type rawRec struct {
	sec, frac, capLen, origLen uint32
	data                       []byte
}

// rawFile builds a capture byte by byte, so tests can write what no writer
// would: other byte orders, bad fields, truncations.
func rawFile(order binary.ByteOrder, magic uint32, snaplen, link uint32, recs ...rawRec) []byte {
	var b bytes.Buffer
	h := make([]byte, fileHeaderLen)
	order.PutUint32(h[0:4], magic)
	order.PutUint16(h[4:6], 2)
	order.PutUint16(h[6:8], 4)
	order.PutUint32(h[16:20], snaplen)
	order.PutUint32(h[20:24], link)
	b.Write(h)
	for _, r := range recs {
		rh := make([]byte, recordHeaderLen)
		order.PutUint32(rh[0:4], r.sec)
		order.PutUint32(rh[4:8], r.frac)
		order.PutUint32(rh[8:12], r.capLen)
		order.PutUint32(rh[12:16], r.origLen)
		b.Write(rh)
		b.Write(r.data)
	}
	return b.Bytes()
}

// rec makes a well-formed raw record of data.
func rec(sec, frac uint32, data []byte) rawRec {
	return rawRec{sec, frac, uint32(len(data)), uint32(len(data)), data}
}

// frames are test frames of assorted lengths and contents.
func testFrames() [][]byte {
	var fs [][]byte
	for i, n := range []int{60, 64, 1, 1514, 0, 128, 9000, 60} {
		f := make([]byte, n)
		for k := range f {
			f[k] = byte(i*31 + k)
		}
		fs = append(fs, f)
	}
	return fs
}

// testTimes has equal neighbours (one burst), steps back, and the
// extremes the 32-bit seconds field allows.
var testTimes = []int64{
	1_700_000_000_123_456_789,
	1_700_000_000_123_456_789,
	1_700_000_000_123_457_000,
	0,
	1_600_000_000_000_000_001,
	(1<<32-1)*1e9 + 999_999_999,
	1_700_000_001_000_000_000,
	1_700_000_001_000_000_000,
}

type got struct {
	t       int64
	origLen int
	data    []byte
}

func readAll(t *testing.T, file []byte) ([]got, *Reader) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	var out []got
	buf := make([]byte, MaxSnaplen)
	for {
		rec, data, err := r.ReadPacket(buf)
		if err == io.EOF {
			return out, r
		}
		if err != nil {
			t.Fatalf("record %d: %v", len(out)+1, err)
		}
		out = append(out, got{rec.Time, rec.OrigLen, bytes.Clone(data)})
	}
}

func readAllPcapgo(t *testing.T, file []byte) []got {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatalf("pcapgo.NewReader: %v", err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("pcapgo: link type %v", r.LinkType())
	}
	var out []got
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("pcapgo record %d: %v", len(out)+1, err)
		}
		out = append(out, got{ci.Timestamp.UnixNano(), ci.Length, data})
	}
}

func compare(t *testing.T, who string, got []got, frames [][]byte, times []int64, res Resolution) {
	t.Helper()
	if len(got) != len(frames) {
		t.Fatalf("%s: %d records, want %d", who, len(got), len(frames))
	}
	for i, g := range got {
		want := times[i]
		if res == Microsecond {
			want -= want % 1e3
		}
		if g.t != want {
			t.Errorf("%s: record %d: time %d, want %d", who, i+1, g.t, want)
		}
		if !bytes.Equal(g.data, frames[i]) || g.origLen != len(frames[i]) {
			t.Errorf("%s: record %d: %d bytes (orig %d), want %d", who, i+1, len(g.data), g.origLen, len(frames[i]))
		}
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	for _, res := range []Resolution{Nanosecond, Microsecond} {
		t.Run(res.String(), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, WriterOptions{Resolution: res})
			if err != nil {
				t.Fatal(err)
			}
			frames := testFrames()
			for i, f := range frames {
				if err := w.WritePacket(testTimes[i], f); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			ours, r := readAll(t, buf.Bytes())
			if r.Resolution() != res || r.ByteOrder() != binary.LittleEndian || r.Snaplen() != DefaultSnaplen || r.LinkType() != LinkTypeEthernet {
				t.Errorf("header: %v %v %d %d", r.Resolution(), r.ByteOrder(), r.Snaplen(), r.LinkType())
			}
			compare(t, "ours", ours, frames, testTimes, res)
			compare(t, "pcapgo", readAllPcapgo(t, buf.Bytes()), frames, testTimes, res)
		})
	}
}

// TestReadPcapgoWritten reads what gopacket's independent writer writes.
func TestReadPcapgoWritten(t *testing.T) {
	for _, res := range []Resolution{Nanosecond, Microsecond} {
		t.Run(res.String(), func(t *testing.T) {
			var buf bytes.Buffer
			var w *pcapgo.Writer
			if res == Nanosecond {
				w = pcapgo.NewWriterNanos(&buf)
			} else {
				w = pcapgo.NewWriter(&buf)
			}
			if err := w.WriteFileHeader(MaxSnaplen, layers.LinkTypeEthernet); err != nil {
				t.Fatal(err)
			}
			frames := testFrames()
			for i, f := range frames {
				ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, testTimes[i]), CaptureLength: len(f), Length: len(f)}
				if err := w.WritePacket(ci, f); err != nil {
					t.Fatal(err)
				}
			}
			ours, r := readAll(t, buf.Bytes())
			if r.Resolution() != res {
				t.Errorf("resolution %v, want %v", r.Resolution(), res)
			}
			compare(t, "ours", ours, frames, testTimes, res)
		})
	}
}

func TestByteOrdersAndResolutions(t *testing.T) {
	frames := testFrames()[:4]
	times := []int64{1_700_000_000_000_001_000, 1_700_000_000_999_999_000, 5_000, 1_700_000_002_000_000_000}
	for _, tc := range []struct {
		order binary.ByteOrder
		res   Resolution
	}{
		{binary.LittleEndian, Microsecond},
		{binary.BigEndian, Microsecond},
		{binary.LittleEndian, Nanosecond},
		{binary.BigEndian, Nanosecond},
	} {
		t.Run(tc.order.String()+"/"+tc.res.String(), func(t *testing.T) {
			magic, div := uint32(magicNano), int64(1)
			if tc.res == Microsecond {
				magic, div = magicMicro, 1e3
			}
			var recs []rawRec
			for i, f := range frames {
				recs = append(recs, rec(uint32(times[i]/1e9), uint32(times[i]%1e9/div), f))
			}
			file := rawFile(tc.order, magic, 65535, LinkTypeEthernet, recs...)
			ours, r := readAll(t, file)
			if r.ByteOrder() != tc.order || r.Resolution() != tc.res {
				t.Errorf("detected %v %v", r.ByteOrder(), r.Resolution())
			}
			compare(t, "ours", ours, frames, times, tc.res)
			compare(t, "pcapgo", readAllPcapgo(t, file), frames, times, tc.res)
		})
	}
}

func TestSnaplenZeroMeansMax(t *testing.T) {
	big := make([]byte, 70000)
	file := rawFile(binary.LittleEndian, magicMicro, 0, LinkTypeEthernet, rec(1, 0, big))
	ours, r := readAll(t, file)
	if r.Snaplen() != MaxSnaplen || len(ours) != 1 || len(ours[0].data) != len(big) {
		t.Fatalf("snaplen %d, %d records", r.Snaplen(), len(ours))
	}
}

func TestMalformed(t *testing.T) {
	le := binary.LittleEndian
	good := rawFile(le, magicMicro, 65535, 1, rec(1, 0, make([]byte, 60)))
	withVersion := func(major, minor uint16) []byte {
		f := bytes.Clone(good)
		le.PutUint16(f[4:6], major)
		le.PutUint16(f[6:8], minor)
		return f
	}
	for _, tc := range []struct {
		name      string
		file      []byte
		want      string
		record    int   // record at fault, 0 for the file header
		offset    int64 // its offset
		truncated bool  // wraps io.ErrUnexpectedEOF
	}{
		{"empty", nil, "empty file", 0, 0, false},
		{"short header", good[:10], "truncated (10 of 24 bytes)", 0, 0, true},
		{"pcapng", append([]byte{0x0a, 0x0d, 0x0d, 0x0a}, good[4:]...), "pcapng", 0, 0, false},
		{"bad magic", append([]byte("GIF8"), good[4:]...), "not a pcap capture", 0, 0, false},
		{"version", withVersion(2, 3), "unsupported version 2.3", 0, 0, false},
		{"version major", withVersion(1, 4), "unsupported version 1.4", 0, 0, false},
		{"raw IP link type", rawFile(le, magicMicro, 65535, 101), "link type 101 is not supported", 0, 0, false},
		{"FCS", rawFile(le, magicMicro, 65535, 1|1<<26|2<<28), "4-byte FCS", 0, 0, false},
		{"reserved bits", rawFile(le, magicMicro, 65535, 1|1<<20), "reserved bits", 0, 0, false},
		{"short record header", good[:24+10], "truncated header (10 of 16 bytes)", 1, 24, true},
		{"short data", good[:len(good)-1], "truncated data (59 of 60 bytes)", 1, 24, true},
		{"no data", good[:24+16], "truncated data (0 of 60 bytes)", 1, 24, true},
		{"caplen over snaplen", rawFile(le, magicMicro, 100, 1, rec(1, 0, make([]byte, 60)), rec(1, 0, make([]byte, 101))),
			"captured length 101 exceeds the snaplen 100", 2, 24 + 16 + 60, false},
		{"caplen over max", rawFile(le, magicMicro, 0, 1, rawRec{1, 0, MaxSnaplen + 1, MaxSnaplen + 1, nil}),
			"captured length 262145 exceeds the snaplen 262144", 1, 24, false},
		{"huge caplen", rawFile(le, magicMicro, 0, 1, rawRec{1, 0, 0xffffffff, 0xffffffff, nil}),
			"captured length 4294967295 exceeds", 1, 24, false},
		{"caplen over origlen", rawFile(le, magicMicro, 65535, 1, rawRec{1, 0, 60, 59, make([]byte, 60)}),
			"captured length 60 exceeds the original length 59", 1, 24, false},
		{"microseconds", rawFile(le, magicMicro, 65535, 1, rawRec{1, 1e6, 0, 0, nil}), "microseconds 1000000 out of range", 1, 24, false},
		{"nanoseconds", rawFile(le, magicNano, 65535, 1, rawRec{1, 1e9, 0, 0, nil}), "nanoseconds 1000000000 out of range", 1, 24, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := readErr(tc.file)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a *FormatError", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if fe.Record != tc.record || fe.Offset != tc.offset {
				t.Errorf("error at record %d offset %d, want %d at %d", fe.Record, fe.Offset, tc.record, tc.offset)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) != tc.truncated {
				t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = %v", err, !tc.truncated)
			}
		})
	}
}

// readErr reads file to its end and returns the error that stopped it.
func readErr(file []byte) error {
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		return err
	}
	buf := make([]byte, MaxSnaplen)
	for {
		if _, _, err := r.ReadPacket(buf); err != nil {
			if err == io.EOF {
				return nil
			}
			// The error is sticky.
			if _, err2 := r.NextRecord(); err2 != err {
				return errors.New("error not sticky")
			}
			return err
		}
	}
}

func TestReadPacketShortBuffer(t *testing.T) {
	file := rawFile(binary.LittleEndian, magicNano, 65535, 1, rec(1, 0, make([]byte, 100)), rec(2, 0, []byte{1, 2, 3}))
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 50)
	if _, _, err := r.ReadPacket(buf); err != io.ErrShortBuffer {
		t.Fatalf("got %v, want io.ErrShortBuffer", err)
	}
	rec, data, err := r.ReadPacket(buf)
	if err != nil || rec.Time != 2e9 || !bytes.Equal(data, []byte{1, 2, 3}) {
		t.Fatalf("after a skipped record: %v %v %v", rec, data, err)
	}
}

// TestNextRecordSkipsUnread: a record whose data was not read is skipped.
func TestNextRecordSkipsUnread(t *testing.T) {
	file := rawFile(binary.BigEndian, magicMicro, 65535, 1, rec(1, 5, make([]byte, 100)), rec(2, 7, []byte{9}))
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.NextRecord(); err != nil {
		t.Fatal(err)
	}
	rec, err := r.NextRecord()
	if err != nil || rec.Time != 2e9+7e3 || rec.CapLen != 1 {
		t.Fatalf("%+v %v", rec, err)
	}
	b := make([]byte, 1)
	if err := r.ReadData(b); err != nil || b[0] != 9 {
		t.Fatalf("%v %v", b, err)
	}
	if _, err := r.NextRecord(); err != io.EOF {
		t.Fatalf("got %v, want io.EOF", err)
	}
}

func TestWriterSnaplenCuts(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{Snaplen: 100})
	if err != nil {
		t.Fatal(err)
	}
	f := testFrames()[3] // 1514 bytes
	if err := w.WritePacket(1e9, f); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	gs := readAllPcapgo(t, buf.Bytes())
	if len(gs) != 1 || !bytes.Equal(gs[0].data, f[:100]) || gs[0].origLen != 1514 {
		t.Fatalf("pcapgo read %d bytes, orig %d", len(gs[0].data), gs[0].origLen)
	}
}

func TestWriterErrors(t *testing.T) {
	if _, err := NewWriter(io.Discard, WriterOptions{Snaplen: MaxSnaplen + 1}); err == nil {
		t.Error("snaplen beyond MaxSnaplen accepted")
	}
	if _, err := NewWriter(io.Discard, WriterOptions{Resolution: 7}); err == nil {
		t.Error("unknown resolution accepted")
	}
	w, _ := NewWriter(io.Discard, WriterOptions{})
	for _, ts := range []int64{-1, 1 << 32 * 1e9} {
		if err := w.WritePacket(ts, nil); err == nil {
			t.Errorf("timestamp %d accepted", ts)
		}
	}
	// A failing writer: the error is sticky.
	w, _ = NewWriter(failWriter{}, WriterOptions{})
	big := make([]byte, writeBufferSize)
	err := w.WritePacket(1, big)
	if err == nil {
		err = w.Flush()
	}
	if err == nil || !errors.Is(err, errDisk) {
		t.Fatalf("got %v, want the disk error", err)
	}
	if err2 := w.WritePacket(1, nil); !errors.Is(err2, errDisk) {
		t.Fatalf("error not sticky: %v", err2)
	}
}

func TestEmptyCapture(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, WriterOptions{})
	w.Flush()
	if buf.Len() != fileHeaderLen {
		t.Fatalf("empty capture is %d bytes", buf.Len())
	}
	if gs := readAllPcapgo(t, buf.Bytes()); len(gs) != 0 {
		t.Fatal("records in an empty capture")
	}
	if gs, _ := readAll(t, buf.Bytes()); len(gs) != 0 {
		t.Fatal("records in an empty capture")
	}
}

var errDisk = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDisk }

func TestReadWriteAllocs(t *testing.T) {
	frames := testFrames()
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, WriterOptions{})
	if a := testing.AllocsPerRun(100, func() {
		buf.Reset()
		w.WritePacket(1e9, frames[0])
	}); a != 0 {
		t.Errorf("WritePacket: %v allocs", a)
	}
	file := rawFile(binary.LittleEndian, magicNano, 65535, 1, rec(1, 0, frames[0]))
	br := bytes.NewReader(file)
	r, _ := NewReader(br)
	dst := make([]byte, 2048)
	if a := testing.AllocsPerRun(100, func() {
		br.Seek(fileHeaderLen, io.SeekStart)
		r.br.Reset(br)
		if _, _, err := r.ReadPacket(dst); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("ReadPacket: %v allocs", a)
	}
}
