// Package ike is the ipsec-gw's IKEv2 daemon (RFC 7296): it negotiates,
// authenticates (pre-shared keys), rekeys and deletes IKE SAs and their
// child SAs with the peers of a policy's ike: section, and installs the
// child SAs' keys into the ESP data path (package esp).
//
// How a message moves: the gateway hands every IKE datagram (UDP 500, or
// 4500 behind the non-ESP marker) to Daemon.Receive, which copies it into
// a bounded queue. The daemon's goroutine takes it from there: the header
// names the IKE SA (our SPI); a request inside the peer's window is
// decrypted (package wire), handled and answered, the answer kept for a
// retransmitted request; a response completes our one outstanding request
// (window 1), and the next queued one goes out. Keys come from package
// suite; child SAs are installed in the ESP engine in pairs, and the
// conn's policy is pointed at the outbound one. The same goroutine reads
// the engine's events (acquire, soft and hard expiry, a peer behind a NAT
// that moved) and runs the timers: retransmission, rekeying, dead peer
// detection and the expiry of half-open SAs.
//
// Interoperability notes (strongSwan 5.9 is the reference peer): our
// identity is our address; proposals are chosen in our configuration's
// order; an IKE_AUTH without a child SA is accepted (RFC 6023, announced
// in IKE_SA_INIT); INITIAL_CONTACT clears only the SAs of the same peer
// identity; no fragmentation, MOBIKE or reauthentication is offered; an
// unknown IKE SPI is counted and dropped, not answered with
// INVALID_IKE_SPI (an unauthenticated answer could be aimed at a third
// party).
package ike

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/nfvkit/nfvkit/appliances/ipsec-gw/esp"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// Ports IKE listens on (RFC 7296 section 2.23, RFC 3948).
const (
	Port     = 500
	NATTPort = 4500
)

// Config is what a Daemon runs.
type Config struct {
	// Conns are the policy's ike: entries (defaults applied, PSKs not yet
	// resolved: the daemon resolves them and never logs them).
	Conns []config.IKEConn
	// Engine is the ESP data path the child SAs are installed in.
	Engine *esp.Engine
	// Policies holds, for Conns[i].Children[j], the SPD entry whose
	// outbound SA the daemon sets (Policies[i][j]); the gateway made them
	// and routes the children's remote networks to them.
	Policies [][]*esp.Policy
	// LocalFor picks our address towards a peer, when a conn sets none.
	LocalFor func(peer netip.Addr) (netip.Addr, bool)
	// Send transmits one IKE message from local to remote. On port 4500
	// the transport prepends the four-zero-byte non-ESP marker (RFC 3948
	// section 2.2); msg starts at the IKE header. Send must not keep msg.
	Send func(local, remote netip.AddrPort, msg []byte)
	// Clock is the ESP data path's clock (esp.Engine.Install's now),
	// default dataplane.MonoClock.
	Clock func() int64
	Log   *slog.Logger
	// Timing; zero values take the defaults given.
	RetransmitBase  time.Duration // first retransmission timeout, default 1s, doubling
	RetransmitTries int           // attempts before giving up, default 6
	HalfOpenCookies int           // half-open SAs before cookies are demanded, default 64
	Window          int           // message ID window we offer (SET_WINDOW_SIZE), default 1; larger values are not advertised yet
}

// The daemon is implemented beside this file (daemon.go): New checks a
// Config and resolves the PSKs; Start runs the goroutine and initiates the
// start: start conns; Receive queues a message without blocking (called by
// the dataplane's goroutine; it copies msg; on port 4500 the non-ESP
// marker has been removed; a full queue is a counted drop); Initiate
// brings a conn up now; Close deletes the IKE SAs (one Delete each, sent
// once), removes the SAs it installed and stops; Status and Stats are
// snapshots.
//
// The daemon also reads Engine.Events() (acquire: initiate a start: trap
// conn; soft expire: rekey the child; hard expire: delete the child;
// peer-moved: follow NAT mapping changes) and calls Engine.Expire once a
// second, so that idle SAs' time limits are noticed.

// SAStatus describes one IKE SA and its children.
type SAStatus struct {
	Conn        string
	State       string // e.g. connecting, established, rekeying, deleting
	Initiator   bool
	SPIi, SPIr  uint64
	Local       netip.AddrPort
	Remote      netip.AddrPort
	Algs        string // e.g. aes256gcm16-prfsha256-x25519
	NATT        bool
	Established time.Time
	Children    []ChildStatus
}

// ChildStatus describes one child SA pair.
type ChildStatus struct {
	Name          string
	SPIIn, SPIOut uint32
	Cipher        string
	Local, Remote []netip.Prefix // negotiated (narrowed) traffic selectors
	Installed     time.Time
}

// Stats are the daemon's counters. Drops are counted by reason.
type Stats struct {
	Received, Sent, Retransmits            uint64
	IKESAsEstablished, ChildSAsEstablished uint64
	IKERekeys, ChildRekeys                 uint64
	Drops                                  map[string]uint64
}
