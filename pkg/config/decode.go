package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// The decoder walks a yaml.Node tree against the spec types by reflection:
// struct fields are YAML keys (their `yaml` tag names the key; a key without
// omitempty is required), and the `nfv` tag adds checks shared with the JSON
// Schema generator:
//
//	nfv:"network"      a prefix (or list of them) with no host bits set
//	nfv:"host"         a prefix that is an interface address, 192.0.2.1/24
//	nfv:"nonempty"     a list that needs at least one element
//	nfv:"min=1,max=9"  integer bounds
//	nfv:"only=router"  a top-level section only that appliance may have ('|' separates several)
//
// Types whose YAML form is a string of their own (a port spec, a secret, a
// proposal) implement textDecoder; types with another shape (a mapping of
// zone names, a one-or-list of states) implement nodeDecoder. Every problem
// is appended to the error list with the node's position and the walk goes
// on, so one run reports them all.

// Limits on what one policy may cost to decode, whatever its bytes hold.
const (
	// MaxPolicySize is the largest policy file Parse accepts.
	MaxPolicySize = 8 << 20
	// maxNodes bounds the YAML nodes visited, counting every alias expansion,
	// so "billion laughs" documents stop early with an error.
	maxNodes = 1 << 20
)

type textDecoder interface {
	decodeText(s string) error
	expected() string
}

type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, at string)
	expected() string
}

// oneOrMany marks list types that also accept a single scalar in place of a
// one-element list (via: 198.51.100.1 as well as via: [a, b]).
type oneOrMany interface{ oneOrMany() }

// place is where a decoded value was written: its node's position and the
// field path used in messages, e.g. routes[2].via[0].
type place struct {
	line, col int
	path      string
}

type decoder struct {
	file   string
	errs   ErrorList
	places map[any]place // pointer to a decoded value -> its place
	failed map[any]bool  // pointer to a value whose decoding reported an error
	nodes  int
	over   bool // a limit was hit: stop walking
	active map[*yaml.Node]bool
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, places: map[any]place{}, failed: map[any]bool{}, active: map[*yaml.Node]bool{}}
}

func (d *decoder) errorf(n *yaml.Node, at, format string, args ...any) {
	d.errorAt(n.Line, n.Column, at, fmt.Sprintf(format, args...))
}

func (d *decoder) errorAt(line, col int, at, msg string) {
	if at != "" {
		msg = at + ": " + msg
	}
	d.errs = append(d.errs, Error{File: d.file, Line: line, Col: col, Msg: msg})
	if len(d.errs) >= 4*maxErrors {
		d.over = true
	}
}

// count charges one node to the budget and reports whether the walk must stop.
func (d *decoder) count(n *yaml.Node) bool {
	if d.over {
		return true
	}
	d.nodes++
	if d.nodes > maxNodes {
		d.errorf(n, "", "policy too large: more than %d YAML nodes once aliases are expanded (expected a smaller policy with fewer aliases)", maxNodes)
		d.over = true
	}
	return d.over
}

// mark remembers where v came from, for later checks that point at it.
func (d *decoder) mark(v reflect.Value, n *yaml.Node, at string) {
	if v.CanAddr() {
		d.places[v.Addr().Interface()] = place{n.Line, n.Column, at}
	}
}

// follow resolves an alias, refusing one that points at a node being
// decoded (an anchor that contains its own alias would never end).
func (d *decoder) follow(n *yaml.Node, at string) (*yaml.Node, bool) {
	t := n.Alias
	if t == nil {
		d.errorf(n, at, "alias *%s has no anchor (expected a defined &%s)", n.Value, n.Value)
		return nil, false
	}
	if d.active[t] {
		d.errorf(n, at, "alias *%s refers to a node that contains it (expected a finite value)", n.Value)
		return nil, false
	}
	return t, true
}

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

// describe names a node's kind without its value: a value in the wrong place
// may be a secret, so type errors never echo it.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!null":
		return "an empty value"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true/false"
	}
	return "a string"
}

// quote shows a string the user wrote, cut short, in an error message.
func quote(s string) string { return strconv.Quote(clip(s)) }

func clip(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}

// value decodes n into v. A value whose decoding reported an error is
// marked failed, so later checks do not report its zero value again.
func (d *decoder) value(v reflect.Value, n *yaml.Node, at string, o opts) {
	before := len(d.errs)
	d.decode(v, n, at, o)
	if len(d.errs) > before && v.CanAddr() {
		d.failed[v.Addr().Interface()] = true
	}
}

