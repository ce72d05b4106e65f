package classify

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/nfvkit/nfvkit/appliances/router/fib"
)

// Classifier is a compiled rule list: immutable, safe for concurrent use,
// and allocation-free to query. Build a new one on reload and swap it in
// (atomic.Pointer); nothing in it refers to the rules it came from.
type Classifier struct {
	ones []uint64  // all ones, as long as the longest vector
	meta []Match   // by rule: the Match it gives
	fam  [2]family // IPv4, IPv6: the bit vectors of a family without a tree
	tree [2]*tree  // IPv4, IPv6: the decision trees (nil: over budget)
	mem  int       // bytes of lookup structures
}

// family holds one address family's partitions: one per protocol some rule
// names, holding that protocol's rules and the rules of any protocol, and
// one for the other protocols (the rules of any protocol only).
type family struct {
	byProto [256]uint16 // partition of each protocol
	parts   []partition
	// src and dst find an address's class among the family's rules, for
	// every partition: one LPM per field, not one per protocol.
	src, dst *field
}

// partition classifies the packets of one protocol.
//
// Each field maps a packet's value to an equivalence class: the values that
// the same rules of the partition accept. Each class has a bit vector with
// bit i set when rule i accepts it; the rules that match the packet are the
// AND of its classes' vectors, and the answer is the lowest bit
// (Lakshman and Stiliadis's bit vectors). A vector starts with agg
// aggregate words, whose bit j says whether word j is non-zero, then the
// words (Baboescu and Varghese's aggregated bit vectors): ANDing the
// aggregates first points at the words worth ANDing. The selective fields'
// vectors (addresses and ports) keep only their non-zero words, in order,
// found by counting the aggregate bits below them: those fields' classes
// hold a few rules each, so a vector of a few hundred bytes shrinks to a
// few words, and thousands of rules' vectors fit the caches (the small
// fields' few vectors, mostly ones, keep every word).
//
// The rules may be split into groups (see grouping), each with its own
// vectors, so that the fields every rule of a group constrains have no
// wildcard in their vectors and sparse aggregates; then the answer is the
// lowest of the groups' answers, groups being tried in the order of their
// first rule. By default there is one group: the measurements in the
// package doc found that the extra vectors cost more than the sparser
// aggregates save.
type partition struct {
	icmp   bool    // the destination port field holds the ICMP type
	src    bool    // some rule constrains the source address (class from family.src)
	dst    bool    // and the destination's
	fields []field // the other class lookups some rule needs
	combo  combo   // the small fields' classes combined into one
	groups []group // by first rule
	nrules int
}

// combo crosses the classes of the fields with few classes (interfaces
// and state) into one class, so a lookup fetches one vector for them, not
// three. Its class is cls[fCombo].
type combo struct {
	kinds []uint8  // the fields crossed
	mul   []uint32 // class of kinds[i] times mul[i], summed, indexes table
	table []uint32
}

// group is the bit-vector classifier of some rules of a partition (all of
// them, by default).
type group struct {
	present []uint64 // a vector with every word a candidate: aggregates of the words there are, words of ones
	rules   []int32  // group rule -> rule
	agg     int      // aggregate words per vector
	stride  int      // words per vector: agg + ceil(len(rules)/64)
	sel     []gvec   // selective fields: aggregate and word stage
	dense   []gvec   // other constrained fields: word stage only
}

// gvec is one field's vectors in a group.
type gvec struct {
	fi    uint8    // the field (kind) whose class indexes offs
	offs  []uint32 // class -> offset of its vector in arena
	arena []uint64
}

// What a field looks at.
const (
	fIn = iota
	fOut
	fSrc
	fDst
	fSport
	fDport
	fState
	numFields
	fCombo = numFields // the combined class (see combo)
)

// selective reports whether rules split into groups by the field.
func selective(kind uint8) bool { return kind >= fSrc && kind <= fDport }

