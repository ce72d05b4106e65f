// Package nettest builds the host topologies the afpacket and tap tests
// run on: network namespaces made and removed by the test, code run inside
// one, frames built and captured with plain AF_PACKET sockets, and the
// Linux-side traffic (ping, a TCP transfer) an end-to-end test checks.
// Everything is bounded in time. It is for tests only.
package nettest
