// Package images builds and boots appliance images.
//
// An image is a directory of three files: vmlinuz (the kernel), initrd (a
// gzip-compressed cpio archive holding /init, the policy and the kernel
// modules the appliance needs, if any) and manifest.json (what went in,
// sizes, hashes and how to boot it). Build makes one from a policy; the
// same inputs (policy, secrets it references, kernel, nfvkit source, Go
// toolchain) give the same bytes. Boot (package qemu) runs one.
//
// The kernel is, by default, the appliance's own minimal kernel (package
// kernel: tinyconfig plus what the appliance needs, everything built in,
// built once per machine from Debian's linux-source and cached), so the
// initrd carries no modules; Debian's cloud kernel (--kernel=debian) is
// the other choice, with the modules it needs loaded by /init.
//
// /init is the appliance's own program (cmd/router, cmd/firewall,
// cmd/ipsec-gw), built static, with package initsys as its main: see there
// for what happens at boot.
//
// # Secrets
//
// A policy's file: secrets are copied into the initrd at the same absolute
// path, readable by root only, so the policy reads them in the image as it
// would on the host. env: secrets are read from nfv build's environment
// when it builds, and stored in the initrd under initsys.EnvDir (one file
// per variable, root only); /init puts them in the appliance's environment,
// where the policy reads them. An initrd holding secrets is written
// readable by its owner only. Values are never printed: the manifest names
// only the references. (The kernel command line would be no place for
// them: it is world-readable in the guest and printed by the host.)
package images

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/nfvkit/nfvkit/images/cpio"
	"github.com/nfvkit/nfvkit/images/initsys"
	"github.com/nfvkit/nfvkit/images/kernel"
	"github.com/nfvkit/nfvkit/images/qemu"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// Module is this repository's Go module path; Build compiles the
// appliance's main from a checkout of it.
const Module = "github.com/nfvkit/nfvkit"

// Files of an image directory.
const (
	KernelFile   = "vmlinuz"
	InitrdFile   = "initrd"
	ManifestFile = "manifest.json"
)

// Cmdline is the kernel command line images boot with: the serial console,
// no kernel chatter on it (warnings still show), a reboot (which QEMU's
// -no-reboot turns into an exit) rather than a hang on a panic, and memory
// overcommit always allowed: a Go 1.26 binary that links crypto has a
// 32 MiB .bss (crypto/internal/fips140/drbg's scratch buffer, untouched
// outside FIPS mode), which the kernel's default heuristic refuses to map
// in a guest with less RAM than that, so /init would fail to start.
const Cmdline = "console=ttyS0 quiet panic=-1 8250.nr_uarts=1 sysctl.vm.overcommit_memory=1"

// Guest RAM. DefaultMemoryMiB is what an image with the minimal kernel
// boots with unless told otherwise, MinMemoryMiB the least it was seen to
// boot and forward with. Debian's cloud kernel needs far more (it unpacks
// ~51 MiB at a 16 MiB load address): DebianMemoryMiB, and DebianMinMemoryMiB.
const (
	DefaultMemoryMiB   = 32
	MinMemoryMiB       = 22
	DebianMemoryMiB    = 128
	DebianMinMemoryMiB = 76
)

// mains are the packages that build each appliance's /init.
var mains = map[config.Appliance]string{
	config.Router:   "./cmd/router",
	config.Firewall: "./cmd/firewall",
	config.IPsecGW:  "./cmd/ipsec-gw",
}

// nicModules are the modules every appliance needs: virtio NICs (on PCI
// for q35 and pc, on virtio-mmio for microvm), AF_PACKET to reach them,
// and the ACPI power button (and evdev to read it) for a clean shutdown.
// The minimal kernel has them all built in (images/kernel/configs).
var nicModules = []kernel.Need{
	{Name: "virtio_net", Config: "CONFIG_VIRTIO_NET"},
	{Name: "virtio_pci", Config: "CONFIG_VIRTIO_PCI"},
	{Name: "virtio_mmio", Config: "CONFIG_VIRTIO_MMIO", Optional: true},
	{Name: "af_packet", Config: "CONFIG_PACKET"},
	{Name: "button", Config: "CONFIG_ACPI_BUTTON", Optional: true},
	{Name: "evdev", Config: "CONFIG_INPUT_EVDEV", Optional: true},
}

// modulesFor lists what an appliance needs from the kernel. The ipsec-gw
// does ESP and WireGuard in its own dataplane, so it needs no more.
var modulesFor = map[config.Appliance][]kernel.Need{
	config.Router:   nicModules,
	config.Firewall: nicModules,
	config.IPsecGW:  nicModules,
}

