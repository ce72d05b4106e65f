package appliance

import (
	"errors"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// ReasonUnpaired counts packets the pass-through stage drops because their
// port has no partner (the last port of an odd count).
var ReasonUnpaired = dataplane.NewReason("unpaired-port")

// PassThrough is a wire: it forwards every packet, unchanged, out of the
// partner of the port it arrived on. Ports pair up in order, 0 with 1, 2 with
// 3, and so on, so with the usual two interfaces whatever enters one leaves
// the other. With an odd count the last port has no partner and its packets
// are dropped as unpaired-port (with a single interface, all of them). VLAN
// sub-interfaces share their parent's port, so their tagged frames cross with
// it. It stands in for appliances that are not written yet (see Fallback).
func PassThrough(_ *config.Policy, env *Env) (dataplane.Stage, error) {
	if env.Ports == 0 {
		return nil, errors.New("pass-through: no ports")
	}
	peer := make([]int32, env.Ports)
	for i := range peer {
		peer[i] = int32(i ^ 1)
	}
	if env.Ports%2 == 1 {
		peer[env.Ports-1] = -1
	}
	return &passThrough{peer: peer}, nil
}

type passThrough struct {
	peer []int32 // peer[in] is the port to forward to, -1 for none
}

func (s *passThrough) Process(b *dataplane.Batch) {
	for i := range b.Pkts {
		p := &b.Pkts[i]
		if int(p.InPort) < len(s.peer) && s.peer[p.InPort] >= 0 {
			p.Forward(int(s.peer[p.InPort]))
		} else {
			p.Drop(ReasonUnpaired)
		}
	}
}
