// Package qemu boots an image under QEMU: it builds the command line
// (machine, accelerator, kernel, initrd, one virtio-net NIC per --nic),
// attaches the NICs to TAP devices (in any network namespace), sockets or
// nothing, streams the serial console, waits for the appliance's READY
// line, and shuts the VM down through QMP (an ACPI power button press,
// then a kill if the guest does not power off in time).
package qemu

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Binary is the QEMU program for x86-64 guests (Debian's qemu-system-x86).
const Binary = "qemu-system-x86_64"

// Machines.
const (
	MachineQ35     = "q35"     // PCI NICs, ACPI power button: the default
	MachinePC      = "pc"      // i440FX, as q35
	MachineMicroVM = "microvm" // virtio-mmio NICs, no PCI; needs tsc_early_khz under TCG
)

// Accelerators.
const (
	AccelKVM = "kvm"
	AccelTCG = "tcg"
)

// maxPCINICs is how many NICs fit the PCI slots a q35 or pc machine leaves
// free (2 to 0x1e; 0x1f holds the chipset's own functions).
const maxPCINICs = 29

// NIC is a guest NIC and what its other end is.
type NIC struct {
	// Kind is "tap", "socket" or "none".
	Kind string
	// Ifname and Netns name a tap's TAP device and the network namespace
	// it is in (a name under /var/run/netns, or a path; "" for nfv's own).
	Ifname, Netns string
	// Socket is a socket NIC's QEMU options (listen=..., connect=...,
	// mcast=..., udp=...,localaddr=...).
	Socket string
	// MAC is the guest NIC's address; ParseNIC leaves it nil for a
	// default derived from the NIC's place and spec.
	MAC net.HardwareAddr
	// spec is the text the NIC was parsed from.
	spec string
	// fd is a tap's open TAP queue, handed to QEMU.
	fd *os.File
}

// NICHelp describes NIC specs for command-line help.
const NICHelp = `tap:IFNAME[,netns=NS]   a TAP device (created if missing), in network namespace NS
socket:listen=[HOST]:PORT | socket:connect=HOST:PORT | socket:mcast=GROUP:PORT
socket:udp=HOST:PORT,localaddr=HOST:PORT   QEMU's socket backends
none                      a NIC connected to nothing
Any of them may end in ,mac=XX:XX:XX:XX:XX:XX (default: derived from the image and the spec).`

// ParseNIC parses a NIC spec (see NICHelp).
func ParseNIC(s string) (NIC, error) {
	kind, rest, _ := strings.Cut(s, ":")
	n := NIC{Kind: kind, spec: s}
	var opts []string
	for o := range strings.SplitSeq(rest, ",") {
		if o == "" {
			continue
		}
		if mac, ok := strings.CutPrefix(o, "mac="); ok {
			hw, err := net.ParseMAC(mac)
			if err != nil || len(hw) != 6 {
				return NIC{}, fmt.Errorf("nic %q: bad mac %q (expected mac=XX:XX:XX:XX:XX:XX)", s, mac)
			}
			if hw[0]&1 != 0 {
				return NIC{}, fmt.Errorf("nic %q: mac %s is a multicast address (expected a unicast one)", s, hw)
			}
			n.MAC = hw
			continue
		}
		opts = append(opts, o)
	}
	switch kind {
	case "tap":
		if len(opts) == 0 || strings.Contains(opts[0], "=") {
			return NIC{}, fmt.Errorf("nic %q: no TAP device named (expected tap:IFNAME[,netns=NS])", s)
		}
		n.Ifname = opts[0]
		if len(n.Ifname) > 15 || strings.ContainsAny(n.Ifname, "/: ") {
			return NIC{}, fmt.Errorf("nic %q: %q is not an interface name", s, n.Ifname)
		}
		for _, o := range opts[1:] {
			ns, ok := strings.CutPrefix(o, "netns=")
			if !ok || ns == "" {
				return NIC{}, fmt.Errorf("nic %q: unknown option %q (expected netns=NS or mac=...)", s, o)
			}
			n.Netns = ns
		}
	case "socket":
		if len(opts) == 0 {
			return NIC{}, fmt.Errorf("nic %q: no socket given (expected socket:listen=..., connect=..., mcast=... or udp=...)", s)
		}
		for _, o := range opts {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "listen", "connect", "mcast", "udp", "localaddr":
				if v == "" {
					return NIC{}, fmt.Errorf("nic %q: %s needs an address", s, k)
				}
			default:
				return NIC{}, fmt.Errorf("nic %q: unknown socket option %q (expected listen, connect, mcast, udp, localaddr)", s, k)
			}
		}
		n.Socket = strings.Join(opts, ",")
	case "none":
		if len(opts) > 0 {
			return NIC{}, fmt.Errorf("nic %q: none takes no options but mac=", s)
		}
	default:
		return NIC{}, fmt.Errorf("nic %q: unknown kind %q (expected tap:, socket: or none)", s, kind)
	}
	return n, nil
}

func (n NIC) String() string { return n.spec }

