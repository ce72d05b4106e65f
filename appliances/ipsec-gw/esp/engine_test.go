package esp

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp/spd"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

func TestSAD(t *testing.T) {
	e := NewEngine(Options{})
	var sas []*SA
	for i := range 5000 {
		// SPIs that share low bits, as a peer's allocator may make them.
		sa, err := NewSA(Config{Name: fmt.Sprint(i), Dir: Inbound, SPI: uint32(i+1) << 12, Cipher: AES128GCM16,
			Key: testKey(AES128GCM16, byte(i)), Local: gwA4, Peer: gwB4, Selector: selector(siteA, siteB)})
		if err != nil {
			t.Fatal(err)
		}
		sas = append(sas, sa)
	}
	if err := e.Install(0, sas...); err != nil {
		t.Fatal(err)
	}
	for _, sa := range sas {
		if e.Lookup(sa.SPI()) != sa {
			t.Fatalf("SPI %#x not found", sa.SPI())
		}
	}
	for _, spi := range []uint32{0, 1, 0xfff, 5001 << 12, math.MaxUint32} {
		if e.Lookup(spi) != nil {
			t.Errorf("SPI %#x found", spi)
		}
	}
	// Probe lengths stay short: O(1) lookups.
	tab := e.in.Load()
	worst := 0
	for _, sa := range sas {
		n := 1
		for i := tab.home(sa.SPI()); tab.slots[i].spi != sa.SPI(); i = (i + 1) & tab.mask {
			n++
		}
		worst = max(worst, n)
	}
	if worst > 16 {
		t.Errorf("longest probe %d slots", worst)
	}
	dup, _ := NewSA(Config{Name: "dup", Dir: Inbound, SPI: sas[7].SPI(), Cipher: AES128GCM16, Key: testKey(AES128GCM16, 0),
		Local: gwA4, Peer: gwB4, Selector: selector(siteA, siteB)})
	if err := e.Install(0, dup); err == nil {
		t.Error("a second SA with an SPI in use was installed")
	}
	if err := e.Install(0, sas[3]); err == nil {
		t.Error("an SA was installed twice")
	}
	e.Remove(sas[7], sas[9])
	if e.Lookup(sas[7].SPI()) != nil || e.Lookup(sas[9].SPI()) != nil || e.Lookup(sas[8].SPI()) != sas[8] {
		t.Error("Remove")
	}
	if len(e.SAs()) != 4998 {
		t.Errorf("%d SAs left", len(e.SAs()))
	}
}

func drain(e *Engine) []Event {
	var out []Event
	for {
		select {
		case ev := <-e.Events():
			out = append(out, ev)
		default:
			return out
		}
	}
}

func evString(evs []Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, ev.String())
	}
	return strings.Join(s, "; ")
}

func TestLifetimes(t *testing.T) {
	sec := int64(time.Second)
	cases := []struct {
		name   string
		limits Limits
		// packets of 100 bytes sent at second i of each burst
		bursts   int
		per      int
		wantSoft string
		wantHard string
		passed   int // packets that got through, both ways
	}{
		{"packets", Limits{SoftPackets: 10, HardPackets: 20}, 5, 4, "soft-expire SA a-to-b (packets)", "hard-expire SA a-to-b (packets)", 20},
		{"bytes", Limits{SoftBytes: 1000, HardBytes: 1500}, 5, 4, "soft-expire SA a-to-b (bytes)", "hard-expire SA a-to-b (bytes)", 16},
		{"time", Limits{SoftTime: 2 * time.Second, HardTime: 3 * time.Second}, 5, 4, "soft-expire SA a-to-b (time)", "hard-expire SA a-to-b (time)", 12},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn := newTunnel(t, tunnelOpts{cipher: AES128GCM16, limits: c.limits})
			passed := 0
			for i := range c.bursts {
				var in [][]byte
				for range c.per {
					in = append(in, udpPacket(hostA4, hostB4, 1, 2, 100, 0))
				}
				b := tn.encrypt(t, 1+int64(i)*sec, in...)
				for _, r := range reasons(b) {
					if r == "ok" {
						passed++
					} else if r != "esp-sa-expired" {
						t.Errorf("burst %d: %s", i, r)
					}
				}
				tn.free(b)
			}
			if passed != c.passed {
				t.Errorf("%d packets passed, want %d", passed, c.passed)
			}
			// Packets after the hard limit found the SA dead in Classify,
			// which asked for a new SA.
			evs := slices.DeleteFunc(drain(tn.a), func(ev Event) bool { return ev.Kind == EventAcquire && ev.Policy == tn.pol })
			if len(evs) != 2 || evs[0].String() != c.wantSoft || evs[1].String() != c.wantHard {
				t.Errorf("events: %s", evString(evs))
			}
			if n := tn.out.Counters().Expired; !tn.out.Expired() || n != uint64(c.bursts*c.per-c.passed) {
				t.Errorf("SA not expired, or %d packets counted expired", n)
			}
			// Classify now sees a dead SA: the policy asks for a new one.
			b := tn.encrypt(t, 100*sec, udpPacket(hostA4, hostB4, 1, 2, 100, 0))
			if r := reasons(b); r[0] != "esp-sa-expired" {
				t.Errorf("after expiry: %v", r)
			}
			tn.free(b)
			if evs := drain(tn.a); len(evs) != 1 || evs[0].Kind != EventAcquire || evs[0].Policy != tn.pol {
				t.Errorf("events after expiry: %s", evString(evs))
			}
		})
	}
}

