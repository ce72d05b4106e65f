// Package wireguard runs WireGuard tunnels on the dataplane: wireguard-go's
// device (golang.zx2c4.com/wireguard/device) is the engine, and this
// package gives it its two sides as adapters fed by the dataplane instead
// of a TUN device and a UDP socket.
//
//   - Tun is the tunnel's inner side, a tun.Device: Read returns the clear
//     IP packets the gateway's router routed into the tunnel, Write takes
//     the device's decrypted packets back to the router.
//   - Bind is the outer side, a conn.Bind: its ReceiveFunc returns the UDP
//     datagrams to the tunnel's listen port that the dataplane intercepted
//     on the gateway's outer ports; Send wraps the device's encrypted
//     messages in UDP and IP and hands them to the router, which sends them
//     out of a port to the endpoint's next hop (neighbour resolution
//     included). No socket and no kernel stack is involved.
//
// # How a packet moves
//
// Clear text out: the gateway's router routes a packet to the tunnel's
// virtual interface (see router.Virtual); the gateway pushes the frame
// onto the tunnel's inner queue; the device's TUN reader goroutine takes a
// burst with Tun.Read, which copies each packet into the device's own
// buffer behind the room it leaves for the WireGuard header and returns the
// frames to the pool. The device encrypts (on its own workers) and calls
// Bind.Send with a batch, which takes frames from the pool, writes
// IP+UDP+message into them and pushes them onto the gateway's outbox; the
// loop polls the outbox (the gateway is a dataplane.Source, and the outbox
// rings the loop's Bell when it was idle) and routes them out.
//
// Cipher text in: the router punts a UDP datagram to one of its own
// addresses; the gateway (the loop's LocalStack) pushes it onto the queue
// of the tunnel whose listen port it is; the device's receive goroutine
// takes a burst through the ReceiveFunc, which copies each UDP payload into
// the device's buffer, notes the endpoint (the peer's address and port, and
// our address it was sent to, for replies) and frees the frames. The device
// decrypts and calls Tun.Write, which copies each inner packet into a frame
// and pushes it onto the outbox for the router, as received on the
// tunnel's virtual interface.
//
// # Copies, queues and back-pressure
//
// wireguard-go owns its message buffers (pooled, 64 KiB each), so each
// adapter copies a packet once at the boundary, in each direction: the
// dataplane frame is freed (or taken) right there, and no frame is ever
// held by the device. The handoff between the loop and the device's
// goroutines goes through Queues: bounded rings of frame references, one
// lock per burst. A queue that is full refuses what does not fit; the
// caller frees those frames and counts them (wg-queue-full), so a slow
// device or a slow loop costs drops, never memory. An empty pool is
// counted as no-buffer. Nothing on these paths allocates.
package wireguard
