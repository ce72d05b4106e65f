package ike

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/suite"
	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/ike/wire"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// Proposals (RFC 7296 sections 2.7, 3.3). We offer one proposal per
// configured proposal, each listing every algorithm it allows. As a
// responder we choose the first of OUR proposals that the peer's offer
// allows, and within it our first algorithm of each type the peer lists
// (strongSwan's responder also prefers its own configuration's order); a
// DH group the peer already sent a KE for wins, which spares it an
// INVALID_KE_PAYLOAD round trip.

// encrTransform is the ENCR transform of a cipher: AES-GCM carries its key
// length, ChaCha20-Poly1305 must not (RFC 7634 section 2).
func encrTransform(e config.Encr) wire.Transform {
	id, bits := suite.EncrOf(e)
	t := wire.Transform{Type: wire.TransformENCR, ID: id}
	if id == wire.EncrAESGCM16 {
		t.KeyLen = bits
	}
	return t
}

// sameEncr compares ENCR transforms, taking a ChaCha20-Poly1305 with an
// explicit 256-bit key length as the one without.
func sameEncr(a, b wire.Transform) bool {
	if a.ID != b.ID {
		return false
	}
	if a.ID == wire.EncrChaCha20Poly1305 {
		return (a.KeyLen == 0 || a.KeyLen == 256) && (b.KeyLen == 0 || b.KeyLen == 256)
	}
	return a.KeyLen == b.KeyLen
}

// ikeProposals is our SA payload's proposals for an IKE SA; spi is empty
// in IKE_SA_INIT and our new SPI when rekeying.
func ikeProposals(c *config.IKEConn, spi []byte) []wire.Proposal {
	var out []wire.Proposal
	for i, p := range c.Proposals {
		if i >= 255 {
			break
		}
		wp := wire.Proposal{Num: uint8(i + 1), Protocol: wire.ProtoIKE, SPI: spi}
		for _, e := range p.Encr {
			wp.Transforms = append(wp.Transforms, encrTransform(e))
		}
		for _, f := range p.PRF {
			wp.Transforms = append(wp.Transforms, wire.Transform{Type: wire.TransformPRF, ID: suite.PRFOf(f)})
		}
		for _, g := range p.DH {
			wp.Transforms = append(wp.Transforms, wire.Transform{Type: wire.TransformDH, ID: suite.DHOf(g)})
		}
		out = append(out, wp)
	}
	return out
}

// offeredGroups lists the DH groups of a conn's IKE proposals.
func offeredGroups(c *config.IKEConn) []uint16 {
	var gs []uint16
	for _, p := range c.Proposals {
		for _, g := range p.DH {
			if id := suite.DHOf(g); !slices.Contains(gs, id) {
				gs = append(gs, id)
			}
		}
	}
	return gs
}

// firstGroup is the group of our first KE: the first proposal's first.
func firstGroup(c *config.IKEConn) uint16 {
	for _, p := range c.Proposals {
		if len(p.DH) > 0 {
			return suite.DHOf(p.DH[0])
		}
	}
	return 0
}

// has reports whether a peer's proposal lists transform t (of known
// attributes).
func has(p *wire.Proposal, t wire.Transform) bool {
	for _, pt := range p.Transforms {
		if pt.Type != t.Type || pt.UnknownAttrs {
			continue
		}
		if t.Type == wire.TransformENCR {
			if sameEncr(pt, t) {
				return true
			}
		} else if pt.ID == t.ID {
			return true
		}
	}
	return false
}

