package fib

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"unsafe"
)

// NoRoute is what a lookup returns when no prefix covers the address.
const NoRoute = ^uint32(0)

// MaxNextHop is the largest next-hop index an LPM stores.
const MaxNextHop = 1<<31 - 2

// Entry is one route as the LPM compiler takes it: a prefix and the next-hop
// index that addresses inside it resolve to.
type Entry struct {
	Prefix  netip.Prefix
	NextHop uint32
}

// stride is the number of address bits one trie node consumes: a node's
// children and leaves are indexed by 6 bits, so its bitmaps are one uint64.
const stride = 6

// An entry of lpm.top is either nodeBit | the index of a node, or a leaf
// holding nextHop+1: 0 is NoRoute, decoded by the same subtraction, so the
// top level needs no initialising, and its pages under unrouted space may
// never be written at all.
const nodeBit = 1 << 31

// node is a poptrie internal node (Asai & Ohara, SIGCOMM 2015). It covers the
// 64 values of the next 6 address bits. Bit v of vector says value v leads to
// a child node; those children are contiguous in lpm.nodes from base1, in
// the order of their bits, so child v is nodes[base1+popcount(vector up to
// v)-1]. Every other value ends in a leaf; runs of equal leaves are stored
// once ("leaf compression"): bit v of leafvec marks where a new leaf value
// starts, and the leaf of v is leaves[base0+popcount(leafvec up to v)-1].
type node struct {
	vector  uint64
	leafvec uint64
	base0   uint32 // first leaf in lpm.leaves
	base1   uint32 // first child in lpm.nodes
}

// lpm is the compiled trie, shared by both families: keys are 128 bits
// (hi, lo), left-aligned, an IPv4 address in hi's top 32 bits.
type lpm struct {
	// top is direct-indexed by the first topBits of the address.
	top     []uint32
	topBits uint
	nodes   []node
	leaves  []uint32
	n       int // prefixes
}

// topBitsFor picks the width of the direct-indexed top level: 18 bits for a
// large table, so that /24 (IPv4) and /48 (IPv6), the commonest lengths, end
// on a node boundary (18+6 = 24, 18+5×6 = 48) and a /24 costs one node; 12
// or 6 bits (same boundaries) for small tables, which then stay a few KiB.
// Compile4 goes further for very large IPv4 tables: 24 bits.
func topBitsFor(n int) uint {
	switch {
	case n >= 1<<14:
		return 18
	case n >= 1<<8:
		return 12
	default:
		return 6
	}
}

// Memory returns the bytes held by the compiled structure.
func (t *lpm) Memory() int {
	return cap(t.top)*4 + cap(t.nodes)*int(unsafe.Sizeof(node{})) + cap(t.leaves)*4
}

// Len returns the number of prefixes compiled in.
func (t *lpm) Len() int { return t.n }

// walk6 finishes a lookup below the top level: e is the node the top level
// gave, (hi, lo) the key shifted so that its top 6 bits index that node.
func (t *lpm) walk6(e uint32, hi, lo uint64) uint32 {
	nodes := t.nodes
	n := &nodes[e]
	for {
		bit := uint64(1) << (hi >> 58)
		if n.vector&bit == 0 {
			return t.leaves[n.base0+uint32(bits.OnesCount64(n.leafvec&(bit<<1-1)))-1]
		}
		n = &nodes[n.base1+uint32(bits.OnesCount64(n.vector&(bit<<1-1)))-1]
		hi = hi<<stride | lo>>(64-stride)
		lo <<= stride
	}
}

