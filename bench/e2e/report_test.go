package e2e

import (
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func meas(c string, size, cores, rep int, pps float64) Measurement {
	return Measurement{
		Case: c, Scenario: Scenario{Size: size, Cores: cores}, Rep: rep, Status: StatusOK,
		OfferedPPS: pps * 1.1, DeliveredPPS: pps, Gbps: pps * float64(size) * 8 / 1e9, LossPct: 9.09,
	}
}

func TestSummarizeRatiosPairByRepetition(t *testing.T) {
	ms := []Measurement{
		meas("kernel", 64, 1, 1, 100e3), meas("nfv", 64, 1, 1, 150e3),
		// The machine got slower in repetition 2; the pair still says 1.5x.
		meas("kernel", 64, 1, 2, 50e3), meas("nfv", 64, 1, 2, 75e3),
		meas("kernel", 64, 1, 3, 200e3), meas("nfv", 64, 1, 3, 300e3),
		meas("kernel", 64, 2, 1, 100e3),
		{Case: "nfv", Scenario: Scenario{Size: 64, Cores: 2}, Rep: 1, Status: StatusUnavailable, Reason: "afxdp backend missing"},
		meas("x", 1400, 1, 1, 10e3),
		{Case: "x", Scenario: Scenario{Size: 1400, Cores: 1}, Rep: 2, Status: StatusError, Reason: "boom"},
	}
	rows := Summarize(ms, "kernel")
	if len(rows) != 5 {
		t.Fatalf("got %d rows, want 5: %+v", len(rows), rows)
	}
	nfv := rows[1]
	if nfv.Case != "nfv" || nfv.Runs != 3 || math.Abs(nfv.Ratio-1.5) > 1e-9 {
		t.Errorf("nfv row = %+v, want 3 runs at 1.5x", nfv)
	}
	if nfv.DeliveredMpps != 0.15 || nfv.MinMpps != 0.075 || nfv.MaxMpps != 0.3 {
		t.Errorf("nfv medians = %+v", nfv)
	}
	if r := rows[3]; r.Status != StatusUnavailable || r.Reason != "afxdp backend missing" {
		t.Errorf("n/a row = %+v", r)
	}
	if r := rows[4]; r.Status != StatusOK || r.Runs != 1 || r.Failed != 1 || r.Ratio != 0 || !strings.Contains(r.Reason, "boom") {
		t.Errorf("half-failed row = %+v", r)
	}

	var b strings.Builder
	if err := WriteTable(&b, rows, "kernel"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"vs kernel", "1.50x", "n/a (afxdp backend missing)", "1 (+1 failed)", "L2", "0.150",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)
}

func TestSummarizeAgainstAnotherCase(t *testing.T) {
	fw := func(rep int, pps float64) Measurement {
		m := meas("fw", 64, 2, rep, pps)
		m.Against = "nft"
		return m
	}
	ms := []Measurement{
		meas("kernel", 64, 2, 1, 400e3), meas("nft", 64, 2, 1, 100e3), fw(1, 300e3),
		meas("kernel", 64, 2, 2, 200e3), meas("nft", 64, 2, 2, 50e3), fw(2, 150e3),
	}
	rows := Summarize(ms, "kernel")
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want 3: %+v", len(rows), rows)
	}
	if r := rows[1]; r.Case != "nft" || math.Abs(r.Ratio-0.25) > 1e-9 || r.Against != "" {
		t.Errorf("nft row = %+v, want 0.25x the kernel", r)
	}
	if r := rows[2]; r.Case != "fw" || math.Abs(r.Ratio-3) > 1e-9 || r.Against != "nft" {
		t.Errorf("fw row = %+v, want 3x nft", r)
	}
	var b strings.Builder
	if err := WriteTable(&b, rows, "kernel"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "3.00x *") {
		t.Errorf("table does not mark the ratio against nft:\n%s", b.String())
	}
}
