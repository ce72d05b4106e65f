package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Minimal is the kernel nfv build makes by default: Linux from Debian's
// linux-source package, configured Lupine-style (tinyconfig plus the
// fragments in configs/: base.config and the appliance's own), everything
// built in, built once per machine and configuration and cached.
const Minimal = "minimal"

// SourcePackage is the Debian package holding the Linux source the
// minimal kernel is built from (a tarball under /usr/src), and
// ToolchainPackages what building it takes ('make deps' installs them).
const SourcePackage = "linux-source-6.1"

// ToolchainPackages are the Debian packages the build needs besides the
// source: a C toolchain, the parser generators of Kconfig, bc for the
// timer constants, libelf for objtool, xz to unpack the source and zstd
// to compress the kernel.
var ToolchainPackages = []string{"build-essential", "bc", "bison", "flex", "libelf-dev", "xz-utils", "zstd"}

// ErrToolchain is wrapped by the errors of a machine that cannot build the
// minimal kernel: a tool, a header or the source missing.
var ErrToolchain = errors.New("cannot build the minimal kernel here")

// recipe names the build steps below; change it when they change, so that
// kernels built the old way are not taken from the cache.
const recipe = "nfvkit minimal kernel, recipe 2"

// arch is the only architecture images are built for.
const arch = "x86_64"

//go:embed configs/*.config
var configFS embed.FS

// Fragment is a named piece of kernel configuration.
type Fragment struct {
	Name   string // base, router, ...
	Config Config
}

// Fragments returns the fragments of an appliance's kernel: base.config,
// then the appliance's own.
func Fragments(appliance string) ([]Fragment, error) {
	var out []Fragment
	for _, name := range []string{"base", appliance} {
		b, err := configFS.ReadFile("configs/" + name + ".config")
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("kernel: no kernel config fragment for appliance %q (expected images/kernel/configs/%s.config)", appliance, name)
		} else if err != nil {
			return nil, err
		}
		c, err := ParseConfig(name+".config", b)
		if err != nil {
			return nil, fmt.Errorf("kernel: %w", err)
		}
		out = append(out, Fragment{name, c})
	}
	return out, nil
}

// MinimalOptions tune BuildMinimal.
type MinimalOptions struct {
	// Appliance picks the fragment added to base.config.
	Appliance string
	// Source is the Linux source tarball (default: the newest
	// /usr/src/linux-source-*.tar.xz, which SourcePackage installs).
	Source string
	// CacheDir holds built kernels (default DefaultCacheDir()).
	CacheDir string
	// Jobs is make's -j (default: the number of CPUs).
	Jobs int
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// source is the Linux source a kernel is built from.
type source struct {
	path    string
	pkg     string // linux-source-6.1
	version string // the package's version, or the tarball's hash
	mtime   time.Time
}

// BuildMinimal returns the minimal kernel of o.Appliance: from the cache,
// or built into it (which takes minutes; one build at a time per
// configuration, others wait for it). The kernel tree it returns has no
// modules: boot/vmlinuz-RELEASE (the bzImage), boot/vmlinux-RELEASE (the
// same kernel uncompressed, an ELF file with a PVH entry point: what
// Firecracker and Cloud Hypervisor boot) and boot/config-RELEASE.
func BuildMinimal(ctx context.Context, o MinimalOptions) (*Kernel, error) {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Jobs <= 0 {
		o.Jobs = runtime.NumCPU()
	}
	frags, err := Fragments(o.Appliance)
	if err != nil {
		return nil, err
	}
	src, err := findSource(ctx, o.Source)
	if err != nil {
		return nil, err
	}
	var cfgs []Config
	var names []string
	for _, f := range frags {
		cfgs = append(cfgs, f.Config)
		names = append(names, f.Name)
	}
	requested := Requested(cfgs...)
	key, err := cacheKey(ctx, src, requested)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.CacheDir, "kernels", "minimal-"+key[:16])
	if k, err := Open(dir); err == nil {
		return k, nil
	}
	if err := checkToolchain(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("kernel: cache: %w", err)
	}
	unlock, err := lock(ctx, dir+".lock", func() {
		fmt.Fprintf(o.Log, "another nfv is building this kernel; waiting for it\n")
	})
	if err != nil {
		return nil, err
	}
	defer unlock()
	if k, err := Open(dir); err == nil {
		return k, nil // built while we waited
	}
	b := &build{o: o, src: src, frags: frags, requested: requested, key: key, dir: dir, names: names}
	return b.run(ctx)
}

