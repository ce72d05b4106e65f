package packet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// checkInvariants asserts what a successful Decode promises about p.
func checkInvariants(t *testing.T, p *Parsed, frame []byte) {
	t.Helper()
	if !(0 <= p.L3Off && p.L3Off <= p.L4Off && p.L4Off <= p.PayloadOff && p.PayloadOff <= p.End && p.End <= len(frame)) {
		t.Fatalf("offsets out of order: L3 %d L4 %d payload %d end %d len %d", p.L3Off, p.L4Off, p.PayloadOff, p.End, len(frame))
	}
	if p.L2Len()+p.L3Len()+p.L4Len()+p.PayloadLen() != p.End {
		t.Fatalf("lengths do not add up")
	}
	switch p.IPVersion {
	case 4:
		ip := p.IPv4()
		if len(ip) < IPv4MinLen || ip.HeaderLen() > len(ip) || int(ip.TotalLen()) != p.IPLen() || !p.Src.Is4() || !p.Dst.Is4() {
			t.Fatalf("IPv4 view inconsistent: %x", []byte(ip))
		}
		if p.L3Len() < ip.HeaderLen() || p.Ext&^ExtAH != 0 {
			t.Fatalf("IPv4 L3Len %d < header %d or Ext %b", p.L3Len(), ip.HeaderLen(), p.Ext)
		}
		_ = ip.Options()
		_ = ip.Payload()
		_ = ip.IsChecksumValid()
	case 6:
		ip := p.IPv6()
		if len(ip) < IPv6Len || int(ip.PayloadLen())+IPv6Len != p.IPLen() || !p.Src.Is6() || !p.Dst.Is6() {
			t.Fatalf("IPv6 view inconsistent")
		}
		_ = ip.Payload()
	case 0:
		if p.HasL4 || p.Src.IsValid() || p.L4Off != p.PayloadOff {
			t.Fatalf("non-IP with IP fields: %+v", p)
		}
		if p.EtherType == EtherTypeARP {
			a := p.ARP()
			if a == nil || (a.IsEthernetIPv4() && (a.SenderIP() != a.SenderIP() || len(a) != ARPLen)) {
				t.Fatalf("ARP view inconsistent")
			}
		}
	default:
		t.Fatalf("IPVersion %d", p.IPVersion)
	}
	if p.FragOffset != 0 && p.HasL4 {
		t.Fatalf("later fragment with an L4 header")
	}
	if !p.HasL4 && (p.PayloadOff != p.L4Off || p.SrcPort != 0 || p.DstPort != 0 || p.TCPFlags != 0) {
		t.Fatalf("no L4 but L4 fields: %+v", p)
	}
	if p.HasL4 {
		min := map[IPProtocol]int{IPProtoTCP: TCPMinLen, IPProtoUDP: UDPLen, IPProtoSCTP: SCTPMinLen,
			IPProtoICMPv4: ICMPv4MinLen, IPProtoICMPv6: ICMPv6MinLen, IPProtoESP: ESPMinLen}[p.IPProto]
		if min == 0 || p.L4Len() < min {
			t.Fatalf("HasL4 for %v with L4Len %d", p.IPProto, p.L4Len())
		}
		if tcp := p.TCP(); tcp != nil {
			if tcp.HeaderLen() != p.L4Len() || tcp.Flags() != p.TCPFlags || tcp.DstPort() != p.DstPort {
				t.Fatalf("TCP view inconsistent")
			}
			_ = tcp.Options()
			_ = tcp.Payload()
		}
		if u := p.UDP(); u != nil {
			if u.SrcPort() != p.SrcPort {
				t.Fatalf("UDP view inconsistent")
			}
			_ = u.Payload()
		}
		if m := p.ICMPv6(); m != nil && m.HasNDPTarget() {
			_ = m.NDPTarget()
		}
		_ = p.ICMPv4().Payload
		if e := p.ESP(); e != nil {
			_ = e.Payload()
		}
	}
	if p.NumVLANs > 2 || p.L3Off != 0 && p.L3Off != EthernetLen+VLANLen*int(p.NumVLANs) {
		t.Fatalf("L3Off %d with %d VLANs", p.L3Off, p.NumVLANs)
	}
	_ = p.String()
	_ = p.L3()
	_ = p.L4()
	_ = p.Payload()
	_ = p.PseudoHeaderChecksum()
	_, _ = p.ComputeL4Checksum()
}