func (d *decoder) decode(v reflect.Value, n *yaml.Node, at string, o opts) {
	if d.count(n) {
		return
	}
	if n.Kind == yaml.AliasNode {
		// Later checks point at the alias, where the value is used.
		defer d.mark(v, n, at)
		if t, ok := d.follow(n, at); ok {
			d.decode(v, t, at, o)
		}
		return
	}
	if v.Kind() == reflect.Pointer {
		nv := reflect.New(v.Type().Elem())
		d.value(nv.Elem(), n, at, o)
		v.Set(nv)
		return
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		// An alias inside may point back here: mark the path.
		if d.active[n] {
			d.errorf(n, at, "a node that contains itself (expected a finite value)")
			return
		}
		d.active[n] = true
		defer delete(d.active, n)
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		d.errorf(n, at, "empty value (expected %s)", expectOf(v.Type(), o))
		return
	}
	d.mark(v, n, at)
	if v.CanAddr() {
		switch p := v.Addr().Interface().(type) {
		case nodeDecoder:
			p.decodeNode(d, n, at)
			return
		case textDecoder:
			if s, ok := d.scalar(n, at, v.Type(), o); ok {
				if err := p.decodeText(s); err != nil {
					d.errorf(n, at, "%v", err)
				}
			}
			return
		}
	}
	switch v.Type() {
	case addrType, prefixType, addrPortType:
		s, ok := d.scalar(n, at, v.Type(), o)
		if !ok {
			return
		}
		var x any
		var err error
		switch v.Type() {
		case addrType:
			x, err = parseAddr(s)
		case prefixType:
			x, err = parsePrefix(s, o)
		default:
			x, err = parseAddrPort(s)
		}
		if err != nil {
			d.errorf(n, at, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(x))
		return
	case durationType:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			d.errorf(n, at, "got %s (expected %s)", describe(n), expectOf(v.Type(), o))
			return
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			d.errorf(n, at, "%v", err)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if s, ok := d.scalar(n, at, v.Type(), o); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.errorf(n, at, "got %s (expected true or false)", describe(n))
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		if i, ok := d.integer(n, at, v.Type(), o); ok {
			if v.CanInt() {
				v.SetInt(i)
			} else {
				v.SetUint(uint64(i))
			}
		}
	case reflect.Slice:
		d.list(v, n, at, o)
	case reflect.Struct:
		d.mapping(v, n, at, nil)
	default:
		// Only reachable if a spec type is added without decoder support.
		d.errorf(n, at, "internal error: cannot decode into %s", v.Type())
	}
}

// scalar returns a scalar node's text, reporting any other kind of node.
func (d *decoder) scalar(n *yaml.Node, at string, t reflect.Type, o opts) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, at, "got %s (expected %s)", describe(n), expectOf(t, o))
		return "", false
	}
	switch tag := n.ShortTag(); tag {
	case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
	default:
		d.errorf(n, at, "unsupported YAML tag %s (expected %s)", quote(tag), expectOf(t, o))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) integer(n *yaml.Node, at string, t reflect.Type, o opts) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errorf(n, at, "got %s (expected %s)", describe(n), expectOf(t, o))
		return 0, false
	}
	if v := strings.TrimLeft(n.Value, "+-"); len(v) > 1 && v[0] == '0' && '0' <= v[1] && v[1] <= '9' {
		// YAML 1.1 reads 0200 as octal 128, YAML 1.2 as 200: refuse to guess.
		d.errorf(n, at, "%s has a leading zero (expected %s written without it, or 0o for octal)", clip(n.Value), expectOf(t, o))
		return 0, false
	}
	var i int64
	lo, hi := bounds(t, o)
	if err := n.Decode(&i); err != nil || i < lo || i > hi {
		d.errorf(n, at, "%s is out of range (expected %s)", clip(n.Value), expectOf(t, o))
		return 0, false
	}
	return i, true
}

