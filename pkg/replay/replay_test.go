package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

const (
	routerPolicy = "../../examples/router.yaml"
	lanCapture   = "../../examples/captures/router-lan.pcap"
)

type frame struct {
	t    int64
	data []byte
}

func readCapture(t *testing.T, path string) []frame {
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
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, frame{ci.Timestamp.UnixNano(), data})
	}
}

// writeCapture writes a nanosecond capture with gopacket; a frame whose
// capLen is below its length is written cut short, as a small snaplen does.
func writeCapture(t *testing.T, path string, frames []frame, capLens map[int]int) {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, f.t), CaptureLength: len(f.data), Length: len(f.data)}
		data := f.data
		if n, ok := capLens[i]; ok {
			ci.CaptureLength, data = n, data[:n]
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func loadPolicy(t *testing.T, path string) *config.Policy {
	t.Helper()
	p, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func parsePolicy(t *testing.T, y string) *config.Policy {
	t.Helper()
	p, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sameFrames(t *testing.T, what string, got, want []frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d frames, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].t != want[i].t || !bytes.Equal(got[i].data, want[i].data) {
			t.Errorf("%s: frame %d: %d bytes at %d, want %d bytes at %d", what, i, len(got[i].data), got[i].t, len(want[i].data), want[i].t)
		}
	}
}

func frameOf(id byte, n int) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = id ^ byte(i)
	}
	return f
}

