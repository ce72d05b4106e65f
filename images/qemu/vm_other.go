//go:build !linux

package qemu

import (
	"context"
	"errors"
	"io"
	"time"
)

var errLinuxOnly = errors.New("qemu: booting images is supported on Linux only")

// VM is a running QEMU (Linux only).
type VM struct{}

// Start fails: booting images is supported on Linux only.
func Start(Config, io.Writer) (*VM, error) { return nil, errLinuxOnly }

// KVM reports that KVM is not available.
func KVM() (bool, string) { return false, "not Linux" }

func (*VM) Pid() int { return 0 }
func (*VM) WaitReady(context.Context) (time.Duration, time.Duration, error) {
	return 0, 0, errLinuxOnly
}
func (*VM) Exited() <-chan struct{}              { return nil }
func (*VM) Wait() error                          { return errLinuxOnly }
func (*VM) Shutdown(time.Duration) (bool, error) { return false, errLinuxOnly }
func (*VM) Kill()                                {}
func (*VM) QMP(string) error                     { return errLinuxOnly }
