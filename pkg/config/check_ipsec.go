package config

import (
	"net/netip"
	"slices"
	"time"
)

// Checks of the ipsec-gw sections: IKE, static ESP SAs and WireGuard.

// sa is one IPsec SPD entry, an IKE child or a static SA, for the overlap
// check.
type sa struct {
	name          string
	local, remote Prefixes
	at            any
}

func (c *checker) ike() {
	names := map[string]any{}
	peers := map[netip.Addr]*IKEConn{}
	for i := range c.p.IKE {
		k := &c.p.IKE[i]
		if c.name(&k.Name, maxName, "connection") {
			c.unique(names, k.Name, &k.Name, "connection")
		}
		if k.Peer.IsValid() {
			if prev, dup := peers[k.Peer]; dup {
				c.errorf(c.at(&k.Peer), "peer %s already has connection %s at line %d (expected one connection per peer)", k.Peer, prev.Name, c.line(&prev.Peer))
			} else {
				peers[k.Peer] = k
			}
			c.endpoint(k.Peer, &k.Peer, "peer")
		}
		c.localAddr(k.Local, k.Peer, &k.Local)
		if v, ok := k.Auth.PSK.inline(); ok && len(v) < 16 {
			c.errorf(c.at(&k.Auth.PSK), "inline psk is shorter than 16 bytes (expected a long random key, or a file:/env: reference)")
		}
		if k.Rekey >= k.Lifetime && !c.d.failed[&k.Lifetime] {
			c.errorf(c.at(&k.Rekey, &k.Lifetime, k), "rekey %s is not before lifetime %s (expected rekey shorter than lifetime)", k.Rekey, k.Lifetime)
		}
		for j := range k.Children {
			ch := &k.Children[j]
			if c.placed(&ch.Name) && !c.name(&ch.Name, maxName, "child") {
				continue
			}
			c.unique(names, ch.Name, c.either(&ch.Name, ch), "child")
			c.selectorFamilies(ch.Local, ch.Remote, &ch.Remote)
		}
	}
}

// unique reports a name already used by a connection, child or static SA:
// they share one namespace, as they name SAs in logs and metrics.
func (c *checker) unique(names map[string]any, name string, ptr any, kind string) {
	if prev, dup := names[name]; dup {
		c.errorf(c.at(ptr), "duplicate %s name %s (first at line %d; expected connection, child and SA names to differ)", kind, quote(name), c.line(prev))
		return
	}
	names[name] = ptr
}

func (c *checker) selectorFamilies(local, remote Prefixes, ptr any) {
	var lf, rf int
	for _, p := range local {
		if p.IsValid() {
			lf |= famBit(p.Addr())
		}
	}
	for _, p := range remote {
		if p.IsValid() {
			rf |= famBit(p.Addr())
		}
	}
	if lf != 0 && rf != 0 && lf&rf == 0 {
		c.errorf(c.at(ptr), "remote has no address family in common with local (expected both to hold IPv4, or both IPv6)")
	}
}

func (c *checker) staticSAs() {
	// Names taken in the ike section were checked there; keep the first.
	names := map[string]any{}
	for i := range c.p.IKE {
		k := &c.p.IKE[i]
		if _, ok := names[k.Name]; !ok {
			names[k.Name] = &k.Name
		}
		for j := range k.Children {
			ch := &k.Children[j]
			if _, ok := names[ch.Name]; !ok {
				names[ch.Name] = c.either(&ch.Name, ch)
			}
		}
	}
	spiIn := map[SPI]*StaticSA{}
	spiOut := map[string]*StaticSA{}
	for i := range c.p.ESP {
		s := &c.p.ESP[i]
		if c.name(&s.Name, maxName, "SA") {
			c.unique(names, s.Name, &s.Name, "SA")
		}
		if s.Peer.IsValid() {
			c.endpoint(s.Peer, &s.Peer, "peer")
		}
		c.localAddr(s.Local, s.Peer, &s.Local)
		if prev, dup := spiIn[s.SPIIn]; dup && s.SPIIn != 0 {
			c.errorf(c.at(&s.SPIIn), "spi_in %s is already used by SA %s at line %d (expected a distinct inbound SPI)", s.SPIIn, prev.Name, c.line(&prev.SPIIn))
		} else {
			spiIn[s.SPIIn] = s
		}
		key := s.Peer.String() + " " + s.SPIOut.String()
		if prev, dup := spiOut[key]; dup && s.SPIOut != 0 {
			c.errorf(c.at(&s.SPIOut), "spi_out %s to peer %s is already used by SA %s at line %d (expected a distinct outbound SPI per peer)", s.SPIOut, s.Peer, prev.Name, c.line(&prev.SPIOut))
		} else {
			spiOut[key] = s
		}
		if s.Cipher != "" {
			for _, k := range []*Secret{&s.KeyIn, &s.KeyOut} {
				if v, ok := k.inline(); ok {
					if _, err := hexKey(v, s.Cipher.KeyLen()); err != nil {
						c.errorf(c.at(k), "inline key for %s: %v", s.Cipher, err)
					}
				}
			}
		}
		if !s.KeyIn.IsZero() && s.KeyIn.same(s.KeyOut) {
			c.errorf(c.at(&s.KeyOut), "key_out is the same as key_in (expected a distinct key per direction: a shared AEAD key repeats nonces)")
		}
		c.selectorFamilies(s.LocalTS, s.RemoteTS, &s.RemoteTS)
	}
}

