//go:build !linux

package pktgen

import (
	"fmt"
	"os"
)

// Main is the generator program; it needs Linux (AF_PACKET).
func Main(args []string) int {
	fmt.Fprintln(os.Stderr, "pktgen: needs Linux (AF_PACKET sockets)")
	return 1
}

// RoleEnv names the environment variable RunIfChild looks at.
const RoleEnv = "NFVBENCH_ROLE"

// RunIfChild runs Main and exits if the environment asks for the generator.
func RunIfChild() {
	if os.Getenv(RoleEnv) == "pktgen" {
		os.Exit(Main(os.Args[1:]))
	}
}
