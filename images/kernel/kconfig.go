package kernel

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Option is one line of a kernel configuration: CONFIG_NAME=VALUE, or
// "# CONFIG_NAME is not set" (Value "n").
type Option struct {
	Name  string // CONFIG_...
	Value string // y, n, a number, or a string with its quotes
}

func (o Option) String() string {
	if o.Value == "n" {
		return "# " + o.Name + " is not set"
	}
	return o.Name + "=" + o.Value
}

// Config is a kernel configuration (.config) or a fragment of one: its
// options in order.
type Config []Option

var (
	setLine   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetLine = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// ParseConfig parses a .config or a fragment; name is for errors. Blank
// lines and comments are skipped; any other line that is not an option,
// and an option given twice, is an error.
func ParseConfig(name string, data []byte) (Config, error) {
	var c Config
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		var o Option
		if m := setLine.FindStringSubmatch(line); m != nil {
			o = Option{m[1], m[2]}
			if o.Value == "" {
				return nil, fmt.Errorf("%s:%d: %s has no value (expected %s=y, a number or a quoted string)", name, n, o.Name, o.Name)
			}
		} else if m := unsetLine.FindStringSubmatch(line); m != nil {
			o = Option{m[1], "n"}
		} else if line == "" || strings.HasPrefix(line, "#") {
			continue
		} else {
			return nil, fmt.Errorf("%s:%d: %q is not an option (expected CONFIG_NAME=VALUE or # CONFIG_NAME is not set)", name, n, line)
		}
		if first, dup := seen[o.Name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is set again (first on line %d)", name, n, o.Name, first)
		}
		seen[o.Name] = n
		c = append(c, o)
	}
	return c, sc.Err()
}

// Bytes formats c as a .config.
func (c Config) Bytes() []byte {
	var b bytes.Buffer
	for _, o := range c {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Map returns c's options by name; "n" for those not set.
func (c Config) Map() map[string]string {
	m := make(map[string]string, len(c))
	for _, o := range c {
		m[o.Name] = o.Value
	}
	return m
}

// Merge returns base with the fragments applied in order, as the kernel's
// scripts/kconfig/merge_config.sh does: every option a fragment names is
// taken out of what came before and appended, so the last word on an
// option wins and, for a choice (HZ_100 against tinyconfig's HZ_250), the
// member set last is the one Kconfig picks.
func Merge(base Config, frags ...Config) Config {
	out := slices.Clone(base)
	for _, f := range frags {
		names := f.Map()
		out = slices.DeleteFunc(out, func(o Option) bool { _, ok := names[o.Name]; return ok })
		out = append(out, f...)
	}
	return out
}

// Requested returns what the fragments ask for, the last word on each
// option, sorted by name: the configuration's identity for the cache.
func Requested(frags ...Config) Config {
	m := map[string]string{}
	for _, f := range frags {
		for _, o := range f {
			m[o.Name] = o.Value
		}
	}
	var c Config
	for _, name := range sortedKeys(m) {
		c = append(c, Option{name, m[name]})
	}
	return c
}

// Unmet is an option a fragment asks for that the final configuration does
// not have: Kconfig drops, without a word, an option whose dependencies are
// not met.
type Unmet struct {
	Option
	Got string // the final value ("n" when not set)
	// DependsOn is what Kconfig says the option depends on, when known.
	DependsOn string
}

// UnmetError lists the options a kernel build asked for and did not get.
type UnmetError []Unmet

func (e UnmetError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel config: %d option(s) asked for are not in the final .config (Kconfig drops an option whose dependencies are not met; add what it depends on to the fragment, or take it out):", len(e))
	for _, u := range e {
		fmt.Fprintf(&b, "\n  %s: asked %s, got %s", u.Name, u.Value, u.Got)
		if u.DependsOn != "" {
			fmt.Fprintf(&b, " (depends on %s)", u.DependsOn)
		}
	}
	return b.String()
}

// Verify checks that final has every option of requested with the value
// asked for; it returns an UnmetError naming the ones it does not.
func Verify(final, requested Config) error {
	got := final.Map()
	var unmet UnmetError
	for _, o := range requested {
		v, ok := got[o.Name]
		if !ok {
			v = "n"
		}
		if v != o.Value {
			unmet = append(unmet, Unmet{Option: o, Got: v})
		}
	}
	if len(unmet) > 0 {
		return unmet
	}
	return nil
}

// explain fills in what each unmet option depends on, from the Kconfig
// files of the source tree at src.
func (e UnmetError) explain(src string) {
	want := map[string]*Unmet{}
	for i := range e {
		want[strings.TrimPrefix(e[i].Name, "CONFIG_")] = &e[i]
	}
	filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), "Kconfig") {
			return nil
		}
		if rel, _ := filepath.Rel(src, path); strings.HasPrefix(rel, "arch/") && !strings.HasPrefix(rel, "arch/x86/") && rel != "arch/Kconfig" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for name, deps := range kconfigDepends(b) {
			if u := want[name]; u != nil && u.DependsOn == "" {
				u.DependsOn = deps
			}
		}
		return nil
	})
}

// kconfigDepends reads the "depends on" lines of each config entry of a
// Kconfig file, joined with &&. An entry's help text runs to the next
// keyword at the start of a line.
func kconfigDepends(kconfig []byte) map[string]string {
	out := map[string]string{}
	var cur string
	var deps []string
	inHelp := false
	flush := func() {
		if cur != "" && len(deps) > 0 {
			out[cur] = strings.Join(deps, " && ")
		}
		cur, deps, inHelp = "", nil, false
	}
	for line := range strings.SplitSeq(string(kconfig), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		top := line[0] != ' ' && line[0] != '\t'
		if inHelp && !top {
			continue
		}
		switch {
		case (f[0] == "config" || f[0] == "menuconfig") && len(f) == 2:
			flush()
			cur = f[1]
		case f[0] == "help" || f[0] == "---help---":
			inHelp = true
		case f[0] == "depends" && len(f) > 2 && f[1] == "on" && cur != "":
			deps = append(deps, strings.Join(f[2:], " "))
		case top:
			flush() // choice, menu, if, source, comment, ...
		}
	}
	flush()
	return out
}
