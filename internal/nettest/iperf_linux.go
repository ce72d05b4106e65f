package nettest

import (
	"encoding/json"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	iperfMu      sync.Mutex
	iperfServers = map[string]bool{} // namespaces with an iperf3 server running
)

// IPerf runs iperf3 TCP for 3 s from namespace from to a server on addr
// in namespace to (started on first use, stopped when the test ends) and
// returns the bits per second received. TCP only: a UDP flood measures
// loss, not throughput, and grows userspace tunnel ends without
// back-pressure (strongSwan's kernel-libipsec) by hundreds of MB.
func IPerf(t testing.TB, from, to, addr string) float64 {
	t.Helper()
	iperfMu.Lock()
	if !iperfServers[to] {
		srv := exec.Command("ip", "netns", "exec", to, "iperf3", "-s", "-p", "5201")
		srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := srv.Start(); err != nil {
			iperfMu.Unlock()
			t.Fatal(err)
		}
		iperfServers[to] = true
		t.Cleanup(func() {
			srv.Process.Kill()
			srv.Wait()
			iperfMu.Lock()
			delete(iperfServers, to)
			iperfMu.Unlock()
		})
	}
	iperfMu.Unlock()
	var r struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	for try := 0; ; try++ {
		out, err := exec.Command("ip", "netns", "exec", from, "timeout", "30", "iperf3", "-c", addr, "-p", "5201", "-t", "3", "-J").Output()
		r.Error = ""
		if jerr := json.Unmarshal(out, &r); jerr == nil && err == nil && r.Error == "" {
			break
		}
		if try == 50 { // the server is not up after a second
			t.Fatalf("iperf3 %s -> %s: %v %s", from, to, err, r.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("iperf3 %s -> %s: %.0f Mbit/s", from, to, r.End.SumReceived.BitsPerSecond/1e6)
	return r.End.SumReceived.BitsPerSecond
}
