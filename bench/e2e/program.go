package e2e

import (
	"os"

	"github.com/nfvkit/nfvkit/bench/pktgen"
)

// Generator is how the harness starts the traffic generator: Argv, then
// pktgen's flags, with Env added to the environment.
type Generator struct {
	Argv []string
	Env  []string
}

// SelfGenerator is the running program started again with
// pktgen.RoleEnv=pktgen, for programs (and test binaries) that call
// pktgen.RunIfChild first.
func SelfGenerator() (Generator, error) {
	self, err := os.Executable()
	if err != nil {
		return Generator{}, err
	}
	return Generator{Argv: []string{self}, Env: []string{pktgen.RoleEnv + "=pktgen"}}, nil
}

// Program is what a front end of the harness (the e2e command, nfv bench)
// brings.
type Program struct {
	// Name is how messages and usage name the program: "e2e", "nfv bench".
	Name string
	// Generator starts the traffic generator; zero means SelfGenerator.
	Generator Generator
	// NFV is the nfv program to measure unless -nfv says otherwise; empty
	// means build ./cmd/nfv of the module the harness runs in.
	NFV string
}
