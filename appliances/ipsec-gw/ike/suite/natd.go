package suite

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
)

// NATHash is a NAT_DETECTION_SOURCE_IP or _DESTINATION_IP value (RFC 7296
// section 2.23): SHA-1(SPIi | SPIr | IP | port), the IP in 4 bytes for
// IPv4 and 16 for IPv6. An IPv4-mapped IPv6 address (from a dual-stack
// socket) is hashed as the IPv4 address it is, since that is what the
// peer sees in the packet. SPIr is 0 in IKE_SA_INIT's request. It does
// not allocate.
func NATHash(spii, spir uint64, ap netip.AddrPort) [20]byte {
	var b [8 + 8 + 16 + 2]byte
	binary.BigEndian.PutUint64(b[0:], spii)
	binary.BigEndian.PutUint64(b[8:], spir)
	n := 16
	if a := ap.Addr().Unmap(); a.Is4() {
		a4 := a.As4()
		n += copy(b[n:], a4[:])
	} else {
		a16 := a.As16()
		n += copy(b[n:], a16[:])
	}
	binary.BigEndian.PutUint16(b[n:], ap.Port())
	return sha1.Sum(b[:n+2])
}
