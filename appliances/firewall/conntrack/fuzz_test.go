package conntrack

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/nfvkit/nfvkit/appliances/firewall/conntrack/cttest"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// FuzzTrack feeds a small table arbitrary sequences of packets: TCP
// segments with any flags, numbers and options between a few endpoints,
// UDP, echo, GRE, ICMP errors quoting earlier packets (cut anywhere),
// fragments, and raw bytes; it creates every new connection, sometimes
// with a made-up reply tuple, and moves time and the expiry hand at random.
// Nothing may panic and the table's structure must hold after every packet.
func FuzzTrack(f *testing.F) {
	f.Add([]byte("\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x00\x10\x00\x01" +
		"\x00\x10\x12\x00\x00\x00\x05\x00\x00\x00\x02\x10\x00\x01" +
		"\x00\x00\x10\x00\x00\x00\x02\x00\x00\x00\x06\x10\x00\x01"))
	f.Add([]byte("\x01\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x30\x00"))
	f.Add([]byte("\x02\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x15\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff"))
	f.Add([]byte("\x05\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x11\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ct, err := New(Options{Max: 8, Seed: 7, FragSlots: 4, Loose: len(data)%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		now := int64(time.Hour)
		var r Result
		var p packet.Parsed
		var recent [4][]byte
		for n := 0; len(data) >= 14 && n < 200; n++ {
			op := data[:14]
			data = data[14:]
			f := fuzzFrame(op, &recent, &data)
			now += int64(op[13]) * int64(100*time.Millisecond)
			if op[12]&7 == 0 {
				ct.Expire(now, int(op[12]>>3))
			}
			if f == nil || p.Decode(f) != nil {
				continue
			}
			recent[n%len(recent)] = f
			s := ct.Track(&p, now, &r)
			if s == StateNew && r.Entry == nil && !r.Untracked() {
				var reply *Tuple
				if op[12]&8 != 0 {
					// A made-up translation: another endpoint's tuple.
					x := r.Tuple().Reverse()
					x.DstPort ^= uint16(op[11])
					reply = &x
				}
				if e, err := ct.Create(&r, reply, now); err == nil && r.Entry != e {
					t.Fatal("Create did not set the result's entry")
				}
			}
			if s == StateRelated && (r.Entry == nil || r.Inner.L4Off > r.Inner.End) {
				t.Fatalf("related without a proper quote: %+v", r.Inner)
			}
			if err := ct.check(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

var fuzzAddrs = [...]netip.Addr{
	netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("198.51.100.3"), netip.MustParseAddr("192.0.2.1"),
	netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::3"), netip.MustParseAddr("::ffff:192.0.2.1"),
}

// fuzzFrame builds the frame an op describes:
//
//	op[0]    kind: 0 TCP, 1 UDP, 2 echo, 3 GRE, 4 ICMP error, 5 fragments, 6 raw
//	op[1]    endpoints: bit 0-1 source, 2-3 destination, 4 family (+4 in fuzzAddrs)
//	op[2]    TCP flags / ICMP type
//	op[3:7]  sequence number   op[7:9] low 16 bits of the ack (high bits from seq)
//	op[9]    window scale and options   op[10] payload length / quote cut
//	op[11]   ports
func fuzzFrame(op []byte, recent *[4][]byte, rest *[]byte) []byte {
	fam := int(op[1]>>4&1) * 4
	src := fuzzAddrs[fam+int(op[1]&3)]
	dst := fuzzAddrs[fam+int(op[1]>>2&3)]
	if src.Is4() != dst.Is4() {
		dst = src
	}
	sp := netip.AddrPortFrom(src, 1000+uint16(op[11]&3))
	dp := netip.AddrPortFrom(dst, 1000+uint16(op[11]>>2&3))
	n := int(op[10])
	switch op[0] % 7 {
	case 0:
		seq := binary.BigEndian.Uint32(op[3:7])
		ackn := seq&0xffff0000 | uint32(binary.BigEndian.Uint16(op[7:9]))
		var o *cttest.TCPOptions
		if op[9]&0x80 != 0 {
			o = &cttest.TCPOptions{HasWScale: true, WScale: int(op[9] & 15), SACKPerm: op[9]&0x40 != 0}
			if op[9]&0x20 != 0 {
				o.SACK = [][2]uint32{{ackn, ackn + uint32(op[10])*100}}
			}
		}
		return cttest.TCP(cttest.Seg{Src: sp, Dst: dp, Flags: packet.TCPFlags(op[2]), Seq: seq, Ack: ackn, Win: uint16(op[9]) << 8, Len: n, Opts: o})
	case 1:
		return cttest.UDP(sp, dp, n)
	case 2:
		typ := op[2]
		switch typ % 4 {
		case 0:
			typ = 8
		case 1:
			typ = 0
		}
		if src.Is6() {
			typ = 128 + typ%16
		}
		return cttest.ICMP(src, dst, typ, 0, uint32(op[11]&3)<<16, nil)
	case 3:
		return cttest.Proto(src, dst, packet.IPProtoGRE, n)
	case 4:
		q := recent[op[2]%4]
		if q == nil {
			return nil
		}
		var p packet.Parsed
		if p.Decode(q) != nil || p.IPVersion == 0 || (p.IPVersion == 6) != src.Is6() {
			return nil
		}
		return cttest.Error(src, dst, errType(src), op[9]%8, q, n)
	case 5:
		base := cttest.UDP(sp, dp, 64+n)
		fs := cttest.Fragments(base, 16+8*int(op[9]%8), uint32(op[11]))
		return fs[int(op[2])%len(fs)]
	default:
		m := min(n, len(*rest))
		f := append([]byte(nil), (*rest)[:m]...)
		*rest = (*rest)[m:]
		return f
	}
}
