package hostnet

import (
	"encoding/binary"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// FinishCsum completes the partial checksum of a CsumPartial packet in
// software, as the kernel's skb_checksum_help does, and clears
// CsumPartial. The field holds the pseudo-header sum; the sum of the data
// from the checksum start to the end, folded and complemented, replaces
// it, and a result of zero is sent as 0xffff (a UDP zero would mean "no
// checksum"). It reports false, leaving the packet as it was, when the
// packet is not CsumPartial or its checksum place is lost.
func FinishCsum(pk *dataplane.Packet) bool {
	start, off, ok := pk.CsumPartialAt()
	if !ok {
		return false
	}
	d := pk.Data()
	sum := ^packet.Checksum(d[start:], 0)
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(d[start+off:], sum)
	pk.Flags &^= dataplane.CsumPartial
	return true
}
