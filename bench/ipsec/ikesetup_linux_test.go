package ipsec

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/internal/swantest"
)

// BenchmarkStrongSwanIKESetup measures how fast strongSwan's responder
// sets up IKE SAs (IKE_SA_INIT with X25519, then IKE_AUTH with a
// pre-shared key; childless, RFC 6023) initiated by another charon: per
// round, 64 connections of GwA, each with its own identity, are
// initiated through swanctl, 8 at a time, until all are established, then
// torn down outside the timer.
//
// It reports two figures, which measure different things:
//   - setups/s: IKE SAs per second of wall time for the pair. Both
//     charons and the swanctl clients (a process per initiation, a few ms
//     of CPU each) share the machine, so this is a lower bound on what
//     the responder sustains;
//   - resp-setups/cpu-s: IKE SAs per CPU-second the responder used (its
//     /proc times over the rounds): its capacity with a core to itself,
//     the figure to compare a responder of ours with.
//
// ns/op is wall time per IKE SA set up.
func BenchmarkStrongSwanIKESetup(b *testing.B) {
	swantest.Need(b)
	const (
		perRound = 64
		inFlight = 8
	)
	s := swantest.NewSites(b)
	s.KernelGateway(b, swantest.SiteA)
	s.KernelGateway(b, swantest.SiteB)
	psk := "ike-setup-benchmark-key"
	ini := make([]swantest.Conn, perRound)
	for i := range ini {
		ini[i] = swantest.Conn{Name: fmt.Sprintf("c%d", i), Local: swantest.GwAWAN, Remote: swantest.GwBWAN,
			LocalID: fmt.Sprintf("c%d.ini.test", i), PSK: psk}
	}
	resp := swantest.Conn{Name: "ini", Local: swantest.GwBWAN, Remote: swantest.GwAWAN, RemoteID: "%any", PSK: psk,
		Options: map[string]string{"unique": "never"}}
	// The defaults would turn a burst from one address away: at most 5
	// half-open SAs per peer (block_threshold), cookies beyond 3 from one
	// address (cookie_threshold_ip) or 30 overall.
	respOpts := swantest.Options{Conf: "block_threshold = 10000\ncookie_threshold = 10000\ncookie_threshold_ip = 10000\n"}
	a := swantest.StartOpts(b, s.GwA, swantest.Options{}, ini...)
	z := swantest.StartOpts(b, s.GwB, respOpts, resp)

	var wall, respCPU, iniCPU time.Duration
	b.ResetTimer()
	for range b.N {
		r0, _ := z.CPUTime()
		i0, _ := a.CPUTime()
		start := time.Now()
		each(b, ini, inFlight, func(c swantest.Conn) error { return a.InitiateIKE(c.Name) })
		wall += time.Since(start)
		r1, _ := z.CPUTime()
		i1, _ := a.CPUTime()
		respCPU += r1 - r0
		iniCPU += i1 - i0

		b.StopTimer()
		sas, err := z.ListSAs()
		if err != nil {
			b.Fatal(err)
		}
		if n := established(sas); n != perRound {
			b.Fatalf("the responder has %d established IKE SAs, want %d:\n%s", n, perRound, swantest.Summary(sas))
		}
		each(b, ini, inFlight, func(c swantest.Conn) error { return a.Terminate(c.Name) })
		deadline := time.Now().Add(20 * time.Second)
		for len(sas) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			if sas, err = z.ListSAs(); err != nil {
				b.Fatal(err)
			}
		}
		if len(sas) > 0 {
			b.Fatalf("the responder kept %d IKE SAs after they were deleted", len(sas))
		}
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N * perRound)
	b.ReportMetric(n/wall.Seconds(), "setups/s")
	if respCPU > 0 {
		b.ReportMetric(n/respCPU.Seconds(), "resp-setups/cpu-s")
	}
	b.ReportMetric(float64(iniCPU.Microseconds())/1e3/n, "ini-cpu-ms/setup")
	b.ReportMetric(float64(wall.Nanoseconds())/n, "ns/op")
	if rss, err := z.RSS(); err == nil {
		b.ReportMetric(float64(rss)/(1<<20), "resp-charon-MB")
	}
}

func established(sas []swantest.IKESA) int {
	n := 0
	for _, sa := range sas {
		if sa.State == "ESTABLISHED" {
			n++
		}
	}
	return n
}

// each runs f for every conn, at most inFlight at once, and fails b on
// the first error.
func each(b *testing.B, conns []swantest.Conn, inFlight int, f func(swantest.Conn) error) {
	b.Helper()
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for _, c := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(c); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}