// tools are the programs the build runs, and the Debian package of each.
var tools = []struct{ cmd, pkg string }{
	{"make", "make"}, {"gcc", "gcc"}, {"ld", "binutils"}, {"strip", "binutils"}, {"bison", "bison"},
	{"flex", "flex"}, {"bc", "bc"}, {"xz", "xz-utils"}, {"zstd", "zstd"}, {"tar", "tar"}, {"awk", "mawk"},
}

// headers are the C headers objtool is built against.
var headers = []struct{ path, pkg string }{{"/usr/include/gelf.h", "libelf-dev"}}

// checkToolchain says what the machine lacks to build a kernel.
func checkToolchain() error {
	var missing, pkgs []string
	for _, t := range tools {
		if _, err := exec.LookPath(t.cmd); err != nil {
			missing, pkgs = append(missing, t.cmd), append(pkgs, t.pkg)
		}
	}
	for _, h := range headers {
		if _, err := os.Stat(h.path); err != nil {
			missing, pkgs = append(missing, h.path), append(pkgs, h.pkg)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("kernel: %w: %s missing; install Debian's %s ('make deps' does, as root), or build with --kernel=debian", ErrToolchain,
			strings.Join(missing, ", "), strings.Join(pkgs, " "))
	}
	return nil
}

// findSource finds the Linux source tarball and its version.
func findSource(ctx context.Context, path string) (source, error) {
	if path == "" {
		cands, _ := filepath.Glob("/usr/src/linux-source-*.tar.xz")
		if len(cands) == 0 {
			return source{}, fmt.Errorf("kernel: %w: no Linux source (/usr/src/linux-source-*.tar.xz); install Debian's %s ('make deps' does, as root), or build with --kernel=debian", ErrToolchain, SourcePackage)
		}
		sort.Slice(cands, func(i, j int) bool { return versionLess(cands[i], cands[j]) })
		path = cands[len(cands)-1]
	}
	st, err := os.Stat(path)
	if err != nil {
		return source{}, fmt.Errorf("kernel: %w: %w", ErrToolchain, err)
	}
	s := source{path: path, pkg: strings.TrimSuffix(filepath.Base(path), ".tar.xz"), mtime: st.ModTime().UTC()}
	// The package's version names the source; a tarball no package owns
	// is named by its hash.
	if out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Version}", s.pkg).Output(); err == nil && len(out) > 0 {
		s.version = string(out)
	} else if sum, err := fileSHA256(path); err == nil {
		s.version = "sha256:" + sum
	} else {
		return source{}, fmt.Errorf("kernel: %w", err)
	}
	return s, nil
}

// versionLess orders linux-source-X.Y tarball paths by X.Y.
func versionLess(a, b string) bool {
	num := func(p string) []int {
		var v []int
		for f := range strings.SplitSeq(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "linux-source-"), ".tar.xz"), ".") {
			n, _ := strconv.Atoi(f)
			v = append(v, n)
		}
		return v
	}
	va, vb := num(a), num(b)
	for i := 0; i < len(va) && i < len(vb); i++ {
		if va[i] != vb[i] {
			return va[i] < vb[i]
		}
	}
	return len(va) < len(vb)
}

