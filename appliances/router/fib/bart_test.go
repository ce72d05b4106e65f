package fib_test

import (
	"encoding/binary"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/router/fib"
	"github.com/nfvkit/nfvkit/appliances/router/fib/fibtest"
)

// The full-size tables agree with github.com/gaissmai/bart on a million
// random destinations each: uniform over the IPv4 space, and inside the
// table's prefixes (so at every depth) for both families. The compact IPv4
// layout is checked too.
func TestAgainstBart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the 1M-prefix table")
	}
	w := getWorld()
	compact, err := fib.Compile4(w.es4, fib.Options{Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := newDir24(w.es4)
	check := func(name string, got, want uint32, ok bool, a any) {
		if !ok {
			want = fib.NoRoute
		}
		if got != want {
			t.Fatalf("%s %v: got %d, bart %d", name, a, got, want)
		}
	}
	batch := make([]uint32, len(w.a4))
	w.m4.LookupBatch(w.a4, batch)
	for i, a := range w.addr4 {
		v, ok := w.bf.Lookup(a)
		check("ipv4", w.m4.Lookup(w.a4[i]), v, ok, a)
		check("ipv4 batch", batch[i], v, ok, a)
		check("ipv4 compact", compact.Lookup(w.a4[i]), v, ok, a)
		check("ipv4 dir24", dir.lookup(binary.BigEndian.Uint32(w.a4[i][:])), v, ok, a)
	}
	routed := fibtest.AddrsIn(w.p4, 1_000_000, 11)
	for _, a := range routed {
		v, ok := w.bf.Lookup(a)
		check("ipv4 routed", w.m4.LookupAddr(a), v, ok, a)
		check("ipv4 routed compact", compact.LookupAddr(a), v, ok, a)
	}
	w.m6.LookupBatch(w.a6, batch)
	for i, a := range w.addr6 {
		v, ok := w.bf.Lookup(a)
		check("ipv6", w.m6.Lookup(w.a6[i]), v, ok, a)
		check("ipv6 batch", batch[i], v, ok, a)
	}
}
