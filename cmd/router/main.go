// Command router is the router appliance's program. In an image built by
// 'nfv build' it is /init, PID 1: it readies the machine, runs the image's
// policy on the VM's NICs and powers off when stopped. On a host it runs a
// router policy on the host's interfaces: 'router POLICY' (see images/initsys).
package main

import (
	"github.com/nfvkit/nfvkit/images/initsys"
	"github.com/nfvkit/nfvkit/pkg/config"

	_ "github.com/nfvkit/nfvkit/appliances/router" // registers the router stage
)

func main() { initsys.Main(config.Router) }
