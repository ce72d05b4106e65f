package firewall

import (
	"cmp"
	"time"

	"github.com/nfvkit/nfvkit/appliances/firewall/classify"
)

// limiter is a token bucket on the batch clock for log lines: a flood of
// refused packets costs a few lines a second, not a log per packet.
type limiter struct {
	per    int64 // ns of credit a line costs
	burst  int64 // most credit held, in ns
	credit int64
	last   int64
}

func newLimiter(rate, burst int) limiter {
	rate, burst = cmp.Or(rate, 10), cmp.Or(burst, 10)
	per := int64(time.Second) / int64(rate)
	return limiter{per: per, burst: per * int64(burst), credit: per * int64(burst)}
}

func (l *limiter) allow(now int64) bool {
	if d := now - l.last; d > 0 {
		l.credit = min(l.burst, l.credit+d)
	}
	l.last = now
	if l.credit < l.per {
		return false
	}
	l.credit -= l.per
	return true
}

// logVerdict logs the first packet of a connection that a rule with
// log: true matched.
func (f *Firewall) logVerdict(k *classify.Key, m classify.Match) {
	if !f.logs.allow(f.now) {
		return
	}
	f.log.Info("firewall rule", "rule", m.Rule, "action", m.Action.String(), "proto", k.Proto,
		"src", k.Src, "sport", k.SrcPort, "dst", k.Dst, "dport", k.DstPort, "in", k.In, "out", k.Out)
}
