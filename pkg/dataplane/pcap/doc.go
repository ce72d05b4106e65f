// Package pcap is the capture-file backend of the dataplane: it replays
// classic libpcap captures into an appliance and records what the appliance
// sends as captures that tcpdump and Wireshark read.
//
// # Format
//
// Reader reads the classic pcap format (not pcapng): either byte order,
// microsecond (0xa1b2c3d4) or nanosecond (0xa1b23c4d) timestamps, version
// 2.4, link type Ethernet (LINKTYPE_ETHERNET, 1) only. Every field is checked
// before it is used: a record is never longer than the file's snaplen (a
// snaplen of 0, or one beyond MaxSnaplen, means MaxSnaplen, as in libpcap),
// never captures more than the original length, and has an in-range
// timestamp fraction. A malformed or truncated file yields a *FormatError
// naming the record and its byte offset; the reader never panics and never
// allocates more than its fixed buffer, whatever the input.
//
// Writer writes little-endian, nanosecond-resolution captures by default:
// the dataplane's clock is in nanoseconds and a replay must give back the
// exact timestamps it read, which microseconds would round. libpcap reads
// them since 1.5 (tcpdump, Wireshark, gopacket's pcapgo); WriterOptions can
// ask for microseconds for older tools.
//
// # Port
//
// Port is a dataplane.Port over an input capture, an output capture, or both.
// Recv copies each record once, at the edge, into a frame taken from the
// dataplane's Pool; records sharing one timestamp are returned together and
// Next tells the loop that timestamp, so a Loop over pcap ports runs in
// capture time (see dataplane.Timed). A record the frame cannot hold, one the
// capture cut short (captured length below the original length), or one that
// finds the pool empty is dropped at the edge and counted. Send writes every
// frame it is given, stamped with the batch's Now (in a replay, the time of
// the input frame that caused it), then frees it. Writes are buffered and
// flushed by Close. Nothing on the per-packet paths allocates.
package pcap
