package conntrack

import (
	"time"

	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

// The fragment cache remembers, for the first fragment of a datagram that
// was tracked, which connection and direction it belonged to, keyed by
// (source, destination, protocol, identification), so that the datagram's
// other fragments, which carry no ports, are matched to the same
// connection. It is direct-mapped: a datagram whose slot another one took
// meanwhile is forgotten, and its later fragments are Invalid. Slots name
// entries by index and generation, so a reused entry is never mistaken for
// the datagram's.
type fragSlot struct {
	key     Tuple // ports: the identification's halves
	entry   uint32
	gen     uint32
	dir     Dir
	expires int64
}

// fragTimeout is how long a first fragment vouches for the rest: Linux's
// and RFC 8200's reassembly timeout.
const fragTimeout = 60 * time.Second

func fragKey(k *Tuple, id uint32) Tuple {
	f := *k
	f.SrcPort, f.DstPort = uint16(id>>16), uint16(id)
	return f
}

func (t *Table) fragRecord(r *Result, e *Entry, d Dir, now int64) {
	if len(t.frags) == 0 {
		return
	}
	k := fragKey(&r.tuple, r.fragID)
	k.Proto = r.tuple.Proto
	s := &t.frags[t.key.hash(&k)&uint64(len(t.frags)-1)]
	*s = fragSlot{key: k, entry: t.index(e), gen: e.gen, dir: d, expires: now + t.frag}
}

func (t *Table) trackFragment(p *packet.Parsed, now int64, r *Result) State {
	if len(t.frags) == 0 {
		return t.invalid(r, ReasonFragment)
	}
	k := fragKey(&r.tuple, p.FragID)
	s := &t.frags[t.key.hash(&k)&uint64(len(t.frags)-1)]
	if s.expires <= now || !s.key.equal(&k) {
		return t.invalid(r, ReasonFragment)
	}
	e := &t.entries[s.entry]
	if !e.Live() || e.gen != s.gen || e.expires <= now {
		return t.invalid(r, ReasonFragment)
	}
	r.Entry, r.Dir = e, s.dir
	t.count(cFragHit)
	if s.dir == Reply || e.SeenReply() {
		r.State = StateEstablished
	} else {
		r.State = StateNew
	}
	return r.State
}
