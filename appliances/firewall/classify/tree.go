package classify

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"net/netip"
	"slices"
	"unsafe"

	"github.com/nfvkit/nfvkit/appliances/firewall/internal/hugepage"
)

// The tree's dimensions: the packet's fields as unsigned integers, an
// address as two halves (an IPv4 address is the low half, its high half
// zero), so that every prefix is a box of two ranges.
const (
	dIn = iota
	dOut
	dProto
	dSport
	dDport
	dICMP
	dSrcHi
	dSrcLo
	dDstHi
	dDstLo
	numDims
)

// tree is one address family's decision tree (HyperSplit: Qi, Xu, Yang,
// Li, INFOCOM 2009). An inner node splits one dimension at thresholds; a
// leaf holds, in rule order, the rules that can match a packet in its
// region, each with the checks its region leaves open (the fields the rule
// does not cover there), and stops at the first rule that covers the
// region. A lookup is a walk of the nodes, then the leaf's checks until
// one rule passes them all.
type tree struct {
	nodes []uint64 // nodeWords a node
	root  uint64   // reference to the root
	// nodes4 is an IPv4 tree's nodes in 32 bits (every dimension fits):
	// node4Words a node, one cache line, so that a level of the walk is
	// one line, not two (see compact4).
	nodes4 []uint32
	// ents are the leaves' entries: a header (rule, state, words of
	// checks, the rule's action: see matchOf), the checks, and after a
	// leaf's last entry leafEnd.
	ents  []uint64
	lists []uint64 // interval lists of small fields: lo<<32 | hi, sorted
	addrs []uint64 // interval lists of addresses: lo hi, lo lo, hi hi, hi lo
	depth int      // of the deepest leaf
	// nodeCount inner nodes, cutCount of them cut nodes
	nodeCount, cutCount int
	mem                 int
}

// An inner node is nodeWords words: the dimension, fanout-1 thresholds,
// ascending (unused ones all ones), and fanout references to the children:
// child i takes the values above i thresholds. A reference is the word
// offset of an inner node or, with leafRef set, the offset of a leaf's
// entries in ents: a leaf costs no node, and the walk goes from the last
// node straight to the entries.
const (
	fanout    = 8
	nodeWords = 2 * fanout
	leafRef   = 1 << 63
)

const leafEnd = ^uint64(0)

// A cut node (HiCuts: Gupta and McKeown, Hot Interconnects 1999) divides
// its region of one dimension into equal parts, so that a big rule set is
// spread over many children in one step instead of several levels of
// thresholds: word 0 is the dimension with cutNode set, the shift (bits
// 16-23) and, in 64-bit nodes, the number of parts (bits 32-63); word 1
// is the region's low end; then a reference a part. A value v goes to
// part (v-lo)>>shift. The node is padded to whole nodeWords, so that
// threshold nodes stay on cache lines.
const cutNode = 1 << 8

// cutWords is the size of a cut node of n parts.
func cutWords(n int) int { return (2 + n + nodeWords - 1) / nodeWords * nodeWords }

// A 32-bit node (nodes4) is laid out as a 64-bit one: the dimension,
// fanout-1 thresholds (unused ones all ones), fanout references, with
// leafRef4 marking a leaf.
const (
	node4Words = 2 * fanout
	leafRef4   = 1 << 31
)

// The checks of a leaf entry: the kind in the top 4 bits, the dimension in
// the next 4.
const (
	ckRange  = iota // value in lo (bits 16-31) .. hi (bits 0-15)
	ckWide          // value in the next two words, lo .. hi
	ckList          // value in a list: lists[off (bits 0-31)], count (bits 32-55)
	ckAddr          // address (dimension of the high half) in addrs[off], count
	ckPrefix        // value >> shift (bits 48-54) is bits 0-47
)

// lookup returns the leaf entry of the first rule that matches the packet
// whose dimensions are kv, in state st, or leafEnd (see matchOf).
func (t *tree) lookup(kv *[16]uint64, st uint8) uint64 {
	if t.nodes4 != nil {
		return t.lookup4(kv, st)
	}
	nodes := t.nodes
	ref := t.root
	for ref&leafRef == 0 {
		if h := nodes[ref]; h&cutNode != 0 {
			v := kv[h&15]
			ref = nodes[ref+2+(v-nodes[ref+1])>>(h>>16&63)]
			continue
		}
		n := (*[nodeWords]uint64)(nodes[ref:])
		// Branch-free: count the thresholds below the value.
		v := kv[n[0]&15]
		c := uint64(0)
		for _, thr := range n[1:fanout] {
			_, above := bits.Sub64(thr, v, 0)
			c += above
		}
		ref = n[fanout+c&(fanout-1)]
	}
	return t.scan(uint32(ref), kv, st)
}

