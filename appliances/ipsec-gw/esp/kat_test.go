package esp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// Known-answer tests. Three sources:
//
//   - draft-mcgrew-gcm-test-01 ("Test Cases for the use of GCM and GMAC in
//     IPsec ESP"): whole AES-GCM ESP packets, 32-bit and extended
//     sequence numbers, run through the SA's seal and open, trailer parsing
//     and padding. (Its case 7 uses a 192-bit key, which ESP here does not
//     offer, and is left out.)
//   - RFC 7634 Appendix A: a whole ChaCha20-Poly1305 tunnel-mode ESP
//     packet, run through seal, open and the full Decap path; and RFC 8439
//     section 2.8.2's AEAD vector, whose 12-byte AAD has exactly the ESN
//     layout (SPI, high, low), run through open with ESN.
//   - The GCM specification's test cases (McGrew and Viega, the vectors
//     NIST's SP 800-38D validation uses), cases 2-4 (AES-128) and 14-16
//     (AES-256), run through the SA's key and salt split and nonce.

type espVector struct {
	name   string
	cipher Cipher
	key    string // key || salt
	spi    uint32
	seq    uint64
	esn    bool
	iv     string
	pt     string // ESP payload: inner data, padding, pad length, next header
	packet string // SPI .. ICV
}