// cacheKey names a kernel by everything that makes its bytes: the build
// recipe, the source and its version, the options asked for and the
// compiler and linker that build it.
func cacheKey(ctx context.Context, src source, requested Config) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\narch=%s\nsource=%s %s\n", recipe, arch, src.pkg, src.version)
	for _, tool := range []string{"gcc", "ld"} {
		out, err := exec.CommandContext(ctx, tool, "--version").Output()
		if err != nil {
			if terr := checkToolchain(); terr != nil {
				return "", terr
			}
			return "", fmt.Errorf("kernel: %s --version: %w", tool, err)
		}
		first, _, _ := strings.Cut(string(out), "\n")
		fmt.Fprintf(h, "%s=%s\n", tool, first)
	}
	h.Write(requested.Bytes())
	return hex.EncodeToString(h.Sum(nil)), nil
}

// build is one kernel being built.
type build struct {
	o         MinimalOptions
	src       source
	frags     []Fragment
	names     []string
	requested Config
	key       string
	dir       string // the cache entry to make
	work      string // where it is built
	log       *os.File
}

func (b *build) run(ctx context.Context) (*Kernel, error) {
	start := time.Now()
	// A fixed place per configuration (the lock is held), so that no
	// random path goes into the kernel's bytes.
	b.work = b.dir + ".build"
	os.RemoveAll(b.work)
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return nil, fmt.Errorf("kernel: cache: %w", err)
	}
	var err error
	logPath := b.dir + ".log"
	if b.log, err = os.Create(logPath); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	defer b.log.Close()
	fmt.Fprintf(b.o.Log, "building the %s kernel from %s %s (tinyconfig + %s; %d jobs): a few minutes, once per machine; log in %s\n",
		Minimal, b.src.pkg, b.src.version, strings.Join(b.names, " + "), b.o.Jobs, logPath)
	k, err := b.steps(ctx)
	if err != nil {
		// The log stays for the post-mortem; the half-built tree goes.
		os.RemoveAll(b.work)
		return nil, err
	}
	os.RemoveAll(b.work)
	os.Remove(logPath)
	fmt.Fprintf(b.o.Log, "built kernel %s in %v: vmlinuz %d KiB, cached in %s\n", k.Release, time.Since(start).Round(time.Second), fileKiB(k.Vmlinuz), b.dir)
	return k, nil
}

