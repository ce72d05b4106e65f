package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

func newPool(t testing.TB, n int) *dataplane.Pool {
	t.Helper()
	pool, err := dataplane.NewMemPool(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Region().Close() })
	return pool
}

// frameOf makes a distinguishable frame of n bytes.
func frameOf(id byte, n int) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = id + byte(i)
	}
	return f
}

func TestPortRecvGroupsByTimestamp(t *testing.T) {
	pool := newPool(t, 64)
	stats := dataplane.NewStats("lan")
	file := rawFile(binary.LittleEndian, magicNano, 65535, 1,
		rec(1, 100, frameOf(1, 60)),
		rec(1, 100, frameOf(2, 61)),
		rec(1, 100, frameOf(3, 62)),
		rec(1, 200, frameOf(4, 63)),
		rec(0, 5, frameOf(5, 64)), // steps back: taken as it comes
	)
	p, err := NewPort(bytes.NewReader(file), nil, Config{Name: "lan", Pool: pool, Stats: stats, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	b := dataplane.NewBatch(8)
	type step struct {
		next  int64
		ids   []byte
		err   error
		endOk bool
	}
	for i, s := range []step{
		{1e9 + 100, []byte{1, 2}, nil, true}, // BatchSize bounds the burst
		{1e9 + 100, []byte{3}, nil, true},
		{1e9 + 200, []byte{4}, nil, true},
		{5, []byte{5}, io.EOF, true}, // the end is seen with the last record
	} {
		nt, ok := p.Next()
		if !ok || nt != s.next {
			t.Fatalf("step %d: Next = %d %v, want %d", i, nt, ok, s.next)
		}
		n, err := p.Recv(b)
		if err != s.err || n != len(s.ids) || b.Len() != n {
			t.Fatalf("step %d: Recv = %d, %v; want %d, %v", i, n, err, len(s.ids), s.err)
		}
		for k, id := range s.ids {
			d := b.Pkts[k].Data()
			if len(d) != 59+int(id) || d[0] != id || b.Pkts[k].Headroom() != pool.Region().Headroom() {
				t.Fatalf("step %d: packet %d: %d bytes starting %d", i, k, len(d), d[0])
			}
		}
		pool.PutBatch(b)
	}
	if _, ok := p.Next(); ok {
		t.Fatal("Next after the end")
	}
	if n, err := p.Recv(b); n != 0 || err != io.EOF {
		t.Fatalf("Recv after the end: %d %v", n, err)
	}
	if c := p.Counters(); c.Received != 5 {
		t.Fatalf("counters %+v", c)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

func TestPortRecvRespectsBatchRoom(t *testing.T) {
	pool := newPool(t, 8)
	file := rawFile(binary.LittleEndian, magicNano, 65535, 1, rec(1, 0, frameOf(1, 60)), rec(1, 0, frameOf(2, 60)))
	p, _ := NewPort(bytes.NewReader(file), nil, Config{Pool: pool})
	b := dataplane.NewBatch(1)
	if n, err := p.Recv(b); n != 1 || err != nil {
		t.Fatalf("%d %v", n, err)
	}
	if n, _ := p.Recv(b); n != 0 {
		t.Fatalf("Recv into a full batch returned %d", n)
	}
	pool.PutBatch(b)
	if n, err := p.Recv(b); n != 1 || err != io.EOF {
		t.Fatalf("%d %v", n, err)
	}
	pool.PutBatch(b)
}

func TestPortDropsAtTheEdge(t *testing.T) {
	pool := newPool(t, 1)
	stats := dataplane.NewStats("lan")
	room := pool.Region().FrameSize() - pool.Region().Headroom()
	file := rawFile(binary.LittleEndian, magicNano, 65535, 1,
		rec(1, 0, frameOf(1, room)),   // fits exactly
		rec(1, 0, frameOf(2, room+1)), // too big
		rawRec{1, 0, 60, 100, frameOf(3, 60)},
		rec(1, 0, frameOf(4, 60)), // no frame left: the first is still out
		rec(2, 0, frameOf(5, 60)),
	)
	p, _ := NewPort(bytes.NewReader(file), nil, Config{Pool: pool, Stats: stats})
	b := dataplane.NewBatch(8)
	if n, err := p.Recv(b); n != 1 || err != nil || b.Pkts[0].Len() != room {
		t.Fatalf("%d %v", n, err)
	}
	pool.PutBatch(b)
	if n, err := p.Recv(b); n != 1 || err != io.EOF || b.Pkts[0].Data()[0] != 5 {
		t.Fatalf("%d %v", n, err)
	}
	pool.PutBatch(b)
	c := p.Counters()
	if c != (Counters{Received: 2, TooBig: 1, Snapped: 1, NoBuffer: 1}) {
		t.Errorf("counters %+v", c)
	}
	for _, r := range []dataplane.Reason{dataplane.ReasonTooBig, ReasonCaptureTruncated, dataplane.ReasonNoBuffer} {
		if stats.Dropped(r) != 1 {
			t.Errorf("%v: %d drops", r, stats.Dropped(r))
		}
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

func TestPortMalformedInput(t *testing.T) {
	pool := newPool(t, 8)
	good := rec(1, 0, frameOf(1, 60))
	file := rawFile(binary.LittleEndian, magicNano, 65535, 1, good, good, rec(3, 0, frameOf(2, 60)))
	for _, tc := range []struct {
		name string
		cut  int   // bytes cut off the end
		next int64 // Next before the broken record
	}{
		// The header is whole: its time is due; reading the data fails.
		{"data", 10, 3e9},
		// The header is broken: it shows as due at the last time, so the
		// loop calls Recv and learns why.
		{"header", 60 + 10, 1e9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := NewPort(bytes.NewReader(file[:len(file)-tc.cut]), nil, Config{Name: "lan", Pool: pool})
			b := dataplane.NewBatch(8)
			if n, err := p.Recv(b); n != 2 || err != nil {
				t.Fatalf("%d %v", n, err)
			}
			pool.PutBatch(b)
			if nt, ok := p.Next(); !ok || nt != tc.next {
				t.Fatalf("Next = %d %v", nt, ok)
			}
			n, err := p.Recv(b)
			var fe *FormatError
			if n != 0 || !errors.As(err, &fe) || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(err.Error(), "lan: pcap: record 3 (offset 176): truncated") {
				t.Fatalf("Recv = %d, %v", n, err)
			}
			if err := pool.CheckAllReturned(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPortSend(t *testing.T) {
	pool := newPool(t, 8)
	var out bytes.Buffer
	p, err := NewPort(nil, &out, Config{Name: "wan", Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Next(); ok {
		t.Fatal("an output-only port has input")
	}
	if n, err := p.Recv(dataplane.NewBatch(4)); n != 0 || err != io.EOF {
		t.Fatalf("Recv: %d %v", n, err)
	}
	b := dataplane.NewBatch(4)
	var want [][]byte
	for _, at := range []int64{7e9 + 1, 8e9 + 2} {
		for i := range 2 {
			pk, _ := pool.Get()
			f := frameOf(byte(at)+byte(i), 60+i)
			pk.SetLen(len(f))
			copy(pk.Data(), f)
			b.Add(pk)
			want = append(want, f)
		}
		b.Now = at
		if n, err := p.Send(b); n != 2 || err != nil || b.Len() != 0 {
			t.Fatalf("Send: %d %v, %d left", n, err, b.Len())
		}
	}
	if pool.InUse() != 0 {
		t.Fatal("Send kept frames")
	}
	if out.Len() != 0 {
		t.Fatal("writes not buffered")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	gs := readAllPcapgo(t, out.Bytes())
	compare(t, "pcapgo", gs, want, []int64{7e9 + 1, 7e9 + 1, 8e9 + 2, 8e9 + 2}, Nanosecond)
	if p.Counters().Written != 4 {
		t.Fatalf("counters %+v", p.Counters())
	}
	// After Close, frames given to Send are still freed.
	pk, _ := pool.Get()
	b.Add(pk)
	if n, err := p.Send(b); n != 0 || err != dataplane.ErrClosed {
		t.Fatalf("Send after Close: %d %v", n, err)
	}
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

func TestPortSendErrors(t *testing.T) {
	pool := newPool(t, 8)
	fill := func(b *dataplane.Batch, n int) {
		for range n {
			pk, _ := pool.Get()
			pk.SetLen(1500)
			b.Add(pk)
		}
	}
	b := dataplane.NewBatch(64)

	noOut, _ := NewPort(nil, nil, Config{Pool: pool})
	fill(b, 3)
	if n, err := noOut.Send(b); n != 0 || err != ErrNoOutput || pool.InUse() != 0 {
		t.Fatalf("Send without output: %d %v", n, err)
	}

	p, _ := NewPort(nil, failWriter{}, Config{Name: "wan", Pool: pool})
	var err error
	for range 100 { // until the buffer spills into the failing writer
		fill(b, 4)
		if _, err = p.Send(b); err != nil {
			break
		}
	}
	if !errors.Is(err, errDisk) || pool.InUse() != 0 {
		t.Fatalf("Send: %v, %d frames out", err, pool.InUse())
	}
	fill(b, 1)
	if n, err := p.Send(b); n != 0 || !errors.Is(err, errDisk) {
		t.Fatalf("error not sticky: %d %v", n, err)
	}
	if err := p.Close(); !errors.Is(err, errDisk) {
		t.Fatalf("Close = %v, want the write error", err)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	pool := newPool(t, 8)
	in := filepath.Join(dir, "in.pcap")
	out := filepath.Join(dir, "out.pcap")
	os.WriteFile(in, rawFile(binary.BigEndian, magicMicro, 65535, 1, rec(3, 4, frameOf(1, 60))), 0o644)

	p, err := Open(in, out, Config{Name: "lan", Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	b := dataplane.NewBatch(8)
	if n, err := p.Recv(b); n != 1 || err != io.EOF {
		t.Fatalf("%d %v", n, err)
	}
	b.Now = 3e9 + 4e3
	p.Send(b)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	gs := readAllPcapgo(t, must(os.ReadFile(out)))
	compare(t, "pcapgo", gs, [][]byte{frameOf(1, 60)}, []int64{3e9 + 4e3}, Nanosecond)

	if _, err := Open(filepath.Join(dir, "missing.pcap"), "", Config{Pool: pool}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing input: %v", err)
	}
	os.WriteFile(in, []byte("not a capture, just some text"), 0o644)
	_, err = Open(in, filepath.Join(dir, "x.pcap"), Config{Pool: pool})
	if err == nil || !strings.HasPrefix(err.Error(), in+": pcap: file header: not a pcap capture") {
		t.Errorf("bad input: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestPortAllocs: receiving and sending a burst allocates nothing.
func TestPortAllocs(t *testing.T) {
	pool := newPool(t, 64)
	var recs []rawRec
	for i := range 2000 {
		recs = append(recs, rec(uint32(i/8), 0, frameOf(byte(i), 60+i%200)))
	}
	p, err := NewPort(bytes.NewReader(rawFile(binary.LittleEndian, magicNano, 65535, 1, recs...)), io.Discard, Config{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	b := dataplane.NewBatch(64)
	a := testing.AllocsPerRun(200, func() {
		t, _ := p.Next()
		p.Recv(b)
		b.Now = t
		p.Send(b)
	})
	if a != 0 {
		t.Errorf("%v allocations per burst", a)
	}
}
