package afxdp

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// xdpMdRxQueueIndex is offsetof(struct xdp_md, rx_queue_index).
const xdpMdRxQueueIndex = 16

// xdpPass is the XDP_PASS verdict.
const xdpPass = 2

// redirectInstructions is the whole XDP program:
//
//	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
//
// A packet arriving on a queue with a socket in the XSKMAP goes to that
// socket; on any other queue the lookup fails and the flags' low bits,
// XDP_PASS, become the verdict, so the kernel stack still sees it.
// It is assembled here, so building nfvkit needs no clang.
func redirectInstructions(xsks *ebpf.Map) (asm.Instructions, error) {
	load := asm.LoadMapPtr(asm.R1, 0)
	if err := load.AssociateMap(xsks); err != nil {
		return nil, err
	}
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, xdpMdRxQueueIndex, asm.Word), // r2 = ctx->rx_queue_index
		load,                         // r1 = &xsks
		asm.Mov.Imm(asm.R3, xdpPass), // r3 = XDP_PASS (when no socket)
		asm.FnRedirectMap.Call(),     // r0 = bpf_redirect_map(r1, r2, r3)
		asm.Return(),
	}, nil
}

// ifaceKey names an interface across network namespaces: interface indexes
// are per namespace.
type ifaceKey struct {
	netnsDev, netnsIno uint64
	ifindex            int
}

// currentNetns identifies the network namespace of the calling thread.
func currentNetns() (dev, ino uint64, err error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, 0, fmt.Errorf("identifying the network namespace: %w", err)
	}
	return st.Dev, st.Ino, nil
}

// attachment is the XDP program on one interface and its XSKMAP, shared
// by every port on a queue of that interface. The program is attached
// through a BPF link: closing the link detaches it, and the kernel closes
// it itself if the process dies, so an interface is never left redirecting
// to sockets that are gone.
type attachment struct {
	key   ifaceKey
	name  string
	xsks  *ebpf.Map
	prog  *ebpf.Program
	link  link.Link
	mode  XDPMode
	users int
}

// attach loads the program for the interface and attaches it in the mode
// asked for, trying native before generic under XDPAuto. It must run in
// the interface's network namespace (link creation resolves the ifindex
// there).
func attach(key ifaceKey, ifname string, info linkInfo, queue int, want XDPMode) (*attachment, error) {
	if info.xdpProg != 0 {
		return nil, fmt.Errorf("%s already has an XDP program (id %d, attach mode %d); afxdp will not replace it", ifname, info.xdpProg, info.xdpAttached)
	}
	entries := max(info.rxQueues, info.txQueues, queue+1, 1)
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "nfv_xsks",
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(entries),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the XSKMAP: %w", err)
	}
	insns, err := redirectInstructions(xsks)
	if err != nil {
		xsks.Close()
		return nil, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "nfv_xsk_redir",
		Type:         ebpf.XDP,
		AttachType:   ebpf.AttachXDP,
		Instructions: insns,
		// Consulted only for GPL-only helpers; bpf_redirect_map is not one.
		License: "Dual MIT/GPL",
	})
	if err != nil {
		xsks.Close()
		return nil, fmt.Errorf("loading the XDP program: %w", err)
	}
	a := &attachment{key: key, name: ifname, xsks: xsks, prog: prog}
	try := []XDPMode{want}
	if want == XDPAuto {
		try = []XDPMode{XDPNative, XDPGeneric}
	}
	var errs []error
	for _, m := range try {
		flags := link.XDPDriverMode
		if m == XDPGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: key.ifindex, Flags: flags})
		if err == nil {
			a.link, a.mode = l, m
			return a, nil
		}
		errs = append(errs, fmt.Errorf("%s mode: %w", m, err))
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) || errors.Is(err, os.ErrPermission) {
			break // another program, or no right to attach: another mode will not help
		}
	}
	prog.Close()
	xsks.Close()
	return nil, fmt.Errorf("attaching XDP to %s: %w", ifname, errors.Join(errs...))
}

// setSocket directs the packets of queue to the socket fd.
func (a *attachment) setSocket(queue, fd int) error {
	if err := a.xsks.Update(uint32(queue), uint32(fd), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("adding the socket to the XSKMAP of %s: %w", a.name, err)
	}
	return nil
}

// clearSocket stops directing queue's packets to a socket: they go to the
// kernel stack again.
func (a *attachment) clearSocket(queue int) error {
	if err := a.xsks.Delete(uint32(queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("removing the socket from the XSKMAP of %s: %w", a.name, err)
	}
	return nil
}

// detach removes the program from the interface and frees it.
func (a *attachment) detach() error {
	var errs []error
	if err := a.link.Close(); err != nil {
		errs = append(errs, fmt.Errorf("detaching XDP from %s: %w", a.name, err))
	}
	errs = append(errs, a.prog.Close(), a.xsks.Close())
	return errors.Join(errs...)
}
