package esp

import (
	"cmp"
	"crypto/cipher"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp/spd"
)

// Direction says which way an SA carries traffic.
type Direction uint8

// The directions.
const (
	Inbound Direction = iota + 1
	Outbound
)

func (d Direction) String() string {
	switch d {
	case Inbound:
		return "in"
	case Outbound:
		return "out"
	}
	return "direction?"
}

// NATTPort is the UDP port of ESP in UDP and IKE's NAT traversal (RFC 3948).
const NATTPort = 4500

// Limits are an SA's lifetimes (RFC 4301 section 4.4.2.1). A soft limit
// tells the control plane to rekey; at a hard limit the SA stops carrying
// traffic. Zero means no limit. Byte counts are of the clear-text packets.
// Times run from when the SA is installed, on the dataplane's clock
// (Batch.Now).
//
// Byte and packet limits are checked once per burst and per SA, so a hard
// limit may be passed by at most one burst; the sequence number space, which
// guards nonce uniqueness, is enforced exactly, per packet.
type Limits struct {
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
	SoftTime, HardTime       time.Duration
}

func (l Limits) zero() bool { return l == Limits{} }

// Config describes one SA.
type Config struct {
	// Name identifies the SA in logs, events and metrics.
	Name string
	Dir  Direction
	// SPI is the SA's security parameters index, chosen by the receiver;
	// 1..255 are reserved and 0 is invalid (RFC 4303 section 2.1).
	SPI    uint32
	Cipher Cipher
	// Key is the keying material: the cipher's key followed by its 4-byte
	// salt. It is used to set up the cipher and not kept.
	Key []byte
	// ESN enables 64-bit extended sequence numbers (RFC 4303 section
	// 2.2.1); without it the SA ends after 2^32-1 packets.
	ESN bool
	// Local and Peer are the tunnel endpoints: an outbound SA's outer
	// source and destination, an inbound SA's outer destination and source.
	Local, Peer netip.Addr
	// Encap carries ESP in UDP (RFC 3948); LocalPort and PeerPort default
	// to 4500.
	Encap               bool
	LocalPort, PeerPort uint16
	// Selector is the traffic the SA carries (RFC 4301 section 4.4.2):
	// inbound, every decapsulated packet must match it.
	Selector spd.Selector
	Limits   Limits
	// NoReplay turns anti-replay off for an inbound SA (RFC 4303 section
	// 3.4.3 lets the receiver choose); the default is on.
	NoReplay bool
	// IVBase is added to the sequence number to make an outbound packet's
	// IV. IKE SAs leave it 0 (IV = sequence number). Manually keyed SAs
	// set it from the clock, so that a restart, which starts the sequence
	// numbers again at 1 under the same key, does not repeat a nonce.
	IVBase uint64
	// TTL is the outer header's TTL or hop limit (default 64).
	TTL uint8
}

// Format prints c without its key, whatever the verb, so that logging a
// Config cannot leak one.
func (c Config) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "{%s %v spi=%#08x %v key=<redacted> esn=%v %v->%v encap=%v [%v]}", c.Name, c.Dir, c.SPI, c.Cipher, c.ESN,
		c.Local, c.Peer, c.Encap, c.Selector)
}

// Counters are an SA's statistics.
type Counters struct {
	// Packets and Bytes count what the SA carried: clear-text packets
	// encapsulated or decapsulated, and their bytes.
	Packets, Bytes uint64
	// Inbound drops: sequence numbers seen before or too old, ICV
	// failures, authenticated packets whose clear text was not traffic of
	// this SA, and authenticated packets that were malformed inside.
	Replays, AuthFailures, SelectorMismatches, Malformed uint64
	// Expired counts packets dropped because the SA had reached a hard
	// limit (lifetime or sequence numbers).
	Expired uint64
}

type counters struct {
	packets, bytes                                     atomic.Uint64
	replays, authFailures, selectorMismatch, malformed atomic.Uint64
	expired                                            atomic.Uint64
}

// SA state bits.
const (
	stateSoftSent uint32 = 1 << iota // soft-expire event sent
	stateHardSent                    // hard-expire event sent
	stateDead                        // hard limit reached: no more traffic
)