// driverRank orders the selective fields by how few rules a value usually
// matches: a rule goes to the group of the first one it constrains.
var driverRank = [numFields]int{fDst: 0, fSrc: 1, fDport: 2, fSport: 3, fIn: 4, fOut: 4, fState: 4}

// How a partition's rules are grouped: all in one group (plain aggregated
// bit vectors), by their most selective field, or by the set of selective
// fields they constrain. The package doc has the measurements that chose
// the default; tests set the others to compare.
const (
	groupNone = iota
	groupDriver
	groupPattern
)

var (
	grouping = groupNone
	combine  = true // cross the small fields into one (see combo)
)

// field finds a packet's class in one dimension. Only the members of its
// kind are set.
type field struct {
	kind uint8

	ifTab     []uint32 // by interface number below len
	ifSelf    uint32
	ifDefault uint32 // numbers no rule names
	lpm4      *fib.LPM4
	lpm6      *fib.LPM6
	addrNoHit uint32 // addresses in no prefix
	portTop   [256]uint32
	portSub   []uint32
	stateTab  [16]uint32
}

// portSubBit marks a portTop entry that points at a 256-entry block of
// portSub rather than being the class itself.
const portSubBit = 1 << 31

// Compile builds the classifier of an ordered rule list (first match
// wins). It takes time and memory in proportion to the rules times the
// distinct values of each field, divided by 64 (see the package doc).
func Compile(rules []Rule) (*Classifier, error) {
	c := &Classifier{meta: make([]Match, len(rules))}
	for i := range rules {
		if err := rules[i].check(); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
		c.meta[i] = Match{Rule: int32(i), Action: rules[i].Action, Log: rules[i].Log}
	}
	for f, v6 := range []bool{false, true} {
		if useTree {
			t, err := buildTree(rules, v6)
			if err == nil {
				c.tree[f] = t
				c.mem += t.mem
				continue
			}
			if err != errTreeBudget {
				return nil, err
			}
		}
		if err := c.fam[f].build(rules, v6); err != nil {
			return nil, err
		}
		for _, fl := range []*field{c.fam[f].src, c.fam[f].dst} {
			if fl != nil {
				c.mem += fl.memory()
			}
		}
		for i := range c.fam[f].parts {
			pt := &c.fam[f].parts[i]
			c.mem += pt.memory()
			for j := range pt.groups {
				if n := pt.groups[j].stride; n > len(c.ones) {
					c.ones = make([]uint64, n)
				}
			}
		}
	}
	for i := range c.ones {
		c.ones[i] = ^uint64(0)
	}
	c.mem += len(c.ones) * 8
	return c, nil
}

// Len returns the number of rules.
func (c *Classifier) Len() int { return len(c.meta) }

// Memory returns the bytes the lookup structures take.
func (c *Classifier) Memory() int { return c.mem }

// noMatch is the answer when no rule matches.
var noMatch = Match{Rule: NoRule, Action: Drop}

// Classify returns the first rule that matches k. It does not allocate.
func (c *Classifier) Classify(k *Key) Match {
	bl := k.Src.BitLen()
	if bl == 0 || bl != k.Dst.BitLen() {
		return noMatch // no address, or a mix of families: no rule can match
	}
	fi := 0
	if bl == 128 {
		fi = 1
	}
	if t := c.tree[fi]; t != nil {
		var kv [16]uint64
		keyDims(k, &kv)
		return matchOf(t.lookup(&kv, uint8(k.State)))
	}
	f := &c.fam[fi]
	pt := &f.parts[f.byProto[k.Proto]]
	var cls [numFields + 1]uint32
	if pt.src {
		cls[fSrc] = f.src.class(k, false)
	}
	if pt.dst {
		cls[fDst] = f.dst.class(k, false)
	}
	for i := range pt.fields {
		fl := &pt.fields[i]
		cls[fl.kind] = fl.class(k, pt.icmp)
	}
	if cb := &pt.combo; len(cb.kinds) > 0 {
		var x uint32
		for i, kind := range cb.kinds {
			x += cls[kind] * cb.mul[i]
		}
		cls[fCombo] = cb.table[x]
	}
	best := int32(math.MaxInt32)
	for i := range pt.groups {
		g := &pt.groups[i]
		if g.rules[0] >= best {
			break
		}
		if r := g.first(&cls, best, c.ones); r >= 0 {
			best = r
		}
	}
	if best == math.MaxInt32 {
		return noMatch
	}
	return c.meta[best]
}

