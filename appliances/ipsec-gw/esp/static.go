package esp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp/spd"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// StaticOptions supply what a policy's static SAs leave open.
type StaticOptions struct {
	// LocalFor returns the local tunnel endpoint towards peer (the address
	// the route to it leaves from), for SAs whose policy names none.
	LocalFor func(peer netip.Addr) (netip.Addr, bool)
	// ESN turns extended sequence numbers on. The policy has no key for
	// it; peers keyed by hand (ip xfrm, swanctl) default to without.
	ESN bool
	// WallClock is the time in Unix nanoseconds that seeds the IV base of
	// the outbound SAs; zero means now.
	WallClock int64
}

// NewStatic makes the SA pair of a manually keyed policy entry: the
// inbound SA (spi_in, key_in) and the outbound one (spi_out, key_out),
// linked for NAT traversal. The keys are resolved now (file: and env:
// references read) and wiped from memory once the ciphers hold them.
//
// Manual keying and AES-GCM or ChaCha20-Poly1305 need care (RFC 4106
// section 8.1): the key must never see a nonce twice, but a restarted
// gateway starts its sequence numbers at 1 again. The outbound IV is
// therefore the sequence number plus the wall-clock time in nanoseconds at
// creation, which grows faster than any packet count; the peer's anti-replay
// window still sees the sequence numbers restart, so a peer that restarts
// must be re-keyed. IKE-keyed SAs have none of these problems.
func NewStatic(s *config.StaticSA, o StaticOptions) (in, out *SA, err error) {
	c, err := CipherOf(s.Cipher)
	if err != nil {
		return nil, nil, fmt.Errorf("esp: SA %s: %w", s.Name, err)
	}
	local := s.Local
	if !local.IsValid() {
		var ok bool
		if o.LocalFor != nil {
			local, ok = o.LocalFor(s.Peer)
		}
		if !ok {
			return nil, nil, fmt.Errorf("esp: SA %s: no local address towards peer %v (set local:)", s.Name, s.Peer)
		}
	}
	keyIn, err := s.KeyIn.ResolveHex(c.KeyLen())
	if err != nil {
		return nil, nil, fmt.Errorf("esp: SA %s: key_in: %w", s.Name, err)
	}
	defer clear(keyIn)
	keyOut, err := s.KeyOut.ResolveHex(c.KeyLen())
	if err != nil {
		return nil, nil, fmt.Errorf("esp: SA %s: key_out: %w", s.Name, err)
	}
	defer clear(keyOut)
	wall := o.WallClock
	if wall == 0 {
		wall = time.Now().UnixNano()
	}
	base := Config{
		Name:     s.Name,
		Cipher:   c,
		ESN:      o.ESN,
		Local:    local,
		Peer:     s.Peer,
		Encap:    s.Encap == config.EncapUDP,
		Selector: spd.Selector{Local: s.LocalTS, Remote: s.RemoteTS},
	}
	ci, co := base, base
	ci.Dir, ci.SPI, ci.Key = Inbound, uint32(s.SPIIn), keyIn
	co.Dir, co.SPI, co.Key, co.IVBase = Outbound, uint32(s.SPIOut), keyOut, uint64(wall)
	if in, err = NewSA(ci); err != nil {
		return nil, nil, err
	}
	if out, err = NewSA(co); err != nil {
		return nil, nil, err
	}
	in.SetReverse(out)
	return in, out, nil
}

// LoadStatic makes and installs the SA pairs of a policy's esp: section
// and returns one Policy per entry, in order, which the caller hands to
// SetPolicies (with those of IKE). On error nothing is installed.
func (e *Engine) LoadStatic(ss []config.StaticSA, o StaticOptions, now int64) ([]*Policy, error) {
	var sas []*SA
	var ps []*Policy
	var errs []error
	for i := range ss {
		in, out, err := NewStatic(&ss[i], o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sas = append(sas, in, out)
		ps = append(ps, NewPolicy(ss[i].Name, out.Selector(), out))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := e.Install(now, sas...); err != nil {
		return nil, err
	}
	return ps, nil
}
