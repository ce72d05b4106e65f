package router

import (
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// recorder is a BurstFilter that passes everything and records what the
// router tells it.
type recorder struct {
	prepares bool
	pending  []Pending
	judged   []Pending
}

func (f *recorder) Prepares() bool { return f.prepares }

func (f *recorder) Prepare(b *dataplane.Batch, ps []Pending) {
	f.pending = append(f.pending, ps...)
}

func (f *recorder) Filter(b *dataplane.Batch, i, l3, in, out int) (FilterVerdict, dataplane.Reason) {
	f.judged = append(f.judged, Pending{I: i, L3: l3, In: in, Out: out})
	return FilterPass, 0
}

// TestBurstFilter: a BurstFilter hears, before the first Filter call of a
// burst, of every fast-path packet the router will filter, with the
// interfaces Filter gets; and of none when it says it has no use for it.
func TestBurstFilter(t *testing.T) {
	f := &recorder{prepares: true}
	g := newRig(t, parse(t, reloadB), 256, Options{Filter: f})
	ms := int64(time.Millisecond)
	to := func(dst string) []byte {
		return udp4(fromHost, v4{src: "192.0.2.10", dst: dst, ttl: 64}, 1, 2, payload(20, 0))
	}
	g.process(1*ms, in(0, to("10.1.2.3")), in(0, to("192.0.2.1")), in(0, to("203.0.113.5")), in(0, to("10.9.9.9")))
	if len(f.judged) != 4 || len(f.pending) != 4 {
		t.Fatalf("judged %v, prepared %v: want 4 each", f.judged, f.pending)
	}
	for k, p := range f.pending {
		if p != f.judged[k] {
			t.Errorf("packet %d: prepared as %+v, judged as %+v", k, p, f.judged[k])
		}
	}
	if got := f.judged[1]; got.Out != SelfIface || got.In != 0 {
		t.Errorf("packet to the router: %+v", got)
	}
	if got := f.judged[0]; got.Out != 1 || got.L3 != 14 {
		t.Errorf("packet routed to wan: %+v", got)
	}
	f.prepares, f.pending, f.judged = false, nil, nil
	g.process(2*ms, in(0, to("10.1.2.3")))
	if len(f.pending) != 0 || len(f.judged) != 1 {
		t.Errorf("not wanted: prepared %v, judged %v", f.pending, f.judged)
	}
	g.r.Release()
}
