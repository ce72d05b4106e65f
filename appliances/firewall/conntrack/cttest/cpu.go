package cttest

import (
	"syscall"
	"time"
)

// CPU returns the CPU time (user and system) the process has used. The
// benchmarks of the firewall engines report per-packet costs from it as
// well as from the wall clock, because on a shared machine the wall clock
// also counts the time other programs held the CPU.
func CPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Metrics is what a benchmark reports through (testing.B's ReportMetric).
type Metrics interface {
	ReportMetric(n float64, unit string)
	Elapsed() time.Duration
}

// ReportPPS reports packets processed since a benchmark began, whose CPU
// time then was cpu0: Mpps by the wall clock, and cpu-ns/pkt and Mpps/cpu
// by CPU time.
func ReportPPS(b Metrics, packets int, cpu0 time.Duration) {
	if packets == 0 {
		return
	}
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds()/1e6, "Mpps")
	if c := CPU() - cpu0; c > 0 {
		b.ReportMetric(float64(c.Nanoseconds())/float64(packets), "cpu-ns/pkt")
		b.ReportMetric(float64(packets)/c.Seconds()/1e6, "Mpps/cpu")
	}
}