// walkBatch4 finishes the lookups o[i] for i in pend, where o[i] holds the
// top-level node entry and key[i] the address shifted past the top level.
// It takes every pending lookup one level down per pass, so the passes'
// loads are independent of one another.
func (t *lpm) walkBatch4(o []uint32, key *[batchChunk]uint64, pend []uint8) {
	nodes, leaves := t.nodes, t.leaves
	for i := range pend {
		o[pend[i]] &^= nodeBit
	}
	for len(pend) > 0 {
		w := 0
		for _, i := range pend {
			n := &nodes[o[i]]
			k := key[i]
			bit := uint64(1) << (k >> 58)
			if n.vector&bit == 0 {
				o[i] = leaves[n.base0+uint32(bits.OnesCount64(n.leafvec&(bit<<1-1)))-1]
				continue
			}
			o[i] = n.base1 + uint32(bits.OnesCount64(n.vector&(bit<<1-1))) - 1
			key[i] = k << stride
			pend[w] = i
			w++
		}
		pend = pend[:w]
	}
}

// walkBatch6 is walkBatch4 with 128-bit keys.
func (t *lpm) walkBatch6(o []uint32, khi, klo *[batchChunk]uint64, pend []uint8) {
	nodes, leaves := t.nodes, t.leaves
	for i := range pend {
		o[pend[i]] &^= nodeBit
	}
	for len(pend) > 0 {
		w := 0
		for _, i := range pend {
			n := &nodes[o[i]]
			hi := khi[i]
			bit := uint64(1) << (hi >> 58)
			if n.vector&bit == 0 {
				o[i] = leaves[n.base0+uint32(bits.OnesCount64(n.leafvec&(bit<<1-1)))-1]
				continue
			}
			o[i] = n.base1 + uint32(bits.OnesCount64(n.vector&(bit<<1-1))) - 1
			khi[i] = hi<<stride | klo[i]>>(64-stride)
			klo[i] <<= stride
			pend[w] = i
			w++
		}
		pend = pend[:w]
	}
}

// ---- compiling ----

// pfx is a prefix as the compiler works on it.
type pfx struct {
	hi, lo uint64 // masked, left-aligned
	bits   uint   // length
	nh     uint32
	idx    uint32 // position in the input
}

// bitsAt returns the 6 bits of p's key at bit position pos (0 = most
// significant), zero past the end of the key.
func (p *pfx) bitsAt(pos uint) uint {
	var x uint64
	if pos < 64 {
		x = p.hi<<pos | p.lo>>(64-pos)
	} else {
		x = p.lo << (pos - 64)
	}
	return uint(x >> 58)
}

type compiler struct {
	nodes  []node
	leaves []uint32
}

// compile builds the trie from ps, as prefixes returns them: masked, without
// duplicates, sorted by (key, length).
//
// In that order a prefix always comes before every prefix it contains.
// Painting slots in this order therefore leaves each slot with its longest
// match, and the prefixes below one slot form a contiguous run, led by those
// ending within it.
func compile(ps []pfx, tb uint) lpm {
	t := lpm{topBits: tb, n: len(ps), top: make([]uint32, 1<<tb)}
	c := compiler{
		nodes:  make([]node, 0, len(ps)/4+16),
		leaves: make([]uint32, 0, len(ps)+64),
	}
	// Paint the top level with the prefixes that end in it, as leaves.
	for i := range ps {
		p := &ps[i]
		if p.bits > tb {
			continue
		}
		first := p.hi >> (64 - tb)
		for j := first; j < first+1<<(tb-p.bits); j++ {
			t.top[j] = p.nh + 1
		}
	}
	// Every top slot with longer prefixes below it gets a node.
	for i := 0; i < len(ps); {
		if ps[i].bits <= tb {
			i++
			continue
		}
		slot := ps[i].hi >> (64 - tb)
		j := i + 1
		for j < len(ps) && ps[j].hi>>(64-tb) == slot {
			j++
		}
		def := t.top[slot] - 1
		c.nodes = append(c.nodes, node{})
		idx := len(c.nodes) - 1
		c.node(idx, tb, def, ps[i:j])
		t.top[slot] = nodeBit | uint32(idx)
		i = j
	}
	// Exact-size copies: the build's slack is garbage, not table.
	t.nodes = slices.Clone(c.nodes)
	t.leaves = slices.Clone(c.leaves)
	return t
}