// SA is one security association: a key, a direction and the state that
// goes with it. Its fast-path fields are read by every worker; the fields
// that change per packet are atomics or, for the replay window, behind a
// lock taken twice per inbound packet.
type SA struct {
	name    string
	dir     Direction
	spi     uint32
	cipher  Cipher
	esn     bool
	encap   bool
	replay  bool
	ttl     uint8
	local   netip.Addr
	peer    netip.Addr
	lport   uint16
	pport   uint16
	aead    cipher.AEAD
	salt    [saltLen]byte
	ivBase  uint64
	sel     spd.Matcher
	selSpec spd.Selector
	limits  Limits
	seqMax  uint64 // last sequence number the SA may use
	seqSoft uint64 // from here on, ask for a rekey

	// Set once by Engine.Install: the clock times of the soft and hard
	// lifetimes (0: none). Atomics, as a policy may hand the SA to workers
	// before it is installed.
	installed atomic.Bool
	softAt    atomic.Int64
	hardAt    atomic.Int64

	state atomic.Uint32

	_   [64]byte // keep the counters below off the read-mostly line above
	seq atomic.Uint64
	// lastTx is when the outbound SA last sent, for NAT keepalives.
	lastTx atomic.Int64
	// hdr is the outer header template of an outbound SA; NAT-T
	// replaces it when the peer moves.
	hdr atomic.Pointer[outerHeader]
	// reverse is the outbound SA of an inbound one, for NAT-T.
	reverse atomic.Pointer[SA]

	_      [64]byte
	mu     sync.Mutex
	window replayWindow
	c      counters
}

// NewSA makes an SA from c. The key is consumed by the cipher setup and
// not kept; neither the SA nor any error shows it.
func NewSA(c Config) (*SA, error) {
	if c.Dir != Inbound && c.Dir != Outbound {
		return nil, fmt.Errorf("esp: SA %s: direction not set", c.Name)
	}
	if c.SPI < 256 {
		return nil, fmt.Errorf("esp: SA %s: SPI %#x is reserved (expected 256 or more)", c.Name, c.SPI)
	}
	aead, salt, err := newAEAD(c.Cipher, c.Key)
	if err != nil {
		return nil, fmt.Errorf("esp: SA %s: %w", c.Name, err)
	}
	sel, err := c.Selector.Compile()
	if err != nil {
		return nil, fmt.Errorf("esp: SA %s: selector: %w", c.Name, err)
	}
	if !c.Local.IsValid() || !c.Peer.IsValid() || c.Local.Is4() != c.Peer.Is4() {
		return nil, fmt.Errorf("esp: SA %s: tunnel endpoints %v and %v (expected two addresses of one family)", c.Name, c.Local, c.Peer)
	}
	sa := &SA{
		name:    c.Name,
		dir:     c.Dir,
		spi:     c.SPI,
		cipher:  c.Cipher,
		esn:     c.ESN,
		encap:   c.Encap,
		replay:  !c.NoReplay,
		ttl:     cmp.Or(c.TTL, 64),
		local:   c.Local.Unmap(),
		peer:    c.Peer.Unmap(),
		lport:   cmp.Or(c.LocalPort, NATTPort),
		pport:   cmp.Or(c.PeerPort, NATTPort),
		aead:    aead,
		salt:    salt,
		ivBase:  c.IVBase,
		sel:     sel,
		selSpec: c.Selector,
		limits:  c.Limits,
		seqMax:  math.MaxUint32,
	}
	if c.ESN {
		// Far beyond reach, and far from wrapping the 64-bit counter
		// that concurrent workers increment.
		sa.seqMax = 1 << 62
	}
	// Rekey with 1/16 of the sequence space left: 268M packets, many
	// minutes even at line rate.
	sa.seqSoft = sa.seqMax - sa.seqMax/16
	if c.Dir == Outbound {
		sa.hdr.Store(newOuterHeader(sa, netip.AddrPortFrom(sa.peer, sa.pport)))
	}
	return sa, nil
}