var mcgrewVectors = []espVector{
	{"mcgrew-1", AES128GCM16, "4c80cdefbb5d10da906ac73c3613a634 2e443b68", 0x4321, 0x8765432100000000, true, "4956ed7e3b244cfe",
		`45000048699a000080114db7c0a80102 c0a801010a9bf15638d3010000010000 00000000045f736970045f7564700373
		 69700963796265726369747902646b00 0021000101020201`,
		`00004321000000004956ed7e3b244cfe fecf537e729d5b07dc30df528dd22b76 8d1b98736696a6fd348509fa13ceac34
		 cfa2436f14a3f3cf65925bf1f4a13c5d 15b21e1884f5ff6247aeabb786b93bce 61bc17d768fd9732459018148f6cbe72
		 2fd04796562dfdb4`},
	{"mcgrew-2", AES128GCM16, "feffe9928665731c6d6a8f9467308308 cafebabe", 0xa5f8, 0xa, false, "facedbaddecaf888",
		`4500003e698f000080114dccc0a80102 c0a801010a980035002a2343b2d00100 00010000000000000373697009637962
		 65726369747902646b00000100010001`,
		`0000a5f80000000afacedbaddecaf888 deb22cd9b07c72c16e3a65beeb8df304 a5a5897d33ae530f1ba76d5d114d2a5c
		 3de81827c10e9a4f51330d0eec416642 cfbb85a5b47e48a4ec3b9ba95d918bd1 83b70d3aa8bc6ee4c309e9d85a41ad4a`},
	{"mcgrew-3", AES256GCM16, "abbccddef00112233445566778899aababbccddef00112233445566778899aab 11223344", 0x4a2cbfe3, 2, false, "0102030405060708",
		`4500003069a6400080062690c0a80102 9389155e0a9e008b2dc57ee000000000 7002400020bf0000020405b401010402
		 01020201`,
		`4a2cbfe3000000020102030405060708 ff425c9b724599df7a3bcd510194e00d 6a78107f1b0b1cbf06efae9d65a5d763
		 748a637985771d347f0545659f14e99d ef842d8eb335f4eecfdbf831824b4c49 15956c96`},
	{"mcgrew-4", AES128GCM16, "00000000000000000000000000000000 00000000", 0, 1, false, "0000000000000000",
		`4500003c99c500008001cb7a40679318 010101010800075c0200440061626364 65666768696a6b6c6d6e6f7071727374
		 75767761626364656667686901020201`,
		`00000000000000010000000000000000 4688daf2f973a392732909c331d56d60 f694abaa414b5e7ff5fdcdfff5e9a284
		 456476492719ffb64de7d9dca1e1d894 bc3bd57873ed4d181d19d4d5c8c18af3 f821d496eeb096e98ad2b69e4799c71d`},
	{"mcgrew-5", AES128GCM16, "3de09874b388e6491988d0c3607eae1f 57690e43", 0x42f67e3f, 0x1010101010101010, true, "4e280000a2fca1a3",
		`4500003c99c300008001cb7c40679318 010101010800085c0200430061626364 65666768696a6b6c6d6e6f7071727374
		 75767761626364656667686901020201`,
		`42f67e3f101010104e280000a2fca1a3 fba2caa4853cf9f0f22cb10d86dd83b0 fec75691cf1a04b00d1138ec9c357917
		 65acbd8701ad79845bf9fe3fba487bc9 1755e6662b4c8d0d1f5e22739530320a e0d731cc978ecafaeae88f00e80d6e48`},
	{"mcgrew-6", AES128GCM16, "3de09874b388e6491988d0c3607eae1f 57690e43", 0x42f67e3f, 0x1010101010101010, true, "4e280000a2fca1a3",
		`4500001c42a200008001441f406793b6 e00000020a00f5ff01020201`,
		`42f67e3f101010104e280000a2fca1a3 fba2ca845e5df9f0f22c3e6e86dd831e 1fc65792cd1af9130e1379ed369f071f
		 35e034be95f112e4e7d05d35`},
	{"mcgrew-8", AES128GCM16, "abbccddef00112233445566778899aab decaf888", 0x100, 1, true, "cafedebaceface74",
		`4500004933ba00007f119106c3fb1d10 c2b1d326c02831ce0035dd7b800302d5 00004e20001e8c18d75b81dc91baa047
		 6b91b924b280389d92c963bac046ec95 9b6266c04722b14923010101`,
		`0000010000000001cafedebaceface74 18a6fd42f72cbf4ab2a2ea901f73d814 e3e7f243d95412e1c349c1d2fbec168f
		 9190feebaf2cb01984e65863965d7472 b79da345e0e780191f0d2f0e0f496c22 6f2127b27db35724e7845d68651f57e6
		 5f354f75ff17015769623436`},
	{"mcgrew-9", AES256GCM16, "abbccddef00112233445566778899aababbccddef00112233445566778899aab 73616c74", 0x17405e67, 0x156f3126dd0db99b, true, "616e640169766563",
		`45080028732c00004006e9f90a010612 0a01038f06b88023dd6bafbecb712602 50101f646d540001`,
		`17405e67dd0db99b616e640169766563 f2d69ecdbd5a0d5b8d5ef38bad4da58d 1f278fde98ef67549d524a3018d9a57f
		 f4d3a31ce673119e451626c2415771e3 b7eebca614c89b35`},
	{"mcgrew-10", AES128GCM16, "3de09874b388e6491988d0c3607eae1f 57690e43", 0x42f67e3f, 0x1010101010101010, true, "4e280000a2fca1a3",
		`45000049333e00007f119182c3fb1d10 c2b1d326c02831ce0035cb458003025b 000001e0001e8c18d65759d52284a035
		 2c71475c8880391c764d6e5ee0496b32 5ae270c03899493915010101`,
		`42f67e3f101010104e280000a2fca1a3 fba2cad12fc1f9f00d3cebf305410db8 3d7784b607323d220f24b0a97d541828
		 00cadb0f68d99ef0e0c0c89ae9bea888 4e52d65bc1afd0740f742444747b5b39 ab533163aad4550ee5160975cdb608c5
		 769189609763b8e18caa81e2`},
	{"mcgrew-11", AES256GCM16, "abbccddef00112233445566778899aababbccddef00112233445566778899aab 73616c74", 0x17405e67, 0x156f3126dd0db99b, true, "616e640169766563",
		`636973636f0172756c65730174686501 6e6574776501646566696e6501746865 746563686e6f6c6f6769657301746861
		 7477696c6c01646566696e65746f6d6f 72726f7701020201`,
		`17405e67dd0db99b616e640169766563 d4b7ed86a1777f2ea13d6973d324c69e 7b43f826fb56831226508bebd2dceb18
		 d0a6df10e5487df074113e14c641024e 3e6773d91a62ee429b043a10e3efe6b0 12a49363412364f8c0cac587f249e56b
		 11e24f30e44ccc76`},
	{"mcgrew-12", AES128GCM16, "7d773d00c144c525ac619d18c84a3f47 d9664267", 0x335467ae, 0xffffffff, false, "43457e9182443bc6",
		`01020201`,
		`335467aeffffffff43457e9182443bc6 437f866bcb3f699fe9b0822bac961c45 04bef270`},
	{"mcgrew-13", AES128GCM16, "abbccddef00112233445566778899aab decaf888", 0x100, 1, true, "cafedebaceface74",
		`746f016265016f72016e6f7401746f01 62650001`,
		`0000010000000001cafedebaceface74 29c9fc69a197d038ccdd14e2ddfcaa05 43332164412503524303ed3c6c5f2838
		 43af8c3e`},
	{"mcgrew-14", AES256GCM16, "6c6567616c697a656d6172696a75616e61616e64646f69746265666f72656961 7475726e", 0x796b6963, 0xffffffffffffffff, true, "333021696765746d",
		`45000030da3a00008001df3bc0a80005 c0a800010800c6cd0200070061626364 65666768696a6b6c6d6e6f7071727374
		 01020201`,
		`796b6963ffffffff333021696765746d f97ab2aa356d8edce17644ac8c78e25d d24dedbb29ebf1b64a274b39b49c3a86
		 4cd3d78ca4ae68a32b42458fb57dbe82 1dcc63b9d0937ba2945f669368661a32 9fb4c053`},
	// RFC 7634 Appendix A: ChaCha20-Poly1305 ESP, tunnel mode, an ICMP
	// echo request from 198.51.100.5 to 192.0.2.5.
	{"rfc7634-A", ChaCha20Poly1305, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3", 0x01020304, 5, false, "1011121314151617",
		`4500 0054 a6f2 0000 4001 e778 c633 6405 c000 0205 0800 5b7a 3a08 0000 553b ec10
		 0007 3627 0809 0a0b 0c0d 0e0f 1011 1213 1415 1617 1819 1a1b 1c1d 1e1f 2021 2223
		 2425 2627 2829 2a2b 2c2d 2e2f 3031 3233 3435 3637 0102 0204`,
		`01020304 00000005 1011121314151617
		 240394 28b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c614ee8099d52844eb61aa95dfab4c02f7
		 2aa71e7c4c4f64c9befe2facc638e8f3cbec163fac469b502773f6fb94e664da9165b82829f641e0
		 76aaa8266b7fb0f7b11b369907e1ad43`},
	// RFC 8439 section 2.8.2: the AAD 50515253 c0c1c2c3 c4c5c6c7 read as
	// SPI, ESN high and low halves.
	{"rfc8439-2.8.2", ChaCha20Poly1305, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f 07000000", 0x50515253, 0xc0c1c2c3c4c5c6c7, true, "4041424344454647",
		`4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a204966204920636f756c64206f6666657220796f75206f6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73637265656e20776f756c642062652069742e`,
		`50515253 c4c5c6c7 4041424344454647
		 d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b
		 1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
		 3ff4def08e4b7a9de576d26586cec64b6116 1ae10b594f09e26a7e902ecbd0600691`},
}

