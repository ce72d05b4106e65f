// Command firewall is the firewall appliance's program. In an image built by
// 'nfv build' it is /init, PID 1: it readies the machine, runs the image's
// policy on the VM's NICs and powers off when stopped. On a host it runs a
// firewall policy on the host's interfaces: 'firewall POLICY' (see images/initsys).
package main

import (
	"github.com/nfvkit/nfvkit/images/initsys"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// Until appliances/firewall registers, the pass-through stage stands in (see
// pkg/appliance); import it here for its side effect when it does.
func main() { initsys.Main(config.Firewall) }