// class returns k's class in the field.
func (fl *field) class(k *Key, icmp bool) uint32 {
	switch fl.kind {
	case fIn, fOut:
		v := k.In
		if fl.kind == fOut {
			v = k.Out
		}
		switch {
		case int(v) < len(fl.ifTab):
			return fl.ifTab[v]
		case v == Self:
			return fl.ifSelf
		}
		return fl.ifDefault
	case fSrc, fDst:
		a := k.Src
		if fl.kind == fDst {
			a = k.Dst
		}
		var c uint32
		if fl.lpm4 != nil {
			b := a.As4()
			c = fl.lpm4.LookupUint32(binary.BigEndian.Uint32(b[:]))
		} else {
			c = fl.lpm6.Lookup(a.As16())
		}
		if c == fib.NoRoute {
			return fl.addrNoHit
		}
		return c
	case fSport, fDport:
		p := k.SrcPort
		switch {
		case icmp:
			p = uint16(k.ICMPType)
		case fl.kind == fDport:
			p = k.DstPort
		}
		c := fl.portTop[p>>8]
		if c&portSubBit != 0 {
			c = fl.portSub[(c&^portSubBit)<<8|uint32(p&0xff)]
		}
		return c
	}
	return fl.stateTab[k.State&15]
}

// first returns the group's first rule that the classes cls match, if it
// comes before rule best, or -1. Fields the group does not use read ones,
// a vector of all ones, so that the loops are unrolled over fixed slots.
func (g *group) first(cls *[numFields + 1]uint32, best int32, ones []uint64) int32 {
	// Slots 0-3: selective fields (aggregate and word stage); 4-6: the
	// others (word stage).
	var v [7][]uint64
	for i := range v {
		v[i] = ones
	}
	for i := range g.sel {
		x := &g.sel[i]
		v[i] = x.arena[x.offs[cls[x.fi]]:]
	}
	for i := range g.dense {
		x := &g.dense[i]
		v[4+i] = x.arena[x.offs[cls[x.fi]]:]
	}
	if len(g.sel) == 0 {
		if len(g.dense) == 0 {
			return g.rules[0] // no field constrained: the first rule matches
		}
		v[0] = g.present // every word is a candidate
	}
	// The selective fields' vectors are packed: their aggregate words,
	// then only the words the aggregates say are non-zero, in order, so
	// word j of vector k is at agg + the number of its aggregate bits
	// below j (pk counts those of the aggregate words already passed).
	// The dense fields' vectors have every word.
	s0, s1, s2, s3 := v[0], v[1], v[2], v[3]
	d0, d1, d2 := v[4][:g.stride], v[5][:g.stride], v[6][:g.stride]
	a := g.agg
	var p0, p1, p2, p3 int
	for i := range a {
		m0, m1, m2, m3 := s0[i], s1[i], s2[i], s3[i]
		x := m0 & m1 & m2 & m3
		for x != 0 {
			b := bits.TrailingZeros64(x)
			j := i*64 + b // the word
			base := j * 64
			if g.rules[base] >= best {
				return -1 // the rest come later than the match in hand
			}
			below := uint64(1)<<b - 1
			y := s0[a+p0+bits.OnesCount64(m0&below)] & s1[a+p1+bits.OnesCount64(m1&below)] &
				s2[a+p2+bits.OnesCount64(m2&below)] & s3[a+p3+bits.OnesCount64(m3&below)]
			if y &= d0[a+j] & d1[a+j] & d2[a+j]; y != 0 {
				if r := g.rules[base+bits.TrailingZeros64(y)]; r < best {
					return r
				}
				return -1
			}
			x &= x - 1
		}
		p0 += bits.OnesCount64(m0)
		p1 += bits.OnesCount64(m1)
		p2 += bits.OnesCount64(m2)
		p3 += bits.OnesCount64(m3)
	}
	return -1
}