// lookup4 is lookup in an IPv4 tree's 32-bit nodes.
func (t *tree) lookup4(kv *[16]uint64, st uint8) uint64 {
	nodes := t.nodes4
	ref := uint32(t.root)
	for ref&leafRef4 == 0 {
		if h := nodes[ref]; h&cutNode != 0 {
			v := uint64(uint32(kv[h&15]))
			ref = nodes[ref+2+uint32((v-uint64(nodes[ref+1]))>>(h>>16&63))]
			continue
		}
		n := (*[node4Words]uint32)(nodes[ref:])
		v := uint64(uint32(kv[n[0]&15]))
		// Branch-free: count the thresholds below the value.
		c := uint64(0)
		for _, thr := range n[1:fanout] {
			c += (uint64(thr) - v) >> 63
		}
		ref = n[fanout+c&(fanout-1)]
	}
	return t.scan(ref&^leafRef4, kv, st)
}

// scan checks a leaf's entries from ents[p], and returns the header of
// the first that matches, or leafEnd.
func (t *tree) scan(p uint32, kv *[16]uint64, st uint8) uint64 {
	e := t.ents
	for {
		h := e[p]
		if h == leafEnd {
			return leafEnd
		}
		q := p + 1
		end := q + uint32(h>>40&0xff)
		ok := true
		if s := uint8(h >> 32); s != 0 && s&st == 0 {
			ok = false
		}
		for ok && q < end {
			c := e[q]
			v := kv[c>>56&15]
			switch c >> 60 {
			case ckRange:
				lo := c >> 16 & 0xffff
				ok = v-lo <= c&0xffff-lo
				q++
			case ckWide:
				lo := e[q+1]
				ok = v-lo <= e[q+2]-lo
				q += 3
			case ckList:
				ok = inList(t.lists[uint32(c):uint32(c)+uint32(c>>32&0xffffff)], v)
				q++
			case ckPrefix:
				ok = v>>(c>>48&0x7f) == c&(1<<48-1)
				q++
			default:
				ok = inAddrs(t.addrs[uint32(c):uint32(c)+4*uint32(c>>32&0xffffff)], v, kv[c>>56&15+1])
				q++
			}
		}
		if ok {
			return h
		}
		p = end
	}
}

// matchOf returns the Match of a leaf entry's header h, or of none
// (leafEnd): the rule's verdict is in the leaf, which the lookup has just
// read, so that it needs no other memory.
func matchOf(h uint64) Match {
	if h == leafEnd {
		return noMatch
	}
	return Match{Rule: int32(uint32(h)), Action: Action(h >> 48 & 3), Log: h>>50&1 != 0}
}

// inList reports whether v is in one of the sorted disjoint ranges l.
func inList(l []uint64, v uint64) bool {
	i, j := 0, len(l)
	for i < j {
		m := int(uint(i+j) >> 1)
		if l[m]&0xffffffff < v {
			i = m + 1
		} else {
			j = m
		}
	}
	return i < len(l) && l[i]>>32 <= v
}

// inAddrs reports whether the address hi:lo is in one of the sorted
// disjoint ranges l (four words each).
func inAddrs(l []uint64, hi, lo uint64) bool {
	i, j := 0, len(l)/4
	for i < j {
		m := int(uint(i+j) >> 1)
		if r := l[4*m+2:]; r[0] < hi || r[0] == hi && r[1] < lo {
			i = m + 1
		} else {
			j = m
		}
	}
	if i == len(l)/4 {
		return false
	}
	r := l[4*i:]
	return r[0] < hi || r[0] == hi && r[1] <= lo
}

