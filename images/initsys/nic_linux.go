package initsys

import (
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/afpacket"
	"github.com/nfvkit/nfvkit/pkg/runner"
)

func init() {
	// An image's NICs: what the runner's afpacket ports are, with the
	// receive ring sized by sizeFor.
	runner.RegisterPort(PortNIC, func(c runner.PortConfig) (dataplane.Port, error) {
		return afpacket.Open(afpacket.Config{
			Interface: c.Spec.Arg, Pool: c.Pool, Stats: c.Stats,
			Promiscuous: true, Blocks: mem.ringBlocks,
		})
	})
}