// Config is a VM to start.
type Config struct {
	// Binary is the QEMU program (default Binary).
	Binary string
	// Kernel, Initrd and Cmdline are what the VM boots.
	Kernel, Initrd, Cmdline string
	// MemoryMiB is the guest's RAM; CPUs its vCPUs (default 1).
	MemoryMiB, CPUs int
	// Machine is MachineQ35 (default), MachinePC or MachineMicroVM.
	Machine string
	// Accel is AccelKVM or AccelTCG (default).
	Accel string
	// TSCkHz is the host's TSC frequency, which a microvm under TCG
	// needs on its kernel command line (tsc_early_khz): without it its
	// early TSC calibration hangs at random.
	TSCkHz int
	// NICs are the guest's NICs, virtio:0 first.
	NICs []NIC
	// QMP is the path of the QMP control socket QEMU listens on ("" for
	// none).
	QMP string
	// Seed makes the default MACs of this VM's NICs differ from other
	// VMs' (an image's policy hash, say).
	Seed string
}

// Args returns QEMU's arguments, and the files to hand it as fds 3, 4, ...
// (the TAP devices that Open opened).
func (c *Config) Args() ([]string, []*os.File, error) {
	machine := c.Machine
	if machine == "" {
		machine = MachineQ35
	}
	accel := c.Accel
	if accel == "" {
		accel = AccelTCG
	}
	cpus := max(c.CPUs, 1)
	if c.MemoryMiB <= 0 {
		return nil, nil, errors.New("qemu: no memory size")
	}
	cmdline := c.Cmdline
	var nicDev string
	switch machine {
	case MachineQ35, MachinePC:
		if len(c.NICs) > maxPCINICs {
			return nil, nil, fmt.Errorf("qemu: %d NICs; a %s machine takes at most %d", len(c.NICs), machine, maxPCINICs)
		}
		nicDev = "virtio-net-pci"
	case MachineMicroVM:
		nicDev = "virtio-net-device"
		machine += ",pit=off,pic=off"
		if accel == AccelTCG {
			if c.TSCkHz <= 0 {
				return nil, nil, errors.New("qemu: a microvm under TCG needs the host's TSC frequency (tsc_early_khz); none known")
			}
			cmdline += " tsc_early_khz=" + strconv.Itoa(c.TSCkHz)
		}
	default:
		return nil, nil, fmt.Errorf("qemu: unknown machine %q (expected q35, pc or microvm)", machine)
	}
	args := []string{
		"-M", machine, "-accel", accel, "-smp", strconv.Itoa(cpus), "-m", strconv.Itoa(c.MemoryMiB) + "M",
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", c.Kernel, "-initrd", c.Initrd, "-append", cmdline,
	}
	if accel == AccelKVM {
		args = append(args, "-cpu", "host")
	}
	if c.QMP != "" {
		args = append(args, "-qmp", "unix:"+c.QMP+",server=on,wait=off")
	}
	var files []*os.File
	for i, n := range c.NICs {
		id := "nic" + strconv.Itoa(i)
		mac := n.MAC
		if mac == nil {
			mac = DefaultMAC(c.Seed, i, n.spec)
		}
		switch n.Kind {
		case "tap":
			if n.fd != nil {
				files = append(files, n.fd)
				// QEMU learns from the fd itself that it carries vnet headers.
				args = append(args, "-netdev", fmt.Sprintf("tap,id=%s,fd=%d", id, 2+len(files)))
			} else {
				// For a command line to copy (a manifest): QEMU opens the
				// TAP itself.
				args = append(args, "-netdev", fmt.Sprintf("tap,id=%s,ifname=%s,script=no,downscript=no,vnet_hdr=on", id, n.Ifname))
			}
		case "socket":
			args = append(args, "-netdev", fmt.Sprintf("socket,id=%s,%s", id, n.Socket))
		case "none":
			// A hub with one port: frames sent go nowhere, none come.
			args = append(args, "-netdev", fmt.Sprintf("hubport,id=%s,hubid=%d", id, 100+i))
		default:
			return nil, nil, fmt.Errorf("qemu: NIC %d: unknown kind %q", i, n.Kind)
		}
		// The appliance reads whole frames through AF_PACKET: a guest
		// offered TSO/LRO would receive 64 KiB super-packets no frame
		// holds. Checksum offload stays: the dataplane carries it.
		dev := fmt.Sprintf("%s,netdev=%s,mac=%s,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off", nicDev, id, mac)
		if nicDev == "virtio-net-pci" {
			// A fixed slot per NIC: the guest finds them in PCI order.
			dev += fmt.Sprintf(",addr=0x%x,romfile=", 2+i)
		}
		args = append(args, "-device", dev)
	}
	return args, files, nil
}

// DefaultMAC is the address of NIC i when none is given: locally
// administered, unicast, and derived from seed, i and the spec, so a VM
// booted again keeps its addresses (neighbours' caches stay right) and
// VMs of different images or NICs differ.
func DefaultMAC(seed string, i int, spec string) net.HardwareAddr {
	h := sha256.Sum256([]byte(fmt.Sprintf("nfvkit nic\x00%s\x00%d\x00%s", seed, i, spec)))
	mac := net.HardwareAddr(h[:6])
	mac[0] = mac[0]&^1 | 2
	return mac
}

// CommandLine quotes args for a shell, for printing.
func CommandLine(binary string, args []string) string {
	out := []string{binary}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]#~{}!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}
