// Package packet holds the dataplane's zero-allocation header views, its
// one-pass frame parser and its Internet checksum arithmetic.
//
// Every appliance (router, firewall, ipsec-gw) looks at a packet through this
// package, once per packet, so nothing here allocates, copies packet bytes or
// formats errors on the fast path.
//
// # Views
//
// A header view is a named byte slice that aliases the frame, in the style of
// gVisor's tcpip/header: Ethernet, VLAN, ARP, IPv4, IPv6, IPv6ExtHeader,
// IPv6Fragment, AH, ICMPv4, ICMPv6, UDP, TCP, SCTP and ESP. Accessors read
// fields in network byte order straight from the bytes and setters write them
// back. A view does not check its own length: it must come from Parsed (which
// validated it) or be sliced by a caller that checked the length against the
// view's minimum (IPv4MinLen, TCPMinLen, ...); an undersized view panics with
// an index error like any short slice.
//
// # Walking a frame
//
// Parsed.Decode walks an Ethernet frame once, front to back, and records
// offsets into it rather than copying headers:
//
//	Ethernet (14 bytes) -> up to two VLAN tags (802.1ad / 802.1Q, 4 bytes each)
//	  -> EtherType
//	     ARP:  fixed header, length from its address sizes
//	     IPv4: IHL, total length (link padding beyond it is ignored), fragment
//	           fields, options skipped, an AH header skipped
//	     IPv6: payload length, then the extension-header chain (hop-by-hop,
//	           routing, fragment, destination options, AH; at most
//	           MaxIPv6ExtHeaders), stopping at the upper-layer protocol, at ESP,
//	           at "no next header" or at a non-first fragment
//	  -> upper layer: TCP, UDP, SCTP, ICMPv4, ICMPv6 or ESP header, whose
//	     length is validated; non-first fragments carry none.
//
// The result is a set of offsets into the frame,
//
//	0 <= L3Off <= L4Off <= PayloadOff <= End <= len(frame)
//
// plus the fields every stage asks for (addresses, ports, protocol, TTL,
// fragment information, TCP flags). Parsed.DecodeIP does the same for a bare
// IP packet (a TUN device, a decrypted ESP or WireGuard payload). A malformed
// frame yields one of the Error values (ErrTruncated, ErrBadLength, ...),
// which are constants, so returning one allocates nothing and a stage can
// count drops per reason with the error as an index.
//
// Parsed aliases the frame: it is valid only while the caller owns the frame
// and must be decoded again after the frame's headers are moved.
//
// # Checksums
//
// Checksum is the RFC 1071 one's complement sum, eight bytes at a time.
// PseudoHeaderChecksum covers the TCP/UDP/ICMPv6 pseudo-header, and the
// UpdateChecksum functions apply RFC 1624's incremental update
// HC' = ~(~HC + ~m + m') when a router decrements a TTL or a NAT rewrites an
// address or port. Parsed.SetSrc, SetDst, SetSrcPort, SetDstPort and DecTTL
// do such rewrites with every affected checksum updated in place, and
// Parsed.VerifyL4Checksum and FillL4Checksum check or recompute a transport
// checksum in full.
package packet