// Name returns the SA's name.
func (sa *SA) Name() string { return sa.name }

// SPI returns the SA's SPI.
func (sa *SA) SPI() uint32 { return sa.spi }

// Dir returns the SA's direction.
func (sa *SA) Dir() Direction { return sa.dir }

// Cipher returns the SA's cipher.
func (sa *SA) Cipher() Cipher { return sa.cipher }

// ESN reports whether the SA uses extended sequence numbers.
func (sa *SA) ESN() bool { return sa.esn }

// Encap reports whether the SA carries ESP in UDP.
func (sa *SA) Encap() bool { return sa.encap }

// Selector returns the SA's traffic selector.
func (sa *SA) Selector() spd.Selector { return sa.selSpec }

// Limits returns the SA's lifetimes.
func (sa *SA) Limits() Limits { return sa.limits }

// Peer returns the peer's tunnel endpoint: for an outbound SA with UDP
// encapsulation, where packets go now (NAT traversal may have moved it).
func (sa *SA) Peer() netip.AddrPort {
	if h := sa.hdr.Load(); h != nil {
		return h.dst
	}
	return netip.AddrPortFrom(sa.peer, sa.pport)
}

// Local returns the local tunnel endpoint.
func (sa *SA) Local() netip.AddrPort { return netip.AddrPortFrom(sa.local, sa.lport) }

// Seq returns the last sequence number sent (outbound) or the highest
// received (inbound).
func (sa *SA) Seq() uint64 {
	if sa.dir == Outbound {
		return min(sa.seq.Load(), sa.seqMax)
	}
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return sa.window.top
}

// Expired reports whether the SA reached a hard limit and carries no more
// traffic.
func (sa *SA) Expired() bool { return sa.state.Load()&stateDead != 0 }

// Counters returns a snapshot of the SA's counters.
func (sa *SA) Counters() Counters {
	return Counters{
		Packets:            sa.c.packets.Load(),
		Bytes:              sa.c.bytes.Load(),
		Replays:            sa.c.replays.Load(),
		AuthFailures:       sa.c.authFailures.Load(),
		SelectorMismatches: sa.c.selectorMismatch.Load(),
		Malformed:          sa.c.malformed.Load(),
		Expired:            sa.c.expired.Load(),
	}
}

// SetReverse links an inbound SA to the outbound SA of the same pair, so
// that with UDP encapsulation a peer whose NAT mapping changed is followed
// (RFC 3948 / RFC 7296 section 2.23): the outbound SA sends to where the
// latest authenticated inbound packet came from.
func (sa *SA) SetReverse(out *SA) {
	if sa.dir == Inbound && (out == nil || out.dir == Outbound) {
		sa.reverse.Store(out)
	}
}

// Overhead is how many bytes encapsulation adds to an inner packet of n
// bytes: outer IP, UDP if encapsulated, ESP header, IV, padding, trailer and
// ICV. A stage compares n+Overhead(n) with its MTU before Encap.
func (sa *SA) Overhead(n int) int {
	o := espOverhead + padLen(n)
	if sa.local.Is4() {
		o += 20
	} else {
		o += 40
	}
	if sa.encap {
		o += 8
	}
	return o
}

// String describes the SA without its key.
func (sa *SA) String() string {
	enc := ""
	if sa.encap {
		enc = " udp"
	}
	return fmt.Sprintf("%s %s spi=%#08x %v esn=%v %v->%v%s [%v]", sa.name, sa.dir, sa.spi, sa.cipher, sa.esn,
		sa.local, sa.peer, enc, sa.selSpec)
}

// Format keeps every verb on the redacted description: the key is never
// in the SA anyway, but %#v of its cipher state is noise.
func (sa *SA) Format(f fmt.State, verb rune) { fmt.Fprint(f, sa.String()) }

func (sa *SA) dead() bool { return sa.state.Load()&stateDead != 0 }

// expiresBy reports whether the SA's hard lifetime has passed at now.
func (sa *SA) expiresBy(now int64) bool {
	h := sa.hardAt.Load()
	return h != 0 && now >= h
}
