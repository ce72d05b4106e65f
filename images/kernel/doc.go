// Package kernel provides the Linux kernel an image boots: the appliance's
// own minimal kernel, built here and cached (the default), Debian's cloud
// kernel, fetched with apt and cached, or a kernel tree unpacked by hand.
// For a modular kernel it also works out which modules an image must
// carry: the closure of a few root modules over their dependencies, in the
// order they must be loaded. The minimal kernel has everything built in,
// so its images carry none.
//
// # The minimal kernel
//
// Lupine Linux showed that a kernel configured for one application boots
// like a unikernel; BuildMinimal makes one per appliance: `make tinyconfig`,
// then configs/base.config (what every image needs: the console, the initrd,
// what Go's runtime and PID 1 use, virtio on PCI and on MMIO, ACPI power)
// and configs/APPLIANCE.config (the packet socket its ports use), every
// option commented with why it is there. The fragments are merged as
// scripts/kconfig/merge_config.sh -n does (a fragment's options replace
// earlier ones and go last), and the result is made a configuration with
// allnoconfig, so no option the fragments do not name turns on by default.
// Kconfig drops an option whose dependencies are not met without a word:
// the build then checks that every option asked for is in the final
// .config with its value, and fails naming those that are not and what they
// depend on. Modules are off (CONFIG_MODULES=n).
//
// It is built from Debian's linux-source-6.1 (a tarball under /usr/src) with
// the machine's gcc, out of tree, in the cache (DefaultCacheDir()/kernels):
// unpacked, configured and built with make -j(CPUs) into a directory whose
// name is a hash of everything that makes the kernel's bytes (the build
// recipe, the source package and version, the options asked for, gcc's and
// ld's versions), so it is built once per machine and configuration; the
// appliances whose fragments ask for the same options share one kernel. A
// lock (flock) makes a second nfv build of the same kernel wait for the
// first. The build's identity (KBUILD_BUILD_TIMESTAMP from the tarball, user,
// host, a fixed build directory) is fixed, so two builds give the same
// bytes. A failed build leaves its log beside the cache entry. A machine
// without the tools or the source gets an error wrapping ErrToolchain that
// says which Debian packages to install ('make deps' installs them).
//
// On a 2-core machine a cold build takes about 3 minutes (up to 6 when the
// machine is busy); the kernel is ~1.4 MiB (zstd bzImage) against 13.5 MiB
// for Debian's cloud kernel, and an image boots and forwards in 22 MiB of
// guest RAM against 76 MiB.
//
// # Where the image boots
//
// An image is a bzImage (vmlinuz) and an initrd; the kernel command line is
// in its manifest. The kernel targets:
//
//   - QEMU q35 or pc (what nfv boot starts by default): virtio-net-pci NICs
//     (CONFIG_VIRTIO_PCI, MSI-X), the 8250 serial console, ACPI for the power
//     button (system_powerdown, nfv boot's Ctrl-C) and power-off (S5).
//     Under TCG the local APIC timer is calibrated against the PIT at every
//     boot (~0.25 s); under KVM with -cpu host (TSC deadline timer) it is not.
//   - QEMU microvm (nfv boot --machine microvm): virtio-mmio NICs, which
//     QEMU describes in ACPI (LNRO0005) or, with acpi=off, on the kernel
//     command line (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES); the serial port's
//     interrupt comes from its ACPI description (CONFIG_SERIAL_8250_PNP).
//     Under TCG its kernel needs tsc_early_khz= (nfv boot adds it) or it
//     hangs calibrating the TSC. With acpi=off the CPUs and the I/O APIC come
//     from the MP table (CONFIG_X86_MPPARSE) and there is no power-off: PID
//     1 ends the VM by a reset (a triple fault), which -no-reboot turns
//     into QEMU's exit.
//   - Firecracker (KVM only): it boots an uncompressed ELF vmlinux, not a
//     bzImage: the cache entry holds one beside the bzImage
//     (boot/vmlinux-RELEASE; nfv build does not put it in the image
//     directory yet). It lists virtio-mmio devices on the command line, describes CPUs with an MP table, runs kvmclock
//     (CONFIG_KVM_GUEST), and stops the VM on the guest's reset, which PID
//     1 does when the appliance ends. Its SendCtrlAltDel action needs an
//     i8042 keyboard driver this kernel leaves out: stop it through its API.
//     Untested here (no KVM on this machine).
//   - Cloud Hypervisor (KVM only): virtio-pci, ACPI (power button through
//     its GED device, like microvm's); it boots the vmlinux through its PVH
//     entry point (CONFIG_PVH). Untested here; QEMU boots the same vmlinux
//     through PVH (-kernel vmlinux, q35 or microvm), which was tried.
package kernel
