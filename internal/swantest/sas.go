package swantest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// IKESA is one IKE SA as `swanctl --list-sas` shows it.
type IKESA struct {
	Name       string // the connection's name
	UniqueID   uint32
	Version    int
	State      string // CREATED, CONNECTING, ESTABLISHED, PASSIVE, REKEYING, REKEYED, DELETING, DESTROYING
	Local      netip.AddrPort
	Remote     netip.AddrPort
	LocalID    string
	RemoteID   string
	Initiator  bool   // this end initiated the SA
	SPIi, SPIr uint64 // initiator's and responder's SPIs
	// NATRemote is set when charon believes the peer is behind a NAT;
	// kernel-libipsec fakes this to force UDP encapsulation.
	NATRemote bool
	EncrAlg   string // e.g. AES_GCM_16
	EncrKey   int    // key size in bits
	IntegAlg  string // empty for AEAD
	PRFAlg    string // e.g. PRF_HMAC_SHA2_256
	DHGroup   string // e.g. CURVE_25519
	// Established is how long ago the SA was established; RekeyIn and
	// ReauthIn are how long until it is rekeyed or reauthenticated (zero
	// if not scheduled).
	Established, RekeyIn, ReauthIn time.Duration
	Children                       []ChildSA
}

// ChildSA is one child SA of an IKESA.
type ChildSA struct {
	Name     string // the child's name in the connection
	UniqueID uint32
	ReqID    uint32
	State    string // CREATED, ROUTED, INSTALLING, INSTALLED, UPDATING, REKEYING, REKEYED, RETRYING, DELETING, DESTROYING
	Mode     string // TUNNEL, TRANSPORT
	Protocol string // ESP, AH
	Encap    bool   // UDP encapsulated
	// SPIIn is the SPI of inbound packets (ours), SPIOut of outbound
	// ones (the peer's).
	SPIIn, SPIOut uint32
	EncrAlg       string
	EncrKey       int
	IntegAlg      string
	DHGroup       string // PFS group, empty without PFS
	BytesIn       uint64
	PacketsIn     uint64
	BytesOut      uint64
	PacketsOut    uint64
	// Installed is how long ago the SA was installed; RekeyIn and LifeIn
	// are how long until it is rekeyed or expires (negative when
	// overdue, as while a rekey collides).
	Installed, RekeyIn, LifeIn time.Duration
	LocalTS, RemoteTS          []netip.Prefix
}

// node is one section of swanctl's --pretty output.
type node struct {
	name     string
	vals     map[string]string
	lists    map[string][]string
	sections []*node
}

// parseTree reads swanctl's --pretty output: "name {" opens a section,
// "}" closes it, "key = value" is a value and "key = [" starts a list of
// one item per line up to "]". Values may contain spaces (identities
// such as "C=CH, O=x"), which the --raw form does not delimit.
func parseTree(out string) (*node, error) {
	root := &node{vals: map[string]string{}, lists: map[string][]string{}}
	stack := []*node{root}
	var list *node // the section whose list listKey is being read, if any
	var listKey string
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case list != nil:
			if line == "]" {
				list = nil
			} else {
				list.lists[listKey] = append(list.lists[listKey], line)
			}
		case line == "}":
			if len(stack) == 1 {
				return nil, fmt.Errorf("line %d: unbalanced }", n+1)
			}
			stack = stack[:len(stack)-1]
		case strings.HasSuffix(line, " {") || line == "{":
			s := &node{name: strings.TrimSpace(strings.TrimSuffix(line, "{")), vals: map[string]string{}, lists: map[string][]string{}}
			top := stack[len(stack)-1]
			top.sections = append(top.sections, s)
			stack = append(stack, s)
		default:
			k, v, ok := strings.Cut(line, " = ")
			if !ok {
				// The end of a --pretty answer, or something swanctl said
				// beside it: not part of the tree.
				continue
			}
			top := stack[len(stack)-1]
			if v == "[" {
				top.lists[k] = nil
				list, listKey = top, k
				continue
			}
			top.vals[k] = v
		}
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("unterminated section %q", stack[len(stack)-1].name)
	}
	return root, nil
}

// parseSAs turns the output of `swanctl --list-sas --pretty` into IKE SAs.
func parseSAs(out string) ([]IKESA, error) {
	root, err := parseTree(out)
	if err != nil {
		return nil, err
	}
	var sas []IKESA
	for _, ev := range root.sections {
		if ev.name != "list-sa event" {
			continue
		}
		for _, s := range ev.sections {
			sa, err := ikeSA(s)
			if err != nil {
				return nil, fmt.Errorf("IKE SA %s: %w", s.name, err)
			}
			sas = append(sas, sa)
		}
	}
	return sas, nil
}

