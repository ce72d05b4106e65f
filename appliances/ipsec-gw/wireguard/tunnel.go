package wireguard

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"golang.zx2c4.com/wireguard/device"
)

// QueueSize is the capacity of each handoff queue, in packets.
const QueueSize = 1024

// Tunnel is one WireGuard tunnel of the policy: a wireguard-go device
// between its Tun and its Bind.
type Tunnel struct {
	name string
	tun  *Tun
	bind *Bind
	dev  *device.Device
	log  *slog.Logger
	spec config.WireGuard
}

// Config is what a Tunnel is built with.
type Config struct {
	Spec  *config.WireGuard
	Pool  *dataplane.Pool
	Stats *dataplane.Stats
	Log   *slog.Logger
	// Port is the tunnel's virtual port in the router; Local the port of
	// the appliance's own packets.
	Port, Local uint16
	// Out is where the device's packets go, for the loop.
	Out *Queue
	// SourceFor picks our address towards an endpoint.
	SourceFor func(netip.Addr) (netip.Addr, bool)
}

// New starts the tunnel of c.Spec: it resolves the keys, configures a
// wireguard-go device over the adapters and brings it up (the listen port
// is open from then on). Errors name secrets by reference only.
func New(c Config) (*Tunnel, error) {
	s := c.Spec
	log := cmp.Or(c.Log, slog.New(slog.DiscardHandler)).With("tunnel", s.Name)
	t := &Tunnel{name: s.Name, log: log, spec: *s}
	t.tun = NewTun(s.Name, cmp.Or(s.MTU, config.DefaultWireGuardMTU), c.Port, c.Pool, c.Stats, NewQueue(QueueSize), c.Out)
	t.bind = NewBind(c.Pool, c.Stats, NewQueue(QueueSize), c.Out, c.Local, c.SourceFor)
	uapi, err := uapiConfig(s, nil)
	if err != nil {
		t.tun.Close()
		return nil, fmt.Errorf("tunnel %s: %w", s.Name, err)
	}
	t.dev = device.NewDevice(t.tun, t.bind, deviceLogger(log))
	if err := t.dev.IpcSet(uapi); err != nil {
		t.dev.Close()
		return nil, fmt.Errorf("tunnel %s: configure: %w", s.Name, err)
	}
	if err := t.dev.Up(); err != nil {
		t.dev.Close()
		return nil, fmt.Errorf("tunnel %s: up: %w", s.Name, err)
	}
	log.Info("wireguard tunnel up", "listen_port", t.bind.Port(), "peers", len(s.Peers), "mtu", cmp.Or(s.MTU, config.DefaultWireGuardMTU))
	return t, nil
}

// Name is the tunnel's name.
func (t *Tunnel) Name() string { return t.name }

// Port is the UDP port the tunnel listens on, 0 while it is down.
func (t *Tunnel) Port() uint16 { return t.bind.Port() }

// Enqueue hands packets routed into the tunnel to the device; see
// Tun.Enqueue.
func (t *Tunnel) Enqueue(ps []dataplane.Packet) int { return t.tun.Enqueue(ps) }

// Deliver hands datagrams to the listen port to the device; see
// Bind.Deliver.
func (t *Tunnel) Deliver(ps []dataplane.Packet) int { return t.bind.Deliver(ps) }

// Reconfigure applies a new spec of the same tunnel: key, port and peers.
// Peers that stay keep their sessions; removed ones are dropped.
func (t *Tunnel) Reconfigure(s *config.WireGuard) error {
	uapi, err := uapiConfig(s, &t.spec)
	if err != nil {
		return fmt.Errorf("tunnel %s: %w", s.Name, err)
	}
	if err := t.dev.IpcSet(uapi); err != nil {
		return fmt.Errorf("tunnel %s: configure: %w", s.Name, err)
	}
	t.spec = *s
	return nil
}

