//go:build !linux

package afxdp

import "github.com/nfvkit/nfvkit/pkg/dataplane"

// Port is an AF_XDP port; on this platform it cannot be opened.
type Port struct{}

// Open fails with ErrUnsupported: AF_XDP is Linux only.
func Open(c Config) (*Port, error) { return nil, ErrUnsupported }

// Queues fails with ErrUnsupported.
func Queues(ifname string) (int, error) { return 0, ErrUnsupported }

// Recv returns ErrUnsupported.
func (p *Port) Recv(b *dataplane.Batch) (int, error) { return 0, ErrUnsupported }

// Send returns ErrUnsupported; no Port exists to call it on.
func (p *Port) Send(b *dataplane.Batch) (int, error) { return 0, ErrUnsupported }

// BatchSize is the default burst.
func (p *Port) BatchSize() int { return dataplane.DefaultBurst }

// MTU is 0.
func (p *Port) MTU() int { return 0 }

// Close does nothing.
func (p *Port) Close() error { return nil }

// Arm returns false.
func (p *Port) Arm(*dataplane.Bell) bool { return false }

// Disarm does nothing.
func (p *Port) Disarm() {}

// Mode is the zero Mode.
func (p *Port) Mode() Mode { return Mode{} }

// HardwareAddr is zero.
func (p *Port) HardwareAddr() [6]byte { return [6]byte{} }

// KernelStats returns ErrUnsupported.
func (p *Port) KernelStats() (KernelStats, error) { return KernelStats{}, ErrUnsupported }

// Name is empty.
func (p *Port) Name() string { return "" }

// Interface is empty.
func (p *Port) Interface() string { return "" }

// Queue is 0.
func (p *Port) Queue() int { return 0 }

// FramesInKernel is 0.
func (p *Port) FramesInKernel() int { return 0 }

// Counters are zero.
func (p *Port) Counters() Counters { return Counters{} }
