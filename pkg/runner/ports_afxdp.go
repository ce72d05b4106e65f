//go:build linux && !nfv_noafxdp

package runner

import (
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/afxdp"
)

// AF_XDP links the eBPF loader (about 2 MB); images whose ports don't use
// it are built with the nfv_noafxdp tag.
func init() {
	// Frames on the fill ring and in transmission.
	portFrames[config.PortAFXDP] = 2 * afxdp.DefaultRingSize
	RegisterPort(config.PortAFXDP, func(c PortConfig) (dataplane.Port, error) {
		ifname := c.Spec.IfName()
		q, named := c.Spec.Queue()
		if !named {
			// One worker per queue is still to come: with several queues,
			// say that only queue 0 reaches the appliance.
			if n, err := afxdp.Queues(ifname); err == nil && n > 1 {
				c.Log.Warn("interface has several receive queues; only queue 0 is served (name a queue, or set one with ethtool -L)", "queues", n)
			}
		}
		return afxdp.Open(afxdp.Config{Interface: ifname, Queue: q, Name: c.Name, Pool: c.Pool, Stats: c.Stats, MTU: c.MTU, Log: c.Log})
	})
}
