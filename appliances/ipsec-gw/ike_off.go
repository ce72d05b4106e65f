//go:build !nfv_ike

package ipsecgw

import (
	"errors"
	"net/netip"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

const ikePort = 500

type ikeDaemon interface {
	Receive(local, remote netip.AddrPort, msg []byte)
	Close()
}

func (g *Gateway) startIKE(p *config.Policy) error {
	if len(p.IKE) > 0 {
		return errors.New("ike: is not supported by this gateway yet (wireguard: and esp: are)")
	}
	return nil
}

func (g *Gateway) receiveIKE(p *dataplane.Packet, natt bool) {}
