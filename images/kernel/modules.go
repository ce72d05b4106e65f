package kernel

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Module is a loadable kernel module an image carries.
type Module struct {
	// Name is the module's name with '_' (virtio_net).
	Name string
	// Path is its file, relative to the modules directory
	// (kernel/drivers/net/virtio_net.ko).
	Path string
	// Deps are the modules it needs loaded first (direct ones).
	Deps []string
}

// Need is a module an image asks for.
type Need struct {
	Name string
	// Config is the option that builds it (CONFIG_VIRTIO_NET): a kernel
	// whose configuration has it =y has it built in, even with no
	// modules.builtin to say so (a kernel without module support).
	Config string
	// Optional modules that the kernel has neither built in nor as a
	// module are left out; a required one missing is an error.
	Optional bool
}

// Modules returns the modules to load for needs, dependencies first, each
// once, in a fixed order; needs the kernel has built in are left out.
// Dependencies come from modules.dep when the tree has one (a kernel
// installed by dpkg), else from each module's own .modinfo (the depends=
// that modpost wrote, which is what depmod reads too: a kernel package's
// files, before its postinst runs depmod).
func (k *Kernel) Modules(needs []Need) (mods []Module, missing []string, err error) {
	builtin := k.builtin()
	config := k.Config()
	for _, n := range needs {
		if n.Config != "" && config[n.Config] == "y" {
			builtin[modName(n.Name)] = true
		}
	}
	var idx map[string]*Module
	if k.ModulesDir != "" {
		if idx, err = k.index(); err != nil {
			return nil, nil, err
		}
	}
	seen := map[string]bool{}
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		if seen[name] {
			return nil
		}
		if len(chain) > 64 {
			return fmt.Errorf("kernel: module dependency loop: %s", strings.Join(chain, " -> "))
		}
		seen[name] = true
		m := idx[name]
		if m == nil {
			if builtin[name] {
				return nil
			}
			return fmt.Errorf("kernel %s: module %s (needed by %s) is neither built in nor in %s", k.Release, name, strings.Join(chain, " <- "), k.ModulesDir)
		}
		for _, d := range m.Deps {
			if err := visit(d, append([]string{name}, chain...)); err != nil {
				return err
			}
		}
		mods = append(mods, *m)
		return nil
	}
	for _, n := range needs {
		name := modName(n.Name)
		if idx[name] == nil && !builtin[name] {
			if n.Optional {
				missing = append(missing, name)
				continue
			}
			return nil, nil, fmt.Errorf("kernel %s has no %s: neither built in nor a module (an image needs it)", k.Release, name)
		}
		if err := visit(name, []string{"image"}); err != nil {
			return nil, nil, err
		}
	}
	return mods, missing, nil
}

// modName normalizes a module name: '-' and '_' are the same to modprobe.
func modName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// fileModName is the module name of a module file's path.
func fileModName(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return modName(base)
}

// builtin lists the modules built into the kernel (modules.builtin).
func (k *Kernel) builtin() map[string]bool {
	m := map[string]bool{}
	if k.ModulesDir == "" {
		return m
	}
	b, _ := os.ReadFile(filepath.Join(k.ModulesDir, "modules.builtin"))
	for line := range strings.SplitSeq(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			m[fileModName(line)] = true
		}
	}
	return m
}

// index maps every module's name to its file and direct dependencies.
func (k *Kernel) index() (map[string]*Module, error) {
	if b, err := os.ReadFile(filepath.Join(k.ModulesDir, "modules.dep")); err == nil {
		return parseModulesDep(b), nil
	}
	idx := map[string]*Module{}
	err := filepath.WalkDir(k.ModulesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.Contains(d.Name(), ".ko") {
			return nil
		}
		rel, _ := filepath.Rel(k.ModulesDir, path)
		info, err := modinfo(path)
		if err != nil {
			return fmt.Errorf("kernel: %s: %w", rel, err)
		}
		name := modName(info["name"])
		if name == "" {
			name = fileModName(rel)
		}
		m := &Module{Name: name, Path: filepath.ToSlash(rel)}
		for d := range strings.SplitSeq(info["depends"], ",") {
			if d = strings.TrimSpace(d); d != "" {
				m.Deps = append(m.Deps, modName(d))
			}
		}
		idx[name] = m
		return nil
	})
	return idx, err
}

// parseModulesDep reads depmod's modules.dep: "path: dep-path ...", where
// the dependencies are all of them, transitively, last loaded first. The
// closure in Modules takes them as direct ones; the order it gives is the
// same.
func parseModulesDep(b []byte) map[string]*Module {
	idx := map[string]*Module{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		path, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		m := &Module{Name: fileModName(path), Path: strings.TrimSpace(path)}
		fields := strings.Fields(deps)
		for i := len(fields) - 1; i >= 0; i-- {
			m.Deps = append(m.Deps, fileModName(fields[i]))
		}
		idx[m.Name] = m
	}
	return idx
}

// modinfo reads a module's .modinfo section: NUL-separated key=value.
func modinfo(path string) (map[string]string, error) {
	data, err := ReadModule(path)
	if err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("no .modinfo section")
	}
	raw, err := sec.Data()
	if err != nil {
		return nil, err
	}
	info := map[string]string{}
	for kv := range bytes.SplitSeq(raw, []byte{0}) {
		if k, v, ok := bytes.Cut(kv, []byte("=")); ok {
			if _, dup := info[string(k)]; !dup {
				info[string(k)] = string(v)
			}
		}
	}
	return info, nil
}

// ReadModule reads a module file, decompressing a .ko.gz. Other compressed
// forms (.ko.xz, .ko.zst) have no decompressor in Go's standard library;
// the kernels used so far ship plain .ko files.
func ReadModule(path string) ([]byte, error) {
	switch {
	case strings.HasSuffix(path, ".ko"):
		return os.ReadFile(path)
	case strings.HasSuffix(path, ".ko.gz"):
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return io.ReadAll(zr)
	}
	return nil, fmt.Errorf("%s: compressed modules other than .ko.gz are not supported (expected .ko or .ko.gz)", path)
}