// keyDims returns k's dimensions (k of a family, checked by the caller).
func keyDims(k *Key, kv *[16]uint64) {
	kv[dIn] = uint64(k.In)
	kv[dOut] = uint64(k.Out)
	kv[dProto] = uint64(k.Proto)
	kv[dSport] = uint64(k.SrcPort)
	kv[dDport] = uint64(k.DstPort)
	kv[dICMP] = uint64(k.ICMPType)
	if k.Src.Is4() {
		s, d := k.Src.As4(), k.Dst.As4()
		kv[dSrcLo] = uint64(binary.BigEndian.Uint32(s[:]))
		kv[dDstLo] = uint64(binary.BigEndian.Uint32(d[:]))
		return
	}
	s, d := k.Src.As16(), k.Dst.As16()
	kv[dSrcHi], kv[dSrcLo] = binary.BigEndian.Uint64(s[:8]), binary.BigEndian.Uint64(s[8:])
	kv[dDstHi], kv[dDstLo] = binary.BigEndian.Uint64(d[:8]), binary.BigEndian.Uint64(d[8:])
}

func (t *tree) memory() int {
	return (len(t.nodes)+len(t.ents)+len(t.lists)+len(t.addrs))*8 + len(t.nodes4)*4
}

// hugeMin is the size (words) from which an IPv4 tree goes into huge
// pages: beside a big connection table, whose lookups fill the TLB too, a
// tree of a few hundred 4 KiB pages adds a TLB miss to most of its cache
// misses (10,000 rules of the firewall's BenchmarkClassify: 1 MiB, and
// 3-5% more packets a second in huge pages, for up to 4 MiB more memory:
// see hugepage.Uint64s; 1,000 rules, 124 KiB, gained nothing).
const hugeMin = 64 << 10

// compact4 moves an IPv4 tree's nodes to nodes4, each node at the same
// offset, aligned to the cache line; a big tree's leaves and nodes go
// together into huge pages (see hugeMin).
func (t *tree) compact4() {
	var n4 []uint32
	if words := len(t.ents) + (len(t.nodes)+1)/2 + 8; words >= hugeMin {
		area := hugepage.Uint64s(words)
		copy(area, t.ents)
		t.ents = area[:len(t.ents):len(t.ents)]
		at := (len(t.ents) + 7) &^ 7 // on a cache line, as area is
		n4 = unsafe.Slice((*uint32)(unsafe.Pointer(&area[at])), len(t.nodes))
	} else {
		const line = 64 / 4
		buf := make([]uint32, len(t.nodes)+line)
		skip := 0
		for uintptr(unsafe.Pointer(&buf[skip]))%64 != 0 {
			skip++
		}
		n4 = buf[skip : skip+len(t.nodes)]
	}
	ref := func(r uint64) uint32 {
		if r&leafRef != 0 {
			return leafRef4 | uint32(r)
		}
		return uint32(r)
	}
	for at := 0; at < len(t.nodes); at += nodeWords {
		if h := t.nodes[at]; h&cutNode != 0 {
			parts := int(h >> 32)
			n4[at], n4[at+1] = uint32(h), uint32(t.nodes[at+1])
			for j := range parts {
				n4[at+2+j] = ref(t.nodes[at+2+j])
			}
			at += cutWords(parts) - nodeWords
			continue
		}
		n, m := t.nodes[at:at+nodeWords], n4[at:at+node4Words]
		m[0] = uint32(n[0])
		for j := 1; j < fanout; j++ {
			m[j] = uint32(min(n[j], 0xffffffff))
		}
		for j := fanout; j < 2*fanout; j++ {
			m[j] = ref(n[j])
		}
	}
	t.root = uint64(ref(t.root))
	t.nodes, t.nodes4 = nil, n4
}

// Building.

// span is an inclusive range of one dimension.
type span struct{ lo, hi uint64 }

func (s span) covers(o span) bool { return s.lo <= o.lo && o.hi <= s.hi }
func (s span) meets(o span) bool  { return s.lo <= o.hi && o.lo <= s.hi }

// box is a prefix: a range of each half of the address.
type box struct{ hi, lo span }

// region is a node's part of the space.
type region [numDims]span

// trule is a rule as the tree builder sees it.
type trule struct {
	idx   int32
	state uint8
	act   uint8 // action, and 4 for log
	// dims holds, per dimension, the sorted disjoint ranges the rule
	// accepts (nil: all); for the address halves, the union of its
	// prefixes' ranges (a superset: the prefixes are the boxes).
	dims  [numDims][]span
	boxes [2][]box // source and destination prefixes (nil: any)
	// Where the rule's lists are in the tree, once a leaf needs them
	// (0: not yet; else the offset plus one).
	listAt [numDims]uint32
	addrAt [2]uint32
	addrN  [2]int
}

