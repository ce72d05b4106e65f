package wire

import "testing"

// TestAllocs: Seal allocates only the datagram it returns, and Open
// decrypts in place: opening an empty SK payload (a liveness check)
// allocates nothing.
func TestAllocs(t *testing.T) {
	for _, tc := range testCiphers {
		out, in := testCrypter(t, tc, 8, 0), testCrypter(t, tc, 8, 0)
		m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: Informational, MsgID: 4}}
		if n := testing.AllocsPerRun(100, func() {
			if _, err := m.Seal(out); err != nil {
				t.Fatal(err)
			}
		}); n != 1 {
			t.Errorf("%s: Seal: %v allocations", tc.name, n)
		}
		sealed, err := m.Seal(out)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(sealed))
		copy(buf, sealed)
		d, err := Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		e := d.Payloads[0]
		if n := testing.AllocsPerRun(100, func() {
			copy(buf, sealed)
			d.Payloads = append(d.Payloads[:0], e)
			if err := d.Open(buf, in); err != nil || len(d.Payloads) != 0 {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: Open: %v allocations", tc.name, n)
		}
	}
}