// checkError asserts err is one of the package's Error values.
func checkError(t *testing.T, err error) {
	t.Helper()
	var e Error
	if !errors.As(err, &e) || e == 0 || e >= NumErrors {
		t.Fatalf("error %v (%T) is not an Error", err, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p Parsed
		err := p.Decode(frame)
		if err != nil {
			checkError(t, err)
			return
		}
		checkInvariants(t, &p, frame)
		if p.IPVersion == 0 && p.EtherType != EtherTypeARP {
			return
		}
		// Bytes after End are padding: cutting or extending them changes
		// nothing.
		var q Parsed
		if err := q.Decode(frame[:p.End]); err != nil || !equalFields(&p, &q) {
			t.Fatalf("frame cut at End: %v\n%+v\n%+v", err, p, q)
		}
		ext := append(append([]byte(nil), frame...), 0xde, 0xad, 0xbe, 0xef)
		if err := q.Decode(ext); err != nil || !equalFields(&p, &q) {
			t.Fatalf("frame with a trailer: %v", err)
		}
		// DecodeIP on the bare packet gives the same answer, shifted.
		if p.IPVersion != 0 {
			if err := q.DecodeIP(frame[p.L3Off:p.End]); err != nil {
				t.Fatalf("DecodeIP: %v", err)
			}
			q.L3Off += p.L3Off
			q.L4Off += p.L3Off
			q.PayloadOff += p.L3Off
			q.End += p.L3Off
			if q.finalDst != 0 {
				q.finalDst += p.L3Off
			}
			q.NumVLANs, q.VLANs = p.NumVLANs, p.VLANs
			if !equalFields(&p, &q) {
				t.Fatalf("DecodeIP differs:\n%+v\n%+v", p, q)
			}
		}
		// A filled checksum verifies.
		c := append([]byte(nil), frame...)
		if err := q.Decode(c); err != nil {
			t.Fatal(err)
		}
		if err := q.FillL4Checksum(); err == nil {
			if err := q.VerifyL4Checksum(); err != nil {
				t.Fatalf("filled checksum does not verify: %v", err)
			}
		}
	})
}

func FuzzDecodeIP(f *testing.F) {
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var p Parsed
		if err := p.DecodeIP(pkt); err != nil {
			checkError(t, err)
			return
		}
		if p.L3Off != 0 || p.IPVersion == 0 {
			t.Fatalf("DecodeIP: L3Off %d version %d", p.L3Off, p.IPVersion)
		}
		checkInvariants(t, &p, pkt)
	})
}

