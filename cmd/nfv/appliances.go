package main

// The appliances this program runs: each registers itself with package
// appliance from its init. Without an import here, nfv replay uses the
// pass-through stage for that kind.
import (
	_ "github.com/nfvkit/nfvkit/appliances/firewall"
	_ "github.com/nfvkit/nfvkit/appliances/ipsec-gw"
	_ "github.com/nfvkit/nfvkit/appliances/router"
)
