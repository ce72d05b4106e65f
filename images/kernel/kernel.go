package kernel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultPackage is the Debian package a kernel is fetched from: the
// metapackage that depends on the current cloud kernel.
const DefaultPackage = "linux-image-cloud-amd64"

// Kernel is an unpacked kernel tree.
type Kernel struct {
	// Package and Version name the Debian package it came from ("" for a
	// tree given by hand).
	Package, Version string
	// Release is the kernel's release, as uname -r prints it and as
	// lib/modules/ names it.
	Release string
	// Dir is the root of the tree.
	Dir string
	// Vmlinuz is the path of the kernel image.
	Vmlinuz string
	// ModulesDir is lib/modules/RELEASE inside Dir.
	ModulesDir string
	// DebSHA256 is the hash of the package file, when it was fetched.
	DebSHA256 string
	// Fragments names the fragments a minimal kernel was configured with
	// (base, router), and ConfigSHA256 is the hash of its final .config.
	Fragments    []string
	ConfigSHA256 string
}

// Options tune Fetch.
type Options struct {
	// Package is the Debian package: a metapackage such as
	// linux-image-cloud-amd64 (followed to the image it depends on) or a
	// linux-image-RELEASE package. Default DefaultPackage.
	Package string
	// CacheDir holds unpacked kernels (default: DefaultCacheDir()).
	CacheDir string
	// Log receives progress lines (what is fetched); nil discards them.
	Log io.Writer
}

// DefaultCacheDir is $NFV_CACHE, else nfvkit/ under the user's cache
// directory ($XDG_CACHE_HOME or ~/.cache), else /var/cache/nfvkit.
func DefaultCacheDir() string {
	if d := os.Getenv("NFV_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "nfvkit")
	}
	return "/var/cache/nfvkit"
}

// Fetch returns the kernel of o.Package, from the cache or fetched with
// apt into it. On a machine whose apt has never been updated it runs
// apt-get update once, as root; not as root it says what to run.
func Fetch(ctx context.Context, o Options) (*Kernel, error) {
	if o.Package == "" {
		o.Package = DefaultPackage
	}
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	for _, tool := range []string{"apt-cache", "apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("kernel: %s not found: the kernel is fetched with apt from Debian's %s; on a machine without apt, unpack a kernel by hand and pass its directory (--kernel DIR, holding boot/vmlinuz-* and lib/modules/*)", tool, DefaultPackage)
		}
	}
	pkg, version, err := resolve(ctx, o.Package, o.Log)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.CacheDir, "kernels", pkg+"_"+version)
	if k, err := Open(dir); err == nil {
		return k, nil
	}
	fmt.Fprintf(o.Log, "fetching %s %s with apt into %s\n", pkg, version, o.CacheDir)
	if err := download(ctx, pkg, version, dir); err != nil {
		return nil, err
	}
	return Open(dir)
}

// resolve finds the linux-image package and version that pkg stands for.
func resolve(ctx context.Context, pkg string, log io.Writer) (name, version string, err error) {
	info, err := aptShow(ctx, pkg)
	if err != nil && errors.Is(err, errNoPackage) {
		if os.Geteuid() != 0 {
			return "", "", fmt.Errorf("kernel: apt does not know %s: its package lists are missing or old; run 'apt-get update' as root (or 'make deps'), then build again", pkg)
		}
		fmt.Fprintf(log, "apt does not know %s yet: running apt-get update\n", pkg)
		if out, uerr := run(ctx, "", "apt-get", "update", "-qq"); uerr != nil {
			return "", "", fmt.Errorf("kernel: apt-get update: %w\n%s", uerr, out)
		}
		info, err = aptShow(ctx, pkg)
	}
	if err != nil {
		return "", "", err
	}
	// A metapackage depends on exactly its own version of the image.
	for dep := range strings.SplitSeq(info["Depends"], ",") {
		dep = strings.TrimSpace(dep)
		n, rest, _ := strings.Cut(dep, " ")
		if strings.HasPrefix(n, "linux-image-") && strings.Contains(rest, "= "+info["Version"]) {
			return n, info["Version"], nil
		}
	}
	return pkg, info["Version"], nil
}

var errNoPackage = errors.New("no such package")