func (f *field) memory() int {
	n := len(f.ifTab)*4 + len(f.portSub)*4
	if f.kind == fSport || f.kind == fDport {
		n += len(f.portTop) * 4
	}
	if f.lpm4 != nil {
		n += f.lpm4.Memory()
	}
	if f.lpm6 != nil {
		n += f.lpm6.Memory()
	}
	return n
}

func (pt *partition) memory() int {
	n := 0
	for i := range pt.fields {
		n += pt.fields[i].memory()
	}
	n += len(pt.combo.table) * 4
	for i := range pt.groups {
		g := &pt.groups[i]
		n += len(g.rules)*4 + len(g.present)*8
		for _, vs := range [][]gvec{g.sel, g.dense} {
			for _, v := range vs {
				n += len(v.offs)*4 + len(v.arena)*8
			}
		}
	}
	return n
}

// build compiles the rules that can match packets of one family.
func (f *family) build(rules []Rule, v6 bool) error {
	fr := familyRules(rules, v6)
	protos := map[uint8]bool{}
	for _, x := range fr {
		if p := rules[x.idx].Proto; p != 0 {
			protos[p] = true
		}
	}
	// Partition 0: protocols no rule names.
	f.parts = []partition{{}}
	var members [][]int // partition -> indices into fr
	members = append(members, nil)
	for p := range 256 {
		if !protos[uint8(p)] {
			continue
		}
		f.byProto[p] = uint16(len(f.parts))
		f.parts = append(f.parts, partition{icmp: p == protoICMP || p == protoICMPv6})
		members = append(members, nil)
	}
	for j, x := range fr {
		p := rules[x.idx].Proto
		if p != 0 {
			members[f.byProto[p]] = append(members[f.byProto[p]], j)
			continue
		}
		for k := range members {
			members[k] = append(members[k], j)
		}
	}
	// The address fields, over all the family's rules.
	var addr [2]*fieldBuild
	for i, kind := range []uint8{fSrc, fDst} {
		ps := make([][]netip.Prefix, len(fr))
		for j, x := range fr {
			ps[j] = x.src
			if kind == fDst {
				ps[j] = x.dst
			}
		}
		fb, err := addrField(kind, ps, v6)
		if err != nil {
			return err
		}
		if fb != nil {
			addr[i] = fb
			fl := fb.f
			if kind == fSrc {
				f.src = &fl
			} else {
				f.dst = &fl
			}
		}
	}
	for k := range f.parts {
		pt := &f.parts[k]
		ms := members[k]
		pr := make([]*Rule, len(ms))
		global := make([]int32, len(ms))
		for i, j := range ms {
			global[i] = fr[j].idx
			pr[i] = &rules[fr[j].idx]
		}
		var proj []*fieldBuild
		for _, fb := range addr {
			if p := project(fb, ms); p != nil {
				proj = append(proj, p)
			}
		}
		pt.build(pr, global, proj)
	}
	return nil
}

// project restricts a family-level field to a partition's rules ms
// (indices among the family's): same classes, vectors over ms. It returns
// nil when no rule of ms constrains the field.
func project(fb *fieldBuild, ms []int) *fieldBuild {
	if fb == nil {
		return nil
	}
	p := &fieldBuild{f: field{kind: fb.f.kind}, constr: newBitset(len(ms))}
	for j, i := range ms {
		setIf(p.constr, j, fb.constr.has(i))
	}
	if slices.Equal(p.constr, newBitset(len(ms))) {
		return nil
	}
	p.cs.vecs = make([]bitset, len(fb.cs.vecs))
	for c, v := range fb.cs.vecs {
		b := newBitset(len(ms))
		for j, i := range ms {
			setIf(b, j, v.has(i))
		}
		p.cs.vecs[c] = b
	}
	return p
}

