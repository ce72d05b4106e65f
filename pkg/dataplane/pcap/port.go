package pcap

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// ReasonCaptureTruncated counts input records the capture cut short (its
// snaplen was below the frame's length): they are not the frame that was on
// the wire, so they are not replayed.
var ReasonCaptureTruncated = dataplane.NewReason("capture-truncated")

// ErrNoOutput is returned by Send on a port opened without an output capture.
var ErrNoOutput = errors.New("pcap: port has no output capture")

// Config configures a Port.
type Config struct {
	// Name names the port in errors (the policy's interface name).
	Name string
	// Pool gives the frames received packets are copied into, and takes
	// back the frames of sent ones. Required.
	Pool *dataplane.Pool
	// Stats, when set, counts the records dropped at the edge under
	// dataplane.ReasonTooBig, dataplane.ReasonNoBuffer and
	// ReasonCaptureTruncated. The port's own Counters count them either way.
	Stats *dataplane.Stats
	// MTU reported by the port (default 1500).
	MTU int
	// BatchSize is the most packets one Recv returns (default
	// dataplane.DefaultBurst).
	BatchSize int
	// Writer shapes the output capture.
	Writer WriterOptions
}

// Counters are what a port did, for reports.
type Counters struct {
	Received uint64 // records handed to the loop
	Written  uint64 // records written to the output capture
	TooBig   uint64 // records longer than a frame holds, dropped
	Snapped  uint64 // records cut short by the capture, dropped
	NoBuffer uint64 // records dropped because the pool was empty
}

// Port is a dataplane.Port over capture files. It is Timed: a Loop whose
// ports are all pcap ports runs in capture time. A Port is used by one
// goroutine at a time.
type Port struct {
	name    string
	inName  string // the input capture, in errors
	outName string // the output capture, in errors
	pool    *dataplane.Pool
	stats   *dataplane.Stats
	mtu     int
	batch   int
	room    int // the most bytes a frame holds behind the headroom
	r       *Reader
	w       *Writer
	closers []io.Closer

	next   Record
	have   bool  // next holds the header of an unread record
	rerr   error // why there is no next record (io.EOF at the end)
	last   int64 // timestamp of the last record received
	werr   error
	closed bool
	cnt    Counters
}

var (
	_ dataplane.Port  = (*Port)(nil)
	_ dataplane.Timed = (*Port)(nil)
)

// NewPort makes a port that receives the capture read from in and writes
// what it sends to out as a capture. Either may be nil: without in the port
// receives nothing (Recv returns io.EOF), without out Send drops with
// ErrNoOutput. The port does not close in or out.
func NewPort(in io.Reader, out io.Writer, c Config) (*Port, error) {
	if c.Pool == nil {
		return nil, errors.New("pcap: port needs a pool")
	}
	if c.MTU <= 0 {
		c.MTU = 1500
	}
	if c.BatchSize <= 0 {
		c.BatchSize = dataplane.DefaultBurst
	}
	reg := c.Pool.Region()
	p := &Port{
		name:    c.Name,
		inName:  c.Name,
		outName: c.Name,
		pool:    c.Pool,
		stats:   c.Stats,
		mtu:     c.MTU,
		batch:   c.BatchSize,
		room:    reg.FrameSize() - reg.Headroom(),
		rerr:    io.EOF,
	}
	if in != nil {
		r, err := NewReader(in)
		if err != nil {
			return nil, err
		}
		p.r, p.rerr = r, nil
	}
	if out != nil {
		w, err := NewWriter(out, c.Writer)
		if err != nil {
			return nil, err
		}
		p.w = w
	}
	return p, nil
}

// Open makes a port over files: it reads the capture at inPath, if not
// empty, and creates (or truncates) the capture at outPath, if not empty.
// Close flushes and closes them.
func Open(inPath, outPath string, c Config) (p *Port, err error) {
	var in, out *os.File
	defer func() {
		if err != nil {
			if in != nil {
				in.Close()
			}
			if out != nil {
				out.Close()
			}
		}
	}()
	var rd io.Reader
	var wr io.Writer
	if inPath != "" {
		if in, err = os.Open(inPath); err != nil {
			return nil, err
		}
		rd = in
	}
	if outPath != "" {
		if out, err = os.Create(outPath); err != nil {
			return nil, err
		}
		wr = out
	}
	p, err = NewPort(rd, wr, c)
	if err != nil {
		if inPath != "" {
			err = fmt.Errorf("%s: %w", inPath, err)
		}
		return nil, err
	}
	if in != nil {
		p.inName = inPath
		p.closers = append(p.closers, in)
	}
	if out != nil {
		p.outName = outPath
		p.closers = append(p.closers, out)
	}
	return p, nil
}

