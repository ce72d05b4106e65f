package dataplane

// Verdict is what a stage decided for a packet.
type Verdict uint8

const (
	// Drop frees the packet and counts its Reason. It is the zero value, so a
	// packet a stage forgot to judge is dropped (as ReasonNoVerdict), never
	// sent by accident.
	Drop Verdict = iota
	// Forward sends the packet out of port OutPort.
	Forward
	// Punt hands the packet to the appliance's local stack.
	Punt
	// Consumed means the stage kept the packet (queued it, for example
	// waiting for a neighbour): ownership moved to the stage.
	Consumed
)

var verdictNames = [...]string{Drop: "drop", Forward: "forward", Punt: "punt", Consumed: "consumed"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict?"
}

// Packet is a reference to one frame and the packet it holds: the data lives
// at buf[off:off+len], with buf[:off] free in front (headroom) and buf
// beyond the data free behind (tailroom). A Packet is a small value; copying
// it does not copy the frame, and exactly one copy owns the frame at a time.
type Packet struct {
	buf   []byte // the whole frame
	frame uint32 // frame id in the region
	off   uint16
	len   uint16

	// InPort is the index of the port the packet arrived on.
	InPort uint16
	// OutPort is the index of the port to send it out of, with Forward.
	OutPort uint16
	// Verdict and Reason are set by the stage.
	Verdict Verdict
	Reason  Reason
	// Flags carry per-packet facts from and to ports (checksum offload).
	Flags Flags

	// With CsumPartial, where the checksum to finish is: see
	// SetCsumPartial. csumStart is a frame offset, not a data offset, so
	// headers prepended or pulled in front of it leave it right. The two
	// fields sit in what was padding: a Packet stays 48 bytes.
	csumStart uint16
	csumOff   uint16
}

// Flags are per-packet facts that ports and stages exchange.
type Flags uint8

const (
	// CsumValid: the receiving port (or the host kernel behind it) verified
	// the L4 checksum.
	CsumValid Flags = 1 << iota
	// CsumPartial: the L4 checksum is incomplete and the transmitting port
	// (or the device behind it) must finish it.
	CsumPartial
)

// SetCsumPartial sets CsumPartial and records where the incomplete L4
// checksum is, as a virtio-net header or a Linux CHECKSUM_PARTIAL skb does:
// the one's complement sum of the data from start (an offset in Data) to
// its end is to be folded into the 16-bit field at start+offset, which
// already holds the pseudo-header sum. A port that receives such a packet
// from a kernel sets it; a port that transmits it hands the job to its
// device or finishes the checksum itself. It reports false, changing
// nothing, when the field is not inside the data.
func (p *Packet) SetCsumPartial(start, offset int) bool {
	if start < 0 || offset < 0 || start+offset+2 > int(p.len) {
		return false
	}
	p.Flags |= CsumPartial
	p.csumStart, p.csumOff = p.off+uint16(start), uint16(offset)
	return true
}

// CsumPartialAt is where the incomplete checksum of a CsumPartial packet
// is, as SetCsumPartial took it: start is an offset in Data. ok is false
// when the packet is not CsumPartial, or its data no longer covers the
// checksum field (a stage pulled headers off past it).
func (p *Packet) CsumPartialAt() (start, offset int, ok bool) {
	if p.Flags&CsumPartial == 0 || p.csumStart < p.off {
		return 0, 0, false
	}
	start, offset = int(p.csumStart-p.off), int(p.csumOff)
	if start+offset+2 > int(p.len) {
		return 0, 0, false
	}
	return start, offset, true
}

// Data is the packet's bytes.
func (p *Packet) Data() []byte { return p.buf[p.off : int(p.off)+int(p.len)] }

// Len is the packet's length in bytes.
func (p *Packet) Len() int { return int(p.len) }

// Frame is the id of the frame holding the packet.
func (p *Packet) Frame() uint32 { return p.frame }

// Offset is where the data starts within the frame.
func (p *Packet) Offset() int { return int(p.off) }

// Headroom is the free space in front of the data.
func (p *Packet) Headroom() int { return int(p.off) }

// Tailroom is the free space behind the data.
func (p *Packet) Tailroom() int { return len(p.buf) - int(p.off) - int(p.len) }

// Frame bytes, for backends that need the whole buffer.
func (p *Packet) Buffer() []byte { return p.buf }

// SetLen sets the data length, keeping the start. It reports false if the
// frame cannot hold that much.
func (p *Packet) SetLen(n int) bool {
	if n < 0 || int(p.off)+n > len(p.buf) {
		return false
	}
	p.len = uint16(n)
	return true
}

// SetData places the data at [off, off+n) of the frame.
func (p *Packet) SetData(off, n int) bool {
	if off < 0 || n < 0 || off+n > len(p.buf) {
		return false
	}
	p.off, p.len = uint16(off), uint16(n)
	return true
}

// Prepend grows the data by n bytes at the front and returns them (to be
// filled with a new header). It returns nil when the headroom is too small.
func (p *Packet) Prepend(n int) []byte {
	if n < 0 || n > int(p.off) {
		return nil
	}
	p.off -= uint16(n)
	p.len += uint16(n)
	return p.buf[p.off : int(p.off)+n]
}

// Pull removes n bytes from the front (a header stripped) and reports
// whether the packet was that long.
func (p *Packet) Pull(n int) bool {
	if n < 0 || n > int(p.len) {
		return false
	}
	p.off += uint16(n)
	p.len -= uint16(n)
	return true
}

// Append grows the data by n bytes at the back and returns them. It returns
// nil when the tailroom is too small.
func (p *Packet) Append(n int) []byte {
	end := int(p.off) + int(p.len)
	if n < 0 || end+n > len(p.buf) {
		return nil
	}
	p.len += uint16(n)
	return p.buf[end : end+n]
}

// Trim shortens the data to n bytes (trailer or padding removed).
func (p *Packet) Trim(n int) bool {
	if n < 0 || n > int(p.len) {
		return false
	}
	p.len = uint16(n)
	return true
}

// Forward sets the verdict to send the packet out of port.
func (p *Packet) Forward(port int) { p.Verdict, p.OutPort, p.Reason = Forward, uint16(port), 0 }

// Drop sets the verdict to drop for reason.
func (p *Packet) Drop(r Reason) { p.Verdict, p.Reason = Drop, r }

// Punt sets the verdict to hand the packet to the local stack.
func (p *Packet) Punt() { p.Verdict, p.Reason = Punt, 0 }

// Consume records that the stage kept the packet.
func (p *Packet) Consume() { p.Verdict, p.Reason = Consumed, 0 }
