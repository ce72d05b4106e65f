package ipsecgw_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	ipsecgw "github.com/nfvkit/nfvkit/appliances/ipsec-gw"
	"github.com/nfvkit/nfvkit/internal/wgtest"
	"github.com/nfvkit/nfvkit/pkg/appliance"
	"github.com/nfvkit/nfvkit/pkg/config"
	"github.com/nfvkit/nfvkit/pkg/dataplane"
	"github.com/nfvkit/nfvkit/pkg/dataplane/packet"
)

const gwPolicy = `appliance: ipsec-gw
interfaces:
  - {name: lan, port: "mem:lan", address: [10.1.0.1/24]}
  - {name: wan, port: "mem:wan", address: [192.0.2.1/24]}
neighbors:
  - {interface: wan, address: 192.0.2.2, mac: "02:00:00:00:00:02"}
routes:
  - {to: 10.3.0.0/16, dev: wg0}
wireguard:
  - name: wg0
    private_key: %s
    listen_port: 51820
    address: [10.8.0.1/24]
    peers:
      - {public_key: %s, endpoint: 192.0.2.2:51821, allowed_ips: [10.2.0.0/24]}
`

func newGateway(t *testing.T, y string) (*ipsecgw.Gateway, *dataplane.Pool, *dataplane.Stats) {
	t.Helper()
	p, err := config.Parse("gw.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := dataplane.NewMemPool(512)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Region().Close() })
	stats := dataplane.NewStats(appliance.PortNames(p)...)
	env, err := appliance.NewEnv(p, pool, stats, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := appliance.New(p, env)
	if err != nil {
		t.Fatal(err)
	}
	return st.(*ipsecgw.Gateway), pool, stats
}

// ipv4UDP is an Ethernet frame with IPv4 and UDP from src to dst.
func ipv4UDP(dstMAC packet.MAC, src, dst [4]byte, sport, dport uint16, n int) []byte {
	f := make([]byte, 14+20+8+n)
	copy(f[0:6], dstMAC[:])
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 0x0a})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+n))
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:], ^packet.Checksum(ip[:20], 0))
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	binary.BigEndian.PutUint16(ip[24:], uint16(8+n))
	return f
}

// TestGatewayInitiates: clear text routed to a tunnel (by a peer's allowed
// IPs, or by a route naming the tunnel) goes to its device, which starts a
// handshake with the peer's endpoint; the datagram comes back through Poll
// and the router sends it out of wan, from the listen port.
func TestGatewayInitiates(t *testing.T) {
	peer := wgtest.NewKey(t)
	g, pool, stats := newGateway(t, fmt.Sprintf(gwPolicy, wgtest.NewKey(t).Priv, peer.Pub))
	lanMAC := appliance.LocalMAC("lan")
	b := dataplane.NewBatch(2 * dataplane.DefaultBurst)
	for _, dst := range [][4]byte{{10, 2, 0, 5}, {10, 3, 1, 1}} {
		pk, _ := pool.Get()
		f := ipv4UDP(lanMAC, [4]byte{10, 1, 0, 10}, dst, 1000, 53, 100)
		copy(pk.Append(len(f)), f)
		b.Add(pk)
	}
	b.Now = dataplane.MonoClock()
	g.Process(b)
	for i := range b.Pkts {
		if b.Pkts[i].Verdict != dataplane.Consumed {
			t.Fatalf("packet %d: %v %v", i, b.Pkts[i].Verdict, b.Pkts[i].Reason)
		}
	}
	b.Reset()

	var hs []byte
	deadline := time.Now().Add(5 * time.Second)
	for hs == nil && time.Now().Before(deadline) {
		b.Reset()
		b.Now = dataplane.MonoClock()
		g.Poll(b)
		for i := range b.Pkts {
			p := &b.Pkts[i]
			if p.Verdict == dataplane.Forward && p.OutPort == 1 && hs == nil {
				hs = append([]byte(nil), p.Data()...)
			}
			if p.Verdict != dataplane.Consumed {
				pool.Put(*p)
			}
		}
		time.Sleep(time.Millisecond)
	}
	if hs == nil {
		t.Fatalf("no datagram out of wan; drops %v", stats.Drops())
	}
	ip := hs[14:]
	u := ip[20:]
	if hs[0] != 2 || hs[5] != 2 || ip[9] != 17 || ip[12] != 192 || ip[15] != 1 || ip[19] != 2 ||
		binary.BigEndian.Uint16(u[0:]) != 51820 || binary.BigEndian.Uint16(u[2:]) != 51821 || u[8] != 1 {
		t.Fatalf("not a handshake initiation to the endpoint: %x", hs)
	}
	if got := len(u) - 8; got != 148 {
		t.Fatalf("initiation of %d bytes", got)
	}
	g.Release()
	if err := pool.CheckAllReturned(); err != nil {
		t.Fatal(err)
	}
}

// TestGatewayReload: peers and routes change in place; a change of tunnels
// is refused, the running policy kept.
func TestGatewayReload(t *testing.T) {
	gwKey, peer, other := wgtest.NewKey(t), wgtest.NewKey(t), wgtest.NewKey(t)
	y := fmt.Sprintf(gwPolicy, gwKey.Priv, peer.Pub)
	g, _, _ := newGateway(t, y)
	defer g.Release()
	next := strings.Replace(y, "allowed_ips: [10.2.0.0/24]}", "allowed_ips: [10.2.0.0/24]}\n      - {public_key: "+other.Pub+", allowed_ips: [10.4.0.0/24]}", 1)
	p, err := config.Parse("gw.yaml", []byte(next))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(p); err != nil {
		t.Fatalf("reload with a new peer: %v", err)
	}
	ps, err := g.Tunnels()[0].Peers()
	if err != nil || len(ps) != 2 {
		t.Fatalf("peers after reload: %v %v", ps, err)
	}
	renamed := strings.Replace(next, "name: wg0", "name: wg9", 1)
	renamed = strings.Replace(renamed, "dev: wg0", "dev: wg9", 1)
	if p, err = config.Parse("gw.yaml", []byte(renamed)); err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(p); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("reload renaming a tunnel: %v", err)
	}
}