// Options say what to build.
type Options struct {
	// Policy is the policy file.
	Policy string
	// Out is the image directory to write (created if missing).
	Out string
	// Src is the root of an nfvkit checkout to compile /init from
	// (default: found from the working directory, then from the running
	// program's location).
	Src string
	// Kernel is KernelMinimal (the default: the appliance's own kernel,
	// built once and cached), KernelDebian (Debian's cloud kernel,
	// kernel.DefaultPackage), another Debian linux-image package to fetch,
	// or a directory holding an unpacked kernel (boot/vmlinuz-*,
	// lib/modules/*).
	Kernel string
	// CacheDir is where built and fetched kernels are kept (default
	// kernel.DefaultCacheDir()).
	CacheDir string
	// Go is the go command (default "go").
	Go string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Manifest describes an image. Everything in it follows from the inputs,
// so it is reproducible too.
type Manifest struct {
	Appliance config.Appliance `json:"appliance"`
	Policy    PolicyInfo       `json:"policy"`
	Kernel    KernelInfo       `json:"kernel"`
	Init      InitInfo         `json:"init"`
	Files     []FileInfo       `json:"files"`
	// TotalBytes is the kernel and the initrd together.
	TotalBytes int64 `json:"total_bytes"`
	// Modules are the kernel modules /init loads, in order.
	Modules []string `json:"modules"`
	// Secrets are the file: and env: secrets carried in the initrd, by
	// reference.
	Secrets []string `json:"secrets,omitempty"`
	// NICs are the virtio NICs the image expects, in bus order.
	NICs []NICInfo `json:"nics"`
	Boot BootInfo  `json:"boot"`
}

// PolicyInfo names the policy an image runs.
type PolicyInfo struct {
	File   string `json:"file"` // base name
	SHA256 string `json:"sha256"`
	Path   string `json:"path"` // inside the image
}

// KernelInfo says which kernel an image boots: a Debian linux-image
// package, or a minimal kernel built from a linux-source package with the
// Config fragments (its final .config hashing to ConfigSHA256).
type KernelInfo struct {
	Package      string   `json:"package,omitempty"`
	Version      string   `json:"version,omitempty"`
	Release      string   `json:"release"`
	DebSHA256    string   `json:"deb_sha256,omitempty"`
	Config       []string `json:"config,omitempty"`
	ConfigSHA256 string   `json:"config_sha256,omitempty"`
}

// InitInfo describes /init.
type InitInfo struct {
	Package string `json:"package"`
	Bytes   int64  `json:"bytes"`
	Go      string `json:"go"`
}

// FileInfo is one file of the image directory.
type FileInfo struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// NICInfo maps a guest NIC to the interface using it.
type NICInfo struct {
	Index     int    `json:"index"`     // virtio:N
	Interface string `json:"interface"` // "" for a NIC no interface uses
}

// BootInfo says how to boot an image.
type BootInfo struct {
	Cmdline   string `json:"cmdline"`
	MemoryMiB int    `json:"memory_mib"`
	Machine   string `json:"machine"`
	// QEMU is a command line that boots the image from its directory
	// with its NICs on TAP devices nfv0, nfv1, ...; nfv boot does the
	// same with the NICs it is given.
	QEMU string `json:"qemu"`
}

// Build builds an image. Policy errors come back as a config.ErrorList.
func Build(ctx context.Context, o Options) (*Manifest, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	policyBytes, err := os.ReadFile(o.Policy)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	p, err := config.Parse(o.Policy, policyBytes)
	if err != nil {
		return nil, err
	}
	nics, err := imageNICs(p)
	if err != nil {
		return nil, err
	}
	secrets, err := policySecrets(p)
	if err != nil {
		return nil, err
	}
	mainPkg, ok := mains[p.Appliance]
	if !ok {
		return nil, fmt.Errorf("build: no image program for appliance %q", p.Appliance)
	}
	src := o.Src
	if src == "" {
		if src, err = FindSource(); err != nil {
			return nil, err
		}
	}

	k, err := openKernel(ctx, o, p.Appliance)
	if err != nil {
		return nil, err
	}
	mods, missing, err := k.Modules(modulesFor[p.Appliance])
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		fmt.Fprintf(o.Log, "kernel %s has no %s; the image goes without\n", k.Release, strings.Join(missing, ", "))
	}

	fmt.Fprintf(o.Log, "compiling %s (static)\n", mainPkg)
	initBin, goVersion, err := compile(ctx, o.Go, src, mainPkg)
	if err != nil {
		return nil, err
	}

	a, err := initrdArchive(k, mods, initBin, policyBytes, secrets)
	if err != nil {
		return nil, err
	}
	initrd, err := compress(a)
	if err != nil {
		return nil, err
	}
	vmlinuz, err := os.ReadFile(k.Vmlinuz)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}

	m := &Manifest{
		Appliance: p.Appliance,
		Policy:    PolicyInfo{File: filepath.Base(o.Policy), SHA256: sha(policyBytes), Path: initsys.PolicyPath},
		Kernel: KernelInfo{Package: k.Package, Version: k.Version, Release: k.Release, DebSHA256: k.DebSHA256,
			Config: k.Fragments, ConfigSHA256: k.ConfigSHA256},
		Init: InitInfo{Package: path.Join(Module, strings.TrimPrefix(mainPkg, "./")), Bytes: int64(len(initBin)), Go: goVersion},
		Files: []FileInfo{
			{Name: KernelFile, Bytes: int64(len(vmlinuz)), SHA256: sha(vmlinuz)},
			{Name: InitrdFile, Bytes: int64(len(initrd)), SHA256: sha(initrd)},
		},
		TotalBytes: int64(len(vmlinuz) + len(initrd)),
		NICs:       nics,
	}
	for _, mod := range mods {
		m.Modules = append(m.Modules, mod.Name)
	}
	for _, s := range secrets {
		m.Secrets = append(m.Secrets, s.ref)
	}
	memory := DefaultMemoryMiB
	if len(k.Fragments) == 0 {
		memory = DebianMemoryMiB // not ours: a general-purpose kernel
	}
	m.Boot = BootInfo{Cmdline: Cmdline, MemoryMiB: memory, Machine: qemu.MachineQ35}
	example := qemu.Config{
		Kernel: KernelFile, Initrd: InitrdFile, Cmdline: Cmdline, MemoryMiB: memory,
		Machine: qemu.MachineQ35, Accel: qemu.AccelTCG, Seed: m.Policy.SHA256,
	}
	for i := range nics {
		n, _ := qemu.ParseNIC(fmt.Sprintf("tap:nfv%d", i))
		example.NICs = append(example.NICs, n)
	}
	args, _, err := example.Args()
	if err != nil {
		return nil, err
	}
	m.Boot.QEMU = qemu.CommandLine(qemu.Binary, args)

	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	manifest = append(manifest, '\n')
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	initrdMode := os.FileMode(0o644)
	if len(secrets) > 0 {
		initrdMode = 0o600
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{KernelFile, vmlinuz, 0o644}, {InitrdFile, initrd, initrdMode}, {ManifestFile, manifest, 0o644}} {
		if err := writeFile(filepath.Join(o.Out, f.name), f.data, f.mode); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	return m, nil
}

