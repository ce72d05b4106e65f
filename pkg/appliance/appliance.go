// Package appliance is the seam between a policy and a running appliance.
//
// Each appliance (router, firewall, ipsec-gw) registers a Factory for its
// kind from its package's init, as database/sql drivers do; a program that
// runs appliances imports those packages for their side effect. New looks the
// policy's kind up and builds the appliance's dataplane.Stage against an Env:
// the pool, the interfaces as dataplane ports, the logger and the counters.
//
// Until an appliance registers, New falls back to a pass-through stage (and
// logs that it does), so replays and images work end to end before the real
// logic exists. A registered factory always wins over the fallback; nothing
// else needs to change when an appliance lands.
package appliance

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Factory builds an appliance's stage from a valid policy. It is called once,
// before any packet moves; it may allocate freely. The stage it returns may
// also implement dataplane.Ticker and dataplane.Releaser, and
// dataplane.LocalStack to receive the packets it punts.
type Factory func(p *config.Policy, env *Env) (dataplane.Stage, error)

// Env is what a stage is built against.
type Env struct {
	// Pool gives the frames a stage generates (ARP requests, ICMP errors)
	// and takes back the ones it frees.
	Pool *dataplane.Pool
	// Stats are the appliance's counters: Stats.Ports[i] is port i, and
	// drops are counted per dataplane.Reason.
	Stats *dataplane.Stats
	// Log is the appliance's structured log.
	Log *slog.Logger
	// Interfaces are the policy's interfaces, in its order.
	Interfaces []Interface
	// Ports is the number of dataplane ports: the interfaces that have a
	// port of their own (VLAN sub-interfaces share their parent's).
	Ports int
}

// Interface is one policy interface as the dataplane sees it.
type Interface struct {
	// Name is the interface's name in the policy.
	Name string
	// Index is its dataplane port: Loop.Ports[Index], Packet.InPort and
	// Packet.OutPort. VLAN sub-interfaces have their parent's Index.
	Index int
	// VLAN is the 802.1Q VLAN ID of a sub-interface, 0 otherwise.
	VLAN int
	// MTU is the largest IP packet the interface sends.
	MTU int
	// MAC is the interface's Ethernet address.
	MAC packet.MAC
}

// NewEnv describes the interfaces of p as dataplane ports: one port per
// interface with a port of its own, numbered in policy order, and its VLAN
// sub-interfaces on the same port. Every interface gets LocalMAC of its port
// owner's name; a caller whose ports have hardware addresses (a NIC) sets
// those instead. Stats must have one entry per port (see PortNames).
func NewEnv(p *config.Policy, pool *dataplane.Pool, stats *dataplane.Stats, log *slog.Logger) (*Env, error) {
	if pool == nil || stats == nil {
		return nil, errors.New("appliance: NewEnv needs a pool and stats")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	names := PortNames(p)
	if len(stats.Ports) != len(names) {
		return nil, fmt.Errorf("appliance: %d port counters for %d ports", len(stats.Ports), len(names))
	}
	env := &Env{Pool: pool, Stats: stats, Log: log, Ports: len(names)}
	for _, ifc := range p.Interfaces {
		owner := ifc.Name
		if ifc.Parent != "" {
			owner = ifc.Parent
		}
		idx := slices.Index(names, owner)
		if idx < 0 {
			return nil, fmt.Errorf("appliance: interface %s: no port named %q", ifc.Name, owner)
		}
		mtu := ifc.MTU
		if mtu == 0 {
			mtu = config.DefaultMTU
		}
		env.Interfaces = append(env.Interfaces, Interface{
			Name:  ifc.Name,
			Index: idx,
			VLAN:  ifc.VLAN,
			MTU:   mtu,
			MAC:   LocalMAC(owner),
		})
	}
	return env, nil
}

// PortNames names the dataplane ports of p, in port order: the interfaces
// that have a port of their own. Loop.Ports and Stats follow this order.
func PortNames(p *config.Policy) []string {
	var names []string
	for _, ifc := range p.Interfaces {
		if ifc.Parent == "" {
			names = append(names, ifc.Name)
		}
	}
	return names
}

// Interface returns the interface called name, or nil.
func (e *Env) Interface(name string) *Interface {
	for i := range e.Interfaces {
		if e.Interfaces[i].Name == name {
			return &e.Interfaces[i]
		}
	}
	return nil
}

// LocalMAC is the Ethernet address of an interface whose port has none of
// its own (pcap, mem): locally administered, unicast, and derived from the
// name alone, so replays and captures are the same on every run and every
// machine. It must not change between releases: captures depend on it.
func LocalMAC(name string) packet.MAC {
	h := sha256.Sum256([]byte("nfvkit interface " + name))
	var m packet.MAC
	copy(m[:], h[:6])
	m[0] = m[0]&^0x01 | 0x02 // unicast, locally administered
	return m
}

var registry = struct {
	sync.Mutex
	m map[string]Factory
}{m: map[string]Factory{}}

// Register makes f the factory of appliance kind ("router", "firewall",
// "ipsec-gw"). Appliance packages call it from init. Registering a kind
// twice, or a nil factory, panics.
func Register(kind string, f Factory) {
	if kind == "" || f == nil {
		panic("appliance: Register needs a kind and a factory")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[kind]; dup {
		panic("appliance: Register called twice for " + kind)
	}
	registry.m[kind] = f
}

// Lookup returns the factory registered for kind.
func Lookup(kind string) (Factory, bool) {
	registry.Lock()
	defer registry.Unlock()
	f, ok := registry.m[kind]
	return f, ok
}

// Registered lists the kinds with a factory, sorted.
func Registered() []string {
	registry.Lock()
	defer registry.Unlock()
	var kinds []string
	for k := range registry.m {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// Fallback builds the stage of an appliance kind nobody has registered yet.
// It is PassThrough until every appliance exists; set it to nil to make New
// fail instead.
var Fallback Factory = PassThrough

// New builds the stage of p's appliance with the factory registered for its
// kind, or with Fallback, saying so in env.Log, when there is none.
func New(p *config.Policy, env *Env) (dataplane.Stage, error) {
	kind := string(p.Appliance)
	f, ok := Lookup(kind)
	if !ok {
		if Fallback == nil {
			return nil, fmt.Errorf("appliance: no %s appliance in this program", kind)
		}
		env.Log.Warn("no appliance registered for this kind; using the fallback stage", "appliance", kind, "stage", StageName(p))
		f = Fallback
	}
	s, err := f(p, env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return s, nil
}

// StageName says which stage New builds for p: its kind, or "pass-through"
// when the fallback stands in.
func StageName(p *config.Policy) string {
	if _, ok := Lookup(string(p.Appliance)); ok || Fallback == nil {
		return string(p.Appliance)
	}
	return "pass-through"
}
