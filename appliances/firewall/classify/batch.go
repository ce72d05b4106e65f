package classify

// ClassifyBurst classifies keys into ms (len(ms) >= len(keys)), as
// Classify each, but walks the decision trees for all of them together, a
// level at a time: a big tree does not fit the caches beside a busy
// connection table, and walking many packets at once overlaps their cache
// misses instead of taking them one after the other. It does not
// allocate.
func (c *Classifier) ClassifyBurst(keys []Key, ms []Match) {
	const chunk = 32
	for base := 0; base < len(keys); base += chunk {
		ks := keys[base:min(len(keys), base+chunk)]
		_ = c.burst(ks, ms[base:base+len(ks)])
	}
}

// burst classifies up to 32 keys. It returns the sum of the words it
// loaded only to bring their lines into the cache, so that the compiler
// keeps those loads (a Classifier is shared: they must not be stored in
// it); noinline keeps the caller from discarding the sum, and the loads
// with it.
//
//go:noinline
func (c *Classifier) burst(keys []Key, ms []Match) uint64 {
	var kv [32][16]uint64
	var refs [32]uint32
	var who [32]uint8
	t := c.tree[0]
	n := 0
	for i := range keys {
		k := &keys[i]
		if t == nil || t.nodes4 == nil || !k.Src.Is4() || !k.Dst.Is4() {
			ms[i] = c.Classify(k)
			continue
		}
		keyDims(k, &kv[n])
		refs[n], who[n] = uint32(t.root), uint8(i)
		n++
	}
	if n == 0 {
		return 0
	}
	nodes := t.nodes4
	// The walks, a level at a time; walking lists the packets not yet at
	// a leaf.
	var walking [32]uint8
	live := 0
	if t.root&leafRef4 == 0 {
		for j := range n {
			walking[j] = uint8(j)
		}
		live = n
	}
	for live > 0 {
		m := 0
		for _, j := range walking[:live] {
			ref := refs[j]
			if h := nodes[ref]; h&cutNode != 0 {
				v := uint64(uint32(kv[j][h&15]))
				ref = nodes[ref+2+uint32((v-uint64(nodes[ref+1]))>>(h>>16&63))]
			} else {
				nd := (*[node4Words]uint32)(nodes[ref:])
				v := uint64(uint32(kv[j][nd[0]&15]))
				cnt := uint64(0)
				for _, thr := range nd[1:fanout] {
					cnt += (uint64(thr) - v) >> 63
				}
				ref = nd[fanout+cnt&(fanout-1)]
			}
			refs[j] = ref
			walking[m] = j
			m += int(^ref >> 31) // still walking unless a leaf
		}
		live = m
	}
	// Touch every leaf's first entry before scanning any.
	// Then the leaves' first lines, all loads in flight together, before
	// any is scanned.
	var sink uint64
	e := t.ents
	for j := range n {
		p := refs[j] &^ leafRef4
		refs[j] = p
		sink += e[p] + e[min(int(p)+8, len(e)-1)]
	}
	for j := range n {
		ms[who[j]] = matchOf(t.scan(refs[j], &kv[j], uint8(keys[who[j]].State)))
	}
	return sink
}