// famRule is a rule that can match packets of one family, with its
// prefixes of that family.
type famRule struct {
	idx      int32
	src, dst []netip.Prefix
}

// familyRules returns the rules that can match packets of one family (v6:
// IPv6), in order: not Never, and naming prefixes of that family where
// they name any.
func familyRules(rules []Rule, v6 bool) []famRule {
	var fr []famRule
	for i := range rules {
		r := &rules[i]
		if r.Never {
			continue
		}
		src, okS := famPrefixes(r.Src, v6)
		dst, okD := famPrefixes(r.Dst, v6)
		if okS && okD {
			fr = append(fr, famRule{int32(i), src, dst})
		}
	}
	return fr
}

// famPrefixes returns the prefixes of one family, and false when the rule
// names prefixes but none of this family (it cannot match).
func famPrefixes(ps []netip.Prefix, v6 bool) ([]netip.Prefix, bool) {
	if len(ps) == 0 {
		return nil, true
	}
	var out []netip.Prefix
	for _, p := range ps {
		if p.Addr().Is6() == v6 {
			out = append(out, p.Masked())
		}
	}
	return out, len(out) > 0
}

// bitset is a rule set under construction.
type bitset []uint64

func (b bitset) set(i int)      { b[i>>6] |= 1 << (i & 63) }
func (b bitset) has(i int) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b bitset) clear(i int)    { b[i>>6] &^= 1 << (i & 63) }
func (b bitset) clone() bitset  { return append(bitset(nil), b...) }
func (b bitset) key() string    { return string(wordsBytes(b)) }
func newBitset(n int) bitset    { return make(bitset, (n+63)/64) }
func wordsOf(n int) int         { return (n + 63) / 64 }
func aggWords(words int) int    { return (words + 63) / 64 }
func setIf(b bitset, i int, c bool) {
	if c {
		b.set(i)
	}
}

func wordsBytes(b []uint64) []byte {
	out := make([]byte, 8*len(b))
	for i, w := range b {
		binary.LittleEndian.PutUint64(out[8*i:], w)
	}
	return out
}

// classSet interns a field's classes: the distinct sets of partition rules
// that accept a value.
type classSet struct {
	index map[string]uint32
	vecs  []bitset
}

func (cs *classSet) id(b bitset) uint32 {
	if cs.index == nil {
		cs.index = map[string]uint32{}
	}
	k := b.key()
	if id, ok := cs.index[k]; ok {
		return id
	}
	id := uint32(len(cs.vecs))
	cs.index[k] = id
	cs.vecs = append(cs.vecs, b.clone())
	return id
}

// fieldBuild is a field under construction: its lookup, its classes, and
// which rules constrain it.
type fieldBuild struct {
	f      field
	cs     classSet
	constr bitset // rules that constrain the field
}

