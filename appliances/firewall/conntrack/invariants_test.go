package conntrack

import (
	"fmt"
)

// check verifies the table's structure: every live entry is reachable
// through both keys from the right bucket, chains hold only live entries
// and no cycles, the free list holds exactly the other slots, and no key is
// held twice.
func (t *Table) check() error {
	live := 0
	for i := range t.entries {
		e := &t.entries[i]
		if !e.Live() {
			continue
		}
		live++
		for d := Original; d <= Reply; d++ {
			k := e.tup(d)
			if got := t.find(k, t.key.hash(k)); got != ref(uint32(i), d) {
				return fmt.Errorf("entry %d %v key %v: find gives ref %d, want %d", i, d, k, got, ref(uint32(i), d))
			}
		}
		if t.due[i] > e.expires {
			return fmt.Errorf("entry %d: due at %d, after its expiry %d: the hand would miss it", i, t.due[i], e.expires)
		}
		if e.orig.equal(&e.reply) {
			return fmt.Errorf("entry %d: both directions have tuple %v", i, e.orig)
		}
	}
	if live != t.live {
		return fmt.Errorf("%d live entries, table says %d", live, t.live)
	}
	nodes := 0
	for b, r := range t.heads {
		steps := 0
		for r != 0 {
			if steps++; steps > 2*len(t.entries) {
				return fmt.Errorf("bucket %d: chain has a cycle", b)
			}
			e := &t.entries[refEntry(r)]
			if !e.Live() {
				return fmt.Errorf("bucket %d: ref %d names a free entry", b, r)
			}
			if h := t.key.hash(e.tup(refDir(r))) & t.mask; h != uint64(b) {
				return fmt.Errorf("bucket %d: ref %d hashes to bucket %d", b, r, h)
			}
			nodes++
			r = *e.next(refDir(r))
		}
	}
	if nodes != 2*live {
		return fmt.Errorf("%d keys in the index, want %d", nodes, 2*live)
	}
	free := 0
	for f := t.free; f != 0; f = *t.entries[f-1].next(0) {
		if free++; free > len(t.entries) {
			return fmt.Errorf("free list has a cycle")
		}
		if t.entries[f-1].Live() {
			return fmt.Errorf("free list holds live entry %d", f-1)
		}
	}
	if free+live != len(t.entries) {
		return fmt.Errorf("%d free + %d live != %d entries", free, live, len(t.entries))
	}
	return nil
}