// FuzzRewrite applies the NAT and TTL helpers to whatever decodes: correct
// checksums must stay correct, and nothing may panic.
func FuzzRewrite(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte, addr []byte, sport, dport uint16) {
		var p Parsed
		if p.Decode(frame) != nil || p.IPVersion == 0 {
			return
		}
		ipValid := p.IPVersion == 6 || p.IPv4().IsChecksumValid()
		l4Valid := p.VerifyL4Checksum() == nil
		udpNone := p.IPVersion == 4 && p.UDP() != nil && p.UDP().Checksum() == 0
		a, ok := netip.AddrFromSlice(addr)
		if !ok {
			a = p.Dst
		}
		if a.Is4() != (p.IPVersion == 4) {
			if p.SetSrc(a) != ErrAddrFamily {
				t.Fatal("SetSrc across families")
			}
			a = p.Dst
		}
		if p.SetSrc(a) != nil || p.SetDst(p.Src) != nil || p.DecTTL() != nil {
			t.Fatal("rewrite failed")
		}
		if err := p.SetSrcPort(sport); err != nil && err != ErrNotSupported {
			t.Fatal(err)
		}
		if err := p.SetDstPort(dport); err != nil && err != ErrNotSupported {
			t.Fatal(err)
		}
		var q Parsed
		if err := q.Decode(frame); err != nil || !equalFields(&p, &q) {
			t.Fatalf("re-decode after rewrite: %v\n%+v\n%+v", err, p, q)
		}
		if ipValid && p.IPVersion == 4 && !p.IPv4().IsChecksumValid() {
			t.Fatalf("IPv4 header checksum broken by rewrite")
		}
		if l4Valid {
			if err := p.VerifyL4Checksum(); err != nil {
				t.Fatalf("L4 checksum broken by rewrite: %v", err)
			}
			if c, err := p.ComputeL4Checksum(); err == nil && !udpNone {
				off, _ := p.l4ChecksumOff()
				if stored := binary.BigEndian.Uint16(frame[p.L4Off+off:]); stored != c {
					t.Fatalf("incremental %#x != full %#x", stored, c)
				}
			}
		}
	})
}

func FuzzChecksum(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, initial uint16, split int) {
		want := refChecksum(data, initial)
		if got := Checksum(data, initial); got != want {
			t.Fatalf("Checksum = %#x, reference %#x", got, want)
		}
		if len(data) > 0 {
			s := (split & 0x7fffffff) % (len(data) + 1) &^ 1
			if got := Checksum(data[s:], Checksum(data[:s], initial)); got != want {
				t.Fatalf("split at %d: %#x, want %#x", s, got, want)
			}
		}
	})
}

func FuzzUpdateChecksum(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, off int, new []byte) {
		data = data[:len(data)&^1]
		new = new[:len(new)&^1]
		if len(data) < 4 || len(new) == 0 || len(new) > len(data)-2 {
			return
		}
		o := 2 + ((off&0x7fffffff)%(len(data)-1-len(new)))&^1
		if o+len(new) > len(data) {
			return
		}
		incrementalCase{data: data, off: o, new: new}.check(t)
	})
}

var writeCorpus = flag.Bool("write-corpus", false, "rewrite the seed corpora in testdata/fuzz")

// TestWriteFuzzCorpus regenerates testdata/fuzz/<Fuzz name>/ from the frame
// generator and the hand-made frames when run with -write-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to regenerate the seed corpora")
	}
	var frames [][]byte
	for _, bf := range benchFrames() {
		frames = append(frames, bf.frame)
	}
	frames = append(frames, ipv4TCPFrame(20), ipv6TCPFrame(3))
	g := newGenerator(2024)
	for range 60 {
		frames = append(frames, g.frame())
	}
	write := func(name string, i int, vals ...any) {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, v := range vals {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case uint16:
				fmt.Fprintf(&b, "uint16(%d)\n", v)
			case int:
				fmt.Fprintf(&b, "int(%d)\n", v)
			}
		}
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, fr := range frames {
		write("FuzzDecode", i, fr)
		write("FuzzRewrite", i, fr, g.bytes([]int{4, 16}[i%2]), g.u16(), g.u16())
		var p Parsed
		if p.Decode(fr) == nil && p.IPVersion != 0 {
			write("FuzzDecodeIP", i, fr[p.L3Off:p.End])
		}
	}
	for i, n := range []int{0, 1, 2, 7, 8, 20, 31, 32, 63, 64, 65, 129, 1500} {
		write("FuzzChecksum", i, g.bytes(n), g.u16(), g.r.IntN(n+1))
		write("FuzzUpdateChecksum", i, g.bytes(n+4), g.r.IntN(64), g.bytes([]int{2, 4, 16, 6}[i%4]))
	}
	// RFC 1624's example: the new sum is 0xffff.
	write("FuzzUpdateChecksum", 100, []byte{0, 0, 0xcd, 0x7a, 0x55, 0x55}, 2, []byte{0x32, 0x85})
}
