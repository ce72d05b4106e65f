//go:build !linux

package mem

import "time"

func threadCPU() time.Duration { return 0 }