// katSA makes an inbound SA for a vector; the SPI of the vector may be one
// the constructor refuses (draft case 4 uses 0), so it is set afterwards:
// seal and open take the SPI from the packet.
func katSA(t *testing.T, v espVector) *SA {
	t.Helper()
	sa, err := NewSA(Config{Name: v.name, Dir: Inbound, SPI: 0x1000, Cipher: v.cipher, Key: unhex(v.key), ESN: v.esn,
		Local: gwA4, Peer: gwB4, Selector: selector(siteA, siteB)})
	if err != nil {
		t.Fatal(err)
	}
	sa.spi = v.spi
	return sa
}

func TestKnownAnswerESP(t *testing.T) {
	w := NewEngine(Options{}).NewWorker()
	for _, v := range mcgrewVectors {
		t.Run(v.name, func(t *testing.T) {
			sa := katSA(t, v)
			pt, want := unhex(v.pt), unhex(v.packet)
			if be32(want[0:]) != v.spi || be32(want[4:]) != uint32(v.seq) {
				t.Fatalf("vector header %x disagrees with spi %#x seq %#x", want[:8], v.spi, v.seq)
			}

			// Encrypt: header and IV written, payload in place, room for the ICV.
			buf := make([]byte, len(want), len(want)+64)
			copy(buf, want[:hdrLen+ivLen])
			copy(buf[hdrLen+ivLen:], pt)
			w.seal(sa, buf, len(pt), v.seq)
			if !bytes.Equal(buf, want) {
				t.Fatalf("seal:\n got %x\nwant %x", buf, want)
			}

			// Decrypt in place.
			buf = bytes.Clone(want)
			got, ok := w.open(sa, buf, v.seq)
			if !ok || !bytes.Equal(got, pt) {
				t.Fatalf("open: %v\n got %x\nwant %x", ok, got, pt)
			}
			// A wrong high half of the sequence number changes the AAD.
			if v.esn {
				buf = bytes.Clone(want)
				if _, ok := w.open(sa, buf, v.seq^1<<32); ok {
					t.Fatal("open accepted the wrong ESN high half")
				}
			}

			// Trailer: our padding for the data length is the vector's.
			n, next, ok := parseTrailer(pt)
			if v.name == "rfc8439-2.8.2" {
				return // not an ESP payload: no trailer to check
			}
			if !ok {
				t.Fatalf("trailer of %x rejected", pt)
			}
			tr := make([]byte, padLen(n)+trailerLen)
			writeTrailer(tr, padLen(n), next)
			if !bytes.Equal(tr, pt[n:]) {
				t.Errorf("our trailer for %d bytes is %x, the vector's %x", n, tr, pt[n:])
			}
		})
	}
}

