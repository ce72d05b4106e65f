package router

import (
	"bytes"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// rig runs a Router directly, without a Loop: bursts in, verdicts carried
// out as the loop does, what was forwarded recorded per port.
type rig struct {
	t     testing.TB
	r     *Router
	pool  *dataplane.Pool
	stats *dataplane.Stats
	b     *dataplane.Batch
	sent  [][]sentFrame // per port
}

type sentFrame struct {
	now  int64
	data []byte
}

func parse(t testing.TB, y string) *config.Policy {
	t.Helper()
	p, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newRig(t testing.TB, p *config.Policy, frames int, o Options) *rig {
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
	r, err := New(p, env, o)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, r: r, pool: pool, stats: stats, b: dataplane.NewBatch(2 * dataplane.DefaultBurst),
		sent: make([][]sentFrame, env.Ports)}
}

// packet makes a packet of data arriving on port.
func (g *rig) packet(port int, data []byte) dataplane.Packet {
	pk, ok := g.pool.Get()
	if !ok {
		g.t.Fatal("pool empty")
	}
	copy(pk.Append(len(data)), data)
	pk.InPort = uint16(port)
	return pk
}

// process runs one burst of (port, frame) at time now and dispatches it.
func (g *rig) process(now int64, in ...inFrame) {
	g.b.Reset()
	g.b.Now = now
	for _, f := range in {
		g.b.Add(g.packet(f.port, f.data))
	}
	g.r.Process(g.b)
	g.dispatch()
}

// tick runs the router's timers at now.
func (g *rig) tick(now int64) {
	g.b.Reset()
	g.b.Now = now
	g.r.Tick(g.b)
	g.dispatch()
}

func (g *rig) dispatch() {
	for i := range g.b.Pkts {
		p := &g.b.Pkts[i]
		switch p.Verdict {
		case dataplane.Forward:
			g.sent[p.OutPort] = append(g.sent[p.OutPort], sentFrame{g.b.Now, bytes.Clone(p.Data())})
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

// take returns and forgets what was sent out of port.
func (g *rig) take(port int) []sentFrame {
	s := g.sent[port]
	g.sent[port] = nil
	return s
}

type inFrame struct {
	port int
	data []byte
}

func in(port int, data []byte) inFrame { return inFrame{port, data} }
