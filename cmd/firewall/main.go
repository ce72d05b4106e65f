// Command firewall is the firewall appliance's program. In an image built by
// 'nfv build' it is /init, PID 1: it readies the machine, runs the image's
// policy on the VM's NICs and powers off when stopped. On a host it runs a
// firewall policy on the host's interfaces: 'firewall POLICY' (see images/initsys).
package main

import (
	_ "github.com/nfvkit/nfvkit/appliances/firewall" // registers the firewall stage
	"github.com/nfvkit/nfvkit/images/initsys"
	"github.com/nfvkit/nfvkit/pkg/config"
)

func main() { initsys.Main(config.Firewall) }