// fields reads typed values of one section, remembering the first error.
type fields struct {
	n   *node
	err error
}

func (f *fields) str(k string) string { return f.n.vals[k] }

func (f *fields) uint(k string, bits int, base int) uint64 {
	s, ok := f.n.vals[k]
	if !ok {
		return 0
	}
	v, err := strconv.ParseUint(s, base, bits)
	if err != nil && f.err == nil {
		f.err = fmt.Errorf("%s: %w", k, err)
	}
	return v
}

// seconds reads a time in seconds; rekey-time goes negative when a rekey
// is overdue.
func (f *fields) seconds(k string) time.Duration {
	s, ok := f.n.vals[k]
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil && f.err == nil {
		f.err = fmt.Errorf("%s: %w", k, err)
	}
	return time.Duration(v) * time.Second
}

func (f *fields) yes(k string) bool { return f.n.vals[k] == "yes" }

func (f *fields) addrPort(host, port string) netip.AddrPort {
	a, err := netip.ParseAddr(f.n.vals[host])
	if err != nil {
		if f.err == nil {
			f.err = fmt.Errorf("%s: %w", host, err)
		}
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, uint16(f.uint(port, 16, 10)))
}

// ts reads a traffic selector list; entries such as 10.1.0.0/24[tcp/80]
// keep only their prefix.
func (f *fields) ts(k string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range f.n.lists[k] {
		s, _, _ = strings.Cut(s, "[")
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				p, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			if f.err == nil {
				f.err = fmt.Errorf("%s: %w", k, err)
			}
			continue
		}
		ps = append(ps, p)
	}
	return ps
}

func ikeSA(n *node) (IKESA, error) {
	f := &fields{n: n}
	sa := IKESA{
		Name:        n.name,
		UniqueID:    uint32(f.uint("uniqueid", 32, 10)),
		Version:     int(f.uint("version", 8, 10)),
		State:       f.str("state"),
		Local:       f.addrPort("local-host", "local-port"),
		Remote:      f.addrPort("remote-host", "remote-port"),
		LocalID:     f.str("local-id"),
		RemoteID:    f.str("remote-id"),
		Initiator:   f.yes("initiator"),
		SPIi:        f.uint("initiator-spi", 64, 16),
		SPIr:        f.uint("responder-spi", 64, 16),
		NATRemote:   f.yes("nat-remote"),
		EncrAlg:     f.str("encr-alg"),
		EncrKey:     int(f.uint("encr-keysize", 16, 10)),
		IntegAlg:    f.str("integ-alg"),
		PRFAlg:      f.str("prf-alg"),
		DHGroup:     f.str("dh-group"),
		Established: f.seconds("established"),
		RekeyIn:     f.seconds("rekey-time"),
		ReauthIn:    f.seconds("reauth-time"),
	}
	for _, sec := range n.sections {
		if sec.name != "child-sas" {
			continue
		}
		for _, c := range sec.sections {
			cf := &fields{n: c}
			sa.Children = append(sa.Children, ChildSA{
				Name:       cf.str("name"),
				UniqueID:   uint32(cf.uint("uniqueid", 32, 10)),
				ReqID:      uint32(cf.uint("reqid", 32, 10)),
				State:      cf.str("state"),
				Mode:       cf.str("mode"),
				Protocol:   cf.str("protocol"),
				Encap:      cf.yes("encap"),
				SPIIn:      uint32(cf.uint("spi-in", 32, 16)),
				SPIOut:     uint32(cf.uint("spi-out", 32, 16)),
				EncrAlg:    cf.str("encr-alg"),
				EncrKey:    int(cf.uint("encr-keysize", 16, 10)),
				IntegAlg:   cf.str("integ-alg"),
				DHGroup:    cf.str("dh-group"),
				BytesIn:    cf.uint("bytes-in", 64, 10),
				PacketsIn:  cf.uint("packets-in", 64, 10),
				BytesOut:   cf.uint("bytes-out", 64, 10),
				PacketsOut: cf.uint("packets-out", 64, 10),
				Installed:  cf.seconds("install-time"),
				RekeyIn:    cf.seconds("rekey-time"),
				LifeIn:     cf.seconds("life-time"),
				LocalTS:    cf.ts("local-ts"),
				RemoteTS:   cf.ts("remote-ts"),
			})
			if cf.err != nil {
				return sa, fmt.Errorf("child %s: %w", c.name, cf.err)
			}
		}
	}
	return sa, f.err
}