// aptShow returns the fields of the candidate version of pkg.
func aptShow(ctx context.Context, pkg string) (map[string]string, error) {
	out, err := run(ctx, "", "apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		if bytes.Contains(out, []byte("No packages found")) || bytes.Contains(out, []byte("Unable to locate")) || len(bytes.TrimSpace(out)) == 0 {
			return nil, fmt.Errorf("kernel: %s: %w", pkg, errNoPackage)
		}
		return nil, fmt.Errorf("kernel: apt-cache show %s: %w\n%s", pkg, err, out)
	}
	f := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break // the first record is the candidate
		}
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(k, " ") {
			f[k] = v
		}
	}
	if f["Version"] == "" {
		return nil, fmt.Errorf("kernel: %s: %w", pkg, errNoPackage)
	}
	return f, nil
}

// download fetches pkg=version and unpacks it into dir, atomically.
func download(ctx context.Context, pkg, version, dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("kernel: cache: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".fetch-")
	if err != nil {
		return fmt.Errorf("kernel: cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	// apt-get download drops privileges to _apt, which must be able to
	// write where it downloads.
	os.Chmod(tmp, 0o777)
	if out, err := run(ctx, tmp, "apt-get", "download", "-q", pkg+"="+version); err != nil {
		return fmt.Errorf("kernel: apt-get download %s=%s: %w\n%s", pkg, version, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("kernel: apt-get download %s left %d .deb files", pkg, len(debs))
	}
	sum, err := fileSHA256(debs[0])
	if err != nil {
		return err
	}
	tree := filepath.Join(tmp, "tree")
	if out, err := run(ctx, "", "dpkg-deb", "-x", debs[0], tree); err != nil {
		return fmt.Errorf("kernel: dpkg-deb -x %s: %w\n%s", filepath.Base(debs[0]), err, out)
	}
	meta := fmt.Sprintf("package=%s\nversion=%s\ndeb-sha256=%s\n", pkg, version, sum)
	if err := os.WriteFile(filepath.Join(tree, metaFile), []byte(meta), 0o644); err != nil {
		return err
	}
	if _, err := Open(tree); err != nil {
		return fmt.Errorf("kernel: %s %s: %w", pkg, version, err)
	}
	os.RemoveAll(dir) // a tree left half-written by an older nfv
	if err := os.Rename(tree, dir); err != nil {
		return fmt.Errorf("kernel: cache: %w", err)
	}
	return nil
}

// metaFile, in a cached tree, says where it came from.
const metaFile = "nfvkit-kernel"

// Open opens an unpacked kernel tree: a directory holding boot/vmlinuz-*
// (or vmlinuz) and lib/modules/RELEASE (or usr/lib/modules/RELEASE). A
// tree with no modules directory is a kernel with everything built in.
func Open(dir string) (*Kernel, error) {
	k := &Kernel{Dir: dir}
	images, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	switch {
	case len(images) == 1:
		k.Vmlinuz = images[0]
		k.Release = strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	case len(images) > 1:
		return nil, fmt.Errorf("kernel: %s holds %d kernels in boot/ (expected one)", dir, len(images))
	default:
		if _, err := os.Stat(filepath.Join(dir, "vmlinuz")); err != nil {
			return nil, fmt.Errorf("kernel: no boot/vmlinuz-* or vmlinuz in %s", dir)
		}
		k.Vmlinuz = filepath.Join(dir, "vmlinuz")
	}
	for _, base := range []string{"lib/modules", "usr/lib/modules"} {
		rels, _ := filepath.Glob(filepath.Join(dir, base, "*"))
		if k.Release == "" && len(rels) == 1 {
			k.Release = filepath.Base(rels[0])
		}
		if k.Release == "" {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, base, k.Release)); err == nil && st.IsDir() {
			k.ModulesDir = filepath.Join(dir, base, k.Release)
			break
		}
	}
	if k.Release == "" {
		return nil, fmt.Errorf("kernel: cannot tell the release of %s (name it boot/vmlinuz-RELEASE)", dir)
	}
	if b, err := os.ReadFile(filepath.Join(dir, metaFile)); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			key, v, _ := strings.Cut(line, "=")
			switch key {
			case "package":
				k.Package = v
			case "version":
				k.Version = v
			case "deb-sha256":
				k.DebSHA256 = v
			case "config":
				k.Fragments = strings.Split(v, ",")
			case "config-sha256":
				k.ConfigSHA256 = v
			}
		}
	}
	return k, nil
}

// Config returns the kernel's build configuration (boot/config-RELEASE),
// option -> value ("y", "m", a string), or nil when the tree has none.
func (k *Kernel) Config() map[string]string {
	b, err := os.ReadFile(filepath.Join(k.Dir, "boot", "config-"+k.Release))
	if err != nil {
		return nil
	}
	c := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if key, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(key, "CONFIG_") {
			c[key] = strings.Trim(v, `"`)
		}
	}
	return c
}

func run(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	return cmd.CombinedOutput()
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
