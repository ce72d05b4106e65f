// Package cpio writes cpio archives in the "newc" format (SVR4 with no CRC),
// the format the Linux kernel unpacks an initramfs from.
//
// An Archive collects files, directories and device nodes by path and
// writes them reproducibly: sorted by path (so every directory comes before
// what it holds), inode numbers given in that order, every time 0, every
// owner root. The same entries always give the same bytes, whatever order
// they were added in and whenever they are written.
package cpio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// File-type bits of a newc mode (stat(2) S_IF*).
const (
	typeDir  = 0o040000
	typeReg  = 0o100000
	typeChar = 0o020000
	typeLink = 0o120000
)

const (
	magic   = "070701"
	hdrLen  = 110 // magic and 13 fields of 8 hex digits
	trailer = "TRAILER!!!"
)

// Entry is one member of an archive.
type Entry struct {
	// Path is slash-separated and relative ("init", "etc/nfvkit/policy.yaml").
	Path string
	// Mode is the permission bits; the type comes from what was added.
	Mode fs.FileMode
	// Data is a regular file's contents, or a symbolic link's target.
	Data []byte

	typ          uint32
	major, minor uint32 // a device node's number
}

// Archive is a set of entries keyed by path. Its zero value is empty and
// ready to use.
type Archive struct {
	m map[string]*Entry
}

// AddFile adds a regular file, and any parent directory not added yet
// (mode 0755).
func (a *Archive) AddFile(name string, mode fs.FileMode, data []byte) error {
	return a.add(&Entry{Path: name, Mode: mode, Data: data, typ: typeReg})
}

// AddDir adds a directory (and its parents).
func (a *Archive) AddDir(name string, mode fs.FileMode) error {
	return a.add(&Entry{Path: name, Mode: mode, typ: typeDir})
}

// AddCharDev adds a character device node major:minor (and its parents).
func (a *Archive) AddCharDev(name string, mode fs.FileMode, major, minor uint32) error {
	return a.add(&Entry{Path: name, Mode: mode, typ: typeChar, major: major, minor: minor})
}

// AddSymlink adds a symbolic link to target (and its parents).
func (a *Archive) AddSymlink(name, target string) error {
	return a.add(&Entry{Path: name, Mode: 0o777, Data: []byte(target), typ: typeLink})
}

func (a *Archive) add(e *Entry) error {
	clean, err := cleanPath(e.Path)
	if err != nil {
		return err
	}
	e.Path = clean
	e.Mode &= fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
	if a.m == nil {
		a.m = map[string]*Entry{}
	}
	if old, ok := a.m[clean]; ok {
		// A directory made implicitly, then explicitly: the explicit
		// one's mode wins. Anything else is a clash.
		if old.typ == typeDir && e.typ == typeDir {
			old.Mode = e.Mode
			return nil
		}
		return fmt.Errorf("cpio: %s added twice", clean)
	}
	for dir := path.Dir(clean); dir != "."; dir = path.Dir(dir) {
		if p, ok := a.m[dir]; ok {
			if p.typ != typeDir {
				return fmt.Errorf("cpio: %s: parent %s is not a directory", clean, dir)
			}
			break
		}
		a.m[dir] = &Entry{Path: dir, Mode: 0o755, typ: typeDir}
	}
	a.m[clean] = e
	return nil
}

func cleanPath(name string) (string, error) {
	c := path.Clean(strings.TrimPrefix(name, "/"))
	switch {
	case name == "" || c == "." || c == ".." || strings.HasPrefix(c, "../"):
		return "", fmt.Errorf("cpio: bad path %q (expected a path inside the archive)", name)
	case strings.ContainsRune(c, 0):
		return "", errors.New("cpio: path holds a NUL byte")
	}
	return c, nil
}

// Entries lists the archive's entries in the order WriteTo writes them.
func (a *Archive) Entries() []*Entry {
	out := make([]*Entry, 0, len(a.m))
	for _, e := range a.m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// WriteTo writes the archive, then the trailer.
func (a *Archive) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	for i, e := range a.Entries() {
		nlink := uint32(1)
		if e.typ == typeDir {
			nlink = 2
		}
		h := header{
			ino: uint32(i + 1), mode: e.typ | uint32(e.Mode.Perm()) | specialBits(e.Mode),
			nlink: nlink, size: uint32(len(e.Data)), rmajor: e.major, rminor: e.minor,
		}
		if int64(len(e.Data)) > 0xffffffff {
			return cw.n, fmt.Errorf("cpio: %s is larger than 4 GiB", e.Path)
		}
		if err := writeEntry(cw, h, e.Path, e.Data); err != nil {
			return cw.n, err
		}
	}
	err := writeEntry(cw, header{nlink: 1}, trailer, nil)
	return cw.n, err
}

func specialBits(m fs.FileMode) uint32 {
	var b uint32
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

type header struct {
	ino, mode, nlink, size, rmajor, rminor uint32
}

func writeEntry(w *countWriter, h header, name string, data []byte) error {
	// uid, gid, mtime, devmajor, devminor and check stay 0.
	hdr := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		magic, h.ino, h.mode, 0, 0, h.nlink, 0, h.size, 0, 0, h.rmajor, h.rminor, len(name)+1, 0)
	if _, err := io.WriteString(w, hdr+name+"\x00"); err != nil {
		return err
	}
	if err := w.pad(); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.pad()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pad writes zeros up to the next multiple of 4.
func (c *countWriter) pad() error {
	if r := c.n % 4; r != 0 {
		_, err := c.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
