package classify_test

import (
	"net/netip"
	"testing"

	"github.com/nfvkit/nfvkit/appliances/firewall/classify"
	"github.com/nfvkit/nfvkit/appliances/firewall/classify/classifytest"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// FuzzClassify builds small rule sets and keys from the input over a tiny
// value space (so that rules overlap and nest) and checks the compiled
// classifier against the linear reference.
func FuzzClassify(f *testing.F) {
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"))
	f.Add([]byte("\xff\x00\xff\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		prefixes := []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.1.1.0/24"),
			netip.MustParsePrefix("10.1.1.1/32"), netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("2001:db8::/32"),
			netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("::/0"),
		}
		addrs := []netip.Addr{netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.1.1.2"), netip.MustParseAddr("10.2.0.1"),
			netip.MustParseAddr("11.0.0.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db9::1")}
		protos := []uint8{0, 1, 6, 17, 58, 47}
		n := int(next() % 24)
		rules := make([]classify.Rule, n)
		for i := range rules {
			r := &rules[i]
			a, b, c, d := next(), next(), next(), next()
			if a&1 != 0 {
				r.Src = []netip.Prefix{prefixes[int(a>>1)%len(prefixes)]}
			}
			if a&0x10 != 0 {
				r.Dst = append(r.Dst, prefixes[int(a>>5)%len(prefixes)], prefixes[int(b)%len(prefixes)])
			}
			r.Proto = protos[int(b>>4)%len(protos)]
			switch r.Proto {
			case 6, 17:
				if c&1 != 0 {
					lo := uint16(c >> 1 & 7)
					r.DstPorts = []classify.PortRange{{Lo: lo, Hi: lo + uint16(d&3)}}
				}
				if c&0x10 != 0 {
					r.SrcPorts = []classify.PortRange{{Lo: uint16(d >> 4 & 3), Hi: 65535 - uint16(d>>6)}}
				}
			case 1, 58:
				if c&1 != 0 {
					r.ICMPTypes = []uint8{c >> 1 & 3, d & 3}
				}
			}
			if d&0x10 != 0 {
				r.In = []uint16{uint16(d >> 5 & 3), classify.Self}
			}
			if c&0x80 != 0 {
				r.Out = []uint16{uint16(c >> 5 & 3)}
			}
			r.State = config.ConnState(b & 15)
			r.Action = classify.Action(i % 3)
			r.Never = a == 0xff
		}
		// Cut nodes from a few rules on (with the defaults they need 64),
		// so that they meet these small sets too.
		restore := classify.SetCuts(4, 2, 16)
		c, err := classify.Compile(rules)
		restore()
		if err != nil {
			t.Fatal(err)
		}
		var keys []classify.Key
		var wants []classify.Match
		for len(data) >= 5 {
			a, b, p, e, s := next(), next(), next(), next(), next()
			k := classify.Key{
				Src: addrs[int(a)%len(addrs)], Dst: addrs[int(b)%len(addrs)],
				Proto: protos[int(p)%len(protos)], SrcPort: uint16(e & 7), DstPort: uint16(e >> 3 & 15),
				ICMPType: e & 3, In: uint16(s & 3), Out: uint16(s >> 2 & 3), State: config.ConnState(1 << (s >> 4 & 3)),
			}
			if s&0x40 != 0 {
				k.In = classify.Self
			}
			want := classifytest.Linear(rules, &k)
			if got := c.Classify(&k); got != want {
				t.Fatalf("key %+v: got %+v, want %+v\nrules %+v", k, got, want, rules)
			}
			keys, wants = append(keys, k), append(wants, want)
		}
		got := make([]classify.Match, len(keys))
		c.ClassifyBurst(keys, got)
		for i := range keys {
			if got[i] != wants[i] {
				t.Fatalf("key %+v in a burst: got %+v, want %+v\nrules %+v", keys[i], got[i], wants[i], rules)
			}
		}
	})
}