// PeerStats are a peer's counters as the device keeps them.
type PeerStats struct {
	PublicKey     string // hex
	LastHandshake int64  // Unix seconds, 0 for never
	RxBytes       uint64
	TxBytes       uint64
}

// Peers reads the device's peer counters.
func (t *Tunnel) Peers() ([]PeerStats, error) {
	s, err := t.dev.IpcGet()
	if err != nil {
		return nil, err
	}
	var out []PeerStats
	for line := range strings.SplitSeq(s, "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "public_key":
			out = append(out, PeerStats{PublicKey: v})
		case "last_handshake_time_sec":
			fmt.Sscan(v, &out[len(out)-1].LastHandshake)
		case "rx_bytes":
			fmt.Sscan(v, &out[len(out)-1].RxBytes)
		case "tx_bytes":
			fmt.Sscan(v, &out[len(out)-1].TxBytes)
		}
	}
	return out, nil
}

// Close stops the device and its goroutines; every frame the adapters
// held is back in the pool when it returns.
func (t *Tunnel) Close() {
	t.dev.Close()
	t.bind.Close()
	t.tun.Close()
}

// uapiConfig is the wireguard-go configuration of s, in its UAPI's text
// form (what `wg set` sends). With old, it updates a running device: peers
// of old that s lacks are removed, the others updated in place. The
// result holds key material: it must never be logged.
func uapiConfig(s *config.WireGuard, old *config.WireGuard) (string, error) {
	var b strings.Builder
	key, err := s.PrivateKey.ResolveWGKey()
	if err != nil {
		return "", fmt.Errorf("private_key: %w", err)
	}
	fmt.Fprintf(&b, "private_key=%s\n", hex.EncodeToString(key[:]))
	clear(key[:])
	fmt.Fprintf(&b, "listen_port=%d\n", s.ListenPort)
	if old == nil {
		b.WriteString("replace_peers=true\n")
	} else {
		for _, op := range old.Peers {
			gone := true
			for _, np := range s.Peers {
				gone = gone && np.PublicKey != op.PublicKey
			}
			if gone {
				fmt.Fprintf(&b, "public_key=%s\nremove=true\n", hex.EncodeToString(op.PublicKey[:]))
			}
		}
	}
	for i := range s.Peers {
		p := &s.Peers[i]
		fmt.Fprintf(&b, "public_key=%s\n", hex.EncodeToString(p.PublicKey[:]))
		if !p.PresharedKey.IsZero() {
			psk, err := p.PresharedKey.ResolveWGKey()
			if err != nil {
				return "", fmt.Errorf("peer %s: preshared_key: %w", peerName(p, i), err)
			}
			fmt.Fprintf(&b, "preshared_key=%s\n", hex.EncodeToString(psk[:]))
			clear(psk[:])
		} else {
			b.WriteString("preshared_key=" + strings.Repeat("0", 64) + "\n")
		}
		if p.Endpoint.IsValid() {
			fmt.Fprintf(&b, "endpoint=%s\n", p.Endpoint)
		}
		fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", int(p.PersistentKeepalive.Seconds()))
		b.WriteString("replace_allowed_ips=true\n")
		for _, a := range p.AllowedIPs {
			fmt.Fprintf(&b, "allowed_ip=%s\n", a.Masked())
		}
	}
	return b.String(), nil
}

func peerName(p *config.WGPeer, i int) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprintf("peers[%d]", i)
}

// deviceLogger routes wireguard-go's log to the appliance's: its verbose
// lines at debug level (formatted only when that level is on), its errors
// as warnings. wireguard-go names peers by a public key's prefix, never a
// private or preshared key.
func deviceLogger(log *slog.Logger) *device.Logger {
	return &device.Logger{
		Verbosef: func(format string, args ...any) {
			if log.Enabled(context.Background(), slog.LevelDebug) {
				log.Debug(fmt.Sprintf(format, args...))
			}
		},
		Errorf: func(format string, args ...any) {
			log.Warn(fmt.Sprintf(format, args...))
		},
	}
}
