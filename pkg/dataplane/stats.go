package dataplane

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// Reason says why a packet was dropped. Reasons are registered once, at
// package initialisation, by the code that drops; counters are kept per
// reason so an operator sees "no-route: 12, ttl-exceeded: 3", not "dropped: 15".
type Reason uint16

// MaxReasons bounds the registry so counters are a fixed array.
const MaxReasons = 256

var reasons struct {
	sync.Mutex
	names [MaxReasons]string
	n     int
}

// NewReason registers a drop reason. Names are short, lower-case and
// hyphenated ("ttl-exceeded"); registering a name twice panics, as it would
// merge two counters.
func NewReason(name string) Reason {
	reasons.Lock()
	defer reasons.Unlock()
	for i := 1; i < reasons.n; i++ {
		if reasons.names[i] == name {
			panic("dataplane: drop reason registered twice: " + name)
		}
	}
	if reasons.n == 0 {
		reasons.names[0] = "unspecified"
		reasons.n = 1
	}
	if reasons.n == MaxReasons {
		panic("dataplane: too many drop reasons")
	}
	r := Reason(reasons.n)
	reasons.names[r] = name
	reasons.n++
	return r
}

func (r Reason) String() string {
	reasons.Lock()
	defer reasons.Unlock()
	if r == 0 {
		return "unspecified"
	}
	if int(r) < reasons.n {
		return reasons.names[r]
	}
	return fmt.Sprintf("reason-%d", uint16(r))
}

// Reasons the dataplane itself drops for.
var (
	ReasonNoVerdict = NewReason("no-verdict")   // a stage left the verdict unset
	ReasonBadPort   = NewReason("bad-out-port") // forward to a port that does not exist
	ReasonNoLocal   = NewReason("no-local-stack")
	ReasonNoBuffer  = NewReason("no-buffer") // the pool was empty
	ReasonTxFull    = NewReason("tx-full")   // the output port could not take it
	ReasonTxError   = NewReason("tx-error")
	ReasonTooBig    = NewReason("frame-too-big")
)

// PortStats are one port's counters. They are updated once per burst by the
// loop, so atomics cost little; read them with Load.
type PortStats struct {
	Name      string
	RxPackets atomic.Uint64
	RxBytes   atomic.Uint64
	TxPackets atomic.Uint64
	TxBytes   atomic.Uint64
	// TxDropped counts packets given to Send that the port did not
	// transmit (ring full, link down, error).
	TxDropped atomic.Uint64
}

// Stats are an appliance's counters: per port, and drops per reason.
type Stats struct {
	Ports []*PortStats
	drops [MaxReasons]atomic.Uint64
}

// NewStats makes counters for ports with the given names.
func NewStats(names ...string) *Stats {
	s := &Stats{Ports: make([]*PortStats, len(names))}
	for i, n := range names {
		s.Ports[i] = &PortStats{Name: n}
	}
	return s
}

// Drop counts one packet dropped for r.
func (s *Stats) Drop(r Reason) { s.drops[r].Add(1) }

// DropN counts n packets dropped for r.
func (s *Stats) DropN(r Reason, n uint64) { s.drops[r].Add(n) }

// Dropped is the count for r.
func (s *Stats) Dropped(r Reason) uint64 { return s.drops[r].Load() }

// ReasonCount is one line of a drop summary.
type ReasonCount struct {
	Reason Reason
	Name   string
	Count  uint64
}

// Drops lists the reasons with a non-zero count, the most frequent first
// (ties by name), for reports. It allocates; it is not for the fast path.
func (s *Stats) Drops() []ReasonCount {
	var out []ReasonCount
	for i := range s.drops {
		if c := s.drops[i].Load(); c > 0 {
			out = append(out, ReasonCount{Reason(i), Reason(i).String(), c})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// TotalDropped sums every reason.
func (s *Stats) TotalDropped() uint64 {
	var t uint64
	for i := range s.drops {
		t += s.drops[i].Load()
	}
	return t
}
