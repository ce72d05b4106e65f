//go:build !linux

package tap

import (
	"errors"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// ErrUnsupported is returned by Open where there is no Linux TUN/TAP.
var ErrUnsupported = errors.New("tap: TAP devices are supported only on Linux")

// Port is one queue of a TAP device; on this system it cannot be opened.
type Port struct{}

var (
	_ dataplane.Port   = (*Port)(nil)
	_ dataplane.Waiter = (*Port)(nil)
)

// Open fails: this backend is Linux's.
func Open(c Config) (*Port, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return nil, ErrUnsupported
}

// OpenQueues fails: this backend is Linux's.
func OpenQueues(c Config, n int) ([]*Port, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return nil, ErrUnsupported
}

func (p *Port) Name() string                       { return "" }
func (p *Port) Queue() int                         { return 0 }
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