// TestReplayRouterPassThrough replays the example lan capture, and a wan
// capture interleaved with it in time, through examples/router.yaml. No
// router is registered in this test, so the pass-through stage runs: every
// frame leaves by the other interface, unchanged, at its input time.
func TestReplayRouterPassThrough(t *testing.T) {
	dir := t.TempDir()
	lanIn := readCapture(t, lanCapture)
	if len(lanIn) != 4 {
		t.Fatalf("%s: %d frames", lanCapture, len(lanIn))
	}
	t0 := lanIn[0].t
	wanIn := []frame{
		{t0 - 1, frameOf(1, 60)},           // before anything on lan
		{t0 + 500_123, frameOf(2, 1514)},   // between lan frames, nanoseconds kept
		{lanIn[2].t, frameOf(3, 70)},       // at the same time as a lan frame
		{t0 + 2_500_000, frameOf(4, 2000)}, // longer than a frame holds: dropped
		{t0 + 2_600_000, frameOf(5, 100)},  // cut short by the capture: dropped
		{t0 + 9_000_000, frameOf(6, 64)},   // after everything on lan
	}
	wanPath := filepath.Join(dir, "wan-in.pcap")
	writeCapture(t, wanPath, wanIn, map[int]int{4: 60})
	out := filepath.Join(dir, "out")

	p := loadPolicy(t, routerPolicy)
	sum, err := Run(context.Background(), p, Options{
		Inputs: map[string]string{"lan": lanCapture, "wan": wanPath},
		OutDir: out,
	})
	if err != nil {
		t.Fatal(err)
	}

	// What left wan is what came in on lan, and the other way round but
	// for the two frames dropped at the edge.
	sameFrames(t, "wan.pcap", readCapture(t, filepath.Join(out, "wan.pcap")), lanIn)
	wanOK := []frame{wanIn[0], wanIn[1], wanIn[2], wanIn[5]}
	sameFrames(t, "lan.pcap", readCapture(t, filepath.Join(out, "lan.pcap")), wanOK)

	var lanBytes, wanBytes uint64
	for _, f := range lanIn {
		lanBytes += uint64(len(f.data))
	}
	for _, f := range wanOK {
		wanBytes += uint64(len(f.data))
	}
	want := &Summary{
		Policy:    routerPolicy,
		Appliance: "router",
		Stage:     "pass-through",
		Interfaces: []Interface{
			{Name: "lan", Input: lanCapture, Output: filepath.Join(out, "lan.pcap"),
				RxPackets: 4, RxBytes: lanBytes, TxPackets: 4, TxBytes: wanBytes},
			{Name: "wan", Input: wanPath, Output: filepath.Join(out, "wan.pcap"),
				RxPackets: 4, RxBytes: wanBytes, TxPackets: 4, TxBytes: lanBytes},
		},
		Drops:   []Drop{{"capture-truncated", 1}, {"frame-too-big", 1}},
		Dropped: 2,
	}
	gotJS, _ := json.Marshal(sum)
	wantJS, _ := json.Marshal(want)
	if !bytes.Equal(gotJS, wantJS) {
		t.Errorf("summary\n got %s\nwant %s", gotJS, wantJS)
	}
	fileJS, err := os.ReadFile(filepath.Join(out, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var fromFile Summary
	if err := json.Unmarshal(fileJS, &fromFile); err != nil {
		t.Fatal(err)
	}
	if js, _ := json.Marshal(&fromFile); !bytes.Equal(js, wantJS) {
		t.Errorf("summary.json\n got %s\nwant %s", js, wantJS)
	}

	var text bytes.Buffer
	sum.WriteText(&text)
	for _, s := range []string{"router (pass-through stage: no router appliance in this build)", "dropped: 2", "capture-truncated  1\n", "frame-too-big      1\n"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text summary lacks %q:\n%s", s, text.String())
		}
	}

	// The same inputs give the same bytes out.
	out2 := filepath.Join(dir, "out2")
	if _, err := Run(context.Background(), p, Options{Inputs: map[string]string{"lan": lanCapture, "wan": wanPath}, OutDir: out2}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lan.pcap", "wan.pcap", SummaryFile} {
		a, _ := os.ReadFile(filepath.Join(out, name))
		b, _ := os.ReadFile(filepath.Join(out2, name))
		if name == SummaryFile {
			a = bytes.ReplaceAll(a, []byte(out), nil)
			b = bytes.ReplaceAll(b, []byte(out2), nil)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

// TestReplayEveryInterfaceGetsACapture: interfaces nothing left get an
// empty capture; a lone interface's packets are dropped as unpaired; VLAN
// sub-interfaces share their parent's capture.
func TestReplayEveryInterfaceGetsACapture(t *testing.T) {
	dir := t.TempDir()
	p := parsePolicy(t, `appliance: firewall
interfaces:
  - {name: lan, port: "virtio:0", address: [192.0.2.1/24]}
  - {name: lan.10, parent: lan, vlan: 10, address: [192.0.3.1/24]}
  - {name: dmz, port: "virtio:1", address: [192.0.4.1/24]}
  - {name: wan, port: "virtio:2", address: [198.51.100.2/30]}
`)
	sum, err := Run(context.Background(), p, Options{Inputs: map[string]string{"wan": lanCapture}, OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lan", "dmz", "wan"} {
		if fs := readCapture(t, filepath.Join(dir, name+".pcap")); len(fs) != 0 {
			t.Errorf("%s.pcap: %d frames", name, len(fs))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "lan.10.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a capture for a VLAN sub-interface: %v", err)
	}
	if len(sum.Interfaces) != 3 || sum.Interfaces[2].RxPackets != 4 || sum.Dropped != 4 || sum.Drops[0] != (Drop{"unpaired-port", 4}) {
		t.Errorf("summary %+v", sum)
	}
}

func TestReplayUsageErrors(t *testing.T) {
	dir := t.TempDir()
	p := parsePolicy(t, `appliance: router
interfaces:
  - {name: lan, port: "virtio:0", address: [192.0.2.1/24]}
  - {name: lan.10, parent: lan, vlan: 10, address: [192.0.3.1/24]}
  - {name: wan, port: "virtio:1", address: [198.51.100.2/30]}
`)
	// An input that is where an output would go.
	clash := filepath.Join(dir, "wan.pcap")
	data, _ := os.ReadFile(lanCapture)
	os.WriteFile(clash, data, 0o644)

	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"unknown interface", Options{Inputs: map[string]string{"dmz": lanCapture}, OutDir: dir},
			"--in dmz=" + lanCapture + ": the policy has no interface dmz (it has lan, lan.10, wan)"},
		{"missing file", Options{Inputs: map[string]string{"lan": "nope.pcap"}, OutDir: dir}, "--in lan=nope.pcap: no such file"},
		{"directory", Options{Inputs: map[string]string{"lan": dir}, OutDir: dir}, "not a regular file"},
		{"vlan", Options{Inputs: map[string]string{"lan.10": lanCapture}, OutDir: dir}, "lan.10 is a VLAN on lan"},
		{"no inputs", Options{OutDir: dir}, "nothing to replay"},
		{"no output", Options{Inputs: map[string]string{"lan": lanCapture}}, "no output directory"},
		{"overwrite", Options{Inputs: map[string]string{"lan": clash}, OutDir: dir}, "would overwrite it with the output of wan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), p, tc.o)
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a usage error saying %q", err, tc.want)
			}
		})
	}
	if got, _ := os.ReadFile(clash); !bytes.Equal(got, data) {
		t.Fatal("an input was overwritten")
	}
}

func TestReplayBadCapture(t *testing.T) {
	dir := t.TempDir()
	p := loadPolicy(t, routerPolicy)
	data, _ := os.ReadFile(lanCapture)
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, data[:len(data)-5], 0o644)
	os.MkdirAll(filepath.Join(dir, "out"), 0o755)
	os.WriteFile(filepath.Join(dir, "out", SummaryFile), []byte("{}"), 0o644) // from an earlier run
	_, err := Run(context.Background(), p, Options{Inputs: map[string]string{"lan": cut}, OutDir: filepath.Join(dir, "out")})
	var ue *UsageError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), cut+": pcap: record 4") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", SummaryFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed run left a summary: %v", err)
	}

	notPcap := filepath.Join(dir, "text.pcap")
	os.WriteFile(notPcap, []byte("hello, this is not a capture at all"), 0o644)
	_, err = Run(context.Background(), p, Options{Inputs: map[string]string{"wan": notPcap}, OutDir: filepath.Join(dir, "out")})
	if err == nil || !strings.Contains(err.Error(), "interface wan: "+notPcap+": pcap: file header: not a pcap capture") {
		t.Fatalf("got %v", err)
	}
}

// hoarder keeps every packet and never gives it back: a leaking appliance.
type hoarder struct{ kept []dataplane.Packet }

func (h *hoarder) Process(b *dataplane.Batch) {
	for i := range b.Pkts {
		h.kept = append(h.kept, b.Pkts[i])
		b.Pkts[i].Consume()
	}
}

func TestReplayCatchesLeaks(t *testing.T) {
	appliance.Register("test-hoarder", func(*config.Policy, *appliance.Env) (dataplane.Stage, error) {
		return &hoarder{}, nil
	})
	p := loadPolicy(t, routerPolicy)
	p.Appliance = "test-hoarder"
	_, err := Run(context.Background(), p, Options{Inputs: map[string]string{"lan": lanCapture}, OutDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "frames leaked: test-hoarder stage") || !strings.Contains(err.Error(), "4 of") {
		t.Fatalf("got %v", err)
	}
}

func TestFrameSizeFor(t *testing.T) {
	for mtu, want := range map[int]int{0: 2048, 1500: 2048, 1898: 2048, 1899: 4096, 9000: 16384, 65535: 65536} {
		p := &config.Policy{Interfaces: []config.Interface{{Name: "a", MTU: mtu}}}
		if got := frameSizeFor(p); got != want {
			t.Errorf("MTU %d: frame size %d, want %d", mtu, got, want)
		}
	}
}