// build compiles a partition of rules rs (global their numbers), whose
// address fields addr the family projected onto them.
func (pt *partition) build(rs []*Rule, global []int32, addr []*fieldBuild) {
	n := len(rs)
	pt.nrules = n
	if n == 0 {
		return
	}
	var fbs []*fieldBuild
	add := func(fb *fieldBuild) {
		if fb != nil {
			fbs = append(fbs, fb)
		}
	}
	for _, kind := range []uint8{fIn, fOut} {
		lists := make([][]uint16, n)
		for i, r := range rs {
			lists[i] = r.In
			if kind == fOut {
				lists[i] = r.Out
			}
		}
		add(ifaceField(kind, lists))
	}
	for _, fb := range addr {
		fbs = append(fbs, fb)
		pt.src = pt.src || fb.f.kind == fSrc
		pt.dst = pt.dst || fb.f.kind == fDst
	}
	for _, kind := range []uint8{fSport, fDport} {
		ranges := make([][]PortRange, n)
		for i, r := range rs {
			switch {
			case pt.icmp && kind == fDport:
				for _, t := range r.ICMPTypes {
					ranges[i] = append(ranges[i], PortRange{uint16(t), uint16(t)})
				}
			case pt.icmp:
			case kind == fSport:
				ranges[i] = r.SrcPorts
			default:
				ranges[i] = r.DstPorts
			}
		}
		add(portField(kind, ranges))
	}
	states := make([]uint8, n)
	for i, r := range rs {
		states[i] = uint8(r.State)
	}
	add(stateField(states))
	for _, fb := range fbs {
		if fb.f.kind != fSrc && fb.f.kind != fDst {
			pt.fields = append(pt.fields, fb.f)
		}
	}
	// The fields the groups' vectors come from: the selective ones, and
	// the small ones combined (or each, when their product is too big).
	vecFields := fbs
	var small []*fieldBuild
	for _, fb := range fbs {
		if !selective(fb.f.kind) {
			small = append(small, fb)
		}
	}
	if cb := comboOf(small); cb != nil && combine {
		pt.combo = cb.c
		vecFields = nil
		for _, fb := range fbs {
			if selective(fb.f.kind) {
				vecFields = append(vecFields, fb)
			}
		}
		vecFields = append(vecFields, &cb.fb)
	}

	// Group the rules (see grouping).
	groups := map[uint32][]int{}
	var order []uint32
	for i := range n {
		var key uint32
		switch grouping {
		case groupDriver:
			key = uint32(len(driverRank))
			for _, fb := range fbs {
				if k := fb.f.kind; selective(k) && fb.constr.has(i) {
					key = min(key, uint32(driverRank[k]))
				}
			}
		case groupPattern:
			for j, fb := range fbs {
				if selective(fb.f.kind) && fb.constr.has(i) {
					key |= 1 << j
				}
			}
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], i)
	}
	for _, key := range order {
		pt.groups = append(pt.groups, buildGroup(groups[key], global, vecFields))
	}
	slices.SortFunc(pt.groups, func(a, b group) int { return cmp.Compare(a.rules[0], b.rules[0]) })
}

// buildGroup projects the partition's classes onto the group's rules ms.
func buildGroup(ms []int, global []int32, fbs []*fieldBuild) group {
	g := group{rules: make([]int32, len(ms))}
	for j, i := range ms {
		g.rules[j] = global[i]
	}
	words := wordsOf(len(ms))
	g.agg = aggWords(words)
	g.stride = g.agg + words
	g.present = make([]uint64, g.stride)
	for w := range words {
		g.present[w>>6] |= 1 << (w & 63)
	}
	for w := range words {
		g.present[g.agg+w] = ^uint64(0)
	}
	for _, fb := range fbs {
		used := false
		for _, i := range ms {
			if fb.constr.has(i) {
				used = true
				break
			}
		}
		if !used {
			continue // every rule of the group leaves it open
		}
		v := gvec{fi: fb.f.kind, offs: make([]uint32, len(fb.cs.vecs))}
		index := map[string]uint32{}
		b := make(bitset, words)
		for c, pv := range fb.cs.vecs {
			clear(b)
			for j, i := range ms {
				setIf(b, j, pv.has(i))
			}
			k := b.key()
			off, ok := index[k]
			if !ok {
				off = uint32(len(v.arena))
				index[k] = off
				agg := make([]uint64, g.agg)
				for w, x := range b {
					if x != 0 {
						agg[w>>6] |= 1 << (w & 63)
					}
				}
				v.arena = append(v.arena, agg...)
				for _, x := range b {
					if x != 0 || !selective(fb.f.kind) {
						v.arena = append(v.arena, x) // packed (see first)
					}
				}
			}
			v.offs[c] = off
		}
		if selective(fb.f.kind) {
			g.sel = append(g.sel, v)
		} else {
			g.dense = append(g.dense, v)
		}
	}
	return g
}

// comboBuild is a combo under construction.
type comboBuild struct {
	c  combo
	fb fieldBuild
}

