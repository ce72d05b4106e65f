//go:build !linux

package e2e

import (
	"fmt"
	"os"
)

// Main is the e2e harness program; it needs Linux (network namespaces,
// veth, AF_PACKET).
func Main(args []string) int { return MainFor(args, Program{Name: "e2e"}) }

// MainFor is Main for a front end that brings its own generator or nfv
// program.
func MainFor(args []string, p Program) int {
	fmt.Fprintf(os.Stderr, "%s: needs Linux (network namespaces, veth, AF_PACKET)\n", p.Name)
	return 1
}
