package nettest

import (
	"context"
	"testing"
	"time"
)

// Serve runs run in network namespace ns on a goroutine of its own, the
// way a test runs an appliance (runner.Run): ctx ends it, and run calls
// ready once it serves. Serve returns when ready was called, failing t if
// run returned first or 20 s pass; what names it in messages. stop (also
// registered as a cleanup, and idempotent) cancels ctx and waits up to 20
// s for run, failing t if run failed or did not end. A caller with more to
// check after the stop registers its own cleanup after Serve's, calling
// stop first.
func Serve(t testing.TB, ns, what string, run func(ctx context.Context, ready func()) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Do(ns, func() error { return run(ctx, func() { close(ready) }) })
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop within 20s", what)
		}
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case err := <-done:
		stopped = true
		t.Fatalf("%s: %v", what, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s not ready within 20s", what)
	}
	return stop
}
