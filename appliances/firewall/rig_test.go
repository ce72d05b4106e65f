package firewall

import (
	"bytes"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// rig runs a Firewall directly, without a Loop: bursts in, verdicts
// carried out as the loop does, what was forwarded recorded per port
// (when record is set).
type rig struct {
	t      testing.TB
	f      *Firewall
	pool   *dataplane.Pool
	stats  *dataplane.Stats
	b      *dataplane.Batch
	record bool
	sent   [][][]byte // per port
}

func parse(t testing.TB, y string) *config.Policy {
	t.Helper()
	p, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newRig(t testing.TB, p *config.Policy, frames int) *rig {
	t.Helper()
	pool, err := dataplane.NewMemPool(frames)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Region().Close() })
	stats := dataplane.NewStats(appliance.PortNames(p)...)
	env, err := appliance.NewEnv(p, pool, stats, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(p, env, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, f: f, pool: pool, stats: stats, b: dataplane.NewBatch(2 * dataplane.DefaultBurst),
		record: true, sent: make([][][]byte, env.Ports)}
}

// add puts a packet of data arriving on port into the next burst.
func (g *rig) add(port int, data []byte) {
	pk, ok := g.pool.Get()
	if !ok {
		g.t.Fatal("pool empty")
	}
	copy(pk.Append(len(data)), data)
	pk.InPort = uint16(port)
	g.b.Add(pk)
}

// run processes the burst at time now and dispatches it.
func (g *rig) run(now int64) {
	g.b.Now = now
	g.f.Process(g.b)
	for i := range g.b.Pkts {
		p := &g.b.Pkts[i]
		switch p.Verdict {
		case dataplane.Forward:
			if g.record {
				g.sent[p.OutPort] = append(g.sent[p.OutPort], bytes.Clone(p.Data()))
			}
			g.pool.Put(*p)
		case dataplane.Consumed:
		case dataplane.Punt:
			g.pool.Put(*p)
		default:
			g.stats.Drop(p.Reason)
			g.pool.Put(*p)
		}
	}
	g.b.Reset()
}

// send runs one packet of data on port at now.
func (g *rig) send(now int64, port int, data []byte) {
	g.add(port, data)
	g.run(now)
}

// take returns and forgets what was sent out of port.
func (g *rig) take(port int) [][]byte {
	s := g.sent[port]
	g.sent[port] = nil
	return s
}

const (
	lanPort = 0
	wanPort = 1
)