func (b *build) steps(ctx context.Context) (*Kernel, error) {
	srcDir, out := filepath.Join(b.work, "src"), filepath.Join(b.work, "o")
	for _, d := range []string{srcDir, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := b.cmd(ctx, "unpacking "+filepath.Base(b.src.path), "", "tar", "-xf", b.src.path, "-C", srcDir, "--strip-components=1"); err != nil {
		return nil, err
	}
	mk := func(step string, args ...string) error {
		return b.cmd(ctx, step, srcDir, "make", append([]string{"-s", "O=" + out, "ARCH=" + arch}, args...)...)
	}
	if err := mk("make tinyconfig", "tinyconfig"); err != nil {
		return nil, err
	}
	tiny, err := readConfig(filepath.Join(out, ".config"))
	if err != nil {
		return nil, err
	}
	var frags []Config
	for _, f := range b.frags {
		frags = append(frags, f.Config)
	}
	// allnoconfig with the merged configuration as KCONFIG_ALLCONFIG, as
	// merge_config.sh -n does: options no fragment names, newly visible
	// because of one that does, stay off rather than take their defaults.
	all := filepath.Join(out, "nfvkit.allconfig")
	if err := os.WriteFile(all, Merge(tiny, frags...).Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := mk("make allnoconfig (tinyconfig + "+strings.Join(b.names, " + ")+")", "KCONFIG_ALLCONFIG="+all, "allnoconfig"); err != nil {
		return nil, err
	}
	final, err := readConfig(filepath.Join(out, ".config"))
	if err != nil {
		return nil, err
	}
	if err := Verify(final, b.requested); err != nil {
		var unmet UnmetError
		if errors.As(err, &unmet) {
			unmet.explain(srcDir)
			return nil, unmet
		}
		return nil, err
	}
	if err := mk("make bzImage", "-j"+strconv.Itoa(b.o.Jobs), "bzImage"); err != nil {
		return nil, err
	}
	var rel bytes.Buffer
	cmd := exec.CommandContext(ctx, "make", "-s", "O="+out, "ARCH="+arch, "kernelrelease")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = srcDir, b.env(), &rel, b.log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kernel: make kernelrelease: %w", err)
	}
	release := strings.TrimSpace(rel.String())
	if release == "" || strings.ContainsAny(release, "/ \n") {
		return nil, fmt.Errorf("kernel: make kernelrelease said %q", release)
	}

	tree := filepath.Join(b.work, "tree")
	image, err := os.ReadFile(filepath.Join(out, "arch/x86/boot/bzImage"))
	if err != nil {
		return nil, err
	}
	config, err := os.ReadFile(filepath.Join(out, ".config"))
	if err != nil {
		return nil, err
	}
	// The uncompressed kernel too, symbols stripped (its PVH note stays):
	// what Firecracker and Cloud Hypervisor boot.
	if err := os.MkdirAll(filepath.Join(tree, "boot"), 0o755); err != nil {
		return nil, err
	}
	if err := b.cmd(ctx, "strip vmlinux", "", "strip", "-s", "-o", filepath.Join(tree, "boot", "vmlinux-"+release), filepath.Join(out, "vmlinux")); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(config)
	meta := fmt.Sprintf("package=%s\nversion=%s\nconfig=%s\nconfig-sha256=%s\n", b.src.pkg, b.src.version, strings.Join(b.names, ","), hex.EncodeToString(sum[:]))
	for name, data := range map[string][]byte{
		"boot/vmlinuz-" + release: image,
		"boot/config-" + release:  config,
		metaFile:                  []byte(meta),
	} {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, err
		}
	}
	if _, err := Open(tree); err != nil {
		return nil, err
	}
	os.RemoveAll(b.dir)
	if err := os.Rename(tree, b.dir); err != nil {
		return nil, fmt.Errorf("kernel: cache: %w", err)
	}
	return Open(b.dir)
}

// cmd runs one step of the build, its output to the log; a failure comes
// back with the log's last lines.
func (b *build) cmd(ctx context.Context, step, dir, name string, args ...string) error {
	fmt.Fprintf(b.log, "\n### %s\n$ %s %s\n", step, name, strings.Join(args, " "))
	start := time.Now()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, b.env(), b.log, b.log
	err := cmd.Run()
	fmt.Fprintf(b.log, "### %s: %v, %v\n", step, time.Since(start).Round(time.Millisecond), err)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("kernel: %s: %w", step, ctx.Err())
		}
		return fmt.Errorf("kernel: %s: %w; the end of %s:\n%s", step, err, b.log.Name(), tail(b.log.Name(), 25))
	}
	return nil
}

// env is the build's environment: the caller's, less what would change
// the kernel's bytes or confuse make (a parent make's jobserver), plus the
// fixed identity a reproducible kernel build takes.
func (b *build) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "MAKEFLAGS" || k == "MFLAGS" || k == "MAKELEVEL" || k == "MAKEOVERRIDES" || k == "GNUMAKEFLAGS",
			strings.HasPrefix(k, "KBUILD_"), strings.HasPrefix(k, "KCONFIG_"),
			k == "ARCH" || k == "CROSS_COMPILE" || k == "KCFLAGS" || k == "KCPPFLAGS" || k == "LOCALVERSION" || k == "O",
			k == "LC_ALL" || k == "LANG" || k == "TZ" || k == "SOURCE_DATE_EPOCH":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "TZ=UTC",
		"KBUILD_BUILD_TIMESTAMP="+b.src.mtime.Format(time.UnixDate),
		"KBUILD_BUILD_USER=nfvkit", "KBUILD_BUILD_HOST=nfvkit", "KBUILD_BUILD_VERSION=1")
}

func readConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	c, err := ParseConfig(path, b)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	return c, nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func fileKiB(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size() >> 10
}
