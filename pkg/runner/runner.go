// Package runner runs a policy's appliance on live ports: the engine behind
// `nfv run` and an image's /init.
//
// Run opens one dataplane port per policy interface that has a port of its
// own (through the backend its port spec names), builds the appliance's
// stage against them, and runs a dataplane.Loop until its context ends.
// Policies sent on Options.Reload are checked and handed to the stage, which
// swaps its compiled state atomically; state such as neighbours, connections
// and SAs lives on. When Run returns, every port is closed and every frame
// is back in the pool — or Run says which were lost.
package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// PortConfig is what a backend needs to open an interface's port.
type PortConfig struct {
	// Name is the policy interface's name.
	Name  string
	Spec  config.PortSpec
	Pool  *dataplane.Pool
	Stats *dataplane.Stats
	MTU   int
	Log   *slog.Logger
}

// Opener opens a port of one kind.
type Opener func(c PortConfig) (dataplane.Port, error)

var openers = struct {
	sync.Mutex
	m map[config.PortKind]Opener
}{m: map[config.PortKind]Opener{}}

// RegisterPort makes f the opener of port specs of kind k.
func RegisterPort(k config.PortKind, f Opener) {
	openers.Lock()
	defer openers.Unlock()
	if _, dup := openers.m[k]; dup {
		panic("runner: RegisterPort called twice for " + string(k))
	}
	openers.m[k] = f
}

// OpenPort opens c.Spec with the backend registered for its kind.
func OpenPort(c PortConfig) (dataplane.Port, error) {
	openers.Lock()
	f, ok := openers.m[c.Spec.Kind]
	openers.Unlock()
	if !ok {
		return nil, fmt.Errorf("interface %s: port %s: no %s backend in this program", c.Name, c.Spec, c.Spec.Kind)
	}
	p, err := f(c)
	if err != nil {
		return nil, fmt.Errorf("interface %s: port %s: %w", c.Name, c.Spec, err)
	}
	return p, nil
}

// HardwareAddresser is a port with an Ethernet address of its own (a NIC,
// a veth, a TAP); the stage then uses it as the interface's MAC.
type HardwareAddresser interface {
	HardwareAddr() [6]byte
}

// Reloader is a stage that takes a new policy while running. Reload must
// validate everything before it changes anything: on error the old policy
// stays in force.
type Reloader interface {
	Reload(p *config.Policy) error
}

// Options tune Run.
type Options struct {
	Log *slog.Logger
	// Frames is the size of the frame pool (default 4096, 8 MiB, plus
	// what the ports keep in the kernel: an AF_XDP port's rings).
	Frames int
	// Resolve rewrites an interface's port spec before it is opened: an
	// image maps virtio:N to the guest's Nth NIC. Nil leaves specs alone.
	Resolve func(ifc *config.Interface, spec config.PortSpec) (config.PortSpec, error)
	// Reload delivers new policies to apply.
	Reload <-chan *config.Policy
	// Ready is called once, when the ports are open and packets flow.
	Ready func()
	// Stats, if set, receives the counters Run creates, for a metrics
	// endpoint or a test to read while it runs.
	Stats func(*dataplane.Stats)
}

