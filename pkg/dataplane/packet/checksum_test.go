package packet

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// refChecksum is RFC 1071 written plainly: big-endian 16-bit words added
// into 32 bits, an odd last byte padded with zero, carries folded.
func refChecksum(b []byte, initial uint16) uint16 {
	s := uint32(initial)
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for n := 0; n <= 300; n++ {
		for off := range 8 { // unaligned starts
			b := buf[off : off+n]
			init := uint16(r.Uint32())
			if got, want := Checksum(b, init), refChecksum(b, init); got != want {
				t.Fatalf("len %d off %d init %#x: got %#04x, want %#04x", n, off, init, got, want)
			}
		}
	}
	for range 2000 {
		n := r.IntN(len(buf))
		b := buf[:n]
		if got, want := Checksum(b, 0), refChecksum(b, 0); got != want {
			t.Fatalf("len %d: got %#04x, want %#04x", n, got, want)
		}
	}
	// All ones: every 64-bit add carries, exercising the carry count.
	ones := make([]byte, 65536)
	for i := range ones {
		ones[i] = 0xff
	}
	for _, n := range []int{0, 1, 7, 8, 63, 64, 65, 1500, 65535, 65536} {
		if got, want := Checksum(ones[:n], 0xffff), refChecksum(ones[:n], 0xffff); got != want {
			t.Errorf("all-ones len %d: got %#04x, want %#04x", n, got, want)
		}
	}
	if got := Checksum(nil, 0); got != 0 {
		t.Errorf("Checksum(nil) = %#x, want 0", got)
	}
	if got := Checksum(make([]byte, 100), 0); got != 0 {
		t.Errorf("Checksum(zeros) = %#x, want 0", got)
	}
}

// TestChecksumRFC1071Example checks the worked example of RFC 1071 section 3.
func TestChecksumRFC1071Example(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(b, 0); got != 0xddf2 {
		t.Errorf("got %#04x, want 0xddf2", got)
	}
}

func TestChecksumPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	b := make([]byte, 999)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	want := Checksum(b, 0)
	for split := 0; split <= len(b); split += 2 {
		if got := Checksum(b[split:], Checksum(b[:split], 0)); got != want {
			t.Fatalf("split %d: got %#x, want %#x", split, got, want)
		}
		if got := ChecksumCombine(Checksum(b[:split], 0), Checksum(b[split:], 0)); got != want {
			t.Fatalf("combine at %d: got %#x, want %#x", split, got, want)
		}
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 7))
	for range 1000 {
		for _, n := range []int{4, 16} {
			src, dst := make([]byte, n), make([]byte, n)
			for i := range src {
				src[i], dst[i] = byte(r.Uint32()), byte(r.Uint32())
			}
			proto, length := IPProtocol(r.Uint32()), uint16(r.Uint32())
			// The pseudo-header as laid out in RFC 768 / RFC 8200 8.1.
			var ph []byte
			ph = append(ph, src...)
			ph = append(ph, dst...)
			if n == 4 {
				ph = append(ph, 0, byte(proto), byte(length>>8), byte(length))
			} else {
				ph = append(ph, 0, 0, byte(length>>8), byte(length), 0, 0, 0, byte(proto))
			}
			want := refChecksum(ph, 0)
			if got := PseudoHeaderChecksum(proto, src, dst, length); got != want {
				t.Fatalf("%d-byte: got %#x, want %#x", n, got, want)
			}
			s, _ := netip.AddrFromSlice(src)
			d, _ := netip.AddrFromSlice(dst)
			if got := PseudoHeaderChecksumAddr(proto, s, d, length); got != want {
				t.Fatalf("%d-byte Addr: got %#x, want %#x", n, got, want)
			}
		}
	}
}

// incrementalCase is data (even length) with its checksum stored in the
// first word, as in an IPv4 header, and a field at off changing to new.
type incrementalCase struct {
	data []byte
	off  int
	new  []byte
}

// full returns the checksum of data with the checksum word as zero.
func fullChecksum(data []byte) uint16 {
	c := append([]byte(nil), data...)
	c[0], c[1] = 0, 0
	return ^Checksum(c, 0)
}

