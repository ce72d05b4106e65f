package qemu

import (
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// KVM ioctls (include/uapi/linux/kvm.h).
const (
	kvmGetAPIVersion       = 0xAE00
	kvmCreateVM            = 0xAE01
	kvmGetVCPUMmapSize     = 0xAE04
	kvmCreateVCPU          = 0xAE41
	kvmRun                 = 0xAE80
	kvmSetUserMemoryRegion = 0x4020AE46
	kvmGetSregs            = 0x8138AE83
	kvmSetSregs            = 0x4138AE84
	kvmSetRegs             = 0x4090AE82
	kvmExitHLT             = 5
)

// KVM reports whether KVM can run this machine's guests well, and if not,
// why. It does not stop at /dev/kvm existing: KVM must be hardware
// assisted (kvm_intel or kvm_amd; a software KVM such as kvm_pvm runs a
// stock kernel far slower than TCG does), and a one-instruction guest
// must run and halt.
func KVM() (ok bool, why string) {
	hw := false
	for _, m := range []string{"kvm_intel", "kvm_amd"} {
		if _, err := os.Stat("/sys/module/" + m); err == nil {
			hw = true
		}
	}
	if !hw {
		if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
			return false, "KVM here is kvm_pvm (software, shadow paging), not hardware assisted"
		}
		return false, "no hardware-assisted KVM (neither kvm_intel nor kvm_amd is loaded)"
	}
	if err := runHaltGuest(); err != nil {
		return false, "KVM cannot run a guest: " + err.Error()
	}
	return true, ""
}

func ioctl(fd int, req, arg uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

// runHaltGuest runs a real-mode guest whose only instruction is hlt.
func runHaltGuest() error {
	kvm, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("/dev/kvm: %w", err)
	}
	defer unix.Close(kvm)
	if v, err := ioctl(kvm, kvmGetAPIVersion, 0); err != nil || v != 12 {
		return fmt.Errorf("KVM API version %d (%v), expected 12", v, err)
	}
	vmfd, err := ioctl(kvm, kvmCreateVM, 0)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	vm := int(vmfd)
	defer unix.Close(vm)
	const guestAddr, size = 0x1000, 0x1000
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	defer unix.Munmap(mem)
	mem[0] = 0xf4 // hlt
	region := struct {
		slot, flags            uint32
		guestPhys, size, uaddr uint64
	}{0, 0, guestAddr, size, uint64(uintptr(unsafe.Pointer(&mem[0])))}
	if _, err := ioctl(vm, kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&region))); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION: %w", err)
	}
	cpufd, err := ioctl(vm, kvmCreateVCPU, 0)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VCPU: %w", err)
	}
	cpu := int(cpufd)
	defer unix.Close(cpu)
	runSize, err := ioctl(kvm, kvmGetVCPUMmapSize, 0)
	if err != nil {
		return err
	}
	run, err := unix.Mmap(cpu, 0, int(runSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	defer unix.Munmap(run)
	// struct kvm_sregs starts with cs: base (u64), limit (u32), selector (u16).
	var sregs [312]byte
	if _, err := ioctl(cpu, kvmGetSregs, uintptr(unsafe.Pointer(&sregs[0]))); err != nil {
		return fmt.Errorf("KVM_GET_SREGS: %w", err)
	}
	*(*uint64)(unsafe.Pointer(&sregs[0])) = 0
	*(*uint16)(unsafe.Pointer(&sregs[12])) = 0
	if _, err := ioctl(cpu, kvmSetSregs, uintptr(unsafe.Pointer(&sregs[0]))); err != nil {
		return fmt.Errorf("KVM_SET_SREGS: %w", err)
	}
	// struct kvm_regs: 16 general registers, rip, rflags.
	var regs [18]uint64
	regs[16], regs[17] = guestAddr, 2
	if _, err := ioctl(cpu, kvmSetRegs, uintptr(unsafe.Pointer(&regs[0]))); err != nil {
		return fmt.Errorf("KVM_SET_REGS: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ioctl(cpu, kvmRun, 0)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("KVM_RUN: %w", err)
		}
	case <-time.After(2 * time.Second):
		return fmt.Errorf("KVM_RUN did not return in 2s")
	}
	if reason := *(*uint32)(unsafe.Pointer(&run[8])); reason != kvmExitHLT {
		return fmt.Errorf("the guest exited with reason %d, expected %d (hlt)", reason, kvmExitHLT)
	}
	return nil
}
