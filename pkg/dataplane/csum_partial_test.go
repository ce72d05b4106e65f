package dataplane

import (
	"testing"
	"unsafe"
)

func TestCsumPartial(t *testing.T) {
	if s := unsafe.Sizeof(Packet{}); s != 48 {
		t.Errorf("Packet is %d bytes, want 48", s)
	}
	pool, err := NewMemPool(1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Region().Close()
	pk, _ := pool.Get()
	pk.SetLen(100)
	if _, _, ok := pk.CsumPartialAt(); ok {
		t.Error("fresh packet is CsumPartial")
	}
	if pk.SetCsumPartial(95, 6) || pk.SetCsumPartial(-1, 6) || pk.Flags != 0 {
		t.Error("checksum place outside the data accepted")
	}
	if !pk.SetCsumPartial(34, 16) || pk.Flags != CsumPartial {
		t.Fatal("SetCsumPartial")
	}
	// The place is in the frame: it moves with the data start.
	pk.Prepend(4)
	if s, o, ok := pk.CsumPartialAt(); !ok || s != 38 || o != 16 {
		t.Errorf("after Prepend(4): %d+%d %v", s, o, ok)
	}
	pk.Pull(18)
	if s, _, ok := pk.CsumPartialAt(); !ok || s != 20 {
		t.Errorf("after Pull(18): %d %v", s, ok)
	}
	pk.Pull(30) // past the checksum start
	if _, _, ok := pk.CsumPartialAt(); ok {
		t.Error("place reported after the data moved past it")
	}
	pool.Put(pk)
}
