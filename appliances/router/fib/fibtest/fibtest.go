// Package fibtest makes realistic forwarding tables and destination addresses
// for the router FIB's tests and benchmarks, deterministically from a seed, and
// holds Ref, a naive longest-prefix-match reference to check lookups against.
//
// It is test support: nothing in a shipped binary imports it.
package fibtest

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// ipv4Mix is the prefix-length mix of a 1,000,000-prefix IPv4 table, per
// million. It approximates the public reports of the global BGP table
// (potaroo.net's "BGP Routing Table Analysis" and the CIDR Report, 2024–25),
// rounded: /24 ≈ 61%, /22–/23 ≈ 22.5%, /16–/21 ≈ 15.4%, /8–/15 ≈ 0.5%, and a
// few more-specifics than /24 (≈ 0.2%: customer and blackhole routes that a
// full table still carries inside one network).
var ipv4Mix = [33]int{
	8: 16, 9: 14, 10: 40, 11: 120, 12: 350, 13: 700, 14: 1400, 15: 2400,
	16: 14000, 17: 8000, 18: 15000, 19: 28000, 20: 43000, 21: 46000,
	22: 126000, 23: 99000,
	24: 0, // the remainder, ≈ 613,760
	25: 400, 26: 300, 27: 250, 28: 250, 29: 300, 30: 250, 31: 50, 32: 400,
}

// ipv6Mix is the prefix-length mix of a 200,000-prefix IPv6 table, per
// 200,000, from the same reports (2024–25), rounded: /48 ≈ 46%, /32 ≈ 13%,
// /44 ≈ 11%, /40 ≈ 7%, /29 ≈ 3%, /36 ≈ 3%, the rest spread over /16–/64.
var ipv6Mix = [129]int{
	16: 5, 19: 10, 20: 40, 22: 40, 23: 30, 24: 250, 26: 60, 27: 80, 28: 1500,
	29: 6000, 30: 1000, 31: 800, 32: 26000,
	33: 1500, 34: 1500, 35: 1000, 36: 6000, 37: 600, 38: 1200, 39: 800,
	40: 14000, 41: 800, 42: 3000, 43: 800, 44: 22000, 45: 1800, 46: 4500,
	47: 3500,
	48: 0, // the remainder, ≈ 92,000
	49: 100, 50: 80, 52: 400, 56: 1200, 60: 200, 64: 1500,
}

// IPv4 returns n distinct IPv4 prefixes with the length mix of today's
// Internet table (scaled to n), the same for the same seed.
//
// Shape: each prefix is either a more-specific of a shorter prefix already in
// the table (about half of those longer than /16, as deaggregation makes them
// in the real table) or a fresh block in unicast space (1.0.0.0–223.255.255.255
// less 10/8 and 127/8). Prefixes come out grouped by length, shortest first;
// callers that care shuffle them.
func IPv4(n int, seed uint64) []netip.Prefix {
	r := rand.New(rand.NewPCG(seed, 0x6669623476)) // "fib4v"
	counts := scale(ipv4Mix[:], 24, 1_000_000, n)
	out := make([]netip.Prefix, 0, n)
	seen := make(map[netip.Prefix]struct{}, n)
	for l, c := range counts {
		shorter := len(out) // out[:shorter] are the candidate parents
		for range c {
			for try := 0; ; try++ {
				var a uint32
				if try < 8 && shorter > 0 && r.Float64() < specificShare4(l) {
					p := out[r.IntN(shorter)]
					a = binary.BigEndian.Uint32(p.Addr().AsSlice()) | r.Uint32()>>p.Bits()
				} else {
					a = r.Uint32()
					for o := a >> 24; o == 0 || o == 10 || o == 127 || o >= 224; o = a >> 24 {
						a = r.Uint32()
					}
				}
				p, _ := netip.AddrFrom4(be4(a)).Prefix(l)
				if _, dup := seen[p]; !dup {
					seen[p] = struct{}{}
					out = append(out, p)
					break
				}
			}
		}
	}
	return out
}

func specificShare4(l int) float64 {
	switch {
	case l > 24:
		return 0.95
	case l > 16:
		return 0.5
	default:
		return 0.2
	}
}

// rirBlocks are the /12s (and 2001::/16) that hold nearly all of the IPv6
// table: APNIC, ARIN, LACNIC, RIPE NCC, AFRINIC.
var rirBlocks = []netip.Prefix{
	netip.MustParsePrefix("2001::/16"),
	netip.MustParsePrefix("2400::/12"),
	netip.MustParsePrefix("2600::/12"),
	netip.MustParsePrefix("2800::/12"),
	netip.MustParsePrefix("2a00::/12"),
	netip.MustParsePrefix("2c00::/12"),
}