// initrdArchive lays out the initrd: /init, the policy, the modules and
// their load order, the secrets, and the directories /init mounts on.
func initrdArchive(k *kernel.Kernel, mods []kernel.Module, initBin, policy []byte, secrets []secretFile) (*cpio.Archive, error) {
	a := new(cpio.Archive)
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	add(a.AddFile("init", 0o755, initBin))
	add(a.AddFile(strings.TrimPrefix(initsys.PolicyPath, "/"), 0o600, policy))
	add(a.AddCharDev("dev/console", 0o600, 5, 1))
	for _, d := range []string{"proc", "sys", "dev", "tmp"} {
		add(a.AddDir(d, 0o755))
	}
	var list bytes.Buffer
	for _, m := range mods {
		data, err := kernel.ReadModule(filepath.Join(k.ModulesDir, m.Path))
		if err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		name := path.Join("lib/modules", k.Release, strings.TrimSuffix(m.Path, ".gz"))
		add(a.AddFile(name, 0o644, data))
		fmt.Fprintf(&list, "/%s\n", name)
	}
	if len(mods) > 0 {
		add(a.AddFile(strings.TrimPrefix(initsys.ModulesList, "/"), 0o644, list.Bytes()))
	}
	for _, s := range secrets {
		add(a.AddFile(strings.TrimPrefix(s.path, "/"), 0o400, s.data))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("build: initrd: %w", err)
	}
	return a, nil
}