// usable rejects proposals with transform types we do not know or that
// do not belong (integrity other than none with an AEAD, ESN in IKE).
func usable(p *wire.Proposal, proto wire.Protocol) bool {
	for _, t := range p.Transforms {
		switch t.Type {
		case wire.TransformENCR, wire.TransformDH:
		case wire.TransformPRF:
			if proto != wire.ProtoIKE {
				return false
			}
		case wire.TransformINTEG:
			// AEADs need none; "none" (0) is allowed, anything else
			// makes this a non-AEAD proposal, which we never choose.
			if t.ID != 0 {
				return false
			}
		case wire.TransformESN:
			if proto != wire.ProtoESP {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// chooseIKE picks the IKE suite from a peer's SA payload: the first of our
// proposals it allows, preferring the group of the peer's KE. spiLen is 0
// in IKE_SA_INIT, 8 when rekeying. It returns the answer's proposal
// (without SPI).
func chooseIKE(ours []config.IKEProposal, peer []wire.Proposal, keGroup uint16, spiLen int) (suite.Algs, wire.Proposal, bool) {
	for _, o := range ours {
		for i := range peer {
			p := &peer[i]
			if p.Protocol != wire.ProtoIKE || len(p.SPI) != spiLen || !usable(p, wire.ProtoIKE) {
				continue
			}
			var a suite.Algs
			var te wire.Transform
			for _, e := range o.Encr {
				if t := encrTransform(e); has(p, t) {
					te = t
					a.Encr, a.KeyBits = suite.EncrOf(e)
					break
				}
			}
			for _, f := range o.PRF {
				if id := suite.PRFOf(f); has(p, wire.Transform{Type: wire.TransformPRF, ID: id}) {
					a.PRF = id
					break
				}
			}
			for _, g := range o.DH {
				id := suite.DHOf(g)
				if !has(p, wire.Transform{Type: wire.TransformDH, ID: id}) {
					continue
				}
				if a.DH == 0 || id == keGroup {
					a.DH = id
				}
			}
			if a.Encr == 0 || a.PRF == 0 || a.DH == 0 {
				continue
			}
			ans := wire.Proposal{Num: p.Num, Protocol: wire.ProtoIKE, Transforms: []wire.Transform{
				te,
				{Type: wire.TransformPRF, ID: a.PRF},
				{Type: wire.TransformDH, ID: a.DH},
			}}
			return a, ans, true
		}
	}
	return suite.Algs{}, wire.Proposal{}, false
}

var errBadChoice = errors.New("the responder chose a proposal we did not offer")

// checkIKEChoice reads the responder's chosen IKE proposal: exactly one,
// one transform of each type, all of which we offered in the proposal of
// that number.
func checkIKEChoice(sent []wire.Proposal, sa *wire.SA, spiLen int) (suite.Algs, wire.Proposal, error) {
	if sa == nil || len(sa.Proposals) != 1 {
		return suite.Algs{}, wire.Proposal{}, errBadChoice
	}
	got := sa.Proposals[0]
	if got.Protocol != wire.ProtoIKE || len(got.SPI) != spiLen {
		return suite.Algs{}, got, errBadChoice
	}
	i := slices.IndexFunc(sent, func(p wire.Proposal) bool { return p.Num == got.Num })
	if i < 0 {
		return suite.Algs{}, got, errBadChoice
	}
	var a suite.Algs
	for _, t := range got.Transforms {
		if !has(&sent[i], t) && !(t.Type == wire.TransformINTEG && t.ID == 0) {
			return suite.Algs{}, got, errBadChoice
		}
		switch t.Type {
		case wire.TransformENCR:
			if a.Encr != 0 {
				return suite.Algs{}, got, errBadChoice
			}
			a.Encr, a.KeyBits = t.ID, t.KeyLen
			if t.ID == wire.EncrChaCha20Poly1305 {
				a.KeyBits = 256
			}
		case wire.TransformPRF:
			if a.PRF != 0 {
				return suite.Algs{}, got, errBadChoice
			}
			a.PRF = t.ID
		case wire.TransformDH:
			if a.DH != 0 {
				return suite.Algs{}, got, errBadChoice
			}
			a.DH = t.ID
		}
	}
	if a.Encr == 0 || a.PRF == 0 || a.DH == 0 {
		return suite.Algs{}, got, errBadChoice
	}
	return a, got, nil
}

// espChoice is a negotiated child SA suite.
type espChoice struct {
	cipher esp.Cipher
	encr   wire.Transform
	dh     uint16 // PFS group, 0 without
	esn    bool
	spi    uint32 // the peer's SPI: our outbound SA's
}

// espProposals is our SA payload for a child: one proposal per configured
// ESP proposal, our inbound SPI in each, ESN off. withDH adds the PFS
// groups (CREATE_CHILD_SA; never in IKE_AUTH, which has no KE).
func espProposals(ch *config.Child, spi uint32, withDH bool) []wire.Proposal {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], spi)
	var out []wire.Proposal
	for i, p := range ch.ESP {
		if i >= 255 {
			break
		}
		wp := wire.Proposal{Num: uint8(i + 1), Protocol: wire.ProtoESP, SPI: b[:]}
		for _, e := range p.Encr {
			wp.Transforms = append(wp.Transforms, encrTransform(e))
		}
		if withDH {
			for _, g := range p.DH {
				wp.Transforms = append(wp.Transforms, wire.Transform{Type: wire.TransformDH, ID: suite.DHOf(g)})
			}
		}
		wp.Transforms = append(wp.Transforms, wire.Transform{Type: wire.TransformESN, ID: wire.ESNNone})
		out = append(out, wp)
	}
	return out
}

// pfsGroup is the DH group our first ESP proposal asks for (0: none): the
// group of the KE we send when we rekey or add a child.
func pfsGroup(ch *config.Child) uint16 {
	if len(ch.ESP) > 0 && len(ch.ESP[0].DH) > 0 {
		return suite.DHOf(ch.ESP[0].DH[0])
	}
	return 0
}

func cipherOfTransform(t wire.Transform) (esp.Cipher, bool) {
	switch {
	case t.ID == wire.EncrAESGCM16 && t.KeyLen == 128:
		return esp.AES128GCM16, true
	case t.ID == wire.EncrAESGCM16 && t.KeyLen == 256:
		return esp.AES256GCM16, true
	case t.ID == wire.EncrChaCha20Poly1305 && (t.KeyLen == 0 || t.KeyLen == 256):
		return esp.ChaCha20Poly1305, true
	}
	return 0, false
}

// dhList returns the DH transforms of a proposal; none (0) among them
// means PFS is optional for the proposer.
func dhList(p *wire.Proposal) (ids []uint16, none bool) {
	for _, t := range p.Transforms {
		if t.Type == wire.TransformDH {
			if t.ID == 0 {
				none = true
			} else {
				ids = append(ids, t.ID)
			}
		}
	}
	return ids, none
}

// chooseESP picks a child suite from a peer's SA payload: the first of our
// ESP proposals the peer allows. pfs is false in IKE_AUTH, where DH
// transforms are ignored (RFC 7296 section 1.2); in CREATE_CHILD_SA a
// proposal of ours with groups needs one of them, and one without needs a
// peer proposal without (or with "none"). keGroup prefers the peer's KE.
func chooseESP(ours []config.ESPProposal, peer []wire.Proposal, pfs bool, keGroup uint16) (espChoice, wire.Proposal, bool) {
	for _, o := range ours {
		for i := range peer {
			p := &peer[i]
			if p.Protocol != wire.ProtoESP || len(p.SPI) != 4 || !usable(p, wire.ProtoESP) {
				continue
			}
			var c espChoice
			c.spi = binary.BigEndian.Uint32(p.SPI)
			found := false
			for _, e := range o.Encr {
				t := encrTransform(e)
				if has(p, t) {
					c.encr = t
					c.cipher, found = cipherOfTransform(t)
					break
				}
			}
			if !found {
				continue
			}
			if pfs {
				ids, none := dhList(p)
				if len(o.DH) == 0 {
					if len(ids) > 0 && !none {
						continue
					}
				} else {
					for _, g := range o.DH {
						id := suite.DHOf(g)
						if slices.Contains(ids, id) && (c.dh == 0 || id == keGroup) {
							c.dh = id
						}
					}
					if c.dh == 0 {
						continue
					}
				}
			}
			// ESN: either will do; without one when offered.
			var esnNo, esnYes bool
			for _, t := range p.Transforms {
				if t.Type == wire.TransformESN {
					esnNo = esnNo || t.ID == wire.ESNNone
					esnYes = esnYes || t.ID == wire.ESNYes
				}
			}
			c.esn = esnYes && !esnNo
			ans := wire.Proposal{Num: p.Num, Protocol: wire.ProtoESP, Transforms: []wire.Transform{c.encr}}
			if c.dh != 0 {
				ans.Transforms = append(ans.Transforms, wire.Transform{Type: wire.TransformDH, ID: c.dh})
			}
			esnID := wire.ESNNone
			if c.esn {
				esnID = wire.ESNYes
			}
			ans.Transforms = append(ans.Transforms, wire.Transform{Type: wire.TransformESN, ID: esnID})
			return c, ans, true
		}
	}
	return espChoice{}, wire.Proposal{}, false
}

// checkESPChoice reads the responder's chosen child proposal against what
// we sent: one proposal, transforms we offered (ESN either way).
func checkESPChoice(sent []wire.Proposal, sa *wire.SA) (espChoice, error) {
	if sa == nil || len(sa.Proposals) != 1 {
		return espChoice{}, errBadChoice
	}
	got := &sa.Proposals[0]
	if got.Protocol != wire.ProtoESP || len(got.SPI) != 4 {
		return espChoice{}, errBadChoice
	}
	i := slices.IndexFunc(sent, func(p wire.Proposal) bool { return p.Num == got.Num })
	if i < 0 {
		return espChoice{}, errBadChoice
	}
	var c espChoice
	c.spi = binary.BigEndian.Uint32(got.SPI)
	var encrs int
	for _, t := range got.Transforms {
		switch t.Type {
		case wire.TransformENCR:
			if !has(&sent[i], t) {
				return c, errBadChoice
			}
			var ok bool
			if c.cipher, ok = cipherOfTransform(t); !ok {
				return c, errBadChoice
			}
			c.encr = t
			encrs++
		case wire.TransformDH:
			if t.ID == 0 {
				continue
			}
			if !has(&sent[i], t) || c.dh != 0 {
				return c, errBadChoice
			}
			c.dh = t.ID
		case wire.TransformESN:
			c.esn = t.ID == wire.ESNYes
		case wire.TransformINTEG:
			if t.ID != 0 {
				return c, errBadChoice
			}
		default:
			return c, errBadChoice
		}
	}
	if encrs != 1 {
		return c, errBadChoice
	}
	return c, nil
}
