package hostnet

import (
	"encoding/binary"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// Sizes of the virtio-net header: struct virtio_net_hdr, and
// struct virtio_net_hdr_mrg_rxbuf (virtio 1.x's, with num_buffers behind).
const (
	VnetHdrLen    = 10
	VnetHdrLenMrg = 12
)

// virtio_net_hdr flags and GSO types (include/uapi/linux/virtio_net.h).
const (
	VnetNeedsCsum = 1 // the checksum at CsumStart+CsumOffset is partial
	VnetDataValid = 2 // the receiver verified the checksum
	VnetGSONone   = 0
)

// VnetHdr is a struct virtio_net_hdr. TUN and AF_PACKET speak the legacy
// header, in the host's byte order (unless TUNSETVNETLE says otherwise,
// which this package never asks).
type VnetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// DecodeVnetHdr reads a header from the first VnetHdrLen bytes of b.
func DecodeVnetHdr(b []byte) VnetHdr {
	_ = b[VnetHdrLen-1]
	return VnetHdr{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     binary.NativeEndian.Uint16(b[2:4]),
		GSOSize:    binary.NativeEndian.Uint16(b[4:6]),
		CsumStart:  binary.NativeEndian.Uint16(b[6:8]),
		CsumOffset: binary.NativeEndian.Uint16(b[8:10]),
	}
}

// Encode writes h into the first VnetHdrLen bytes of b.
func (h *VnetHdr) Encode(b []byte) {
	_ = b[VnetHdrLen-1]
	b[0], b[1] = h.Flags, h.GSOType
	binary.NativeEndian.PutUint16(b[2:4], h.HdrLen)
	binary.NativeEndian.PutUint16(b[4:6], h.GSOSize)
	binary.NativeEndian.PutUint16(b[6:8], h.CsumStart)
	binary.NativeEndian.PutUint16(b[8:10], h.CsumOffset)
}

// ApplyRx gives pk, just received with header h, the checksum facts h
// carries: NEEDS_CSUM becomes dataplane.CsumPartial (with its place, moved
// by shift bytes that the port inserted in front of the L4 header, such as
// a VLAN tag) and DATA_VALID becomes dataplane.CsumValid. It reports false
// for a packet the dataplane cannot carry: a GSO super-packet (longer than
// the MTU; nothing segments it) or a checksum place outside the packet.
func ApplyRx(pk *dataplane.Packet, h *VnetHdr, shift int) bool {
	if h.GSOType != VnetGSONone {
		return false
	}
	if h.Flags&VnetNeedsCsum != 0 {
		return pk.SetCsumPartial(int(h.CsumStart)+shift, int(h.CsumOffset))
	}
	if h.Flags&VnetDataValid != 0 {
		pk.Flags |= dataplane.CsumValid
	}
	return true
}

// EncodeTx writes into b the header pk is to be sent with: NEEDS_CSUM and
// its place for a CsumPartial packet, nothing otherwise. DATA_VALID is never
// sent: the virtio spec reserves it to the device, and the kernel ignores it
// on transmit.
func EncodeTx(b []byte, pk *dataplane.Packet) {
	_ = b[VnetHdrLen-1]
	clear(b[:VnetHdrLen])
	if start, off, ok := pk.CsumPartialAt(); ok {
		b[0] = VnetNeedsCsum
		binary.NativeEndian.PutUint16(b[6:8], uint16(start))
		binary.NativeEndian.PutUint16(b[8:10], uint16(off))
	}
}
