package esp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp/spd"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// Addresses of the test topology: site A (10.1/16, fd01::/48) behind
// gateway A, site B (10.2/16, fd02::/48) behind gateway B.
var (
	gwA4, gwB4 = netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
	gwA6, gwB6 = netip.MustParseAddr("2001:db8::a"), netip.MustParseAddr("2001:db8::b")
	hostA4     = netip.MustParseAddr("10.1.0.5")
	hostB4     = netip.MustParseAddr("10.2.0.9")
	hostA6     = netip.MustParseAddr("fd01::5")
	hostB6     = netip.MustParseAddr("fd02::9")
	siteA      = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd01::/48")}
	siteB      = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16"), netip.MustParsePrefix("fd02::/48")}
)

var allCiphers = []Cipher{AES128GCM16, AES256GCM16, ChaCha20Poly1305}

func unhex(s string) []byte {
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", ":", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// testKey is deterministic keying material for a cipher, distinct per seed.
func testKey(c Cipher, seed byte) []byte {
	k := make([]byte, c.KeyLen())
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return k
}

func newPool(t testing.TB, n int) *dataplane.Pool {
	t.Helper()
	r, err := dataplane.NewRegion(n, dataplane.DefaultFrameSize, dataplane.DefaultHeadroom)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return dataplane.NewPool(r)
}

// udpPacket builds an IPv4 or IPv6 UDP packet of total length size
// (at least 28 or 48) with a payload pattern from seed and valid checksums.
func udpPacket(src, dst netip.Addr, sport, dport uint16, size int, seed byte) []byte {
	hl := ipv4Len
	if src.Is6() {
		hl = ipv6Len
	}
	b := make([]byte, size)
	for i := hl + udpLen; i < size; i++ {
		b[i] = seed + byte(i)
	}
	if src.Is4() {
		ip := packet.IPv4(b)
		ip.SetVersionIHL(5)
		ip.SetTotalLen(uint16(size))
		ip.SetID(uint16(seed))
		ip.SetTTL(64)
		ip.SetProtocol(packet.IPProtoUDP)
		ip.SetSrc(src)
		ip.SetDst(dst)
		ip.FillChecksum()
	} else {
		ip := packet.IPv6(b)
		ip.SetVersionTrafficFlow(0, 0)
		ip.SetPayloadLen(uint16(size - ipv6Len))
		ip.SetNextHeader(packet.IPProtoUDP)
		ip.SetHopLimit(64)
		ip.SetSrc(src)
		ip.SetDst(dst)
	}
	u := packet.UDP(b[hl:])
	u.SetSrcPort(sport)
	u.SetDstPort(dport)
	u.SetLength(uint16(size - hl))
	c := ^packet.Checksum(u, packet.PseudoHeaderChecksumAddr(packet.IPProtoUDP, src, dst, uint16(size-hl)))
	if c == 0 {
		c = 0xffff
	}
	u.SetChecksum(c)
	return b
}

// tunnel is two gateways' engines joined by one SA: A's outbound SA and
// B's inbound SA share a key.
type tunnel struct {
	a, b    *Engine
	wa, wb  *Worker
	out, in *SA
	pol     *Policy
	pool    *dataplane.Pool
	sas     []*SA
	outer6  bool
	encap   bool
	cipher  Cipher
	esn     bool
}

type tunnelOpts struct {
	spi    uint32 // default 0x1234
	cipher Cipher
	outer6 bool
	encap  bool
	esn    bool
	limits Limits
}

func newTunnel(t testing.TB, o tunnelOpts) *tunnel {
	t.Helper()
	la, lb := gwA4, gwB4
	if o.outer6 {
		la, lb = gwA6, gwB6
	}
	key := testKey(o.cipher, 0x40)
	if o.spi == 0 {
		o.spi = 0x1234
	}
	out, err := NewSA(Config{Name: "a-to-b", Dir: Outbound, SPI: o.spi, Cipher: o.cipher, Key: key, ESN: o.esn,
		Local: la, Peer: lb, Encap: o.encap, Selector: spd.Selector{Local: siteA, Remote: siteB}, Limits: o.limits})
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewSA(Config{Name: "from-a", Dir: Inbound, SPI: o.spi, Cipher: o.cipher, Key: key, ESN: o.esn,
		Local: lb, Peer: la, Encap: o.encap, Selector: spd.Selector{Local: siteB, Remote: siteA}, Limits: o.limits})
	if err != nil {
		t.Fatal(err)
	}
	tn := &tunnel{a: NewEngine(Options{}), b: NewEngine(Options{}), out: out, in: in, pool: newPool(t, 512),
		sas: make([]*SA, 256), outer6: o.outer6, encap: o.encap, cipher: o.cipher, esn: o.esn}
	if err := tn.a.Install(1, out); err != nil {
		t.Fatal(err)
	}
	if err := tn.b.Install(1, in); err != nil {
		t.Fatal(err)
	}
	tn.pol = NewPolicy("a-b", out.Selector(), out)
	if err := tn.a.SetPolicies([]*Policy{tn.pol}); err != nil {
		t.Fatal(err)
	}
	tn.wa, tn.wb = tn.a.NewWorker(), tn.b.NewWorker()
	return tn
}

// batch puts copies of pkts into fresh frames.
func (tn *tunnel) batch(t testing.TB, now int64, pkts ...[]byte) *dataplane.Batch {
	t.Helper()
	b := dataplane.NewBatch(len(pkts) + 8)
	b.Now = now
	for _, d := range pkts {
		p, ok := tn.pool.Get()
		if !ok {
			t.Fatal("pool empty")
		}
		copy(p.Append(len(d)), d)
		p.Forward(1)
		b.Add(p)
	}
	return b
}

// encrypt runs A's outbound path on copies of pkts and returns the batch.
func (tn *tunnel) encrypt(t testing.TB, now int64, pkts ...[]byte) *dataplane.Batch {
	t.Helper()
	b := tn.batch(t, now, pkts...)
	tn.wa.Classify(b, tn.sas)
	tn.wa.Encap(b, tn.sas)
	return b
}

// wire returns the bytes of every packet of b.
func wire(b *dataplane.Batch) [][]byte {
	var out [][]byte
	for i := range b.Pkts {
		out = append(out, bytes.Clone(b.Pkts[i].Data()))
	}
	return out
}

func (tn *tunnel) free(b *dataplane.Batch) { tn.pool.PutBatch(b) }

// reasons lists the verdicts of b, "ok" for Forward.
func reasons(b *dataplane.Batch) []string {
	var out []string
	for i := range b.Pkts {
		p := &b.Pkts[i]
		switch p.Verdict {
		case dataplane.Forward:
			out = append(out, "ok")
		case dataplane.Punt:
			out = append(out, "punt")
		default:
			out = append(out, p.Reason.String())
		}
	}
	return out
}

func (o tunnelOpts) String() string {
	fam := "4"
	if o.outer6 {
		fam = "6"
	}
	s := fmt.Sprintf("%v/outer%s", o.cipher, fam)
	if o.encap {
		s += "/udp"
	}
	if o.esn {
		s += "/esn"
	}
	return s
}

// allTunnels is every combination of cipher, outer family, encapsulation
// and ESN.
func allTunnels() []tunnelOpts {
	var out []tunnelOpts
	for _, c := range allCiphers {
		for _, v6 := range []bool{false, true} {
			for _, udp := range []bool{false, true} {
				for _, esn := range []bool{false, true} {
					out = append(out, tunnelOpts{cipher: c, outer6: v6, encap: udp, esn: esn})
				}
			}
		}
	}
	return out
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func selector(local, remote []netip.Prefix) spd.Selector {
	return spd.Selector{Local: local, Remote: remote}
}
