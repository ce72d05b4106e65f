package esp

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// fuzzEngine makes the inbound SAs FuzzDecap decapsulates for: AES-GCM
// without ESN over plain ESP (SPI 0x1234), ChaCha20-Poly1305 with ESN in
// UDP (SPI 0x5678), and the independent sealers of the same keys.
func fuzzEngine(t testing.TB) (*Engine, [2]*indepSA) {
	mk := func(spi uint32, c Cipher, esn, udp bool) *SA {
		sa, err := NewSA(Config{Name: fmt.Sprint(spi), Dir: Inbound, SPI: spi, Cipher: c, Key: testKey(c, byte(spi)), ESN: esn,
			Local: gwB4, Peer: gwA4, Encap: udp, Selector: selector(siteB, siteA)})
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	e := NewEngine(Options{EventQueue: 1})
	if err := e.Install(0, mk(0x1234, AES128GCM16, false, false), mk(0x5678, ChaCha20Poly1305, true, true)); err != nil {
		t.Fatal(err)
	}
	return e, [2]*indepSA{
		newIndepSA(false, testKey(AES128GCM16, 0x34), 0x1234, false),
		newIndepSA(true, testKey(ChaCha20Poly1305, 0x78), 0x5678, true),
	}
}

// fuzzPacket turns a fuzz input into the outer packet to decapsulate. Mode
// bit 0 clear: data is the outer packet as received. Set: data is an ESP
// payload (inner packet, padding, trailer), sealed here under the SA that
// bit 1 picks, with sequence number 1+mode>>2, so that the fuzzer reaches
// what runs after the ICV check: trailer, inner packet, selector, ECN.
func fuzzPacket(sas [2]*indepSA, mode byte, data []byte) []byte {
	if mode&1 == 0 {
		return data
	}
	s := sas[mode>>1&1]
	esp := s.seal(uint64(mode>>2)+1, [8]byte{mode}, data)
	if s.spi == 0x5678 {
		return indepOuter(gwA4, gwB4, 4500, 4500, esp)
	}
	return indepOuter(gwA4, gwB4, 0, 0, esp)
}

func FuzzDecap(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.mode, s.data)
	}
	pool := newPool(f, 4)
	e, sas := fuzzEngine(f)
	w := e.NewWorker()
	sasOut := make([]*SA, 2)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		// A fresh replay window per input, so that an input's outcome
		// does not depend on the inputs before it.
		for _, sa := range e.SAs() {
			sa.window = replayWindow{}
		}
		pkt := fuzzPacket(sas, mode, data)
		if len(pkt) > dataplane.DefaultFrameSize-dataplane.DefaultHeadroom {
			return
		}
		b := dataplane.NewBatch(2)
		for range 2 { // the second copy is a replay, if the first passed
			p, ok := pool.Get()
			if !ok {
				t.Fatal("pool empty: frames leaked")
			}
			copy(p.Append(len(pkt)), pkt)
			p.Forward(1)
			b.Add(p)
		}
		w.Decap(b, sasOut)
		for i := range b.Pkts {
			p := &b.Pkts[i]
			switch p.Verdict {
			case dataplane.Forward:
				// Only an authenticated, whole inner packet of the SA's
				// traffic gets through, inside the frame.
				d := p.Data()
				next := nextHeaderIPv4
				if len(d) > 0 && d[0]>>4 == 6 {
					next = nextHeaderIPv6
				}
				if n := innerLen(d, next); n != len(d) || sasOut[i] == nil {
					t.Fatalf("packet %d passed as %x (inner length %d)", i, d, n)
				}
				var pp packet.Parsed
				if pp.DecodeIP(d) == nil && (!siteA[0].Contains(pp.Src) && !siteA[1].Contains(pp.Src)) {
					t.Fatalf("packet %d from %v passed the selector", i, pp.Src)
				}
				if i == 1 {
					t.Fatal("a replay passed")
				}
				if p.Offset()+p.Len() > dataplane.DefaultFrameSize {
					t.Fatal("data beyond the frame")
				}
			case dataplane.Punt:
				if string(p.Data()) != string(pkt) {
					t.Fatal("punted packet changed")
				}
			case dataplane.Drop:
				if p.Reason == 0 {
					t.Fatal("dropped without a reason")
				}
			}
		}
		pool.PutBatch(b)
	})
}

