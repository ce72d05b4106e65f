// Command e2e is the end-to-end benchmark harness (package bench/e2e):
// appliances forwarding between network namespaces, with Linux kernel
// forwarding measured on the same topology in the same run.
//
//	sudo go run ./bench/cmd/e2e -duration 5s -reps 3
//
// It also serves as its own traffic generator: started with
// NFVBENCH_ROLE=pktgen in its environment it is bench/cmd/pktgen.
package main

import (
	"os"

	"github.com/nfvkit/nfvkit/bench/e2e"
	"github.com/nfvkit/nfvkit/bench/pktgen"
)

func main() {
	pktgen.RunIfChild()
	os.Exit(e2e.Main(os.Args[1:]))
}
