package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// PortKind is the backend of a dataplane port.
type PortKind string

// The port backends.
const (
	PortVirtio   PortKind = "virtio"   // virtio:N, the VM's Nth virtio-net NIC
	PortAFPacket PortKind = "afpacket" // afpacket:IFNAME, a Linux interface over AF_PACKET
	PortAFXDP    PortKind = "afxdp"    // afxdp:IFNAME (all RX queues) or afxdp:IFNAME/QUEUE (that queue only)
	PortTap      PortKind = "tap"      // tap:IFNAME, a Linux TAP device
	PortPcap     PortKind = "pcap"     // pcap:FILE, packets read from and written to capture files
	PortMem      PortKind = "mem"      // mem:NAME, an in-memory port for tests and benchmarks
)

// PortSpec is a parsed port string such as virtio:0 or afxdp:eth1/3. Arg is
// the text after the colon, already checked for its kind.
type PortSpec struct {
	Kind PortKind
	Arg  string
}

// Limits of port arguments.
const (
	maxVirtio    = 255
	maxXDPQueue  = 4095
	maxIfNameLen = 15 // IFNAMSIZ - 1
)

// ParsePortSpec parses KIND:ARG.
func ParsePortSpec(s string) (PortSpec, error) {
	kind, arg, ok := strings.Cut(s, ":")
	if !ok {
		return PortSpec{}, fmt.Errorf("%s is not a port spec (%s)", quote(s), PortSpec{}.expected())
	}
	p := PortSpec{Kind: PortKind(kind), Arg: arg}
	switch p.Kind {
	case PortVirtio:
		if _, err := decimal(arg, maxVirtio); err != nil {
			return PortSpec{}, fmt.Errorf("virtio device %s: %w (expected virtio:N with N in 0..%d)", quote(arg), err, maxVirtio)
		}
	case PortAFPacket, PortTap:
		if err := checkIfName(arg); err != nil {
			return PortSpec{}, fmt.Errorf("%s: %w", kind, err)
		}
	case PortAFXDP:
		name, q, hasQ := strings.Cut(arg, "/")
		if err := checkIfName(name); err != nil {
			return PortSpec{}, fmt.Errorf("afxdp: %w", err)
		}
		if hasQ {
			if _, err := decimal(q, maxXDPQueue); err != nil {
				return PortSpec{}, fmt.Errorf("afxdp queue %s: %w (expected afxdp:IFNAME/QUEUE with QUEUE in 0..%d)", quote(q), err, maxXDPQueue)
			}
		}
	case PortPcap:
		if arg == "" || strings.ContainsFunc(arg, unicode.IsControl) {
			return PortSpec{}, fmt.Errorf("pcap file %s is empty or has control characters (expected pcap:FILE)", quote(arg))
		}
	case PortMem:
		if !isIdent(arg, 64) {
			return PortSpec{}, fmt.Errorf("mem port name %s is not valid (expected mem:NAME of letters, digits, '_', '-', '.')", quote(arg))
		}
	default:
		return PortSpec{}, fmt.Errorf("unknown port kind %s (expected virtio, afpacket, afxdp, tap, pcap or mem)", quote(kind))
	}
	return p, nil
}

func (p PortSpec) String() string {
	if p.IsZero() {
		return ""
	}
	return string(p.Kind) + ":" + p.Arg
}

// IsZero reports whether no port is set.
func (p PortSpec) IsZero() bool { return p.Kind == "" }

// Index is the virtio device number of a virtio port, or -1.
func (p PortSpec) Index() int {
	if p.Kind != PortVirtio {
		return -1
	}
	n, _ := strconv.Atoi(p.Arg)
	return n
}

// IfName is the Linux interface of an afpacket, afxdp or tap port, or "".
func (p PortSpec) IfName() string {
	switch p.Kind {
	case PortAFPacket, PortTap:
		return p.Arg
	case PortAFXDP:
		name, _, _ := strings.Cut(p.Arg, "/")
		return name
	}
	return ""
}

// Queue is the one RX queue an afxdp port binds to; ok is false when it
// binds all of the interface's queues (or is not afxdp).
func (p PortSpec) Queue() (q int, ok bool) {
	if p.Kind != PortAFXDP {
		return 0, false
	}
	_, s, ok := strings.Cut(p.Arg, "/")
	if !ok {
		return 0, false
	}
	q, _ = strconv.Atoi(s)
	return q, true
}

// MarshalText implements encoding.TextMarshaler.
func (p PortSpec) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *PortSpec) UnmarshalText(b []byte) error { return p.decodeText(string(b)) }

func (p *PortSpec) decodeText(s string) error {
	x, err := ParsePortSpec(s)
	if err != nil {
		return err
	}
	*p = x
	return nil
}

func (PortSpec) expected() string {
	return "a port spec: virtio:N, afpacket:IFNAME, afxdp:IFNAME[/QUEUE], tap:IFNAME, pcap:FILE or mem:NAME"
}

func (PortSpec) jsonSchema() obj {
	return obj{}.
		set("type", "string").
		set("pattern", `^(virtio:(0|[1-9][0-9]{0,2})|(afpacket|tap):[^/:\s]{1,15}|afxdp:[^/:\s]{1,15}(/(0|[1-9][0-9]{0,3}))?|pcap:[^\x00-\x1f]+|mem:[A-Za-z0-9_.-]{1,64})$`).
		set("examples", []string{"virtio:0", "afpacket:eth1", "afxdp:eth1/0", "tap:tap0", "pcap:in.pcap", "mem:a"})
}

// checkIfName applies Linux's rules for interface names (dev_valid_name).
func checkIfName(s string) error {
	switch {
	case s == "":
		return errors.New("empty interface name (expected a Linux interface name)")
	case len(s) > maxIfNameLen:
		return fmt.Errorf("interface name %s is %d bytes long (expected at most %d)", quote(s), len(s), maxIfNameLen)
	case s == "." || s == "..":
		return fmt.Errorf("interface name %s is not allowed (expected a Linux interface name)", quote(s))
	case strings.ContainsFunc(s, func(r rune) bool { return r == '/' || r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Errorf("interface name %s has '/', ':' or white space (expected a Linux interface name)", quote(s))
	}
	return nil
}

// decimal parses a plain decimal number 0..limit (no sign, no leading zeros).
func decimal(s string, limit int) (int, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a decimal number")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > limit {
		return 0, errors.New("out of range")
	}
	return n, nil
}

// isIdent reports whether s is a name: a letter or digit, then letters,
// digits, '_', '-' or '.', at most limit bytes.
func isIdent(s string, limit int) bool {
	if s == "" || len(s) > limit {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
