// Command pktgen is the benchmark's traffic generator (package
// bench/pktgen) as a program of its own: IPv4/UDP frames of one size from
// an AF_PACKET socket (sendmmsg, or a TX ring with -tx ring), as fast as
// possible or at a rate, for a time or a count; it prints what it sent as
// JSON.
//
//	ip netns exec gen taskset -c 0 pktgen -i gen0 -dst-mac 02:6e:66:00:00:02 -size 64 -duration 5s
package main

import (
	"os"

	"github.com/nfvkit/nfvkit/bench/pktgen"
)

func main() { os.Exit(pktgen.Main(os.Args[1:])) }
