package runner

import (
	"cmp"
	"errors"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/pcap"
)

func init() {
	// pcap:FILE reads FILE as arriving on the interface and writes what
	// leaves it to FILE.out.pcap. When every port is a capture the loop runs
	// in capture time, as nfv replay does, and Run returns at their end.
	RegisterPort(config.PortPcap, func(c PortConfig) (dataplane.Port, error) {
		return pcap.Open(c.Spec.Arg, c.Spec.Arg+".out.pcap", pcap.Config{
			Name: c.Name, Pool: c.Pool, Stats: c.Stats, MTU: cmp.Or(c.MTU, config.DefaultMTU),
		})
	})
	// virtio:N names a NIC of an image; an image's /init resolves it to
	// the NIC. Anywhere else it is a mistake worth explaining.
	RegisterPort(config.PortVirtio, func(c PortConfig) (dataplane.Port, error) {
		return nil, errors.New("virtio ports exist inside an image (nfv build, nfv boot); on a host, use afpacket:IF, afxdp:IF or tap:IF")
	})
}
