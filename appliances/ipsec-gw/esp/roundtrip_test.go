package esp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// innerSet is a burst of clear-text packets of both families and many
// sizes, from site A to site B.
func innerSet() [][]byte {
	var out [][]byte
	for i, n := range []int{28, 29, 30, 31, 64, 100, 511, 512, 1400, 1500} {
		out = append(out, udpPacket(hostA4, hostB4, 1000+uint16(i), 53, n, byte(i)))
	}
	for i, n := range []int{48, 49, 50, 51, 64, 100, 512, 1400, 1500} {
		out = append(out, udpPacket(hostA6, hostB6, 2000+uint16(i), 53, n, byte(i)))
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, o := range allTunnels() {
		t.Run(o.String(), func(t *testing.T) {
			tn := newTunnel(t, o)
			in := innerSet()
			b := tn.encrypt(t, 100, in...)
			for i, r := range reasons(b) {
				if r != "ok" || tn.sas[i] != tn.out {
					t.Fatalf("encap packet %d: %s", i, r)
				}
			}
			for i := range b.Pkts {
				checkOuter(t, tn, b.Pkts[i].Data(), uint64(i+1), len(in[i]))
				// The independent implementation reads the packet too.
				is := newIndepSA(o.cipher == ChaCha20Poly1305, testKey(o.cipher, 0x40), 0x1234, o.esn)
				esp := b.Pkts[i].Data()[outerLen(tn):]
				pt, err := is.open(esp, uint64(i+1))
				if err != nil {
					t.Fatalf("packet %d: independent open: %v", i, err)
				}
				if want := indepPayload(in[i], map[bool]byte{false: 4, true: 41}[in[i][0]>>4 == 6], 0); !bytes.Equal(pt, want) {
					t.Fatalf("packet %d: independent open gave\n%x\nwant\n%x", i, pt, want)
				}
			}
			b.Now = 200
			tn.wb.Decap(b, tn.sas)
			for i, r := range reasons(b) {
				if r != "ok" || tn.sas[i] != tn.in {
					t.Fatalf("decap packet %d: %s", i, r)
				}
				if !bytes.Equal(b.Pkts[i].Data(), in[i]) {
					t.Fatalf("packet %d came out as\n%x\nwant\n%x", i, b.Pkts[i].Data(), in[i])
				}
			}
			var nbytes uint64
			for _, p := range in {
				nbytes += uint64(len(p))
			}
			want := Counters{Packets: uint64(len(in)), Bytes: nbytes}
			if c := tn.out.Counters(); c != want {
				t.Errorf("outbound counters %+v, want %+v", c, want)
			}
			if c := tn.in.Counters(); c != want {
				t.Errorf("inbound counters %+v, want %+v", c, want)
			}
			tn.free(b)
			if err := tn.pool.CheckAllReturned(); err != nil {
				t.Error(err)
			}
		})
	}
}

func outerLen(tn *tunnel) int {
	n := ipv4Len
	if tn.outer6 {
		n = ipv6Len
	}
	if tn.encap {
		n += udpLen
	}
	return n
}

// checkOuter checks every header field of an encapsulated packet.
func checkOuter(t *testing.T, tn *tunnel, d []byte, seq uint64, inner int) {
	t.Helper()
	ol := outerLen(tn)
	espLen := hdrLen + ivLen + inner + padLen(inner) + trailerLen + icvLen
	if len(d) != ol+espLen {
		t.Fatalf("outer packet is %d bytes, want %d", len(d), ol+espLen)
	}
	if (espLen-hdrLen-ivLen-icvLen)%4 != 0 {
		t.Fatalf("encrypted part of %d bytes is not 4-byte aligned", espLen-hdrLen-ivLen-icvLen)
	}
	var p packet.Parsed
	if err := p.DecodeIP(d); err != nil {
		t.Fatalf("outer packet does not parse: %v", err)
	}
	wantProto := packet.IPProtoESP
	if tn.encap {
		wantProto = packet.IPProtoUDP
	}
	src, dst := gwA4, gwB4
	if tn.outer6 {
		src, dst = gwA6, gwB6
	}
	if p.IPProto != wantProto || p.Src != src || p.Dst != dst || p.End != len(d) || p.TTL != 64 {
		t.Fatalf("outer header: %v", p.String())
	}
	if !tn.outer6 && !packet.IPv4(d).IsChecksumValid() {
		t.Fatal("outer IPv4 checksum is wrong")
	}
	if tn.encap {
		if p.SrcPort != 4500 || p.DstPort != 4500 {
			t.Fatalf("UDP ports %d -> %d", p.SrcPort, p.DstPort)
		}
		u := p.UDP()
		switch {
		case !tn.outer6 && u.Checksum() != 0:
			t.Fatal("UDP checksum over IPv4 is not zero (RFC 3948)")
		case tn.outer6:
			if err := p.VerifyL4Checksum(); err != nil {
				t.Fatalf("UDP checksum over IPv6: %v", err)
			}
		}
	}
	esp := d[ol:]
	if be32(esp[0:]) != 0x1234 || be32(esp[4:]) != uint32(seq) || binary.BigEndian.Uint64(esp[8:]) != seq {
		t.Fatalf("ESP header %x, want SPI 0x1234, seq and IV %d", esp[:16], seq)
	}
}

// TestIndependentToUs sends packets built by the independent implementation
// through our Decap: random-looking IVs (not the sequence number), extra
// padding, sequence numbers out of order and across the ESN epoch.
func TestIndependentToUs(t *testing.T) {
	for _, o := range allTunnels() {
		t.Run(o.String(), func(t *testing.T) {
			tn := newTunnel(t, o)
			is := newIndepSA(o.cipher == ChaCha20Poly1305, testKey(o.cipher, 0x40), 0x1234, o.esn)
			src, dst := gwA4, gwB4
			if o.outer6 {
				src, dst = gwA6, gwB6
			}
			var sport uint16
			if o.encap {
				sport = 4500
			}
			in := innerSet()
			seqs := []uint64{3, 1, 2, 7, 6, 100, 99, 5000, 4990, 4000}
			if o.esn {
				// Cross into the second epoch: the low halves wrap.
				seqs = append(seqs, 1<<32-2, 1<<32+5, 1<<32-1, 1<<32+3000, 1<<32+1)
			}
			var pkts [][]byte
			for k, seq := range seqs {
				inner := in[k%len(in)]
				iv := [8]byte{0xa5, byte(k), 0x5a, byte(seq), 1, 2, 3, byte(k * 7)}
				next := byte(4)
				if inner[0]>>4 == 6 {
					next = 41
				}
				esp := is.seal(seq, iv, indepPayload(inner, next, 4*(k%3)))
				pkts = append(pkts, indepOuter(src, dst, sport, 4500, esp))
			}
			b := tn.batch(t, 5, pkts...)
			tn.wb.Decap(b, nil)
			for k, r := range reasons(b) {
				if r != "ok" {
					t.Fatalf("packet %d (seq %#x): %s", k, seqs[k], r)
				}
				if want := in[k%len(in)]; !bytes.Equal(b.Pkts[k].Data(), want) {
					t.Fatalf("packet %d came out as %x, want %x", k, b.Pkts[k].Data(), want)
				}
			}
			if got, want := tn.in.Seq(), slices.Max(seqs); got != want {
				t.Errorf("window top %#x, want %#x", got, want)
			}
			tn.free(b)
		})
	}
}

// TestDecapDrops feeds damaged, replayed and foreign packets to Decap and
// checks each reason and counter.
func TestDecapDrops(t *testing.T) {
	for _, o := range []tunnelOpts{{cipher: AES128GCM16}, {cipher: ChaCha20Poly1305, outer6: true, encap: true, esn: true}} {
		t.Run(o.String(), func(t *testing.T) {
			tn := newTunnel(t, o)
			good := wire(tn.encrypt(t, 1, innerSet()[:6]...))
			ol := outerLen(tn)
			mut := func(i int, f func(d []byte) []byte) []byte { return f(bytes.Clone(good[i])) }
			is := newIndepSA(o.cipher == ChaCha20Poly1305, testKey(o.cipher, 0x40), 0x1234, o.esn)
			src, dst := gwA4, gwB4
			if o.outer6 {
				src, dst = gwA6, gwB6
			}
			var sport uint16
			if o.encap {
				sport = 4500
			}
			craft := func(seq uint64, pt []byte) []byte {
				return indepOuter(src, dst, sport, 4500, is.seal(seq, [8]byte{9}, pt))
			}
			inner := udpPacket(hostA4, hostB4, 1, 2, 60, 1)
			cases := []struct {
				name string
				pkt  []byte
				want string
			}{
				{"first", good[0], "ok"},
				{"replayed", good[0], "esp-replay"},
				{"flipped ciphertext bit", mut(1, func(d []byte) []byte { d[ol+20] ^= 1; return d }), "esp-auth-failed"},
				{"flipped ICV bit", mut(1, func(d []byte) []byte { d[len(d)-1] ^= 0x80; return d }), "esp-auth-failed"},
				{"changed IV", mut(1, func(d []byte) []byte { d[ol+10] ^= 4; return d }), "esp-auth-failed"},
				{"changed sequence number", mut(1, func(d []byte) []byte { d[ol+7] = 9; return d }), "esp-auth-failed"},
				{"unknown SPI", mut(1, func(d []byte) []byte { d[ol+3] ^= 1; return d }), "esp-no-sa"},
				{"after failures, the real one", good[1], "ok"},
				{"truncated by one byte", truncate(tn, good[2], 1), "esp-auth-failed"},
				{"truncated to the IV", truncate(tn, good[2], len(good[2])-ol-16), "esp-malformed"},
				{"truncated outer header", good[2][:10], "esp-malformed"},
				{"outer length beyond the data", mut(2, func(d []byte) []byte { return d[:len(d)-1] }), "esp-malformed"},
				{"then intact", good[2], "ok"},
				{"bad padding", craft(50, append(bytes.Clone(inner), 1, 3, 2, 4)), "esp-malformed"},
				{"pad length past the start", craft(51, append(bytes.Clone(inner[:2]), 9, 4)), "esp-malformed"},
				{"next header not IP", craft(52, indepPayload(inner, 17, 0)), "esp-malformed"},
				{"inner version disagrees", craft(53, indepPayload(inner, 41, 0)), "esp-malformed"},
				{"inner length too long", craft(54, indepPayload(inner[:40], 4, 0)), "esp-malformed"},
				{"dummy packet", craft(55, indepPayload(nil, 59, 0)), "esp-dummy"},
				{"inner from the wrong site", craft(56, indepPayload(udpPacket(netip.MustParseAddr("10.9.0.1"), hostB4, 1, 2, 60, 1), 4, 0)), "esp-selector-mismatch"},
				{"inner to the wrong site", craft(57, indepPayload(udpPacket(hostA6, netip.MustParseAddr("fd03::1"), 1, 2, 60, 1), 41, 0)), "esp-selector-mismatch"},
				{"TFC padding after the inner packet", craft(58, indepPayload(append(bytes.Clone(inner), 0, 0, 0, 0, 0), 4, 0)), "ok"},
				{"far ahead", craft(59+ReplayWindow, indepPayload(inner, 4, 0)), "ok"},
				// With ESN, a low half below the window is read as the next
				// epoch's (RFC 4303 A2.2), and then fails the ICV.
				{"older than the window", craft(59, indepPayload(inner, 4, 0)), map[bool]string{false: "esp-replay", true: "esp-auth-failed"}[o.esn]},
				{"encapsulation mismatch", encapMismatch(tn, good[3]), "esp-encap-mismatch"},
				{"not ESP", mut(4, func(d []byte) []byte { d[map[bool]int{false: 9, true: 6}[o.outer6]] = 6; return d }), "esp-malformed"},
			}
			pkts := make([][]byte, len(cases))
			for i, c := range cases {
				pkts[i] = c.pkt
			}
			b := tn.batch(t, 2, pkts...)
			tn.wb.Decap(b, nil)
			for i, r := range reasons(b) {
				if r != cases[i].want {
					t.Errorf("%s: %s, want %s", cases[i].name, r, cases[i].want)
				}
			}
			c := tn.in.Counters()
			want := Counters{Packets: 5, Replays: 2, AuthFailures: 5, SelectorMismatches: 2, Malformed: 5 + 1}
			if o.esn {
				want.Replays, want.AuthFailures = 1, 6
			}
			c.Bytes = 0
			if c != want {
				t.Errorf("counters %+v\nwant     %+v", c, want)
			}
			tn.free(b)
		})
	}
}

// truncate cuts n bytes off the end of an encapsulated packet, keeping its
// outer length fields consistent.
func truncate(tn *tunnel, d []byte, n int) []byte {
	d = bytes.Clone(d[:len(d)-n])
	if tn.outer6 {
		binary.BigEndian.PutUint16(d[4:], uint16(len(d)-ipv6Len))
	} else {
		binary.BigEndian.PutUint16(d[2:], uint16(len(d)))
		packet.IPv4(d).FillChecksum()
	}
	if tn.encap {
		off := ipv4Len
		if tn.outer6 {
			off = ipv6Len
		}
		binary.BigEndian.PutUint16(d[off+4:], uint16(len(d)-off))
		binary.BigEndian.PutUint16(d[off+6:], 0)
	}
	return d
}

// encapMismatch re-wraps the ESP packet of d with the other encapsulation.
func encapMismatch(tn *tunnel, d []byte) []byte {
	ol := outerLen(tn)
	src, dst := gwA4, gwB4
	if tn.outer6 {
		src, dst = gwA6, gwB6
	}
	var sport uint16
	if !tn.encap {
		sport = 4500
	}
	return indepOuter(src, dst, sport, 4500, bytes.Clone(d[ol:]))
}

func TestNATT(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		tn := newTunnel(t, tunnelOpts{cipher: AES256GCM16, encap: true, outer6: v6})
		src, dst := gwA4, gwB4
		if v6 {
			src, dst = gwA6, gwB6
		}
		ka := indepOuter(src, dst, 4500, 4500, []byte{0xff})
		ike := indepOuter(src, dst, 4500, 4500, []byte{0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88})
		b := tn.batch(t, 1, ka, ike)
		tn.wb.Decap(b, nil)
		if got := reasons(b); !slices.Equal(got, []string{"natt-keepalive", "punt"}) {
			t.Errorf("keepalive, IKE: %v", got)
		}
		if !bytes.Equal(b.Pkts[1].Data(), ike) {
			t.Error("IKE packet changed on its way to the local stack")
		}
		tn.free(b)
	}
}

