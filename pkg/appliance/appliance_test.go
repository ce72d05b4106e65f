package appliance

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

func policy(kind string, ifaces ...config.Interface) *config.Policy {
	return &config.Policy{Appliance: config.Appliance(kind), Interfaces: ifaces}
}

func port(name string, n int) config.Interface {
	return config.Interface{Name: name, Port: config.PortSpec{Kind: config.PortVirtio, Arg: string(rune('0' + n))}}
}

func newEnv(t *testing.T, p *config.Policy, log *slog.Logger) *Env {
	t.Helper()
	pool, err := dataplane.NewMemPool(16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Region().Close() })
	env, err := NewEnv(p, pool, dataplane.NewStats(PortNames(p)...), log)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestNewEnv(t *testing.T) {
	p := policy("router",
		port("lan", 0),
		config.Interface{Name: "wan", Port: config.PortSpec{Kind: config.PortPcap, Arg: "x.pcap"}, MTU: 9000},
		config.Interface{Name: "lan.10", Parent: "lan", VLAN: 10},
	)
	if got := PortNames(p); strings.Join(got, ",") != "lan,wan" {
		t.Fatalf("PortNames = %v", got)
	}
	env := newEnv(t, p, nil)
	if env.Ports != 2 || len(env.Interfaces) != 3 {
		t.Fatalf("%d ports, %d interfaces", env.Ports, len(env.Interfaces))
	}
	want := []Interface{
		{Name: "lan", Index: 0, MTU: 1500, MAC: LocalMAC("lan")},
		{Name: "wan", Index: 1, MTU: 9000, MAC: LocalMAC("wan")},
		{Name: "lan.10", Index: 0, VLAN: 10, MTU: 1500, MAC: LocalMAC("lan")},
	}
	for i, w := range want {
		if env.Interfaces[i] != w {
			t.Errorf("interface %d: %+v, want %+v", i, env.Interfaces[i], w)
		}
	}
	if env.Interface("wan").Index != 1 || env.Interface("nope") != nil {
		t.Error("Env.Interface")
	}
	if _, err := NewEnv(p, env.Pool, dataplane.NewStats("one"), nil); err == nil {
		t.Error("stats for the wrong number of ports accepted")
	}
}

func TestLocalMAC(t *testing.T) {
	lan, wan := LocalMAC("lan"), LocalMAC("wan")
	if lan == wan {
		t.Fatal("lan and wan share a MAC")
	}
	for _, m := range []([6]byte){lan, wan, LocalMAC("")} {
		if m[0]&1 != 0 || m[0]&2 == 0 {
			t.Errorf("%x is not a locally administered unicast address", m)
		}
	}
	// Captures and golden files depend on these exact values.
	if got := lan.String(); got != "de:59:82:bb:c5:3b" {
		t.Errorf("LocalMAC(lan) = %s; it must never change", got)
	}
}

func TestRegistry(t *testing.T) {
	var built *Env
	stage := dataplane.StageFunc(func(*dataplane.Batch) {})
	Register("test-kind", func(p *config.Policy, env *Env) (dataplane.Stage, error) {
		built = env
		return stage, nil
	})
	Register("test-broken", func(*config.Policy, *Env) (dataplane.Stage, error) {
		return nil, errors.New("no good")
	})
	mustPanic(t, "duplicate", func() { Register("test-kind", PassThrough) })
	mustPanic(t, "nil factory", func() { Register("test-nil", nil) })
	if _, ok := Lookup("test-kind"); !ok {
		t.Fatal("Lookup")
	}
	if got := strings.Join(Registered(), ","); !strings.Contains(got, "test-broken,test-kind") {
		t.Fatalf("Registered = %s", got)
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	p := policy("test-kind", port("a", 0), port("b", 1))
	env := newEnv(t, p, log)
	if s, err := New(p, env); err != nil || built != env || s == nil {
		t.Fatalf("New with a registered factory: %v", err)
	}
	if StageName(p) != "test-kind" || logs.Len() != 0 {
		t.Fatalf("StageName %s, logs %q", StageName(p), logs.String())
	}
	if _, err := New(policy("test-broken", port("a", 0)), env); err == nil || err.Error() != "test-broken: no good" {
		t.Fatalf("failing factory: %v", err)
	}
}

// TestFallback: an appliance nobody registered runs the pass-through stage,
// and says so.
func TestFallback(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	p := policy("test-unregistered", port("lan", 0), port("wan", 1))
	env := newEnv(t, p, log)
	s, err := New(p, env)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*passThrough); !ok || StageName(p) != "pass-through" {
		t.Fatalf("stage %T (%s)", s, StageName(p))
	}
	if !strings.Contains(logs.String(), "no appliance registered") || !strings.Contains(logs.String(), "appliance=test-unregistered") {
		t.Fatalf("no log line: %q", logs.String())
	}

	saved := Fallback
	Fallback = nil
	defer func() { Fallback = saved }()
	if _, err := New(p, env); err == nil || StageName(p) != "test-unregistered" {
		t.Fatal("New without a fallback succeeded")
	}
}

func TestPassThrough(t *testing.T) {
	for _, tc := range []struct {
		ports int
		want  []int // out port per in port; -1: dropped
	}{
		{1, []int{-1}},
		{2, []int{1, 0}},
		{3, []int{1, 0, -1}},
		{4, []int{1, 0, 3, 2}},
	} {
		var ifs []config.Interface
		for i := range tc.ports {
			ifs = append(ifs, port(string(rune('a'+i)), i))
		}
		env := newEnv(t, policy("router", ifs...), nil)
		s, err := PassThrough(nil, env)
		if err != nil {
			t.Fatal(err)
		}
		b := dataplane.NewBatch(8)
		for in := range tc.ports + 1 { // and one port that does not exist
			pk, _ := env.Pool.Get()
			pk.InPort = uint16(in)
			b.Add(pk)
		}
		s.Process(b)
		for in, pk := range b.Pkts {
			want := -1
			if in < tc.ports {
				want = tc.want[in]
			}
			switch {
			case want < 0 && (pk.Verdict != dataplane.Drop || pk.Reason != ReasonUnpaired):
				t.Errorf("%d ports: in %d: %v %v, want a drop", tc.ports, in, pk.Verdict, pk.Reason)
			case want >= 0 && (pk.Verdict != dataplane.Forward || int(pk.OutPort) != want):
				t.Errorf("%d ports: in %d: %v to %d, want forward to %d", tc.ports, in, pk.Verdict, pk.OutPort, want)
			}
		}
		env.Pool.PutBatch(b)
		if a := testing.AllocsPerRun(100, func() { s.Process(b) }); a != 0 {
			t.Errorf("Process allocates %v", a)
		}
	}
	if _, err := PassThrough(nil, &Env{}); err == nil {
		t.Error("pass-through without ports")
	}
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	f()
}