// imageNICs checks that every interface with a port of its own is on a
// virtio NIC, and lists the NICs.
func imageNICs(p *config.Policy) ([]NICInfo, error) {
	var errs config.ErrorList
	used := map[int]string{}
	n := 0
	for i := range p.Interfaces {
		ifc := &p.Interfaces[i]
		if ifc.Parent != "" {
			continue
		}
		spec := p.PortOf(ifc)
		if spec.Kind != config.PortVirtio {
			errs = append(errs, config.Error{File: p.Source, Line: ifc.Pos.Line, Col: ifc.Pos.Col,
				Msg: fmt.Sprintf("interface %s: port %s cannot be in an image (expected virtio:N, the image's Nth NIC)", ifc.Name, spec)})
			continue
		}
		used[spec.Index()] = ifc.Name
		n = max(n, spec.Index()+1)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	nics := make([]NICInfo, n)
	for i := range nics {
		nics[i] = NICInfo{Index: i, Interface: used[i]}
	}
	return nics, nil
}

// secretFile is a secret as the initrd carries it.
type secretFile struct {
	ref  string // file:/PATH or env:NAME
	path string // in the initrd
	data []byte
}

var secretType = reflect.TypeFor[config.Secret]()

// policySecrets reads the file: and env: secrets a policy references (see
// the package documentation).
func policySecrets(p *config.Policy) ([]secretFile, error) {
	var refs []config.Secret
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		if v.Type() == secretType {
			refs = append(refs, v.Interface().(config.Secret))
			return
		}
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(v.MapIndex(k))
			}
		}
	}
	walk(reflect.ValueOf(p).Elem())
	seen := map[string]bool{}
	var out []secretFile
	for _, s := range refs {
		ref := s.String()
		if seen[ref] || (s.Kind() != config.SecretFile && s.Kind() != config.SecretEnv) {
			continue
		}
		seen[ref] = true
		// Resolve checks the value as the appliance will.
		v, err := s.Resolve()
		if err != nil {
			return nil, fmt.Errorf("build: %s: %w (nfv build reads file: and env: secrets when it builds an image)", p.Source, err)
		}
		sf := secretFile{ref: ref}
		if file, ok := strings.CutPrefix(ref, "file:"); ok {
			// The file as it is, byte for byte.
			if sf.data, err = os.ReadFile(file); err != nil {
				return nil, fmt.Errorf("build: %s: secret %s: %w", p.Source, ref, err)
			}
			sf.path = file
		} else {
			sf.path = path.Join(initsys.EnvDir, strings.TrimPrefix(ref, "env:"))
			sf.data = v
		}
		out = append(out, sf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// Kernel choices (Options.Kernel) besides a package name or a directory.
const (
	KernelMinimal = kernel.Minimal
	KernelDebian  = "debian"
)

// openKernel builds the minimal kernel, opens o.Kernel as a directory, or
// fetches it as a package.
func openKernel(ctx context.Context, o Options, appliance config.Appliance) (*kernel.Kernel, error) {
	switch o.Kernel {
	case "", KernelMinimal:
		return kernel.BuildMinimal(ctx, kernel.MinimalOptions{Appliance: string(appliance), CacheDir: o.CacheDir, Log: o.Log})
	case KernelDebian:
		o.Kernel = kernel.DefaultPackage
	}
	if st, err := os.Stat(o.Kernel); err == nil && st.IsDir() {
		return kernel.Open(o.Kernel)
	}
	return kernel.Fetch(ctx, kernel.Options{Package: o.Kernel, CacheDir: o.CacheDir, Log: o.Log})
}

// compile builds pkg from the module at src as a static, reproducible
// linux/amd64 binary and returns it with the Go version that built it.
func compile(ctx context.Context, goCmd, src, pkg string) ([]byte, string, error) {
	if goCmd == "" {
		goCmd = "go"
	}
	if _, err := exec.LookPath(goCmd); err != nil {
		return nil, "", fmt.Errorf("build: the Go toolchain (%s) is needed to compile /init: %w", goCmd, err)
	}
	tmp, err := os.MkdirTemp("", "nfv-build-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "init")
	// nfv_noafxdp: an image's ports are its virtio NICs over AF_PACKET, so
	// the AF_XDP backend (and cilium/ebpf with it: 1.3 MiB of /init, held
	// in the guest's RAM) stays out.
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", out, "-trimpath", "-buildvcs=false",
		"-tags=nfv_noafxdp", "-ldflags=-s -w -buildid=", pkg)
	cmd.Dir = src
	// Everything that changes the bytes is fixed here, not taken from
	// the caller's environment.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1",
		"GOFLAGS=", "GOEXPERIMENT=", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("build: go build %s: %w\n%s", pkg, err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, "", err
	}
	v, err := exec.CommandContext(ctx, goCmd, "env", "GOVERSION").Output()
	if err != nil {
		return nil, "", fmt.Errorf("build: go env GOVERSION: %w", err)
	}
	return bin, strings.TrimSpace(string(v)), nil
}

// compress writes the archive gzip-compressed, with a header that holds no
// name and no time.
func compress(a *cpio.Archive) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := a.WriteTo(zw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FindSource finds the nfvkit checkout to compile from: the module holding
// the working directory, else the one holding the running program (bin/nfv
// of a checkout).
func FindSource() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	for _, dir := range starts {
		for {
			if isModuleRoot(dir) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("build: cannot find the nfvkit source to compile /init from: run nfv inside a checkout of " + Module + " (or pass --src DIR)")
}

func isModuleRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(first) == "module "+Module
}

// ReadManifest reads an image directory's manifest.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("%s is not an image directory (nfv build writes one): %w", dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	return &m, nil
}

// writeFile replaces path with data atomically.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