func (d *decoder) list(v reflect.Value, n *yaml.Node, at string, o opts) {
	items := n.Content
	single := false
	if n.Kind != yaml.SequenceNode {
		_, one := reflect.New(v.Type()).Interface().(oneOrMany)
		if !one || n.Kind != yaml.ScalarNode {
			d.errorf(n, at, "got %s (expected %s)", describe(n), expectOf(v.Type(), o))
			return
		}
		items, single = []*yaml.Node{n}, true
	}
	if len(items) == 0 {
		if o.nonempty {
			d.errorf(n, at, "empty list (expected at least one element)")
		}
		return
	}
	s := reflect.MakeSlice(v.Type(), len(items), len(items))
	eo := o
	eo.nonempty = false
	for i, it := range items {
		p := at
		if !single {
			p = at + "[" + strconv.Itoa(i) + "]"
		}
		d.value(s.Index(i), it, p, eo)
		if d.over {
			break
		}
	}
	v.Set(s)
}

type pair struct{ key, val *yaml.Node }

// pairs lists a mapping's entries in order, reporting duplicate and
// non-scalar keys and applying YAML merge keys (<<: *anchor), whose entries
// give way to the mapping's own.
func (d *decoder) pairs(n *yaml.Node, at string) []pair {
	var out, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if d.count(k) {
			return out
		}
		if k.Kind == yaml.AliasNode {
			t, ok := d.follow(k, at)
			if !ok {
				continue
			}
			k = t
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(val, at)...)
			continue
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
			d.errorf(k, at, "got %s as a key (expected a plain name)", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, at, "duplicate key %s (first at line %d)", quote(k.Value), first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, val})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key
			out = append(out, p)
		}
	}
	return out
}

// merge returns the entries a merge key brings in: one mapping, or a list of
// mappings where the first to give a key wins.
func (d *decoder) merge(n *yaml.Node, at string) []pair {
	if n.Kind == yaml.AliasNode {
		t, ok := d.follow(n, at)
		if !ok {
			return nil
		}
		n = t
	}
	if d.active[n] {
		d.errorf(n, at, "a merge of a node that contains it (expected a finite value)")
		return nil
	}
	d.active[n] = true
	defer delete(d.active, n)
	switch n.Kind {
	case yaml.MappingNode:
		return d.pairs(n, at)
	case yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		for _, m := range n.Content {
			if d.count(m) {
				break
			}
			if m.Kind != yaml.AliasNode && m.Kind != yaml.MappingNode {
				d.errorf(m, at, "got %s in a merge (expected a mapping or an alias of one)", describe(m))
				continue
			}
			for _, p := range d.merge(m, at) {
				if !seen[p.key.Value] {
					seen[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
		return out
	}
	d.errorf(n, at, "got %s after << (expected a mapping or a list of mappings to merge)", describe(n))
	return nil
}

// mapping decodes a mapping into the struct v. allow, when set, says which
// keys this document may hold (the appliance's sections).
func (d *decoder) mapping(v reflect.Value, n *yaml.Node, at string, allow func(field) error) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, at, "got %s (expected %s)", describe(n), expectOf(v.Type(), opts{}))
		return
	}
	info := structOf(v.Type())
	if info.pos >= 0 {
		v.Field(info.pos).Set(reflect.ValueOf(Pos{n.Line, n.Column}))
	}
	found := make([]pair, len(info.fields))
	for _, p := range d.pairs(n, at) {
		i := info.lookup(p.key.Value)
		if i < 0 {
			d.errorf(p.key, at, "unknown key %s (%s)", quote(p.key.Value), suggest(p.key.Value, info.names))
			continue
		}
		found[i] = p
	}
	// Fields are decoded in the struct's order, so allow can depend on the
	// ones before (the appliance decides which sections follow).
	for i, f := range info.fields {
		if d.over {
			return
		}
		var err error
		if allow != nil {
			err = allow(f)
		}
		switch p := found[i]; {
		case p.key != nil && err != nil:
			d.errorf(p.key, at, "%v", err)
		case p.key != nil:
			d.value(v.Field(f.index), p.val, join(at, f.name), f.opts)
		case f.required && err == nil:
			d.errorf(n, at, "missing key %s (expected %s)", quote(f.name), expectOf(v.Field(f.index).Type(), f.opts))
		}
	}
}

// suggest names the closest known key, or lists them all.
func suggest(key string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if dist := editDistance(strings.ToLower(key), n); dist < bestDist {
			best, bestDist = n, dist
		}
	}
	if best != "" {
		return "did you mean " + strconv.Quote(best) + "?"
	}
	return "expected one of: " + strings.Join(names, ", ")
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// field is one YAML key of a spec struct.
type field struct {
	index    int
	name     string
	required bool
	opts     opts
	doc      string
	only     []Appliance // appliances that may have this top-level section; nil: all
}

type opts struct {
	network, host, nonempty bool
	hasMin, hasMax          bool
	min, max                int64
}

type structInfo struct {
	fields []field
	names  []string
	pos    int // index of the Pos field, or -1
}

func (s *structInfo) lookup(name string) int {
	for i, f := range s.fields {
		if f.name == name {
			return i
		}
	}
	return -1
}

var structCache sync.Map // reflect.Type -> *structInfo

var (
	addrType     = reflect.TypeFor[netip.Addr]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	addrPortType = reflect.TypeFor[netip.AddrPort]()
	durationType = reflect.TypeFor[time.Duration]()
	posType      = reflect.TypeFor[Pos]()
)

func structOf(t reflect.Type) *structInfo {
	if s, ok := structCache.Load(t); ok {
		return s.(*structInfo)
	}
	s := &structInfo{pos: -1}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Type == posType && sf.Name == "Pos" {
			s.pos = i
		}
		tag, ok := sf.Tag.Lookup("yaml")
		if !ok || tag == "-" || !sf.IsExported() {
			continue
		}
		name, rest, _ := strings.Cut(tag, ",")
		f := field{index: i, name: name, required: !strings.Contains(rest, "omitempty"), doc: sf.Tag.Get("doc")}
		for o := range strings.SplitSeq(sf.Tag.Get("nfv"), ",") {
			k, val, _ := strings.Cut(o, "=")
			switch k {
			case "network":
				f.opts.network = true
			case "host":
				f.opts.host = true
			case "nonempty":
				f.opts.nonempty = true
			case "min":
				f.opts.hasMin = true
				f.opts.min, _ = strconv.ParseInt(val, 10, 64)
			case "max":
				f.opts.hasMax = true
				f.opts.max, _ = strconv.ParseInt(val, 10, 64)
			case "only":
				for a := range strings.SplitSeq(val, "|") {
					f.only = append(f.only, Appliance(a))
				}
			}
		}
		s.fields = append(s.fields, f)
		s.names = append(s.names, name)
	}
	v, _ := structCache.LoadOrStore(t, s)
	return v.(*structInfo)
}