// Name is the port's name.
func (p *Port) Name() string { return p.name }

// Counters reports what the port has done so far.
func (p *Port) Counters() Counters { return p.cnt }

// BatchSize is the burst the port returns at most.
func (p *Port) BatchSize() int { return p.batch }

// MTU is the MTU the port was configured with.
func (p *Port) MTU() int { return p.mtu }

// peek reads the header of the next record if it is not read yet.
func (p *Port) peek() {
	if p.have || p.rerr != nil {
		return
	}
	rec, err := p.r.NextRecord()
	if err != nil {
		p.rerr = err
		return
	}
	p.next, p.have = rec, true
}

// Next is the timestamp of the record Recv returns next. After a read error
// it reports the last timestamp again, so that the loop calls Recv, which
// returns the error.
func (p *Port) Next() (int64, bool) {
	if p.closed {
		return 0, false
	}
	p.peek()
	switch {
	case p.have:
		return p.next.Time, true
	case p.rerr == io.EOF:
		return 0, false
	default:
		return p.last, true
	}
}

// Recv appends to b the next records that share one timestamp, at most
// BatchSize and b.Room(), each copied into a frame of the pool. It returns
// io.EOF with the last packets of the input capture, or after them. A
// malformed record stops the input: Recv returns the *FormatError, wrapped
// with the capture's name, with no packets.
func (p *Port) Recv(b *dataplane.Batch) (int, error) {
	if p.closed {
		return 0, dataplane.ErrClosed
	}
	limit := min(p.batch, b.Room())
	n := 0
	p.peek()
	t := p.next.Time
	for n < limit && p.have && p.next.Time == t {
		rec := p.next
		p.have = false
		p.last = t
		if err := p.take(b, rec, &n); err != nil {
			p.rerr = err
			break
		}
		p.peek()
	}
	switch {
	case p.have || p.rerr == nil:
		return n, nil
	case p.rerr == io.EOF:
		return n, io.EOF
	case n > 0:
		return n, nil // the error is reported by the next call, alone
	}
	return 0, fmt.Errorf("%s: %w", p.inName, p.rerr)
}

// take copies the record rec, whose header was just read, into a frame
// appended to b, or drops it at the edge.
func (p *Port) take(b *dataplane.Batch, rec Record, n *int) error {
	var why dataplane.Reason
	switch {
	case rec.CapLen > p.room:
		why = dataplane.ReasonTooBig
		p.cnt.TooBig++
	case rec.CapLen < rec.OrigLen:
		why = ReasonCaptureTruncated
		p.cnt.Snapped++
	}
	if why == 0 {
		pkt, ok := p.pool.Get()
		if !ok {
			why = dataplane.ReasonNoBuffer
			p.cnt.NoBuffer++
		} else {
			pkt.SetLen(rec.CapLen) // fits: CapLen <= p.room
			if err := p.r.ReadData(pkt.Data()); err != nil {
				p.pool.Put(pkt)
				return err
			}
			b.Add(pkt) // fits: n < b.Room() before the call
			*n++
			p.cnt.Received++
			return nil
		}
	}
	if p.stats != nil {
		p.stats.Drop(why)
	}
	return p.r.Skip()
}

// Send writes every packet of b to the output capture, stamped b.Now, frees
// them all and empties b. It returns how many it wrote; after a write error
// it writes no more (the rest of b and every later batch are freed unwritten
// and the error is returned again).
func (p *Port) Send(b *dataplane.Batch) (int, error) {
	err := p.werr
	switch {
	case p.closed:
		err = dataplane.ErrClosed
	case p.w == nil:
		err = ErrNoOutput
	}
	n := 0
	for i := range b.Pkts {
		if err != nil {
			break
		}
		if err = p.w.WritePacket(b.Now, b.Pkts[i].Data()); err != nil {
			err = fmt.Errorf("%s: %w", p.outName, err)
			p.werr = err
			break
		}
		n++
	}
	p.cnt.Written += uint64(n)
	p.pool.PutBatch(b)
	return n, err
}

// Close flushes the output capture and closes the files Open opened. It
// returns any error writing the capture met, including one Send already
// reported (the loop only counts those), so a caller that checks Close knows
// the capture is complete. The port holds no frames between calls, so it has
// none to free. Closing twice is harmless.
func (p *Port) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if p.w != nil {
		if p.werr == nil {
			if err := p.w.Flush(); err != nil {
				p.werr = fmt.Errorf("%s: %w", p.outName, err)
			}
		}
		errs = append(errs, p.werr)
	}
	for _, c := range p.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err) // *os.PathError names the file
		}
	}
	return errors.Join(errs...)
}