// check applies the change both ways: incrementally, by each function that
// fits the field's size, and by recomputing; they must agree.
func (c incrementalCase) check(t *testing.T) {
	t.Helper()
	data := append([]byte(nil), c.data...)
	binary.BigEndian.PutUint16(data, fullChecksum(data))
	hc := binary.BigEndian.Uint16(data)
	old := append([]byte(nil), data[c.off:c.off+len(c.new)]...)
	copy(data[c.off:], c.new)
	want := fullChecksum(data)
	if allZero(data[2:]) {
		// Data that becomes all zeros: its full checksum is 0xffff, which
		// no incremental update can tell from a sum of 0xffff (see
		// UpdateChecksum16). IP headers and pseudo-headers are never all
		// zeros.
		return
	}

	got := map[string]uint16{"Bytes": UpdateChecksumBytes(hc, old, c.new)}
	switch len(c.new) {
	case 2:
		got["16"] = UpdateChecksum16(hc, binary.BigEndian.Uint16(old), binary.BigEndian.Uint16(c.new))
	case 4:
		got["32"] = UpdateChecksum32(hc, binary.BigEndian.Uint32(old), binary.BigEndian.Uint32(c.new))
		got["Addr4"] = UpdateChecksumAddr4(hc, [4]byte(old), [4]byte(c.new))
		got["Addr"] = UpdateChecksumAddr(hc, netip.AddrFrom4([4]byte(old)), netip.AddrFrom4([4]byte(c.new)))
	case 16:
		got["Addr16"] = UpdateChecksumAddr16(hc, [16]byte(old), [16]byte(c.new))
		got["Addr"] = UpdateChecksumAddr(hc, netip.AddrFrom16([16]byte(old)), netip.AddrFrom16([16]byte(c.new)))
	}
	for name, g := range got {
		if g != want {
			t.Errorf("UpdateChecksum%s(%#04x, %x -> %x) over %x = %#04x, full recompute %#04x",
				name, hc, old, c.new, c.data, g, want)
		}
	}

	// The same change under UDP's rule (0 is sent as 0xffff): the
	// incremental update of the stored value, with the rule applied,
	// equals a full recompute with the rule applied.
	udp := func(v uint16) uint16 {
		if v == 0 {
			return 0xffff
		}
		return v
	}
	data2 := append([]byte(nil), c.data...)
	stored := udp(fullChecksum(data2))
	wantUDP := udp(want)
	if g := udp(UpdateChecksumBytes(stored, old, c.new)); g != wantUDP {
		t.Errorf("UDP rule: stored %#04x, %x -> %x: got %#04x, want %#04x", stored, old, c.new, g, wantUDP)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// adjust sets the word at off so that the whole of data (checksum word
// zero) sums to target (0xffff standing for one's complement zero).
func adjust(data []byte, off int, target uint16) {
	binary.BigEndian.PutUint16(data[off:], 0)
	s := Checksum(data[2:], 0)
	binary.BigEndian.PutUint16(data[off:], ChecksumCombine(target, ^s))
}

func TestIncrementalUpdateRFC1624(t *testing.T) {
	// RFC 1624 section 4: the other words sum to 0xcd7a and a word changes
	// from 0x5555 to 0x3285. HC is 0xdd2f, and the new checksum is 0x0000;
	// RFC 1141's eqn. 2 gets 0xffff.
	data := []byte{0, 0, 0xcd, 0x7a, 0x55, 0x55}
	if got := fullChecksum(data); got != 0xdd2f {
		t.Fatalf("HC = %#x, want 0xdd2f", got)
	}
	if got := UpdateChecksum16(0xdd2f, 0x5555, 0x3285); got != 0x0000 {
		t.Errorf("eqn. 3 gave %#04x, want 0x0000", got)
	}
	incrementalCase{data: data, off: 4, new: []byte{0x32, 0x85}}.check(t)
}

func TestIncrementalUpdateRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	edges := []uint16{0x0000, 0xffff, 0x0001, 0xfffe, 0x8000, 0x7fff}
	for i := range 20000 {
		n := 2 * (10 + r.IntN(40)) // 20..98 bytes, checksum word included
		data := make([]byte, n)
		for j := 2; j < n; j++ {
			data[j] = byte(r.Uint32())
		}
		size := []int{2, 4, 16, 2 * (1 + r.IntN(6))}[r.IntN(4)]
		off := 2 + 2*r.IntN((n-2-size)/2)
		newv := make([]byte, size)
		for j := range newv {
			newv[j] = byte(r.Uint32())
		}
		// Steer a third of the cases to the edges: fields of all ones or
		// zeros, and sums before or after of 0xffff (checksum 0x0000).
		switch i % 9 {
		case 0:
			for j := range newv {
				newv[j] = 0
			}
		case 1:
			for j := range newv {
				newv[j] = 0xff
			}
		case 2:
			for j := range size {
				data[off+j] = 0xff
			}
		case 3, 4:
			// Old data sums to an edge value; the adjusting word lies
			// outside the changing field.
			if adj := off + size; adj+2 <= n {
				adjust(data, adj, edges[r.IntN(len(edges))])
			}
		case 5:
			// New data sums to 0xffff: make the change supply exactly
			// what brings the total there.
			if size == 2 {
				binary.BigEndian.PutUint16(newv, 0)
				tmp := append([]byte(nil), data...)
				copy(tmp[off:], newv)
				tmp[0], tmp[1] = 0, 0
				s := Checksum(tmp, 0)
				binary.BigEndian.PutUint16(newv, ChecksumCombine(0xffff, ^s))
			}
		}
		incrementalCase{data: data, off: off, new: newv}.check(t)
		if t.Failed() {
			t.FailNow()
		}
	}
}

// TestIncrementalEdgeWords covers every pair of edge values for a 16-bit
// field, with the rest of the data summing to every edge value.
func TestIncrementalEdgeWords(t *testing.T) {
	edges := []uint16{0x0000, 0x0001, 0x7fff, 0x8000, 0xfffe, 0xffff}
	for _, rest := range edges {
		for _, m := range edges {
			for _, m2 := range edges {
				data := make([]byte, 8)
				binary.BigEndian.PutUint16(data[2:], 0x1234)
				adjust(data, 4, rest)
				binary.BigEndian.PutUint16(data[6:], m)
				incrementalCase{data: data, off: 6, new: binary.BigEndian.AppendUint16(nil, m2)}.check(t)
			}
		}
	}
}