type fuzzSeed struct {
	name string
	mode byte
	data []byte
}

// fuzzSeeds are valid packets of both SAs, their inner payloads, and the
// special cases of UDP 4500.
func fuzzSeeds(t testing.TB) []fuzzSeed {
	_, sas := fuzzEngine(t)
	in4 := udpPacket(hostA4, hostB4, 1, 2, 60, 1)
	in6 := udpPacket(hostA6, hostB6, 3, 4, 80, 2)
	var seeds []fuzzSeed
	add := func(name string, mode byte, data []byte) { seeds = append(seeds, fuzzSeed{name, mode, data}) }
	add("plain-esp", 0, fuzzPacket(sas, 1, indepPayload(in4, 4, 0)))
	add("udp-esn", 0, fuzzPacket(sas, 3, indepPayload(in6, 41, 3)))
	add("payload-v4", 1, indepPayload(in4, 4, 0))
	add("payload-v6-udp", 3, indepPayload(in6, 41, 0))
	add("payload-tfc", 5, indepPayload(append(in4, 0, 0, 0), 4, 1))
	add("payload-dummy", 7, indepPayload(nil, 59, 0))
	add("payload-bad-pad", 9, append(in4, 1, 1, 2, 4))
	add("keepalive", 0, indepOuter(gwA4, gwB4, 4500, 4500, []byte{0xff}))
	add("ike", 0, indepOuter(gwA4, gwB4, 4500, 4500, []byte{0, 0, 0, 0, 1, 2, 3, 4}))
	v6 := indepOuter(gwA6, gwB6, 0, 0, fuzzPacket(sas, 1, indepPayload(in4, 4, 0))[20:])
	add("outer-v6", 0, v6)
	ext := append([]byte(nil), v6[:40]...)
	ext[6] = 60 // a destination options header before ESP
	binary.BigEndian.PutUint16(ext[4:], uint16(len(v6)-40+8))
	ext = append(append(ext, 50, 0, 1, 4, 0, 0, 0, 0), v6[40:]...)
	add("outer-v6-ext", 0, ext)
	add("truncated", 0, fuzzPacket(sas, 1, indepPayload(in4, 4, 0))[:40])
	return seeds
}

// TestWriteFuzzCorpus writes the seeds into testdata/fuzz/FuzzDecap, in
// the format go test reads, when NFV_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("NFV_WRITE_CORPUS") != "1" {
		t.Skip("set NFV_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzDecap")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecap")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range fuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", rune(s.mode), s.data)
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFuzzSeeds checks that each seed reaches the path it is meant for.
func TestFuzzSeeds(t *testing.T) {
	want := map[string]string{
		"plain-esp": "ok", "udp-esn": "ok", "payload-v4": "ok", "payload-v6-udp": "ok", "payload-tfc": "ok",
		"payload-dummy": "esp-dummy", "payload-bad-pad": "esp-malformed", "keepalive": "natt-keepalive", "ike": "punt",
		"outer-v6": "ok", "outer-v6-ext": "ok", "truncated": "esp-malformed",
	}
	pool := newPool(t, 2)
	for _, s := range fuzzSeeds(t) {
		e, sas := fuzzEngine(t)
		pkt := fuzzPacket(sas, s.mode, s.data)
		b := dataplane.NewBatch(1)
		p, _ := pool.Get()
		copy(p.Append(len(pkt)), pkt)
		p.Forward(1)
		b.Add(p)
		e.NewWorker().Decap(b, nil)
		if r := reasons(b)[0]; r != want[s.name] {
			t.Errorf("seed %s: %s, want %s", s.name, r, want[s.name])
		}
		pool.PutBatch(b)
	}
}
