//go:build !linux

package afpacket

import (
	"errors"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// ErrUnsupported is returned by Open where there is no AF_PACKET.
var ErrUnsupported = errors.New("afpacket: AF_PACKET sockets exist only on Linux")

// Port is a dataplane.Port on an AF_PACKET socket; on this system it
// cannot be opened.
type Port struct{}

var (
	_ dataplane.Port   = (*Port)(nil)
	_ dataplane.Waiter = (*Port)(nil)
)

// Open fails: AF_PACKET is Linux's.
func Open(c Config) (*Port, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return nil, ErrUnsupported
}

func (p *Port) Name() string                       { return "" }
func (p *Port) BatchSize() int                     { return 0 }
func (p *Port) MTU() int                           { return 0 }
func (p *Port) HardwareAddr() [6]byte              { return [6]byte{} }
func (p *Port) Counters() Counters                 { return Counters{} }
func (p *Port) Recv(*dataplane.Batch) (int, error) { return 0, dataplane.ErrClosed }
func (p *Port) Arm(*dataplane.Bell) bool           { return false }
func (p *Port) Disarm()                            {}
func (p *Port) Close() error                       { return nil }
func (p *Port) Send(b *dataplane.Batch) (int, error) {
	b.Reset()
	return 0, dataplane.ErrClosed
}
