package main

import (
	"fmt"
	"os"

	"github.com/nfvkit/nfvkit/bench/e2e"
	"github.com/nfvkit/nfvkit/bench/pktgen"
)

// benchGeneratorArg makes `nfv bench` the traffic generator the harness
// starts in the generator's namespace: `nfv bench pktgen-child FLAGS`. It
// is the harness's own plumbing, not a command for people.
const benchGeneratorArg = "pktgen-child"

// cmdBench is the end-to-end benchmark (bench/e2e) measuring this nfv
// program: the appliance cases run it, and it doubles as the generator.
func cmdBench(args []string) int {
	if len(args) > 0 && args[0] == benchGeneratorArg {
		return pktgen.Main(args[1:])
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nfv bench:", err)
		return exitFailed
	}
	return e2e.MainFor(args, e2e.Program{
		Name:      "nfv bench",
		Generator: e2e.Generator{Argv: []string{self, "bench", benchGeneratorArg}},
		NFV:       self,
	})
}