// TestExpireSweep: an idle SA's time limits are found by Engine.Expire, and
// an event that found the queue full is sent by a later sweep.
func TestExpireSweep(t *testing.T) {
	e := NewEngine(Options{EventQueue: 1})
	mk := func(spi uint32) *SA {
		sa, err := NewSA(Config{Name: fmt.Sprint(spi), Dir: Inbound, SPI: spi, Cipher: AES256GCM16, Key: testKey(AES256GCM16, 3),
			Local: gwA4, Peer: gwB4, Selector: selector(siteA, siteB), Limits: Limits{SoftTime: time.Minute, HardTime: 2 * time.Minute}})
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	a, b := mk(0x100), mk(0x200)
	if err := e.Install(0, a, b); err != nil {
		t.Fatal(err)
	}
	e.Expire(int64(30 * time.Second))
	if evs := drain(e); len(evs) != 0 {
		t.Fatalf("early events: %s", evString(evs))
	}
	e.Expire(int64(61 * time.Second)) // two soft events, room for one
	if evs := drain(e); len(evs) != 1 || e.EventsLost() != 1 {
		t.Fatalf("events %s, lost %d", evString(evs), e.EventsLost())
	}
	e.Expire(int64(62 * time.Second)) // the lost one again
	if evs := drain(e); len(evs) != 1 || evs[0].Kind != EventSoftExpire {
		t.Fatalf("resent events: %s", evString(evs))
	}
	e.Expire(int64(62 * time.Second))
	if evs := drain(e); len(evs) != 0 {
		t.Fatalf("soft events sent twice: %s", evString(evs))
	}
	e.Expire(int64(121 * time.Second))
	if !a.Expired() || !b.Expired() {
		t.Error("SAs alive past their hard lifetime")
	}
}

// TestSeqExhaustion: a 32-bit SA stops at 2^32-1, and asks for a rekey
// before.
func TestSeqExhaustion(t *testing.T) {
	for _, esn := range []bool{false, true} {
		tn := newTunnel(t, tunnelOpts{cipher: ChaCha20Poly1305, esn: esn})
		tn.out.seq.Store(tn.out.seqSoft - 2)
		in := make([][]byte, 4)
		for i := range in {
			in[i] = udpPacket(hostA4, hostB4, 1, 2, 64, 0)
		}
		b := tn.encrypt(t, 1, in...)
		if r := reasons(b); !slices.Equal(r, []string{"ok", "ok", "ok", "ok"}) {
			t.Fatalf("esn %v: %v", esn, r)
		}
		if evs := drain(tn.a); len(evs) != 1 || evs[0].String() != "soft-expire SA a-to-b (sequence-numbers)" {
			t.Errorf("esn %v: events %s", esn, evString(evs))
		}
		tn.free(b)
		tn.out.seq.Store(tn.out.seqMax - 2)
		b = tn.encrypt(t, 2, in...)
		if r := reasons(b); !slices.Equal(r, []string{"ok", "ok", "esp-seq-exhausted", "esp-sa-expired"}) {
			t.Errorf("esn %v: %v", esn, r)
		}
		if last := be32(b.Pkts[1].Data()[ipv4Len+4:]); last != uint32(tn.out.seqMax) {
			t.Errorf("esn %v: last sequence number sent %#x", esn, last)
		}
		if evs := drain(tn.a); len(evs) < 1 || evs[0].String() != "hard-expire SA a-to-b (sequence-numbers)" {
			t.Errorf("esn %v: events %s", esn, evString(evs))
		}
		tn.free(b)
	}
	if (&SA{seqMax: math.MaxUint32}).seqMax != 1<<32-1 {
		t.Fatal("unreachable")
	}
}

func TestAcquire(t *testing.T) {
	e := NewEngine(Options{AcquireInterval: time.Second})
	pol := NewPolicy("waiting", selector(siteA, siteB), nil)
	if err := e.SetPolicies([]*Policy{pol}); err != nil {
		t.Fatal(err)
	}
	w := e.NewWorker()
	pool := newPool(t, 8)
	sas := make([]*SA, 8)
	send := func(now int64) string {
		b := dataplane.NewBatch(2)
		b.Now = now
		for _, d := range [][]byte{udpPacket(hostA4, hostB4, 1, 2, 64, 0), udpPacket(hostA4, netip.MustParseAddr("192.0.2.1"), 1, 2, 64, 0)} {
			p, _ := pool.Get()
			copy(p.Append(len(d)), d)
			p.Forward(1)
			b.Add(p)
		}
		w.Classify(b, sas)
		r := reasons(b)
		pool.PutBatch(b)
		if sas[1] != nil {
			t.Error("bypass traffic given an SA")
		}
		return strings.Join(r, ",")
	}
	if r := send(1); r != "esp-no-sa,ok" {
		t.Errorf("no SA: %s", r)
	}
	send(2)
	send(int64(time.Second))
	if evs := drain(e); len(evs) != 1 || evs[0].String() != "acquire policy waiting" {
		t.Errorf("events %s", evString(evs))
	}
	send(int64(time.Second) + 2)
	if evs := drain(e); len(evs) != 1 {
		t.Errorf("events a second later: %s", evString(evs))
	}
}

func TestKeepalives(t *testing.T) {
	tn := newTunnel(t, tunnelOpts{cipher: AES128GCM16, encap: true})
	// A second SA to the same peer adds no second keepalive.
	out2, err := NewSA(Config{Name: "second", Dir: Outbound, SPI: 0x999, Cipher: AES128GCM16, Key: testKey(AES128GCM16, 9),
		Local: gwA4, Peer: gwB4, Encap: true, Selector: selector(siteA, siteB)})
	if err != nil {
		t.Fatal(err)
	}
	tn.a.Install(1, out2)
	sec := int64(time.Second)
	tick := func(now int64) [][]byte {
		b := dataplane.NewBatch(8)
		b.Now = now
		tn.wa.Keepalives(b, tn.pool)
		out := wire(b)
		tn.free(b)
		return out
	}
	if ka := tick(10 * sec); len(ka) != 0 {
		t.Errorf("keepalive after 10s: %x", ka)
	}
	ka := tick(21 * sec)
	if len(ka) != 1 {
		t.Fatalf("%d keepalives after 21s", len(ka))
	}
	var p packet.Parsed
	if err := p.DecodeIP(ka[0]); err != nil || p.Src != gwA4 || p.Dst != gwB4 || p.SrcPort != 4500 || p.DstPort != 4500 ||
		string(p.Payload()) != "\xff" || !packet.IPv4(ka[0]).IsChecksumValid() {
		t.Errorf("keepalive %x: %v %s", ka[0], err, p.String())
	}
	// Traffic counts as keeping the mapping alive.
	b := tn.encrypt(t, 35*sec, udpPacket(hostA4, hostB4, 1, 2, 64, 0))
	tn.free(b)
	if ka := tick(50 * sec); len(ka) != 0 {
		t.Errorf("keepalive 15s after traffic")
	}
	if ka := tick(56 * sec); len(ka) != 1 {
		t.Errorf("%d keepalives 21s after traffic", len(ka))
	}
}

// TestStatic builds SAs from a policy's esp: entries with file: and inline
// keys, and checks that no way of printing them shows a key.
func TestStatic(t *testing.T) {
	dir := t.TempDir()
	keyIn := "0x" + hex.EncodeToString(testKey(AES256GCM16, 0x11))
	keyOut := hex.EncodeToString(testKey(AES256GCM16, 0x22))
	if err := os.WriteFile(filepath.Join(dir, "in.key"), []byte(keyIn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sin, err := config.ParseSecret("file:" + filepath.Join(dir, "in.key"))
	if err != nil {
		t.Fatal(err)
	}
	sout, _ := config.ParseSecret(keyOut)
	s := config.StaticSA{Name: "legacy", Peer: gwB4, SPIIn: 0x1001, SPIOut: 0x2001, Cipher: config.AES256GCM16,
		KeyIn: sin, KeyOut: sout, LocalTS: siteA, RemoteTS: siteB, Encap: config.EncapUDP}
	e := NewEngine(Options{})
	if _, err := e.LoadStatic([]config.StaticSA{s}, StaticOptions{}, 0); err == nil || !strings.Contains(err.Error(), "no local address") {
		t.Errorf("no local address: %v", err)
	}
	ps, err := e.LoadStatic([]config.StaticSA{s}, StaticOptions{LocalFor: func(netip.Addr) (netip.Addr, bool) { return gwA4, true }, WallClock: 1e18}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetPolicies(ps); err != nil {
		t.Fatal(err)
	}
	in, out := e.Lookup(0x1001), ps[0].SA()
	if in == nil || out == nil || out.SPI() != 0x2001 || !out.Encap() || in.reverse.Load() != out || out.ivBase != 1e18 ||
		out.Peer() != netip.AddrPortFrom(gwB4, 4500) || out.Local() != netip.AddrPortFrom(gwA4, 4500) {
		t.Fatalf("static SAs: %v / %v", in, out)
	}
	for _, sa := range []*SA{in, out} {
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			str := fmt.Sprintf(f, sa)
			for _, k := range []string{keyIn[2:], keyOut, keyIn[2:20], keyOut[:16]} {
				if strings.Contains(strings.ToLower(str), k) {
					t.Errorf("%s of an SA shows a key: %s", f, str)
				}
			}
		}
	}
	cfg := Config{Name: "x", Key: testKey(AES128GCM16, 0x33)}
	for _, f := range []string{"%v", "%+v", "%#v", "%x", "%s"} {
		if str := fmt.Sprintf(f, cfg); strings.Contains(str, "333a41") || strings.Contains(str, "51, 58, 65") || !strings.Contains(str, "redacted") {
			t.Errorf("%s of a Config: %s", f, str)
		}
	}
	// Our peer, keyed the other way round, reads what we send.
	peerIn, err := NewSA(Config{Name: "peer", Dir: Inbound, SPI: 0x2001, Cipher: AES256GCM16, Key: testKey(AES256GCM16, 0x22),
		Local: gwB4, Peer: gwA4, Encap: true, Selector: selector(siteB, siteA)})
	if err != nil {
		t.Fatal(err)
	}
	pe := NewEngine(Options{})
	pe.Install(0, peerIn)
	pool := newPool(t, 4)
	b := dataplane.NewBatch(1)
	p, _ := pool.Get()
	d := udpPacket(hostA4, hostB4, 1, 2, 300, 0)
	copy(p.Append(len(d)), d)
	p.Forward(0)
	b.Add(p)
	sas := make([]*SA, 1)
	w := e.NewWorker()
	w.Classify(b, sas)
	w.Encap(b, sas)
	if iv := b.Pkts[0].Data()[ipv4Len+udpLen+8:][:8]; hex.EncodeToString(iv) != fmt.Sprintf("%016x", uint64(1e18)+1) {
		t.Errorf("IV %x, want the wall-clock base plus 1", iv)
	}
	pe.NewWorker().Decap(b, nil)
	if r := reasons(b); r[0] != "ok" || string(b.Pkts[0].Data()) != string(d) {
		t.Errorf("peer decap: %v", r)
	}
	pool.PutBatch(b)

	// Errors name the reference, never a key.
	bad := s
	bad.KeyOut, _ = config.ParseSecret("abcdef")
	if _, _, err := NewStatic(&bad, StaticOptions{LocalFor: func(netip.Addr) (netip.Addr, bool) { return gwA4, true }}); err == nil ||
		strings.Contains(err.Error(), "abcdef") {
		t.Errorf("bad key: %v", err)
	}
}

// TestInnerHandling: partial checksums are finished before encryption,
// link padding is not encrypted, DSCP/ECN and DF are copied out and ECN
// is combined back in as RFC 6040 says.
func TestInnerHandling(t *testing.T) {
	tn := newTunnel(t, tunnelOpts{cipher: AES128GCM16})
	// A UDP packet with a partial checksum (the pseudo-header sum only) and
	// 10 bytes of link padding behind it.
	full := udpPacket(hostA4, hostB4, 7, 8, 60, 3)
	partial := append([]byte(nil), full...)
	partial[1] = 0xb8 | ecnECT0 // DSCP EF, ECT(0)
	partial[6] = 0x40           // DF
	packet.IPv4(partial).FillChecksum()
	packet.UDP(partial[20:]).SetChecksum(packet.PseudoHeaderChecksumAddr(packet.IPProtoUDP, hostA4, hostB4, 40))
	padded := append(partial, make([]byte, 10)...)
	b := tn.batch(t, 1, padded)
	if !b.Pkts[0].SetCsumPartial(20, 6) {
		t.Fatal("SetCsumPartial")
	}
	tn.wa.Classify(b, tn.sas)
	tn.wa.Encap(b, tn.sas)
	out := b.Pkts[0].Data()
	if out[1] != 0xb8|ecnECT0 || out[6]&0x40 == 0 || b.Pkts[0].Flags != 0 {
		t.Errorf("outer TOS %#x flags %#x, packet flags %v", out[1], out[6], b.Pkts[0].Flags)
	}
	if want := 20 + 16 + 60 + padLen(60) + 2 + 16; len(out) != want {
		t.Errorf("outer length %d, want %d (link padding encrypted?)", len(out), want)
	}
	// Congestion experienced on the way.
	out[1] = out[1]&^ecnMask | ecnCE
	packet.IPv4(out).FillChecksum()
	tn.wb.Decap(b, nil)
	got := b.Pkts[0].Data()
	if r := reasons(b); r[0] != "ok" {
		t.Fatalf("decap: %v", r)
	}
	if got[1] != 0xb8|ecnCE || !packet.IPv4(got).IsChecksumValid() {
		t.Errorf("inner TOS %#x after CE outside", got[1])
	}
	var p packet.Parsed
	if err := p.DecodeIP(got); err != nil || p.VerifyL4Checksum() != nil {
		t.Errorf("inner UDP checksum not finished: %v %v", err, p.VerifyL4Checksum())
	}
	tn.free(b)

	// CE outside a Not-ECT packet: dropped (RFC 6040 section 4.2).
	b = tn.encrypt(t, 2, udpPacket(hostA6, hostB6, 7, 8, 100, 3))
	b.Pkts[0].Data()[1] |= ecnCE // the outer IPv4 TOS
	packet.IPv4(b.Pkts[0].Data()).FillChecksum()
	tn.wb.Decap(b, nil)
	if r := reasons(b); r[0] != "esp-ecn-drop" {
		t.Errorf("CE outside Not-ECT: %v", r)
	}
	tn.free(b)
}

// TestSelectorPorts: an SA restricted to a protocol and ports takes only
// that traffic, outbound and inbound.
func TestSelectorPorts(t *testing.T) {
	key := testKey(AES128GCM16, 5)
	sel := spd.Selector{Local: siteA, Remote: siteB, Proto: 17, RemotePorts: spd.PortRange{From: 53, To: 53}}
	out, _ := NewSA(Config{Name: "dns", Dir: Outbound, SPI: 0x700, Cipher: AES128GCM16, Key: key, Local: gwA4, Peer: gwB4, Selector: sel})
	e := NewEngine(Options{})
	e.Install(0, out)
	e.SetPolicies([]*Policy{NewPolicy("dns", sel, out)})
	w := e.NewWorker()
	pool := newPool(t, 4)
	b := dataplane.NewBatch(3)
	for _, d := range [][]byte{udpPacket(hostA4, hostB4, 999, 53, 64, 0), udpPacket(hostA4, hostB4, 999, 54, 64, 0), udpPacket(hostA6, hostB6, 53, 53, 64, 0)} {
		p, _ := pool.Get()
		copy(p.Append(len(d)), d)
		b.Add(p)
	}
	sas := make([]*SA, 3)
	w.Classify(b, sas)
	if sas[0] != out || sas[1] != nil || sas[2] != out {
		t.Errorf("classified %v", sas)
	}
	pool.PutBatch(b)
}