// maxCombo bounds the classes a combo may cross.
const maxCombo = 1 << 12

// comboOf crosses the classes of the fields small, or returns nil when
// there are fewer than two or too many combinations.
func comboOf(small []*fieldBuild) *comboBuild {
	if len(small) < 2 {
		return nil
	}
	total := 1
	for _, fb := range small {
		total *= len(fb.cs.vecs)
		if total > maxCombo {
			return nil
		}
	}
	words := len(small[0].constr)
	cb := &comboBuild{fb: fieldBuild{f: field{kind: fCombo}, constr: make(bitset, words)}}
	cb.c.kinds = make([]uint8, len(small))
	cb.c.mul = make([]uint32, len(small))
	m := uint32(1)
	for j := len(small) - 1; j >= 0; j-- {
		cb.c.kinds[j] = small[j].f.kind
		cb.c.mul[j] = m
		m *= uint32(len(small[j].cs.vecs))
	}
	cb.c.table = make([]uint32, total)
	b := make(bitset, words)
	for x := range total {
		for w := range b {
			b[w] = ^uint64(0)
		}
		for j, fb := range small {
			c := (uint32(x) / cb.c.mul[j]) % uint32(len(fb.cs.vecs))
			for w, v := range fb.cs.vecs[c] {
				b[w] &= v
			}
		}
		cb.c.table[x] = cb.fb.cs.id(b)
	}
	for _, fb := range small {
		for w, v := range fb.constr {
			cb.fb.constr[w] |= v
		}
	}
	return cb
}

func ifaceField(kind uint8, lists [][]uint16) *fieldBuild {
	n := len(lists)
	fb := &fieldBuild{f: field{kind: kind}, constr: newBitset(n)}
	wild := newBitset(n)
	owners := map[uint16][]int{}
	maxID := -1
	for i, l := range lists {
		if len(l) == 0 {
			wild.set(i)
			continue
		}
		fb.constr.set(i)
		for _, v := range l {
			if o := owners[v]; len(o) == 0 || o[len(o)-1] != i {
				owners[v] = append(o, i)
			}
			if v < noIfaceLimit {
				maxID = max(maxID, int(v))
			}
		}
	}
	if len(owners) == 0 {
		return nil
	}
	f := &fb.f
	f.ifDefault = fb.cs.id(wild)
	f.ifSelf = f.ifDefault
	f.ifTab = make([]uint32, maxID+1)
	for i := range f.ifTab {
		f.ifTab[i] = f.ifDefault
	}
	for v, os := range owners {
		b := wild.clone()
		for _, i := range os {
			b.set(i)
		}
		id := fb.cs.id(b)
		switch {
		case v == Self:
			f.ifSelf = id
		case v < noIfaceLimit:
			f.ifTab[v] = id
		}
	}
	return fb
}

// noIfaceLimit: interface numbers from here up are Self or unused.
const noIfaceLimit = 0xfffe

func addrField(kind uint8, ps [][]netip.Prefix, v6 bool) (*fieldBuild, error) {
	n := len(ps)
	fb := &fieldBuild{f: field{kind: kind}, constr: newBitset(n)}
	wild := newBitset(n)
	owners := map[netip.Prefix][]int{}
	for i, l := range ps {
		if len(l) == 0 {
			wild.set(i)
			continue
		}
		fb.constr.set(i)
		for _, p := range l {
			if o := owners[p]; len(o) == 0 || o[len(o)-1] != i {
				owners[p] = append(o, i)
			}
		}
	}
	if len(owners) == 0 {
		return nil, nil
	}
	fb.f.addrNoHit = fb.cs.id(wild)
	sorted := make([]netip.Prefix, 0, len(owners))
	for p := range owners {
		sorted = append(sorted, p)
	}
	sortPrefixes(sorted)
	// Walk in address order with the chain of enclosing prefixes on a
	// stack: a prefix's class is its parent's plus its own rules.
	type frame struct {
		p netip.Prefix
		b bitset
	}
	var stack []frame
	es := make([]fib.Entry, 0, len(sorted))
	for _, p := range sorted {
		for len(stack) > 0 && !contains(stack[len(stack)-1].p, p) {
			stack = stack[:len(stack)-1]
		}
		var b bitset
		if len(stack) > 0 {
			b = stack[len(stack)-1].b.clone()
		} else {
			b = wild.clone()
		}
		for _, i := range owners[p] {
			b.set(i)
		}
		stack = append(stack, frame{p, b})
		es = append(es, fib.Entry{Prefix: p, NextHop: fb.cs.id(b)})
	}
	var err error
	if v6 {
		fb.f.lpm6, err = fib.Compile6(es, fib.Options{})
	} else {
		fb.f.lpm4, err = fib.Compile4(es, fib.Options{Compact: true})
	}
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	return fb, nil
}