// IPv6 returns n distinct IPv6 prefixes with the length mix of today's
// Internet table (scaled to n), the same for the same seed. Fresh blocks lie
// in the RIRs' /12s; most prefixes longer than /32 are more-specifics of
// shorter ones already in the table.
func IPv6(n int, seed uint64) []netip.Prefix {
	r := rand.New(rand.NewPCG(seed, 0x6669623676)) // "fib6v"
	counts := scale(ipv6Mix[:], 48, 200_000, n)
	out := make([]netip.Prefix, 0, n)
	seen := make(map[netip.Prefix]struct{}, n)
	for l, c := range counts {
		shorter := len(out)
		for range c {
			for try := 0; ; try++ {
				var base netip.Prefix
				if try < 8 && shorter > 0 && r.Float64() < specificShare6(l) {
					base = out[r.IntN(shorter)]
				} else {
					base = rirBlocks[r.IntN(len(rirBlocks))]
					if base.Bits() >= l {
						base = netip.MustParsePrefix("2000::/3") // global unicast
					}
				}
				p, _ := RandomIn(r, base).Prefix(l)
				if _, dup := seen[p]; !dup {
					seen[p] = struct{}{}
					out = append(out, p)
					break
				}
			}
		}
	}
	return out
}

func specificShare6(l int) float64 {
	switch {
	case l > 32:
		return 0.7
	default:
		return 0.1
	}
}

// scale turns a per-base mix into counts for n prefixes; index rest takes
// whatever is left so the counts add up to n exactly.
func scale(mix []int, rest, base, n int) []int {
	counts := make([]int, len(mix))
	sum := 0
	for l, c := range mix {
		if l != rest {
			counts[l] = int(int64(c) * int64(n) / int64(base))
			sum += counts[l]
		}
	}
	if sum > n { // tiny n: keep the dominant length only
		clear(counts)
		sum = 0
	}
	counts[rest] = n - sum
	return counts
}

// RandomIn returns a uniformly random address inside p.
func RandomIn(r *rand.Rand, p netip.Prefix) netip.Addr {
	if p.Addr().Is4() {
		a := binary.BigEndian.Uint32(p.Masked().Addr().AsSlice())
		if p.Bits() < 32 {
			a |= r.Uint32() >> p.Bits()
		}
		return netip.AddrFrom4(be4(a))
	}
	b := p.Masked().Addr().As16()
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	rh, rl := r.Uint64(), r.Uint64()
	switch n := p.Bits(); {
	case n < 64:
		hi |= rh >> n
		lo = rl
	case n < 128:
		lo |= rl >> (n - 64)
	}
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

// Addrs4 returns n IPv4 addresses drawn uniformly from the whole space.
func Addrs4(n int, seed uint64) [][4]byte {
	r := rand.New(rand.NewPCG(seed, 4))
	out := make([][4]byte, n)
	for i := range out {
		out[i] = be4(r.Uint32())
	}
	return out
}

// AddrsIn returns n addresses, each uniformly random inside a prefix drawn
// uniformly from ps: destinations that the table routes, as real traffic is,
// reaching every depth of it.
func AddrsIn(ps []netip.Prefix, n int, seed uint64) []netip.Addr {
	r := rand.New(rand.NewPCG(seed, 6))
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = RandomIn(r, ps[r.IntN(len(ps))])
	}
	return out
}

func be4(a uint32) [4]byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a)
	return b
}

// Ref is a naive longest-prefix-match reference: one map per prefix length,
// searched from the longest length down. Obviously right, and slow.
type Ref[V any] struct {
	byLen [129]map[netip.Addr]V
}

// Insert adds or replaces the value of prefix p.
func (t *Ref[V]) Insert(p netip.Prefix, v V) {
	p = p.Masked()
	if t.byLen[p.Bits()] == nil {
		t.byLen[p.Bits()] = make(map[netip.Addr]V)
	}
	t.byLen[p.Bits()][p.Addr()] = v
}

// Delete removes prefix p.
func (t *Ref[V]) Delete(p netip.Prefix) {
	p = p.Masked()
	delete(t.byLen[p.Bits()], p.Addr())
}

// Lookup returns the value of the longest prefix containing a.
func (t *Ref[V]) Lookup(a netip.Addr) (v V, ok bool) {
	for l := a.BitLen(); l >= 0; l-- {
		m := t.byLen[l]
		if len(m) == 0 {
			continue
		}
		p, _ := a.Prefix(l)
		if v, ok := m[p.Addr()]; ok {
			return v, true
		}
	}
	return v, false
}

// Linear is an even plainer reference for small tables: it scans every
// prefix and keeps the longest that contains the address.
func Linear[V any](ps []netip.Prefix, vs []V, a netip.Addr) (v V, ok bool) {
	best := -1
	for i, p := range ps {
		if p.Contains(a) && p.Bits() > best {
			best, v, ok = p.Bits(), vs[i], true
		}
	}
	return v, ok
}