// TestKnownAnswerDecap runs RFC 7634's packet through the whole inbound
// path: SPI lookup, replay window, open, trailer, inner IPv4 packet,
// selector.
func TestKnownAnswerDecap(t *testing.T) {
	var v espVector
	for _, x := range mcgrewVectors {
		if x.name == "rfc7634-A" {
			v = x
		}
	}
	sa, err := NewSA(Config{Name: "rfc7634", Dir: Inbound, SPI: v.spi, Cipher: v.cipher, Key: unhex(v.key),
		Local: gwB4, Peer: gwA4, Selector: selector(
			[]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")})})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(Options{})
	if err := e.Install(0, sa); err != nil {
		t.Fatal(err)
	}
	pool := newPool(t, 4)
	b := dataplane.NewBatch(2)
	for range 2 {
		p, _ := pool.Get()
		d := indepOuter(gwA4, gwB4, 0, 0, unhex(v.packet))
		copy(p.Append(len(d)), d)
		p.Forward(3)
		b.Add(p)
	}
	e.NewWorker().Decap(b, nil)
	inner := unhex(v.pt)
	inner = inner[:binary.BigEndian.Uint16(inner[2:])]
	if r := reasons(b); r[0] != "ok" || !bytes.Equal(b.Pkts[0].Data(), inner) {
		t.Errorf("decap: %v\n got %x\nwant %x", r[0], b.Pkts[0].Data(), inner)
	}
	if r := reasons(b); r[1] != "esp-replay" {
		t.Errorf("the same packet again: %v", r[1])
	}
	pool.PutBatch(b)
}

// TestKnownAnswerGCM runs the GCM specification's test cases through the
// SA's cipher setup: the first four bytes of the 96-bit IV are the salt
// at the end of the keying material, the other eight the ESP IV.
func TestKnownAnswerGCM(t *testing.T) {
	const (
		k128 = "feffe9928665731c6d6a8f9467308308"
		iv   = "cafebabefacedbaddecaf888"
		p64  = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
		aad  = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
	)
	cases := []struct {
		name           string
		c              Cipher
		key, iv        string
		pt, aad, ct, t string
	}{
		{"case-2", AES128GCM16, "00000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "",
			"0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
		{"case-3", AES128GCM16, k128, iv, p64, "",
			"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
			"4d5c2af327cd64a62cf35abd2ba6fab4"},
		{"case-4", AES128GCM16, k128, iv, p64[:120], aad,
			"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
			"5bc94fbc3221a5db94fae95ae7121a47"},
		{"case-14", AES256GCM16, "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "",
			"cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
		{"case-15", AES256GCM16, k128 + k128, iv, p64, "",
			"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
			"b094dac5d93471bdec1a502270e3cc6c"},
		{"case-16", AES256GCM16, k128 + k128, iv, p64[:120], aad,
			"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
			"76fc6ece0f4e1768cddf8853bb2d551b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ivb := unhex(c.iv)
			sa, err := NewSA(Config{Name: c.name, Dir: Outbound, SPI: 0x1000, Cipher: c.c, Key: append(unhex(c.key), ivb[:4]...),
				Local: gwA4, Peer: gwB4, Selector: selector(siteA, siteB)})
			if err != nil {
				t.Fatal(err)
			}
			nonce := append(sa.salt[:], ivb[4:]...)
			got := sa.aead.Seal(nil, nonce, unhex(c.pt), unhex(c.aad))
			if want := unhex(c.ct + c.t); !bytes.Equal(got, want) {
				t.Errorf("\n got %x\nwant %x", got, want)
			}
		})
	}
}
