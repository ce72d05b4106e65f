// Package goldentest holds what golden replay tests share: writing input
// captures, reading output captures, and comparing frames with a readable
// account of each difference (frames decoded by gopacket). It is for tests
// only; nothing under cmd/ may import it.
package goldentest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Frame is one captured Ethernet frame and its timestamp.
type Frame struct {
	T    time.Time
	Data []byte
}

// WriteCapture writes frames to path as a nanosecond Ethernet pcap.
func WriteCapture(t testing.TB, path string, frames []Frame) {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: f.T, CaptureLength: len(f.Data), Length: len(f.Data)}
		if err := w.WritePacket(ci, f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadCapture reads every frame of the capture at path.
func ReadCapture(t testing.TB, path string) []Frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []Frame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, Frame{ci.Timestamp, data})
	}
}

// CompareFrames reports every difference between got and want on iface,
// times shown relative to t0 and both frames decoded, so that a failure
// says what differs.
func CompareFrames(t testing.TB, iface string, got, want []Frame, t0 time.Time) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("%s: frame %d missing, want at %v:\n%s", iface, i, want[i].T.Sub(t0), Describe(want[i].Data))
		case i >= len(want):
			t.Errorf("%s: extra frame %d at %v:\n%s", iface, i, got[i].T.Sub(t0), Describe(got[i].Data))
		case !got[i].T.Equal(want[i].T) || !bytes.Equal(got[i].Data, want[i].Data):
			t.Errorf("%s: frame %d differs\n got at %v: %x\n%s\nwant at %v: %x\n%s", iface, i,
				got[i].T.Sub(t0), got[i].Data, Describe(got[i].Data), want[i].T.Sub(t0), want[i].Data, Describe(want[i].Data))
		}
	}
}

// Describe is gopacket's account of an Ethernet frame, a line per layer.
func Describe(b []byte) string {
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	var sb strings.Builder
	for _, l := range p.Layers() {
		s := gopacket.LayerString(l)
		if len(s) > 300 {
			s = s[:300] + "..."
		}
		fmt.Fprintf(&sb, "  %s\n", s)
	}
	return sb.String()
}