// TestPeerMoved: the peer's NAT rebinds; the first authenticated packet
// from the new port redirects the reverse SA, and only a newer one does.
func TestPeerMoved(t *testing.T) {
	key := testKey(AES128GCM16, 1)
	mk := func(dir Direction, spi uint32) *SA {
		sa, err := NewSA(Config{Name: "nat", Dir: dir, SPI: spi, Cipher: AES128GCM16, Key: key, Local: gwB4, Peer: gwA4, Encap: true,
			Selector: selector(siteB, siteA)})
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	in, out := mk(Inbound, 0x500), mk(Outbound, 0x600)
	in.SetReverse(out)
	e := NewEngine(Options{})
	if err := e.Install(0, in, out); err != nil {
		t.Fatal(err)
	}
	w := e.NewWorker()
	pool := newPool(t, 16)
	is := newIndepSA(false, key, 0x500, false)
	inner := udpPacket(hostA4, hostB4, 1, 2, 100, 0)
	natted := netip.MustParseAddr("198.51.100.77")
	send := func(seq uint64, from netip.Addr, port uint16) string {
		b := dataplane.NewBatch(1)
		p, _ := pool.Get()
		d := indepOuter(from, gwB4, port, 4500, is.seal(seq, [8]byte{}, indepPayload(inner, 4, 0)))
		copy(p.Append(len(d)), d)
		p.Forward(0)
		b.Add(p)
		w.Decap(b, nil)
		r := reasons(b)[0]
		pool.PutBatch(b)
		return r
	}
	if r := send(10, natted, 31000); r != "ok" || out.Peer() != netip.AddrPortFrom(natted, 31000) {
		t.Fatalf("after a packet from the new mapping: %s, peer %v", r, out.Peer())
	}
	if ev := <-e.Events(); ev.Kind != EventPeerMoved || ev.SA != out || ev.Peer != out.Peer() {
		t.Errorf("event %v", ev)
	}
	if r := send(5, gwA4, 4500); r != "ok" || out.Peer() != netip.AddrPortFrom(natted, 31000) {
		t.Errorf("an older packet moved the peer back: %s %v", r, out.Peer())
	}
	// Outbound packets now go to the new mapping.
	b := dataplane.NewBatch(1)
	p, _ := pool.Get()
	d := udpPacket(hostB4, hostA4, 1, 2, 100, 0)
	copy(p.Append(len(d)), d)
	b.Add(p)
	w.Encap(b, []*SA{out})
	var pp packet.Parsed
	if err := pp.DecodeIP(b.Pkts[0].Data()); err != nil || pp.Dst != natted || pp.DstPort != 31000 {
		t.Errorf("outbound after the move: %v %v", err, pp.String())
	}
	pool.PutBatch(b)
}
