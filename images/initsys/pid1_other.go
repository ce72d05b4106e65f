//go:build !linux

package initsys

import (
	"os"
	"time"

	"github.com/nfvkit/nfvkit/pkg/config"
)

// pid1 exists on Linux only; elsewhere an appliance runs as a process.
func pid1(appliance config.Appliance) {
	os.Exit(hostMain(appliance, os.Args[1:], os.Stderr))
}

func sinceBoot() time.Duration { return 0 }