// selectorOverlaps rejects two SAs whose traffic selectors overlap on both
// sides: outbound traffic could match either.
func (c *checker) selectorOverlaps() {
	var sas []sa
	for i := range c.p.IKE {
		for j := range c.p.IKE[i].Children {
			ch := &c.p.IKE[i].Children[j]
			sas = append(sas, sa{ch.Name, ch.Local, ch.Remote, ch})
		}
	}
	for i := range c.p.ESP {
		s := &c.p.ESP[i]
		sas = append(sas, sa{s.Name, s.LocalTS, s.RemoteTS, s})
	}
	for j := range sas {
		for i := range j {
			if !c.spend(1 + len(sas[i].local)*len(sas[j].local) + len(sas[i].remote)*len(sas[j].remote)) {
				c.errorf(c.at(sas[j].at), "too many traffic selectors to check for overlaps: more than %d comparisons (expected fewer SAs or networks)", maxWork)
				return
			}
			if overlap(sas[i].local, sas[j].local) && overlap(sas[i].remote, sas[j].remote) {
				c.errorf(c.at(sas[j].at), "traffic selectors of %s overlap those of %s at line %d (expected disjoint local/remote networks per SA)", sas[j].name, sas[i].name, c.line(sas[i].at))
				break
			}
		}
	}
}

func overlap(a, b Prefixes) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Overlaps(y) {
				return true
			}
		}
	}
	return false
}

func (c *checker) wireguard() {
	usesIKE := len(c.p.IKE) > 0
	usesNATT := usesIKE || slices.ContainsFunc(c.p.ESP, func(s StaticSA) bool { return s.Encap == EncapUDP })
	ports := map[uint16]*WireGuard{}
	for i := range c.p.WireGuard {
		w := &c.p.WireGuard[i]
		if v, ok := w.PrivateKey.inline(); ok {
			if _, err := decodeBase64Key(v); err != nil {
				c.errorf(c.at(&w.PrivateKey), "inline private_key is %v", err)
			}
		}
		switch prev, dup := ports[w.ListenPort]; {
		case w.ListenPort == 0:
		case dup:
			c.errorf(c.at(&w.ListenPort), "listen_port %d is already used by tunnel %s at line %d (expected a port per tunnel)", w.ListenPort, prev.Name, c.line(&prev.ListenPort))
		case w.ListenPort == 500 && usesIKE, w.ListenPort == 4500 && usesNATT:
			c.errorf(c.at(&w.ListenPort), "listen_port %d is IKE's (expected another port)", w.ListenPort)
		default:
			ports[w.ListenPort] = w
		}
		keys := map[WGKey]int{}
		peerNames := map[string]*WGPeer{}
		allowed := map[netip.Prefix]*netip.Prefix{}
		for j := range w.Peers {
			pr := &w.Peers[j]
			if prev, dup := keys[pr.PublicKey]; dup && pr.PublicKey != (WGKey{}) {
				c.errorf(c.at(&pr.PublicKey), "public key is already peers[%d]'s at line %d (expected each peer once)", prev, c.line(&w.Peers[prev].PublicKey))
			} else {
				keys[pr.PublicKey] = j
			}
			if pr.Name != "" && c.name(&pr.Name, maxName, "peer") {
				if prev, dup := peerNames[pr.Name]; dup {
					c.errorf(c.at(&pr.Name), "duplicate peer name %s (first at line %d)", quote(pr.Name), c.line(&prev.Name))
				} else {
					peerNames[pr.Name] = pr
				}
			}
			if v, ok := pr.PresharedKey.inline(); ok {
				if _, err := decodeBase64Key(v); err != nil {
					c.errorf(c.at(&pr.PresharedKey), "inline preshared_key is %v", err)
				}
			}
			if pr.Endpoint.IsValid() {
				c.endpoint(pr.Endpoint.Addr(), &pr.Endpoint, "endpoint")
			}
			if ka := pr.PersistentKeepalive; ka != 0 && (ka%time.Second != 0 || ka > 65535*time.Second) {
				c.errorf(c.at(&pr.PersistentKeepalive), "persistent_keepalive %s (expected whole seconds, 1s..65535s)", ka)
			}
			for k := range pr.AllowedIPs {
				a := &pr.AllowedIPs[k]
				if !a.IsValid() {
					continue
				}
				if prev, dup := allowed[*a]; dup {
					c.errorf(c.at(a), "allowed_ips %s is already routed to the peer at line %d (expected each network once per tunnel)", *a, c.line(prev))
				} else {
					allowed[*a] = a
				}
			}
		}
	}
}
