package fib_test

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/nfvkit/nfvkit/appliances/router/fib"
)

// dir24 is the classic DIR-24-8 (Gupta, Lin & McKeown, 1998), kept here as
// the measured alternative to the package's poptrie: one 2^24-entry array
// indexed by the first 24 bits, and 256-entry groups for the addresses under
// prefixes longer than /24. Entries hold nextHop+1 (0 is no route), or, with
// the top bit set, the number of a group.
type dir24 struct {
	tbl24 []uint32
	tbl8  []uint32
}

const dirExt = 1 << 31

func newDir24(es []fib.Entry) *dir24 {
	es = slices.Clone(es)
	slices.SortStableFunc(es, func(a, b fib.Entry) int { return a.Prefix.Bits() - b.Prefix.Bits() })
	d := &dir24{tbl24: make([]uint32, 1<<24)}
	for _, e := range es {
		p := e.Prefix.Masked()
		a := p.Addr().As4()
		ip := binary.BigEndian.Uint32(a[:])
		v := e.NextHop + 1
		if p.Bits() <= 24 {
			first := ip >> 8
			for i := first; i < first+1<<(24-p.Bits()); i++ {
				if x := d.tbl24[i]; x&dirExt != 0 {
					g := d.tbl8[(x&^dirExt)<<8:][:256]
					for j := range g {
						g[j] = v // later, longer entries repaint
					}
				} else {
					d.tbl24[i] = v
				}
			}
			continue
		}
		x := d.tbl24[ip>>8]
		if x&dirExt == 0 {
			g := uint32(len(d.tbl8) >> 8)
			for range 256 {
				d.tbl8 = append(d.tbl8, x)
			}
			x = dirExt | g
			d.tbl24[ip>>8] = x
		}
		first := (x&^dirExt)<<8 | ip&0xff
		for i := first; i < first+1<<(32-p.Bits()); i++ {
			d.tbl8[i] = v
		}
	}
	return d
}

func (d *dir24) lookup(ip uint32) uint32 {
	x := d.tbl24[ip>>8]
	if x&dirExt != 0 {
		x = d.tbl8[(x&^dirExt)<<8|ip&0xff]
	}
	return x - 1
}

func (d *dir24) lookupAddr(a netip.Addr) uint32 {
	b := a.As4()
	return d.lookup(binary.BigEndian.Uint32(b[:]))
}

func (d *dir24) memory() int { return cap(d.tbl24)*4 + cap(d.tbl8)*4 }
