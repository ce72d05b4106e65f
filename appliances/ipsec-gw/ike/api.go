// Package ike is the ipsec-gw's IKEv2 daemon (RFC 7296): it negotiates,
// authenticates (pre-shared keys), rekeys and deletes IKE SAs and their
// child SAs with the peers of a policy's ike: section, and installs the
// child SAs' keys into the ESP data path (package esp).
//
// THIS FILE IS THE AGREED API between the daemon and the gateway.
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
	Window          int           // message ID window we offer (SET_WINDOW_SIZE), default 1
}

// Message is one received IKE datagram for Daemon.Receive.
//
//	func (d *Daemon) Receive(local, remote netip.AddrPort, msg []byte)
//
// Receive is called by the dataplane's goroutine; it copies msg, queues it
// for the daemon's goroutine and never blocks (a full queue is a counted
// drop). On port 4500 the non-ESP marker has been removed.

// The daemon (implemented beside this file):
//
//	func New(c Config) (*Daemon, error)    // checks c, resolves PSKs
//	func (d *Daemon) Start()               // runs the goroutine; initiates start: start conns
//	func (d *Daemon) Receive(local, remote netip.AddrPort, msg []byte)
//	func (d *Daemon) Initiate(conn string) error  // bring a conn up now (tests, CLI)
//	func (d *Daemon) Close()               // deletes IKE SAs (best effort, one send each), removes SAs, stops
//	func (d *Daemon) Status() []SAStatus   // a snapshot, for logs, tests and metrics
//	func (d *Daemon) Stats() Stats
//
// The daemon also reads Engine.Events(): acquire (initiate a start: trap
// conn), soft expire (rekey the child), hard expire (delete the child),
// peer-moved (follow NAT mapping changes).

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
