// Command ipsec-gw is the ipsec-gw appliance's program. In an image built by
// 'nfv build' it is /init, PID 1: it readies the machine, runs the image's
// policy on the VM's NICs and powers off when stopped. On a host it runs a
// ipsec-gw policy on the host's interfaces: 'ipsec-gw POLICY' (see images/initsys).
package main

import (
	"github.com/nfvkit/nfvkit/images/initsys"
	"github.com/nfvkit/nfvkit/pkg/config"

	_ "github.com/nfvkit/nfvkit/appliances/ipsec-gw" // registers the ipsec-gw stage
)

func main() { initsys.Main(config.IPsecGW) }