// A tree may take treeBudget bytes at most, and treeRuleBytes a rule
// beyond treeBase; its building may visit treeRuleWork rules a rule (the
// sum of the nodes' rule counts). A family's rules whose tree would pass
// either bound keep the bit vectors: rules that many others overlap
// (wildcards, long sets) are copied into most leaves.
var (
	useTree       = true
	treeBudget    = 64 << 20
	treeRuleBytes = 512
	treeRuleWork  = 64
)

const treeBase = 64 << 10

// Tree shape: a node with at most leafRules rules is a leaf, and so is one
// at maxDepth.
const (
	leafRules = 3
	maxDepth  = 40
)

var errTreeBudget = errors.New("classify: decision tree over budget")

type treeBuild struct {
	t       tree
	rs      []trule
	full    region
	v6      bool
	work    int
	budget  int // bytes
	maxWork int
	err     error
}

// buildTree builds the tree of the rules that can match packets of one
// family (v6: IPv6), or returns errTreeBudget.
func buildTree(rules []Rule, v6 bool) (*tree, error) {
	b := &treeBuild{v6: v6}
	for i := range b.full {
		b.full[i] = span{0, 0xffff}
	}
	b.full[dProto], b.full[dICMP] = span{0, 0xff}, span{0, 0xff}
	b.full[dSrcHi], b.full[dDstHi] = span{0, 0}, span{0, 0}
	b.full[dSrcLo], b.full[dDstLo] = span{0, 0xffffffff}, span{0, 0xffffffff}
	if v6 {
		for _, d := range []int{dSrcHi, dSrcLo, dDstHi, dDstLo} {
			b.full[d] = span{0, ^uint64(0)}
		}
	}
	for _, x := range familyRules(rules, v6) {
		r := &rules[x.idx]
		tr := trule{idx: x.idx, state: uint8(r.State), act: uint8(r.Action) & 3}
		if r.Log {
			tr.act |= 4
		}
		tr.dims[dIn] = points(r.In)
		tr.dims[dOut] = points(r.Out)
		if r.Proto != 0 {
			tr.dims[dProto] = []span{{uint64(r.Proto), uint64(r.Proto)}}
		}
		tr.dims[dSport] = portSpans(r.SrcPorts)
		tr.dims[dDport] = portSpans(r.DstPorts)
		var ts []uint16
		for _, x := range r.ICMPTypes {
			ts = append(ts, uint16(x))
		}
		tr.dims[dICMP] = points(ts)
		for a, ps := range [][]netip.Prefix{x.src, x.dst} {
			if len(ps) == 0 {
				continue
			}
			var his, los []span
			for _, p := range ps {
				bx := prefixBox(p)
				tr.boxes[a] = append(tr.boxes[a], bx)
				his, los = append(his, bx.hi), append(los, bx.lo)
			}
			tr.dims[dSrcHi+2*a] = mergeSpans(his)
			tr.dims[dSrcLo+2*a] = mergeSpans(los)
			if !v6 {
				tr.dims[dSrcHi+2*a] = nil // all zero
			}
		}
		b.rs = append(b.rs, tr)
	}
	b.budget = min(treeBudget, treeBase+treeRuleBytes*len(b.rs))
	b.maxWork = treeBase + treeRuleWork*len(b.rs)
	b.t.ents = []uint64{leafEnd} // the empty leaf
	ids := make([]int32, len(b.rs))
	for i := range ids {
		ids[i] = int32(i)
	}
	reg := b.full
	b.t.root = b.grow(ids, &reg, 0)
	if b.err != nil {
		return nil, b.err
	}
	if !v6 && len(b.t.nodes) < leafRef4 && len(b.t.ents) < leafRef4 {
		b.t.compact4()
	}
	b.t.mem = b.t.memory()
	return &b.t, nil
}

// prefixBox returns the ranges of a (masked) prefix's address halves.
func prefixBox(p netip.Prefix) box {
	n := p.Bits()
	if p.Addr().Is4() {
		a := p.Addr().As4()
		lo := uint64(binary.BigEndian.Uint32(a[:]))
		return box{hi: span{0, 0}, lo: span{lo, lo | (1<<(32-n) - 1)}}
	}
	a := p.Addr().As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	if n <= 64 {
		return box{hi: span{hi, hi | hostMask(64-n)}, lo: span{0, ^uint64(0)}}
	}
	return box{hi: span{hi, hi}, lo: span{lo, lo | hostMask(128-n)}}
}

