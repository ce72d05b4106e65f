package packet

import (
	"encoding/binary"
	"net/netip"
)

// MAC is an IEEE 802 MAC-48 address.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsMulticast reports whether the group bit is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i, c := range m {
		if i > 0 {
			b[i*3-1] = ':'
		}
		b[i*3] = hex[c>>4]
		b[i*3+1] = hex[c&0xf]
	}
	return string(b[:])
}

// EthernetLen is the length of an untagged Ethernet II header.
const EthernetLen = 14

// Ethernet is a view of an Ethernet II header: destination, source, type.
// It must be at least EthernetLen bytes.
type Ethernet []byte

// Dst returns the destination MAC address.
func (e Ethernet) Dst() MAC { return MAC(e[0:6]) }

// Src returns the source MAC address.
func (e Ethernet) Src() MAC { return MAC(e[6:12]) }

// Type returns the EtherType (or the first VLAN TPID in a tagged frame).
func (e Ethernet) Type() EtherType { return EtherType(binary.BigEndian.Uint16(e[12:14])) }

// SetDst sets the destination MAC address.
func (e Ethernet) SetDst(m MAC) { copy(e[0:6], m[:]) }

// SetSrc sets the source MAC address.
func (e Ethernet) SetSrc(m MAC) { copy(e[6:12], m[:]) }

// SetType sets the EtherType.
func (e Ethernet) SetType(t EtherType) { binary.BigEndian.PutUint16(e[12:14], uint16(t)) }

// VLANLen is the length of a VLAN tag (TPID + TCI).
const VLANLen = 4

// VLAN is a view of the 4 bytes that follow a VLAN TPID: the tag control
// information (priority, drop eligibility, VLAN ID) and the encapsulated
// EtherType. In a frame, the first VLAN starts at offset 14.
type VLAN []byte

// TCI returns the whole tag control information field.
func (v VLAN) TCI() uint16 { return binary.BigEndian.Uint16(v[0:2]) }

// Priority returns the 802.1p priority code point (0-7).
func (v VLAN) Priority() uint8 { return v[0] >> 5 }

// DropEligible returns the DEI bit.
func (v VLAN) DropEligible() bool { return v[0]&0x10 != 0 }

// ID returns the 12-bit VLAN identifier.
func (v VLAN) ID() uint16 { return v.TCI() & 0x0fff }

// Type returns the encapsulated EtherType (or the next TPID).
func (v VLAN) Type() EtherType { return EtherType(binary.BigEndian.Uint16(v[2:4])) }

// SetTCI sets the whole tag control information field.
func (v VLAN) SetTCI(tci uint16) { binary.BigEndian.PutUint16(v[0:2], tci) }

// SetID sets the VLAN identifier, keeping priority and DEI.
func (v VLAN) SetID(id uint16) { v.SetTCI(v.TCI()&0xf000 | id&0x0fff) }

// SetPriority sets the priority code point, keeping DEI and ID.
func (v VLAN) SetPriority(pcp uint8) { v[0] = v[0]&0x1f | pcp<<5 }

// SetType sets the encapsulated EtherType.
func (v VLAN) SetType(t EtherType) { binary.BigEndian.PutUint16(v[2:4], uint16(t)) }

// VLANTag is one VLAN tag as recorded by Parsed: the TPID that introduced it
// (EtherTypeVLAN, EtherTypeQinQ or EtherTypeQinQLegacy) and its TCI.
type VLANTag struct {
	TPID EtherType
	TCI  uint16
}

// ID returns the 12-bit VLAN identifier.
func (t VLANTag) ID() uint16 { return t.TCI & 0x0fff }

// Priority returns the 802.1p priority code point (0-7).
func (t VLANTag) Priority() uint8 { return uint8(t.TCI >> 13) }

// DropEligible returns the DEI bit.
func (t VLANTag) DropEligible() bool { return t.TCI&0x1000 != 0 }

// ARP operations.
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ARPHardwareEthernet is the ARP hardware type for Ethernet.
const ARPHardwareEthernet uint16 = 1

// ARPLen is the length of an ARP packet for Ethernet and IPv4, the only
// kind the address accessors below understand.
const ARPLen = 28

// ARP is a view of an ARP packet (RFC 826). The fixed part is 8 bytes; the
// address accessors assume Ethernet/IPv4 (IsEthernetIPv4) and ARPLen bytes.
type ARP []byte

// HardwareType returns the hardware address space (1 for Ethernet).
func (a ARP) HardwareType() uint16 { return binary.BigEndian.Uint16(a[0:2]) }

// ProtocolType returns the protocol address space (EtherTypeIPv4).
func (a ARP) ProtocolType() EtherType { return EtherType(binary.BigEndian.Uint16(a[2:4])) }

// HardwareLen returns the hardware address length.
func (a ARP) HardwareLen() uint8 { return a[4] }

// ProtocolLen returns the protocol address length.
func (a ARP) ProtocolLen() uint8 { return a[5] }

// Op returns the operation (ARPRequest, ARPReply).
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[6:8]) }

// IsEthernetIPv4 reports whether the packet maps IPv4 to Ethernet addresses
// and is long enough for the address accessors.
func (a ARP) IsEthernetIPv4() bool {
	return len(a) >= ARPLen && a.HardwareType() == ARPHardwareEthernet &&
		a.ProtocolType() == EtherTypeIPv4 && a[4] == 6 && a[5] == 4
}

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() MAC { return MAC(a[8:14]) }

// SenderIP4 returns the sender protocol address.
func (a ARP) SenderIP4() [4]byte { return [4]byte(a[14:18]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() netip.Addr { return netip.AddrFrom4(a.SenderIP4()) }

// TargetMAC returns the target hardware address.
func (a ARP) TargetMAC() MAC { return MAC(a[18:24]) }

// TargetIP4 returns the target protocol address.
func (a ARP) TargetIP4() [4]byte { return [4]byte(a[24:28]) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() netip.Addr { return netip.AddrFrom4(a.TargetIP4()) }

// SetOp sets the operation.
func (a ARP) SetOp(op uint16) { binary.BigEndian.PutUint16(a[6:8], op) }

// SetSender sets the sender hardware and protocol addresses.
func (a ARP) SetSender(m MAC, ip [4]byte) {
	copy(a[8:14], m[:])
	copy(a[14:18], ip[:])
}

// SetTarget sets the target hardware and protocol addresses.
func (a ARP) SetTarget(m MAC, ip [4]byte) {
	copy(a[18:24], m[:])
	copy(a[24:28], ip[:])
}

// SetEthernetIPv4 writes the fixed header of an Ethernet/IPv4 ARP packet
// with operation op.
func (a ARP) SetEthernetIPv4(op uint16) {
	binary.BigEndian.PutUint16(a[0:2], ARPHardwareEthernet)
	binary.BigEndian.PutUint16(a[2:4], uint16(EtherTypeIPv4))
	a[4], a[5] = 6, 4
	a.SetOp(op)
}
