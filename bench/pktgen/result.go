package pktgen

// Result is what the generator did.
type Result struct {
	// Sent counts distinct packets the interface took: ring slots sent and
	// freed. A packet the interface dropped and the kernel sent again
	// counts once here; the interface's tx_dropped counts the drops.
	Sent  uint64 `json:"sent"`
	Bytes uint64 `json:"bytes"`
	// Seconds is the time spent sending (the run's length, without the
	// final wait for packets in flight).
	Seconds float64 `json:"seconds"`
	// PPS is Sent / Seconds.
	PPS float64 `json:"pps"`
	// Full counts the times every ring slot was still in flight, which
	// means the path behind the interface, not the generator, set the pace.
	Full uint64 `json:"full"`
}