// node fills c.nodes[idx], which covers the 6 key bits at depth d; def is the
// next hop of the longest prefix above d, and ps, all longer than d and below
// this node's position, are sorted as compile sorts them.
func (c *compiler) node(idx int, d uint, def uint32, ps []pfx) {
	var val [64]uint32
	for v := range val {
		val[v] = def
	}
	var child [64][2]int32 // [start, end) in ps of each child's prefixes
	var vector uint64
	for i := 0; i < len(ps); {
		p := &ps[i]
		v := p.bitsAt(d)
		if p.bits <= d+stride {
			for k := v; k < v+1<<(d+stride-p.bits); k++ {
				val[k] = p.nh
			}
			i++
			continue
		}
		// The rest of slot v's run is longer than this node: a child.
		j := i + 1
		for j < len(ps) && ps[j].bitsAt(d) == v {
			j++
		}
		child[v] = [2]int32{int32(i), int32(j)}
		vector |= 1 << v
		i = j
	}
	// Leaves, compressed: a new leaf only where the value changes from the
	// previous leaf slot.
	base0 := len(c.leaves)
	var leafvec uint64
	for v := range 64 {
		if vector&(1<<v) != 0 {
			continue
		}
		if leafvec == 0 || c.leaves[len(c.leaves)-1] != val[v] {
			leafvec |= 1 << v
			c.leaves = append(c.leaves, val[v])
		}
	}
	// Children: reserve their contiguous block, then fill each.
	nc := bits.OnesCount64(vector)
	base1 := len(c.nodes)
	c.nodes = slices.Grow(c.nodes, nc)[:base1+nc]
	c.nodes[idx] = node{vector: vector, leafvec: leafvec, base0: uint32(base0), base1: uint32(base1)}
	k := base1
	for v := range 64 {
		if vector&(1<<v) != 0 {
			c.node(k, d+stride, val[v], ps[child[v][0]:child[v][1]])
			k++
		}
	}
}

// prefixes turns entries of one family into compiler input: masked, checked,
// and with duplicates resolved in favour of the later entry.
func prefixes(es []Entry, v4 bool) ([]pfx, error) {
	ps := make([]pfx, 0, len(es))
	for i, e := range es {
		p := e.Prefix
		if !p.IsValid() {
			return nil, fmt.Errorf("entry %d: invalid prefix", i)
		}
		if p.Addr().Is4() != v4 {
			fam := "IPv6"
			if v4 {
				fam = "IPv4"
			}
			return nil, fmt.Errorf("entry %d: %v is not an %s prefix", i, p, fam)
		}
		if e.NextHop > MaxNextHop {
			return nil, fmt.Errorf("entry %d: %v: next hop %d out of range (max %d)", i, p, e.NextHop, MaxNextHop)
		}
		p = p.Masked()
		q := pfx{bits: uint(p.Bits()), nh: e.NextHop, idx: uint32(i)}
		if v4 {
			a := p.Addr().As4()
			q.hi = uint64(binary.BigEndian.Uint32(a[:])) << 32
		} else {
			a := p.Addr().As16()
			q.hi = binary.BigEndian.Uint64(a[:8])
			q.lo = binary.BigEndian.Uint64(a[8:])
		}
		ps = append(ps, q)
	}
	// Input order breaks ties, so the last of equal prefixes ends its run.
	slices.SortFunc(ps, func(a, b pfx) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		if c := cmp.Compare(a.lo, b.lo); c != 0 {
			return c
		}
		if c := cmp.Compare(a.bits, b.bits); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	out := ps[:0]
	for i := range ps {
		if i+1 < len(ps) && ps[i+1].hi == ps[i].hi && ps[i+1].lo == ps[i].lo && ps[i+1].bits == ps[i].bits {
			continue
		}
		out = append(out, ps[i])
	}
	return out, nil
}
