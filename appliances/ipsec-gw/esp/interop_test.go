package esp

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nfvkit/nfvkit/internal/testenv"
	"github.com/nfvkit/nfvkit/pkg/dataplane/pcap"
)

// TestInteropTshark proves the wire format against an implementation
// nobody here wrote: Wireshark's ESP dissector (tshark), given the keys,
// must decrypt our packets, find the ICV good, and show exactly the inner
// packet, padding length and next header we sent; both outer families,
// with and without UDP encapsulation, AES-GCM with 128- and 256-bit keys.
//
// The reverse direction: packets from the test's independent encryptor
// (indep_test.go: random IVs, extra padding) go into the same capture;
// tshark must decrypt them too, which shows the independent encryptor
// builds standard ESP, and then our Decap must return their inner
// packets.
//
// Debian 12's tshark (4.0) decrypts ESP with AES-GCM but knows neither
// ChaCha20-Poly1305 nor extended sequence numbers for ESP; those are
// covered by RFC 7634's and draft-mcgrew-gcm-test-01's known answers and
// by the independent implementation (TestIndependentToUs, TestRoundTrip).
//
// NFV_KEEP_CAPTURES=DIR keeps the captures for a look in Wireshark.
func TestInteropTshark(t *testing.T) {
	tshark := testenv.NeedCommand(t, "tshark", "tshark")
	var cases []tunnelOpts
	spi := uint32(0x3000)
	for _, c := range []Cipher{AES128GCM16, AES256GCM16} {
		for _, v6 := range []bool{false, true} {
			for _, udp := range []bool{false, true} {
				spi++
				cases = append(cases, tunnelOpts{spi: spi, cipher: c, outer6: v6, encap: udp})
			}
		}
	}
	for _, o := range cases {
		t.Run(o.String(), func(t *testing.T) {
			tn := newTunnel(t, o)
			in := interopInner()
			ours := wire(tn.encrypt(t, 1, in...))

			// The independent encryptor continues the sequence.
			is := newIndepSA(false, testKey(o.cipher, 0x40), o.spi, false)
			src, dst := gwA4, gwB4
			if o.outer6 {
				src, dst = gwA6, gwB6
			}
			var sport uint16
			if o.encap {
				sport = 4500
			}
			var theirs [][]byte
			var extra []int
			for k, inner := range in {
				seq := uint64(len(in) + k + 1)
				iv := [8]byte{0x5e, 0xc7, byte(k), 0x11, byte(seq), 0x42, 0x99, byte(k * 13)}
				next := byte(4)
				if inner[0]>>4 == 6 {
					next = 41
				}
				extra = append(extra, 4*(k%4))
				theirs = append(theirs, indepOuter(src, dst, sport, 4500, is.seal(seq, iv, indepPayload(inner, next, extra[k]))))
			}

			capture := filepath.Join(t.TempDir(), "esp.pcap")
			if dir := os.Getenv("NFV_KEEP_CAPTURES"); dir != "" {
				capture = filepath.Join(dir, strings.ReplaceAll(o.String(), "/", "-")+".pcap")
			}
			writeCapture(t, capture, append(append([][]byte(nil), ours...), theirs...))

			fam := "IPv4"
			if o.outer6 {
				fam = "IPv6"
			}
			sa := fmt.Sprintf(`uat:esp_sa:"%s","%s","%s","0x%08x","AES-GCM with 16 octet ICV [RFC4106]","0x%x","NULL",""`,
				fam, src, dst, o.spi, testKey(o.cipher, 0x40))
			cmd := exec.Command(tshark, "-n", "-r", capture,
				"-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE", "-o", sa,
				"-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
				"-e", "esp.spi", "-e", "esp.sequence", "-e", "esp.icv_good", "-e", "esp.pad_len", "-e", "esp.protocol",
				"-e", "esp.contained_data")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v\n%s", err, stderrOf(err))
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 2*len(in) {
				t.Fatalf("tshark printed %d lines for %d packets:\n%s", len(lines), 2*len(in), out)
			}
			for i, line := range lines {
				k, who, pad := i, "ours", padLen(len(in[i%len(in)]))
				if i >= len(in) {
					k, who = i-len(in), "independent"
					pad += extra[k]
				}
				inner := in[k]
				next := "0x04"
				if inner[0]>>4 == 6 {
					next = "0x29"
				}
				want := []string{fmt.Sprintf("0x%08x", o.spi), strconv.Itoa(i + 1), "1", strconv.Itoa(pad), next, hex.EncodeToString(inner)}
				if got := strings.Split(line, "\t"); strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s packet %d: tshark shows\n%q\nwant\n%q", who, k, got, want)
				}
			}

			// And our Decap reads the independent packets.
			b := tn.batch(t, 2, theirs...)
			tn.wb.Decap(b, nil)
			for k, r := range reasons(b) {
				if r != "ok" || !bytes.Equal(b.Pkts[k].Data(), in[k]) {
					t.Errorf("independent packet %d: %s, %x", k, r, b.Pkts[k].Data())
				}
			}
			tn.free(b)
		})
	}
}

// interopInner is clear text for the interop test: UDP on ports no
// dissector claims, so tshark shows the ESP trailer's fields for every
// packet, in both families and over the padding lengths.
func interopInner() [][]byte {
	var out [][]byte
	for i, n := range []int{28, 29, 30, 31, 200, 1400} {
		out = append(out, udpPacket(hostA4, hostB4, 40001, 40002, n, byte(i)))
	}
	for i, n := range []int{48, 49, 50, 51, 200, 1400} {
		out = append(out, udpPacket(hostA6, hostB6, 40001, 40002, n, byte(i)))
	}
	return out
}

// writeCapture writes IP packets as an Ethernet pcap.
func writeCapture(t *testing.T, path string, pkts [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcap.NewWriter(f, pcap.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range pkts {
		eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
		if d[0]>>4 == 6 {
			eth[12], eth[13] = 0x86, 0xdd
		}
		if err := w.WritePacket(int64(1_700_000_000+i)*1e9, append(eth, d...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