// hostMask returns a mask of the low n bits (n up to 64).
func hostMask(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

func points(vs []uint16) []span {
	var s []span
	for _, v := range vs {
		s = append(s, span{uint64(v), uint64(v)})
	}
	return mergeSpans(s)
}

func portSpans(rs []PortRange) []span {
	var s []span
	for _, r := range rs {
		s = append(s, span{uint64(r.Lo), uint64(r.Hi)})
	}
	return mergeSpans(s)
}

// mergeSpans sorts ranges and joins the overlapping and adjacent ones.
func mergeSpans(s []span) []span {
	if len(s) == 0 {
		return nil
	}
	slices.SortFunc(s, func(a, b span) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := s[:1]
	for _, x := range s[1:] {
		last := &out[len(out)-1]
		if last.hi == ^uint64(0) || x.lo <= last.hi+1 {
			last.hi = max(last.hi, x.hi)
			continue
		}
		out = append(out, x)
	}
	return slices.Clip(out)
}

// within returns the indices [i, j) of the ranges of s that meet r.
func within(s []span, r span) (int, int) {
	i, _ := slices.BinarySearchFunc(s, r.lo, func(x span, v uint64) int {
		if x.hi < v {
			return -1
		}
		return 1
	})
	j := i
	for j < len(s) && s[j].lo <= r.hi {
		j++
	}
	return i, j
}

// covers reports whether rule r accepts every packet of the region
// (whatever its state when r has none).
func (b *treeBuild) covers(r *trule, reg *region) bool {
	if r.state != 0 {
		return false
	}
	for d := range dSrcHi {
		if s := r.dims[d]; s != nil {
			i, j := within(s, reg[d])
			if j-i != 1 || !s[i].covers(reg[d]) {
				return false
			}
		}
	}
	for a := range 2 {
		if r.boxes[a] == nil {
			continue
		}
		hi, lo := reg[dSrcHi+2*a], reg[dSrcLo+2*a]
		if !slices.ContainsFunc(r.boxes[a], func(x box) bool { return x.hi.covers(hi) && x.lo.covers(lo) }) {
			return false
		}
	}
	return true
}

// grow makes node at the tree of rules ids (in rule order, each meeting
// the region reg in every dimension).
func (b *treeBuild) grow(ids []int32, reg *region, depth int) uint64 {
	if b.err != nil {
		return leafRef
	}
	if b.work += len(ids); b.work > b.maxWork || b.t.memory() > b.budget {
		b.err = errTreeBudget
		return leafRef
	}
	for j, id := range ids {
		if b.covers(&b.rs[id], reg) {
			ids = ids[:j+1] // the rules after it never match here
			break
		}
	}
	if len(ids) <= leafRules || depth >= maxDepth {
		return b.leaf(ids, reg, depth)
	}
	if len(ids) >= cutMin {
		if d, sh, parts, ok := b.cut(ids, reg); ok {
			return b.cutNode(reg, depth, d, sh, parts)
		}
	}
	d, thr, ok := b.split(ids, reg, -1)
	if !ok {
		return b.leaf(ids, reg, depth)
	}
	// More thresholds in the same dimension, splitting each side in two
	// again (fanout 8: three levels of a binary tree in one node).
	thrs := b.cuts(ids, reg, d, thr, 3)
	at := len(b.t.nodes)
	b.t.nodes = append(b.t.nodes, make([]uint64, nodeWords)...)
	b.t.nodeCount++
	n := b.t.nodes[at : at+nodeWords]
	n[0] = uint64(d)
	for j := range fanout - 1 {
		n[1+j] = ^uint64(0)
		if j < len(thrs) {
			n[1+j] = thrs[j]
		}
	}
	for j := range fanout {
		b.t.nodes[at+fanout+j] = leafRef // the empty leaf
	}
	lo := reg[d].lo
	for j := 0; j <= len(thrs); j++ {
		sub := *reg
		sub[d].lo = lo
		if j < len(thrs) {
			sub[d].hi = thrs[j]
			lo = thrs[j] + 1
		}
		ref := b.grow(b.meeting(ids, d, sub[d]), &sub, depth+1)
		b.t.nodes[at+fanout+j] = ref
	}
	return uint64(at)
}

// Cut nodes: a node of at least cutMin rules is a cut node when some
// dimension divides into at most cutMaxBits² equal parts (a power of two,
// from 16) that leave at most a cutShare-th of its rules in any one, with
// at most cutCopies copies of a rule on average; of those, the one whose
// fullest part holds the fewest rules (then the one of fewer parts).
// (Variables for the tests, which relax them.)
var (
	cutMin    = 64
	cutShare  = 8
	cutCopies = 3
)

const (
	cutMinBits  = 4
	cutMaxBits  = 12
	cutMaxParts = 1 << cutMaxBits
)

// cut picks a cut node for rules ids in region reg: the dimension, the
// shift and, per part, the rules meeting it (in rule order).
func (b *treeBuild) cut(ids []int32, reg *region) (int, uint, [][]int32, bool) {
	n := len(ids)
	bestD, bestSh, bestMax, bestParts := -1, uint(0), n/cutShare+1, 0
	diff := make([]int, cutMaxParts+1)
	for d := range numDims {
		r := reg[d]
		if r.lo == r.hi {
			continue
		}
		width := r.hi - r.lo
		for k := cutMinBits; k <= cutMaxBits; k++ {
			sh := uint(max(0, bits.Len64(width)-k))
			parts := int(width>>sh) + 1
			if parts > cutCopies*n {
				break
			}
			if parts < 1<<cutMinBits {
				continue // (a width just past a power of two) try more bits
			}
			clear(diff[:parts+1])
			wild, copies := 0, 0
			for _, id := range ids {
				sp := b.rs[id].dims[d]
				if sp == nil {
					wild++
					continue
				}
				i, j := within(sp, r)
				for _, x := range sp[i:j] {
					a := (max(x.lo, r.lo) - r.lo) >> sh
					z := (min(x.hi, r.hi) - r.lo) >> sh
					diff[a]++
					diff[z+1]--
					copies += int(z-a) + 1
				}
			}
			if copies+wild*parts > cutCopies*n {
				break // more parts only copy more
			}
			most, run := 0, 0
			for _, c := range diff[:parts] {
				run += c
				most = max(most, run)
			}
			if most += wild; most < bestMax || most == bestMax && bestD >= 0 && parts < bestParts {
				bestD, bestSh, bestMax, bestParts = d, sh, most, parts
			}
			if sh == 0 {
				break
			}
		}
	}
	if bestD < 0 {
		return 0, 0, nil, false
	}
	r := reg[bestD]
	parts := make([][]int32, bestParts)
	for _, id := range ids {
		sp := b.rs[id].dims[bestD]
		if sp == nil {
			for p := range parts {
				parts[p] = append(parts[p], id)
			}
			continue
		}
		i, j := within(sp, r)
		last := -1
		for _, x := range sp[i:j] {
			a := int((max(x.lo, r.lo) - r.lo) >> bestSh)
			z := int((min(x.hi, r.hi) - r.lo) >> bestSh)
			for p := max(a, last+1); p <= z; p++ {
				parts[p] = append(parts[p], id)
			}
			last = z
		}
	}
	return bestD, bestSh, parts, true
}

// cutNode makes a cut node of dimension d in region reg, its parts 1<<sh
// wide, holding rules parts.
func (b *treeBuild) cutNode(reg *region, depth, d int, sh uint, parts [][]int32) uint64 {
	at := len(b.t.nodes)
	b.t.nodes = append(b.t.nodes, make([]uint64, cutWords(len(parts)))...)
	b.t.nodes[at] = uint64(d) | cutNode | uint64(sh)<<16 | uint64(len(parts))<<32
	b.t.nodeCount++
	b.t.cutCount++
	b.t.nodes[at+1] = reg[d].lo
	for p, ids := range parts {
		sub := *reg
		sub[d].lo = reg[d].lo + uint64(p)<<sh
		if end := sub[d].lo + (1<<sh - 1); p < len(parts)-1 && end < reg[d].hi {
			sub[d].hi = end
		}
		b.t.nodes[at+2+p] = b.grow(ids, &sub, depth+1)
	}
	return uint64(at)
}

// meeting returns the rules of ids that accept some value of s in
// dimension d.
func (b *treeBuild) meeting(ids []int32, d int, s span) []int32 {
	var out []int32
	for _, id := range ids {
		if r := b.rs[id].dims[d]; r == nil {
			out = append(out, id)
		} else if i, j := within(r, s); j > i {
			out = append(out, id)
		}
	}
	return out
}

// cuts returns the thresholds of a node splitting dimension d first at
// thr, then each side again at its own best threshold in d (when that
// divides its rules), down to levels levels.
func (b *treeBuild) cuts(ids []int32, reg *region, d int, thr uint64, levels int) []uint64 {
	if levels == 1 {
		return []uint64{thr}
	}
	var out []uint64
	l, r := *reg, *reg
	l[d].hi, r[d].lo = thr, thr+1
	for k, sub := range []*region{&l, &r} {
		if k == 1 {
			out = append(out, thr)
		}
		sids := b.meeting(ids, d, sub[d])
		if len(sids) <= leafRules {
			continue
		}
		if _, t, ok := b.split(sids, sub, d); ok {
			out = append(out, b.cuts(sids, sub, d, t, levels-1)...)
		}
	}
	return out
}

// split picks the dimension (only, if not negative) and threshold that divide the rules best: the
// fewest rules on the bigger side, counting a rule that spans the
// threshold on both (replication costs memory, and more so deeper down).
func (b *treeBuild) split(ids []int32, reg *region, only int) (int, uint64, bool) {
	n := len(ids)
	best, bestD, bestT := n*4, -1, uint64(0)
	los, his, cand := make([]uint64, 0, n), make([]uint64, 0, n), make([]uint64, 0, 2*n)
	for d := range numDims {
		if reg[d].lo == reg[d].hi || only >= 0 && d != only {
			continue
		}
		los, his = los[:0], his[:0]
		wild := 0
		for _, id := range ids {
			s := b.rs[id].dims[d]
			if s == nil {
				wild++
				continue
			}
			i, j := within(s, reg[d])
			los = append(los, max(s[i].lo, reg[d].lo))
			his = append(his, min(s[j-1].hi, reg[d].hi))
		}
		if len(los) == 0 {
			continue
		}
		slices.Sort(los)
		slices.Sort(his)
		// Candidates: just before a range starts, where one ends. The
		// count on the left grows with the threshold and the one on the
		// right shrinks: try those around where they cross.
		cand = cand[:0]
		for k := range los {
			if los[k] > reg[d].lo {
				cand = append(cand, los[k]-1)
			}
			if his[k] < reg[d].hi {
				cand = append(cand, his[k])
			}
		}
		slices.Sort(cand)
		cand = slices.Compact(cand)
		count := func(t uint64) (int, int) {
			return wild + upper(los, t), wild + len(his) - upper(his, t)
		}
		x, y := 0, len(cand)
		for x < y {
			m := int(uint(x+y) >> 1)
			if nl, nr := count(cand[m]); nl < nr {
				x = m + 1
			} else {
				y = m
			}
		}
		for k := max(0, x-2); k < min(len(cand), x+2); k++ {
			nl, nr := count(cand[k])
			if max(nl, nr) >= n {
				continue
			}
			if c := 2*max(nl, nr) + (nl + nr - n); c < best {
				best, bestD, bestT = c, d, cand[k]
			}
		}
	}
	return bestD, bestT, bestD >= 0
}

// upper returns the number of values of sorted l at most t.
func upper(l []uint64, t uint64) int {
	i, j := 0, len(l)
	for i < j {
		m := int(uint(i+j) >> 1)
		if l[m] <= t {
			i = m + 1
		} else {
			j = m
		}
	}
	return i
}

// leaf makes node at a leaf of rules ids.
func (b *treeBuild) leaf(ids []int32, reg *region, depth int) uint64 {
	b.t.depth = max(b.t.depth, depth)
	e := &b.t.ents
	start := len(*e)
	for _, id := range ids {
		r := &b.rs[id]
		h := len(*e)
		*e = append(*e, 0)
		ok := true
		// Addresses first: they settle most rules.
		for a := 1; a >= 0 && ok; a-- {
			ok = b.addrChecks(r, a, reg)
		}
		for _, d := range []int{dDport, dSport, dICMP, dProto, dIn, dOut} {
			if !ok {
				break
			}
			s := r.dims[d]
			if s == nil {
				continue
			}
			i, j := within(s, reg[d])
			switch {
			case j == i:
				ok = false // no packet here matches the rule
			case j-i > 1:
				*e = append(*e, ckList<<60|uint64(d)<<56|uint64(len(s))<<32|uint64(b.list(r, d)))
			case !s[i].covers(reg[d]):
				*e = append(*e, ckRange<<60|uint64(d)<<56|s[i].lo<<16|s[i].hi)
			}
		}
		if !ok {
			*e = (*e)[:h]
			continue
		}
		n := len(*e) - h - 1
		(*e)[h] = uint64(uint32(r.idx)) | uint64(r.state)<<32 | uint64(n)<<40 | uint64(r.act)<<48
		if n == 0 && r.state == 0 {
			break // it matches every packet here
		}
	}
	if len(*e) == start {
		return leafRef // the shared empty leaf
	}
	*e = append(*e, leafEnd)
	return leafRef | uint64(start)
}

// addrChecks appends the checks of rule r's address a (0 source, 1
// destination) in the region, and reports false when no prefix of it
// meets the region.
func (b *treeBuild) addrChecks(r *trule, a int, reg *region) bool {
	bs := r.boxes[a]
	if bs == nil {
		return true
	}
	dh, dl := dSrcHi+2*a, dSrcLo+2*a
	hi, lo := reg[dh], reg[dl]
	var only box
	meet := 0
	for _, x := range bs {
		if x.hi.covers(hi) && x.lo.covers(lo) {
			return true
		}
		if x.hi.meets(hi) && x.lo.meets(lo) {
			only = x
			meet++
		}
	}
	e := &b.t.ents
	switch meet {
	case 0:
		return false
	case 1:
		if !only.lo.covers(lo) {
			b.rangeCheck(dl, only.lo)
		}
		if !only.hi.covers(hi) {
			b.rangeCheck(dh, only.hi)
		}
	default:
		off, n := b.addrList(r, a)
		*e = append(*e, ckAddr<<60|uint64(dh)<<56|uint64(n)<<32|uint64(off))
	}
	return true
}

// rangeCheck appends the check that dimension d is in s: one word when s
// is a prefix's range of no more than 48 significant bits, else three.
func (b *treeBuild) rangeCheck(d int, s span) {
	e := &b.t.ents
	sh := bits.TrailingZeros64(^(s.hi - s.lo))
	if sh < 64 && s.hi-s.lo == hostMask(sh) && s.lo&hostMask(sh) == 0 && s.lo>>sh < 1<<48 {
		*e = append(*e, ckPrefix<<60|uint64(d)<<56|uint64(sh)<<48|s.lo>>sh)
		return
	}
	*e = append(*e, ckWide<<60|uint64(d)<<56, s.lo, s.hi)
}

// list returns the offset of rule r's ranges of dimension d in lists.
func (b *treeBuild) list(r *trule, d int) uint32 {
	if r.listAt[d] == 0 {
		r.listAt[d] = uint32(len(b.t.lists)) + 1
		for _, s := range r.dims[d] {
			b.t.lists = append(b.t.lists, s.lo<<32|s.hi)
		}
	}
	return r.listAt[d] - 1
}

// addrList returns the offset and count of rule r's address a's ranges in
// addrs: its prefixes as ranges of 128-bit addresses, sorted and merged.
func (b *treeBuild) addrList(r *trule, a int) (uint32, int) {
	if r.addrAt[a] != 0 {
		return r.addrAt[a] - 1, r.addrN[a]
	}
	type u128 struct{ hi, lo uint64 }
	less := func(x, y u128) bool { return x.hi < y.hi || x.hi == y.hi && x.lo < y.lo }
	type rng struct{ lo, hi u128 }
	var rs []rng
	for _, x := range r.boxes[a] {
		rs = append(rs, rng{u128{x.hi.lo, x.lo.lo}, u128{x.hi.hi, x.lo.hi}})
	}
	slices.SortFunc(rs, func(x, y rng) int {
		switch {
		case less(x.lo, y.lo):
			return -1
		case less(y.lo, x.lo):
			return 1
		}
		return 0
	})
	// Prefixes nest or are apart: drop the ones inside another.
	out := rs[:1]
	for _, x := range rs[1:] {
		if last := out[len(out)-1]; !less(last.hi, x.lo) {
			if less(last.hi, x.hi) {
				out[len(out)-1].hi = x.hi
			}
			continue
		}
		out = append(out, x)
	}
	r.addrAt[a], r.addrN[a] = uint32(len(b.t.addrs))+1, len(out)
	for _, x := range out {
		b.t.addrs = append(b.t.addrs, x.lo.hi, x.lo.lo, x.hi.hi, x.hi.lo)
	}
	return r.addrAt[a] - 1, len(out)
}
