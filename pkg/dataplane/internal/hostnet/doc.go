// Package hostnet holds what the backends that reach the host kernel (the
// afpacket and tap ports) share: the virtio-net header that carries
// checksum offload between them and the kernel, finishing a partial
// checksum in software, interface ioctls (index, MTU, flags, address), and
// Waker, which turns a descriptor's readability into a ring of the loop's
// dataplane.Bell through the Go runtime's netpoller, so an idle port costs a
// parked goroutine and no CPU.
//
// It is the one place where those backends' shared system calls live;
// each backend keeps only the calls that are its own (the AF_PACKET rings,
// the TUN ioctls).
package hostnet
