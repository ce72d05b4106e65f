package runner

import (
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/afpacket"
	"github.com/nfvkit/nfvkit/pkg/dataplane/tap"
)

func init() {
	// A router or firewall receives frames for other hosts' MACs only when
	// bridged setups send them; promiscuous mode keeps such setups working
	// and costs nothing on a point-to-point veth or a VM's NIC.
	RegisterPort(config.PortAFPacket, func(c PortConfig) (dataplane.Port, error) {
		return afpacket.Open(afpacket.Config{Interface: c.Spec.Arg, Pool: c.Pool, Stats: c.Stats, Promiscuous: true})
	})
	RegisterPort(config.PortTap, func(c PortConfig) (dataplane.Port, error) {
		p, err := tap.Open(tap.Config{Name: c.Spec.Arg, Pool: c.Pool, Stats: c.Stats, Up: true, MTU: c.MTU})
		if err != nil {
			return nil, err
		}
		return tapPort{p}, nil
	})
}

// tapPort is a TAP port without its HardwareAddr: the TAP's address belongs
// to the host's end of the link, and the appliance is the other end, so it
// keeps an address of its own.
type tapPort struct{ p *tap.Port }

func (t tapPort) Recv(b *dataplane.Batch) (int, error) { return t.p.Recv(b) }
func (t tapPort) Send(b *dataplane.Batch) (int, error) { return t.p.Send(b) }
func (t tapPort) BatchSize() int                       { return t.p.BatchSize() }
func (t tapPort) MTU() int                             { return t.p.MTU() }
func (t tapPort) Close() error                         { return t.p.Close() }
func (t tapPort) Arm(bell *dataplane.Bell) bool        { return t.p.Arm(bell) }
func (t tapPort) Disarm()                              { t.p.Disarm() }