// contains reports whether prefix a holds prefix b.
func contains(a, b netip.Prefix) bool { return a.Bits() <= b.Bits() && a.Contains(b.Addr()) }

func portField(kind uint8, ranges [][]PortRange) *fieldBuild {
	n := len(ranges)
	fb := &fieldBuild{f: field{kind: kind}, constr: newBitset(n)}
	wild := newBitset(n)
	// Boundaries: where some rule's set of ports starts or stops.
	type event struct {
		at   int
		rule int
		on   bool
	}
	var evs []event
	for i, rs := range ranges {
		if len(rs) == 0 {
			wild.set(i)
			continue
		}
		fb.constr.set(i)
		for _, r := range mergeRanges(rs) {
			evs = append(evs, event{int(r.Lo), i, true}, event{int(r.Hi) + 1, i, false})
		}
	}
	if len(evs) == 0 {
		return nil
	}
	sortEvents(evs, func(e event) int { return e.at })
	// Sweep: the class of each elementary interval.
	cls := make([]uint32, 65536)
	cur := wild.clone()
	at := 0
	for j := 0; j <= len(evs); {
		next := 65536
		if j < len(evs) {
			next = evs[j].at
		}
		if next > at {
			id := fb.cs.id(cur)
			for p := at; p < min(next, 65536); p++ {
				cls[p] = id
			}
			at = next
		}
		if j == len(evs) {
			break
		}
		for ; j < len(evs) && evs[j].at == next; j++ {
			if e := evs[j]; e.on {
				cur.set(e.rule)
			} else {
				cur.clear(e.rule)
			}
		}
	}
	// Two levels: a block of 256 ports with one class is one entry.
	f := &fb.f
	for hi := range 256 {
		blk := cls[hi<<8 : hi<<8+256]
		if !slices.ContainsFunc(blk[1:], func(c uint32) bool { return c != blk[0] }) {
			f.portTop[hi] = blk[0]
			continue
		}
		f.portTop[hi] = portSubBit | uint32(len(f.portSub)>>8)
		f.portSub = append(f.portSub, blk...)
	}
	return fb
}

func stateField(states []uint8) *fieldBuild {
	n := len(states)
	fb := &fieldBuild{f: field{kind: fState}, constr: newBitset(n)}
	for i, s := range states {
		setIf(fb.constr, i, s != 0)
	}
	if slices.Equal(fb.constr, newBitset(n)) {
		return nil
	}
	for v := range 16 {
		b := newBitset(n)
		for i, s := range states {
			setIf(b, i, s == 0 || int(s)&v != 0)
		}
		fb.f.stateTab[v] = fb.cs.id(b)
	}
	return fb
}

// mergeRanges sorts ranges and joins the overlapping and adjacent ones.
func mergeRanges(rs []PortRange) []PortRange {
	s := append([]PortRange(nil), rs...)
	sortEvents(s, func(r PortRange) int { return int(r.Lo) })
	var out []PortRange
	for _, r := range s {
		if n := len(out); n > 0 && int(r.Lo) <= int(out[n-1].Hi)+1 {
			out[n-1].Hi = max(out[n-1].Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}