// Run runs p's appliance until ctx is done or a port fails.
func Run(ctx context.Context, p *config.Policy, o Options) (err error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	names := appliance.PortNames(p)
	frames := cmp.Or(o.Frames, defaultFrames(p))
	region, err := dataplane.NewRegion(frames, frameSizeFor(p), dataplane.DefaultHeadroom)
	if err != nil {
		return err
	}
	defer region.Close()
	pool := dataplane.NewPool(region)
	stats := dataplane.NewStats(names...)
	if o.Stats != nil {
		o.Stats(stats)
	}

	var ports []dataplane.Port
	defer func() {
		var errs []error
		for _, pt := range ports {
			errs = append(errs, pt.Close())
		}
		if cerr := errors.Join(errs...); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing ports: %w", cerr))
		}
		if lerr := pool.CheckAllReturned(); lerr != nil && err == nil {
			err = fmt.Errorf("frames leaked: %w", lerr)
		}
	}()
	macs := make([][6]byte, len(names))
	hasMAC := make([]bool, len(names))
	for i, name := range names {
		ifc := p.Interface(name)
		spec := p.PortOf(ifc)
		if o.Resolve != nil {
			if spec, err = o.Resolve(ifc, spec); err != nil {
				return fmt.Errorf("interface %s: %w", name, err)
			}
		}
		pt, err := OpenPort(PortConfig{
			Name: name, Spec: spec, Pool: pool, Stats: stats,
			MTU: cmp.Or(ifc.MTU, config.DefaultMTU), Log: log.With("interface", name),
		})
		if err != nil {
			return err
		}
		ports = append(ports, pt)
		if h, ok := pt.(HardwareAddresser); ok {
			macs[i], hasMAC[i] = h.HardwareAddr(), true
		}
		log.Info("port open", "interface", name, "port", spec.String(), "mtu", pt.MTU())
	}

	env, err := appliance.NewEnv(p, pool, stats, log)
	if err != nil {
		return err
	}
	for i := range env.Interfaces {
		if ix := env.Interfaces[i].Index; hasMAC[ix] {
			env.Interfaces[i].MAC = macs[ix]
		}
	}
	stage, err := appliance.New(p, env)
	if err != nil {
		return err
	}
	loop := &dataplane.Loop{Ports: ports, Stage: stage, Pool: pool, Stats: stats}
	if local, ok := stage.(dataplane.LocalStack); ok {
		loop.Local = local
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { reloads(runCtx, log, stage, p, o.Reload) })
	log.Info("running", "appliance", string(p.Appliance), "stage", appliance.StageName(p), "ports", len(ports), "frames", frames)
	if o.Ready != nil {
		o.Ready()
	}
	start := time.Now()
	err = loop.Run(runCtx)
	cancel()
	wg.Wait()
	log.Info("stopped", "after", time.Since(start).Round(time.Millisecond), "dropped", stats.TotalDropped())
	return err
}

// reloads applies the policies that arrive on ch until ctx ends.
func reloads(ctx context.Context, log *slog.Logger, stage dataplane.Stage, cur *config.Policy, ch <-chan *config.Policy) {
	if ch == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-ch:
			if err := reload(stage, cur, p); err != nil {
				log.Error("reload refused; the running policy stays", "err", err)
				continue
			}
			cur = p
			log.Info("reloaded", "policy", p.Source)
		}
	}
}

func reload(stage dataplane.Stage, cur, next *config.Policy) error {
	if next.Appliance != cur.Appliance {
		return fmt.Errorf("the appliance is a %s, the new policy is for a %s", cur.Appliance, next.Appliance)
	}
	if !slices.Equal(portsOf(cur), portsOf(next)) {
		return errors.New("the new policy changes interfaces or ports; restart to apply it")
	}
	r, ok := stage.(Reloader)
	if !ok {
		return fmt.Errorf("the %s stage cannot reload", appliance.StageName(cur))
	}
	return r.Reload(next)
}

// portsOf lists "name=spec" for every port-owning interface, in order.
func portsOf(p *config.Policy) []string {
	var out []string
	for _, name := range appliance.PortNames(p) {
		out = append(out, name+"="+p.PortOf(p.Interface(name)).String())
	}
	return out
}

// baseFrames is the default pool for the appliance's own needs (bursts in
// flight, what it holds); portFrames adds, per port kind, the frames a
// port of that kind keeps in the kernel (an AF_XDP port's fill and
// transmit rings).
const baseFrames = 4096

var portFrames = map[config.PortKind]int{}

// defaultFrames is the pool size when Options.Frames is not set.
func defaultFrames(p *config.Policy) int {
	n := baseFrames
	for _, name := range appliance.PortNames(p) {
		n += portFrames[p.PortOf(p.Interface(name)).Kind]
	}
	return n
}

// frameSizeFor is the smallest frame that holds the policy's largest
// Ethernet frame (two VLAN tags) behind the headroom, with room for
// trailers.
func frameSizeFor(p *config.Policy) int {
	mtu := config.DefaultMTU
	for _, ifc := range p.Interfaces {
		mtu = max(mtu, ifc.MTU)
	}
	need := dataplane.DefaultHeadroom + 14 + 8 + mtu + 64
	size := dataplane.DefaultFrameSize
	for size < need {
		size *= 2
	}
	return size
}
