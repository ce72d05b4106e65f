package e2e

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nfvkit/nfvkit/bench/pktgen"
)

// Scenario is what a measurement varies besides the case.
type Scenario struct {
	// Size is the Ethernet frame in bytes, without FCS (see pktgen).
	Size int `json:"size"`
	// Cores is 1 (generator and forwarding on one CPU) or 2 (the
	// forwarding on a second CPU).
	Cores int `json:"cores"`
}

// Measurement statuses.
const (
	StatusOK          = "ok"
	StatusUnavailable = "n/a"
	StatusError       = "error"
)

// Measurement is one case measured once in one scenario.
type Measurement struct {
	Case string `json:"case"`
	// Against names the case the ratio is taken against, when not the
	// run's baseline.
	Against string `json:"against,omitempty"`
	Scenario
	Rep     int       `json:"rep"`
	Started time.Time `json:"started"`
	Status  string    `json:"status"`
	// Reason says why the status is not ok.
	Reason string `json:"reason,omitempty"`

	// WindowSeconds is the measured window (after the warm-up).
	WindowSeconds float64 `json:"window_seconds"`
	// Offered counts what gen0 put on the wire in the window: its
	// tx_packets plus tx_dropped (packets fwd-in's receive queue refused).
	Offered uint64 `json:"offered"`
	// Delivered counts sink0's rx_packets in the window.
	Delivered uint64 `json:"delivered"`
	// RefusedAtIngress is gen0's tx_dropped in the window (part of loss).
	RefusedAtIngress uint64  `json:"refused_at_ingress"`
	OfferedPPS       float64 `json:"offered_pps"`
	DeliveredPPS     float64 `json:"delivered_pps"`
	// Gbps is DeliveredPPS x Size x 8 / 1e9.
	Gbps float64 `json:"gbps"`
	// LossPct is (Offered - Delivered) / Offered x 100; packets in flight
	// at the window's edges can make it slightly negative.
	LossPct float64 `json:"loss_pct"`

	// Rate is the offered load (pps) the window was measured at when the
	// rate search chose one below full speed; 0 is full speed. Probes are
	// the search's short looks, the first at full speed.
	Rate   float64 `json:"rate_pps,omitempty"`
	Probes []Probe `json:"probes,omitempty"`

	// Links are the interfaces' counter deltas over the window.
	Links map[string]LinkDelta `json:"links,omitempty"`
	// Generator is the generator's own account of its whole run
	// (warm-up included).
	Generator *pktgen.Result `json:"generator,omitempty"`
	// Sample is what a capture of a few packets at sink found during the
	// warm-up.
	Sample string `json:"sample,omitempty"`
	// IdleBefore is the fraction of all CPUs idle just before the run;
	// CPUBusy each CPU's busy fraction during the window: on a shared
	// machine, the noise.
	IdleBefore float64   `json:"idle_before"`
	CPUBusy    []float64 `json:"cpu_busy,omitempty"`
	// ForeignCores is the CPU (in cores) processes other than the
	// generator, the appliance and the harness used during the window.
	ForeignCores float64 `json:"foreign_cores"`
	// Attempts counts the times this measurement was taken; a noisy one
	// (ForeignCores above the run's limit) is taken again and the quietest
	// attempt kept.
	Attempts int      `json:"attempts,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// Probe is one short look at a rate during the search: what was offered
// and delivered (pps).
type Probe struct {
	Rate      float64 `json:"rate_pps"` // 0: full speed
	Offered   float64 `json:"offered_pps"`
	Delivered float64 `json:"delivered_pps"`
}

func (p Probe) loss() float64 {
	if p.Offered <= 0 {
		return 0
	}
	return (p.Offered - p.Delivered) / p.Offered * 100
}

// LinkDelta is one interface's counters over the window.
type LinkDelta struct {
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
}

// Row is the summary of one case in one scenario over its repetitions.
type Row struct {
	Case string `json:"case"`
	Scenario
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Runs counts the measurements summarized (status ok); Failed those
	// that ended in error.
	Runs   int `json:"runs"`
	Failed int `json:"failed,omitempty"`
	// Medians over the runs.
	OfferedMpps   float64 `json:"offered_mpps"`
	DeliveredMpps float64 `json:"delivered_mpps"`
	Gbps          float64 `json:"gbps"`
	LossPct       float64 `json:"loss_pct"`
	// ForeignCores is the median CPU others used during the windows.
	ForeignCores float64 `json:"foreign_cores"`
	// MinMpps and MaxMpps bound the delivered rate over the runs.
	MinMpps float64 `json:"min_mpps"`
	MaxMpps float64 `json:"max_mpps"`
	// Ratio is the median over repetitions of this case's delivered rate
	// divided by the baseline's (or Against's) in the same repetition
	// (same size and cores); 0 when there is no pair.
	Ratio float64 `json:"ratio_to_baseline,omitempty"`
	// Against names the case Ratio is taken against when it is not the
	// baseline.
	Against string `json:"against,omitempty"`
}

// Summarize turns measurements into one row per case and scenario, in the
// order they first appear, with ratios to the baseline case.
func Summarize(ms []Measurement, baseline string) []Row {
	type key struct {
		c string
		s Scenario
	}
	var order []key
	groups := map[key][]Measurement{}
	for _, m := range ms {
		k := key{m.Case, m.Scenario}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], m)
	}
	type ref struct {
		c                string
		size, cores, rep int
	}
	base := map[ref]float64{} // delivered pps of every case, for ratios
	for _, m := range ms {
		if m.Status == StatusOK && m.DeliveredPPS > 0 {
			base[ref{m.Case, m.Size, m.Cores, m.Rep}] = m.DeliveredPPS
		}
	}
	var rows []Row
	for _, k := range order {
		g := groups[k]
		r := Row{Case: k.c, Scenario: k.s, Against: g[0].Against}
		against := cmp.Or(r.Against, baseline)
		var off, del, gb, loss, ratio, noise []float64
		reasons := map[string]bool{}
		var unavailable int
		for _, m := range g {
			switch m.Status {
			case StatusOK:
				r.Runs++
				off = append(off, m.OfferedPPS/1e6)
				del = append(del, m.DeliveredPPS/1e6)
				gb = append(gb, m.Gbps)
				loss = append(loss, m.LossPct)
				noise = append(noise, m.ForeignCores)
				if b := base[ref{against, m.Size, m.Cores, m.Rep}]; b > 0 {
					ratio = append(ratio, m.DeliveredPPS/b)
				}
			case StatusUnavailable:
				unavailable++
				reasons[m.Reason] = true
			default:
				r.Failed++
				reasons[m.Reason] = true
			}
		}
		switch {
		case r.Runs > 0:
			r.Status = StatusOK
			if r.Failed > 0 {
				r.Reason = fmt.Sprintf("%d of %d runs failed: %s", r.Failed, len(g), joinKeys(reasons))
			}
		case unavailable > 0 && r.Failed == 0:
			r.Status = StatusUnavailable
			r.Reason = joinKeys(reasons)
		default:
			r.Status = StatusError
			r.Reason = joinKeys(reasons)
		}
		r.OfferedMpps, r.DeliveredMpps = median(off), median(del)
		r.Gbps, r.LossPct, r.Ratio = median(gb), median(loss), median(ratio)
		r.ForeignCores = median(noise)
		if len(del) > 0 {
			r.MinMpps, r.MaxMpps = slices.Min(del), slices.Max(del)
		}
		rows = append(rows, r)
	}
	return rows
}

func joinKeys(m map[string]bool) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, "; ")
}

// median of xs (the mean of the middle two for an even count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// WriteTable prints rows as an aligned table with the units explained
// below it. baseline names the case the ratios are against.
func WriteTable(w io.Writer, rows []Row, baseline string) error {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Size, b.Size), cmp.Compare(a.Cores, b.Cores))
	})
	table := [][]string{{"case", "size B", "cores", "offered Mpps", "delivered Mpps", "Gbit/s", "loss %", "vs " + baseline, "runs", "delivered min-max", "others' CPU"}}
	for _, r := range rows {
		cells := []string{r.Case, fmt.Sprint(r.Size), fmt.Sprint(r.Cores)}
		switch r.Status {
		case StatusOK:
			ratio := "-"
			if r.Ratio > 0 {
				ratio = fmt.Sprintf("%.2fx", r.Ratio)
				if r.Against != "" {
					ratio += " *"
				}
			}
			runs := fmt.Sprint(r.Runs)
			if r.Failed > 0 {
				runs = fmt.Sprintf("%d (+%d failed)", r.Runs, r.Failed)
			}
			cells = append(cells, fmt.Sprintf("%.3f", r.OfferedMpps), fmt.Sprintf("%.3f", r.DeliveredMpps),
				fmt.Sprintf("%.2f", r.Gbps), fmt.Sprintf("%.1f", math.Max(r.LossPct, 0)), ratio, runs,
				fmt.Sprintf("%.3f-%.3f", r.MinMpps, r.MaxMpps), fmt.Sprintf("%.2f", r.ForeignCores))
		case StatusUnavailable:
			cells = append(cells, (&Unavailable{Reason: r.Reason}).Error())
		default:
			cells = append(cells, "error: "+r.Reason)
		}
		table = append(table, cells)
	}
	// Column widths come from the full rows; a row with a single text
	// after the scenario (n/a, error) runs on without widening them.
	widths := make([]int, len(table[0]))
	for _, cells := range table {
		if len(cells) != len(widths) {
			continue
		}
		for i, c := range cells {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, cells := range table {
		var b strings.Builder
		for i, c := range cells {
			if i == len(cells)-1 {
				b.WriteString(c)
				break
			}
			if i == 0 {
				fmt.Fprintf(&b, "%-*s  ", widths[i], c)
			} else {
				fmt.Fprintf(&b, "%*s  ", widths[i], c) // numbers to the right
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	for _, r := range rows {
		if r.Status == StatusOK && r.Failed > 0 {
			fmt.Fprintf(w, "  %s, %d B, %d core(s): %s\n", r.Case, r.Size, r.Cores, r.Reason)
		}
	}
	_, err := fmt.Fprintf(w, `
size: L2 frame as handed to veth: Ethernet header + payload, no FCS, preamble or gap.
offered: what gen0 put on the wire in the window (tx_packets + tx_dropped); delivered: sink0 rx_packets.
Gbit/s: delivered packets x size x 8 (L2 bytes). loss: offered - delivered. Medians over runs.
vs %[1]s: median over repetitions of delivered pps / %[1]s's delivered pps in the same repetition;
  * against the case named beside the row instead (nfv-firewall: nftables with the same rules).
cores 1: generator and forwarding on cpu 0. cores 2: generator on cpu 0, forwarding on cpu 1
  (kernel: RPS on fwd-in steers it there; nfv: the appliance is pinned there).
others' CPU: cores' worth of CPU other processes used during the window (median): the noise.
`, baseline)
	return err
}
