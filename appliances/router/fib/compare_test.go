package fib_test

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
	"time"
)

// TestCompare is BenchmarkLookup for a shared, noisy machine: it runs the
// candidates in short interleaved rounds and keeps each one's best round, a
// figure that other load barely moves. FIB_COMPARE=1 go test -run Compare -v
func TestCompare(t *testing.T) {
	if os.Getenv("FIB_COMPARE") == "" {
		t.Skip("set FIB_COMPARE=1 to compare lookup speeds")
	}
	w := getWorld().extras()
	const chunk = 1 << 18
	out := make([]uint32, 256)
	u4r := make([]uint32, len(w.a4routed))
	ad4r := make([]netip.Addr, len(w.a4routed))
	for i, a := range w.a4routed {
		u4r[i] = binary.BigEndian.Uint32(a[:])
		ad4r[i] = netip.AddrFrom4(a)
	}
	type cand struct {
		name string
		f    func(off int) uint32
	}
	var cands []cand
	for _, set := range []struct {
		name string
		a4   [][4]byte
		u4   []uint32
		ad   []netip.Addr
	}{{"ipv4", w.a4, w.u4, w.addr4}, {"ipv4-routed", w.a4routed, u4r, ad4r}} {
		cands = append(cands,
			cand{set.name + "/nfv", func(off int) (s uint32) {
				for _, a := range set.a4[off : off+chunk] {
					s += w.m4.Lookup(a)
				}
				return
			}},
			cand{set.name + "/nfv-uint32", func(off int) (s uint32) {
				for _, a := range set.u4[off : off+chunk] {
					s += w.m4.LookupUint32(a)
				}
				return
			}},
			cand{set.name + "/batch256/nfv", func(off int) (s uint32) {
				for o := off; o < off+chunk; o += 256 {
					w.m4.LookupBatch(set.a4[o:o+256], out)
					s += out[0]
				}
				return
			}},
			cand{set.name + "/nfv-compact", func(off int) (s uint32) {
				for _, a := range set.a4[off : off+chunk] {
					s += w.m4compact.Lookup(a)
				}
				return
			}},
			cand{set.name + "/batch256/nfv-compact", func(off int) (s uint32) {
				for o := off; o < off+chunk; o += 256 {
					w.m4compact.LookupBatch(set.a4[o:o+256], out)
					s += out[0]
				}
				return
			}},
			cand{set.name + "/dir24", func(off int) (s uint32) {
				for _, a := range set.u4[off : off+chunk] {
					s += w.dir.lookup(a)
				}
				return
			}},
			cand{set.name + "/bart", func(off int) (s uint32) {
				for _, a := range set.ad[off : off+chunk] {
					v, _ := w.bf.Lookup(a)
					s += v
				}
				return
			}},
		)
	}
	cands = append(cands,
		cand{"ipv6/nfv", func(off int) (s uint32) {
			for _, a := range w.a6[off : off+chunk] {
				s += w.m6.Lookup(a)
			}
			return
		}},
		cand{"ipv6/batch256/nfv", func(off int) (s uint32) {
			for o := off; o < off+chunk; o += 256 {
				w.m6.LookupBatch(w.a6[o:o+256], out)
				s += out[0]
			}
			return
		}},
		cand{"ipv6/bart", func(off int) (s uint32) {
			for _, a := range w.addr6[off : off+chunk] {
				v, _ := w.bf.Lookup(a)
				s += v
			}
			return
		}},
	)
	best := make([]time.Duration, len(cands))
	for round := range 30 {
		off := (round * chunk) % nAddrs
		for i, c := range cands {
			start := time.Now()
			sink += c.f(off)
			if d := time.Since(start); round == 0 || d < best[i] {
				best[i] = d
			}
		}
	}
	for i, c := range cands {
		t.Logf("%-28s %7.2f ns/lookup", c.name, float64(best[i].Nanoseconds())/chunk)
	}
}
