package classify

import "sync/atomic"

// Counters count the packets each rule matched. Give each worker its own
// (uncontended atomic adds cost a few nanoseconds, and the classifier runs
// only for packets conntrack cannot settle) and sum them for metrics; any
// goroutine may read them. After a reload, make new ones for the new rule
// list.
type Counters struct {
	hits   []atomic.Uint64
	misses atomic.Uint64
	sink   uint64 // see Warm
}

// NewCounters makes counters for n rules.
func NewCounters(n int) *Counters { return &Counters{hits: make([]atomic.Uint64, n)} }

// Count adds one packet to the rule m names (or to the misses).
func (c *Counters) Count(m Match) {
	if m.Rule >= 0 && int(m.Rule) < len(c.hits) {
		c.hits[m.Rule].Add(1)
		return
	}
	c.misses.Add(1)
}

// Warm reads the counters of the rules ms name, so that counting them
// soon after finds them in the cache: a burst's answers from
// Classifier.ClassifyBurst, in a big rule list.
func (c *Counters) Warm(ms []Match) {
	var s uint64
	for _, m := range ms {
		if m.Rule >= 0 && int(m.Rule) < len(c.hits) {
			s += c.hits[m.Rule].Load()
		}
	}
	c.sink = s
}

// Hits returns the packets rule i matched.
func (c *Counters) Hits(i int) uint64 { return c.hits[i].Load() }

// Misses returns the packets no rule matched.
func (c *Counters) Misses() uint64 { return c.misses.Load() }