// bounds is the range an integer field accepts: its tag's, within its type's.
func bounds(t reflect.Type, o opts) (lo, hi int64) {
	switch t.Kind() {
	case reflect.Int8:
		lo, hi = -1<<7, 1<<7-1
	case reflect.Int16:
		lo, hi = -1<<15, 1<<15-1
	case reflect.Int32:
		lo, hi = -1<<31, 1<<31-1
	case reflect.Uint8:
		lo, hi = 0, 1<<8-1
	case reflect.Uint16:
		lo, hi = 0, 1<<16-1
	case reflect.Uint32:
		lo, hi = 0, 1<<32-1
	case reflect.Uint, reflect.Uint64:
		lo, hi = 0, 1<<63-1
	default:
		lo, hi = -1<<63, 1<<63-1
	}
	if o.hasMin {
		lo = max(lo, o.min)
	}
	if o.hasMax {
		hi = min(hi, o.max)
	}
	return lo, hi
}

// expectOf says in words what a value of type t looks like, for messages.
func expectOf(t reflect.Type, o opts) string {
	if x, ok := reflect.New(t).Interface().(interface{ expected() string }); ok {
		return x.expected()
	}
	switch t {
	case addrType:
		return "an IP address like 192.0.2.1 or 2001:db8::1"
	case prefixType:
		switch {
		case o.host:
			return "an interface address with prefix length like 192.0.2.1/24"
		case o.network:
			return "a network like 192.0.2.0/24, or a single address"
		}
		return "a CIDR prefix like 192.0.2.0/24"
	case addrPortType:
		return "an address and port like 192.0.2.1:51820 or [2001:db8::1]:51820"
	case durationType:
		return "a duration like 30s, 5m or 2h"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		lo, hi := bounds(t, o)
		return fmt.Sprintf("an integer %d..%d", lo, hi)
	case reflect.Slice:
		if _, one := reflect.New(t).Interface().(oneOrMany); one {
			return expectOf(t.Elem(), o) + ", or a list of them"
		}
		return "a list, each " + expectOf(t.Elem(), o)
	case reflect.Pointer:
		return expectOf(t.Elem(), o)
	case reflect.Struct:
		return "a mapping with keys " + strings.Join(structOf(t).names, ", ")
	}
	return t.String()
}
