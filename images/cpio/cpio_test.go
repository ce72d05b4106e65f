package cpio

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
)

// entry is what readAll decodes from an archive.
type entry struct {
	name                         string
	ino, mode, nlink, uid, mtime uint64
	rmajor, rminor               uint64
	data                         string
}

// readAll is a strict newc reader: it checks the magic, the alignment and
// the trailer as the kernel's unpacker does.
func readAll(t *testing.T, b []byte) []entry {
	t.Helper()
	var out []entry
	off := 0
	for {
		if off%4 != 0 {
			t.Fatalf("entry at %d not 4-byte aligned", off)
		}
		if len(b)-off < hdrLen || string(b[off:off+6]) != magic {
			t.Fatalf("no newc header at %d", off)
		}
		f := make([]uint64, 13)
		for i := range f {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("field %d at %d: %v", i, off, err)
			}
			f[i] = v
		}
		nameLen, size := int(f[11]), int(f[6])
		name := string(b[off+hdrLen : off+hdrLen+nameLen-1])
		if b[off+hdrLen+nameLen-1] != 0 {
			t.Fatalf("%s: name not NUL-terminated", name)
		}
		off = align4(off + hdrLen + nameLen)
		data := string(b[off : off+size])
		off = align4(off + size)
		if name == trailer {
			if off != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, entry{name: name, ino: f[0], mode: f[1], uid: f[2], nlink: f[4], mtime: f[5],
			rmajor: f[9], rminor: f[10], data: data})
	}
}

func align4(n int) int { return (n + 3) &^ 3 }

func TestRoundTrip(t *testing.T) {
	var a Archive
	must(t, a.AddFile("/init", 0o755, []byte("ELF...")))
	must(t, a.AddFile("etc/nfvkit/policy.yaml", 0o600, []byte("appliance: router\n")))
	must(t, a.AddCharDev("dev/console", 0o600, 5, 1))
	must(t, a.AddDir("proc", 0o555))
	must(t, a.AddSymlink("sbin/init", "/init"))
	must(t, a.AddDir("etc", 0o700)) // explicit after implicit: its mode wins
	var buf bytes.Buffer
	n, err := a.WriteTo(&buf)
	must(t, err)
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo says %d bytes, wrote %d", n, buf.Len())
	}
	got := readAll(t, buf.Bytes())
	want := []struct {
		name string
		mode uint64
		data string
	}{
		{"dev", 0o40755, ""},
		{"dev/console", 0o20600, ""},
		{"etc", 0o40700, ""},
		{"etc/nfvkit", 0o40755, ""},
		{"etc/nfvkit/policy.yaml", 0o100600, "appliance: router\n"},
		{"init", 0o100755, "ELF..."},
		{"proc", 0o40555, ""},
		{"sbin", 0o40755, ""},
		{"sbin/init", 0o120777, "/init"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.name != w.name || g.mode != w.mode || g.data != w.data {
			t.Errorf("entry %d = %s %o %q, want %s %o %q", i, g.name, g.mode, g.data, w.name, w.mode, w.data)
		}
		if g.ino != uint64(i+1) || g.uid != 0 || g.mtime != 0 {
			t.Errorf("%s: ino %d uid %d mtime %d, want %d 0 0", g.name, g.ino, g.uid, g.mtime, i+1)
		}
	}
	if c := got[1]; c.rmajor != 5 || c.rminor != 1 {
		t.Errorf("dev/console is %d:%d, want 5:1", c.rmajor, c.rminor)
	}
}

// TestReproducible: the order entries are added in changes nothing.
func TestReproducible(t *testing.T) {
	names := []string{"b/c", "a", "b/a", "z/y/x", "init"}
	build := func(order []int) []byte {
		var a Archive
		for _, i := range order {
			must(t, a.AddFile(names[i], 0o644, []byte(fmt.Sprint("file ", names[i]))))
		}
		var buf bytes.Buffer
		_, err := a.WriteTo(&buf)
		must(t, err)
		return buf.Bytes()
	}
	one, two := build([]int{0, 1, 2, 3, 4}), build([]int{4, 3, 2, 1, 0})
	if !bytes.Equal(one, two) {
		t.Error("the same entries added in another order give other bytes")
	}
}

func TestErrors(t *testing.T) {
	var a Archive
	must(t, a.AddFile("x/y", 0o644, nil))
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"empty path", a.AddFile("", 0o644, nil)},
		{"dot", a.AddDir(".", 0o755)},
		{"escapes", a.AddFile("../etc/passwd", 0o644, nil)},
		{"twice", a.AddFile("x/y", 0o644, nil)},
		{"parent is a file", a.AddFile("x/y/z", 0o644, nil)},
		{"file over dir", a.AddFile("x", 0o644, nil)},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
