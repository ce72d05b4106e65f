package hostnet

import (
	"encoding/binary"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

func TestVnetHdrRoundTrip(t *testing.T) {
	h := VnetHdr{Flags: VnetNeedsCsum, GSOType: 1, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	var b [VnetHdrLen]byte
	h.Encode(b[:])
	if got := DecodeVnetHdr(b[:]); got != h {
		t.Fatalf("round trip: %+v, want %+v", got, h)
	}
	if binary.NativeEndian.Uint16(b[6:]) != 34 {
		t.Error("csum_start not in host order at offset 6")
	}
}

func newPacket(t *testing.T, data []byte) (*dataplane.Pool, dataplane.Packet) {
	t.Helper()
	pool, err := dataplane.NewMemPool(2)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := pool.Get()
	t.Cleanup(func() {
		pool.Put(pk)
		if err := pool.CheckAllReturned(); err != nil {
			t.Error(err)
		}
		pool.Region().Close()
	})
	pk.SetLen(len(data))
	copy(pk.Data(), data)
	return pool, pk
}

func TestApplyRx(t *testing.T) {
	_, pk := newPacket(t, make([]byte, 100))
	if !ApplyRx(&pk, &VnetHdr{Flags: VnetDataValid}, 0) || pk.Flags != dataplane.CsumValid {
		t.Errorf("DATA_VALID: flags %b", pk.Flags)
	}
	pk.Flags = 0
	if !ApplyRx(&pk, &VnetHdr{Flags: VnetNeedsCsum, CsumStart: 34, CsumOffset: 6}, 4) {
		t.Fatal("NEEDS_CSUM refused")
	}
	if s, o, ok := pk.CsumPartialAt(); !ok || s != 38 || o != 6 {
		t.Errorf("NEEDS_CSUM shifted by 4: %d+%d %v", s, o, ok)
	}
	pk.Flags = 0
	if ApplyRx(&pk, &VnetHdr{Flags: VnetNeedsCsum, CsumStart: 99, CsumOffset: 6}, 0) {
		t.Error("checksum place beyond the packet accepted")
	}
	if ApplyRx(&pk, &VnetHdr{GSOType: 1, GSOSize: 1448}, 0) {
		t.Error("GSO packet accepted")
	}
	if !ApplyRx(&pk, &VnetHdr{}, 0) || pk.Flags != 0 {
		t.Errorf("plain header: flags %b", pk.Flags)
	}
}

// udpFrame is an Ethernet/IPv4/UDP frame whose checksum field holds the
// pseudo-header sum, as a CHECKSUM_PARTIAL packet's does.
func udpFrame(payload int) []byte {
	f := make([]byte, 14+20+8+payload)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+payload))
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 1234)
	binary.BigEndian.PutUint16(udp[2:], 5678)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+payload))
	for i := range payload {
		udp[8+i] = byte(i * 7)
	}
	binary.BigEndian.PutUint16(udp[6:], packet.PseudoHeaderChecksum(17, ip[12:16], ip[16:20], uint16(8+payload)))
	return f
}

func TestFinishCsum(t *testing.T) {
	for _, n := range []int{0, 1, 17, 1000} {
		_, pk := newPacket(t, udpFrame(n))
		if FinishCsum(&pk) {
			t.Fatal("finished a packet that is not CsumPartial")
		}
		pk.SetCsumPartial(34, 6)
		if !FinishCsum(&pk) || pk.Flags&dataplane.CsumPartial != 0 {
			t.Fatal("FinishCsum failed")
		}
		d := pk.Data()
		if sum := packet.Checksum(d[34:], packet.PseudoHeaderChecksum(17, d[26:30], d[30:34], uint16(len(d)-34))); sum != 0xffff {
			t.Errorf("payload %d: checksum does not verify (sum %#x)", n, sum)
		}
	}
	// A header pushed in front keeps the place right.
	_, pk := newPacket(t, udpFrame(10))
	pk.SetCsumPartial(34, 6)
	copy(pk.Prepend(4), []byte{1, 2, 3, 4})
	if s, _, _ := pk.CsumPartialAt(); s != 38 {
		t.Errorf("after Prepend: start %d", s)
	}
	if !FinishCsum(&pk) {
		t.Fatal("FinishCsum after Prepend")
	}
}

func TestEncodeTx(t *testing.T) {
	_, pk := newPacket(t, udpFrame(10))
	var b [VnetHdrLen]byte
	b[0] = 0xff
	EncodeTx(b[:], &pk)
	if (DecodeVnetHdr(b[:]) != VnetHdr{}) {
		t.Errorf("plain packet: %x", b)
	}
	pk.SetCsumPartial(34, 6)
	EncodeTx(b[:], &pk)
	if h := DecodeVnetHdr(b[:]); h != (VnetHdr{Flags: VnetNeedsCsum, CsumStart: 34, CsumOffset: 6}) {
		t.Errorf("partial: %+v", h)
	}
	pk.Flags = dataplane.CsumValid
	EncodeTx(b[:], &pk)
	if b[0] != 0 {
		t.Error("DATA_VALID sent")
	}
}

func TestZeroAllocs(t *testing.T) {
	_, pk := newPacket(t, udpFrame(100))
	var b [VnetHdrLen]byte
	n := testing.AllocsPerRun(100, func() {
		pk.SetCsumPartial(34, 6)
		EncodeTx(b[:], &pk)
		h := DecodeVnetHdr(b[:])
		ApplyRx(&pk, &h, 0)
		FinishCsum(&pk)
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}
