package soak

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawws/rawws/frame"
)

// Message layout: seq (8 bytes, big endian) | connection id (8) | body |
// CRC-32C of everything before (4), or nothing at all when the size drawn
// is below that envelope (empty messages are checked by their place in the
// stream). The body and its length are a pure function of (seed, conn,
// seq), so the reader recomputes exactly what it must receive.
const (
	msgHeader  = 16
	msgTrailer = 4
	msgMin     = msgHeader + msgTrailer
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Config is one soak run.
type Config struct {
	// Addr and Path locate the echo server.
	Addr, Path string
	// Conns connections each send Messages messages.
	Conns, Messages int
	// MaxSize bounds a message (default 1 MiB); sizes are skewed small:
	// the bit length is uniform, then the value uniform below it. Sizes
	// below the 20-byte envelope are sent as empty messages.
	MaxSize int
	// MinSize raises the smallest message size drawn (default 0).
	MinSize int
	// ReadBuffer, when set, shrinks every slow reader's socket receive
	// buffer so a stalled reader pushes back on the server sooner.
	ReadBuffer int
	// MaxFragments bounds the frames one message is cut into (default 8).
	MaxFragments int
	// SlowEvery makes every SlowEvery-th connection a slow reader that
	// stops reading for SlowPause now and then (0: none).
	SlowEvery int
	SlowPause time.Duration
	// SlowStart is how long a slow reader waits before it reads at all, so
	// the server's outgoing queues fill up while the client keeps sending.
	SlowStart time.Duration
	// Window, when set, bounds the bytes a connection has sent and not yet
	// got back: the writer waits above it. Backends that cannot stop
	// reading (netpoll) close a connection whose unread input passes
	// poller.Config.MaxInput, so a pipelining client needs a window below
	// that there; 0 means no bound (TCP alone pushes back).
	Window int
	// Seed makes a run reproducible.
	Seed uint64
	// Timeout bounds the whole run (default 2 minutes).
	Timeout time.Duration
}

// Result is what a run moved.
type Result struct {
	Messages  int64 // messages echoed and verified
	Bytes     int64 // payload bytes sent (as much came back when no error)
	Frames    int64 // data frames sent (fragments)
	Pings     int64 // pings interleaved between fragments (pongs verified)
	Partial   int64 // frames written in several pieces
	Duration  time.Duration
	Conns     int
	SlowConns int
}

func (r Result) String() string {
	mib := float64(r.Bytes) / (1 << 20)
	return fmt.Sprintf("%d conns (%d slow readers), %d messages, %.1f MiB each way, %d frames, %d pings, %d split frames in %v (%.1f MiB/s each way)",
		r.Conns, r.SlowConns, r.Messages, mib, r.Frames, r.Pings, r.Partial, r.Duration.Round(time.Millisecond), mib/r.Duration.Seconds())
}

func (c *Config) defaults() {
	if c.MaxSize <= 0 {
		c.MaxSize = 1 << 20
	}
	if c.MaxSize < msgMin {
		c.MaxSize = msgMin
	}
	if c.MaxFragments <= 0 {
		c.MaxFragments = 8
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if c.SlowPause <= 0 {
		c.SlowPause = 50 * time.Millisecond
	}
}

// msgRand is the generator of one message's size and body.
func msgRand(seed uint64, conn, seq int) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[0:], seed)
	binary.LittleEndian.PutUint64(s[8:], uint64(conn))
	binary.LittleEndian.PutUint64(s[16:], uint64(seq))
	return rand.NewChaCha8(s)
}

// buildMessage writes message (conn, seq) into buf (grown as needed).
func buildMessage(buf []byte, seed uint64, minSize, maxSize, conn, seq int) []byte {
	g := msgRand(seed, conn, seq)
	r := rand.New(g)
	bitsLen := r.IntN(bitLen(maxSize) + 1)
	size := 0
	if bitsLen > 0 {
		size = r.IntN(1 << bitsLen)
	}
	size = min(max(size, minSize), maxSize)
	if size < msgMin {
		// Too small for the envelope: an empty message, checked by its
		// position in the stream (the messages around it carry seqs).
		return buf[:0]
	}
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	binary.BigEndian.PutUint64(buf[0:], uint64(seq))
	binary.BigEndian.PutUint64(buf[8:], uint64(conn))
	g.Read(buf[msgHeader : size-msgTrailer])
	binary.BigEndian.PutUint32(buf[size-msgTrailer:], crc32.Checksum(buf[:size-msgTrailer], castagnoli))
	return buf
}

// describe names the seq and conn a message claims, for failure messages.
func describe(m []byte) string {
	if len(m) < msgMin {
		return "no envelope"
	}
	return fmt.Sprintf("claiming conn %d seq %d", binary.BigEndian.Uint64(m[8:]), binary.BigEndian.Uint64(m))
}

func bitLen(n int) int {
	b := 0
	for n > 0 {
		b++
		n >>= 1
	}
	return b
}

// checkMessage verifies that got is exactly message (conn, seq), using
// scratch for the expected bytes; it says what differs.
func checkMessage(got, scratch []byte, seed uint64, minSize, maxSize, conn, seq int) ([]byte, error) {
	scratch = buildMessage(scratch, seed, minSize, maxSize, conn, seq)
	switch {
	case len(scratch) == 0 && len(got) == 0:
		return scratch, nil
	case len(scratch) == 0:
		return scratch, fmt.Errorf("seq %d was sent empty, a %d-byte message came back in its place (%s)", seq, len(got), describe(got))
	case len(got) == 0:
		return scratch, fmt.Errorf("an empty message came back where seq %d (%d bytes) was expected", seq, len(scratch))
	case len(got) < msgMin:
		return scratch, fmt.Errorf("message of %d bytes, shorter than the %d-byte envelope, where seq %d was expected", len(got), msgMin, seq)
	}
	gotSeq := int(binary.BigEndian.Uint64(got))
	gotConn := int(binary.BigEndian.Uint64(got[8:]))
	n := len(got) - msgTrailer
	if crc32.Checksum(got[:n], castagnoli) != binary.BigEndian.Uint32(got[n:]) {
		return scratch, fmt.Errorf("checksum mismatch in a %d-byte message claiming conn %d seq %d", len(got), gotConn, gotSeq)
	}
	if gotConn != conn {
		return scratch, fmt.Errorf("message of conn %d (seq %d) arrived on conn %d", gotConn, gotSeq, conn)
	}
	switch {
	case gotSeq < seq:
		return scratch, fmt.Errorf("seq %d arrived again (duplicate or reordered) while %d was expected", gotSeq, seq)
	case gotSeq > seq:
		return scratch, fmt.Errorf("seq %d arrived while %d was expected: %d message(s) lost", gotSeq, seq, gotSeq-seq)
	}
	if !bytes.Equal(got, scratch) {
		return scratch, fmt.Errorf("seq %d: %d bytes came back, %d were sent, or the content differs", seq, len(got), len(scratch))
	}
	return scratch, nil
}

// ErrSoak wraps every failure a run finds.
var ErrSoak = errors.New("soak: echo check failed")

// Run connects cfg.Conns clients to the echo server and checks that every
// message comes back exactly once, in order, unaltered. It returns the
// totals and every failure found (joined, each wrapping ErrSoak).
func Run(cfg Config) (Result, error) {
	cfg.defaults()
	start := time.Now()
	deadline := start.Add(cfg.Timeout)
	var (
		res  Result
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	res.Conns = cfg.Conns
	fail := func(conn int, format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Errorf("%w: conn %d: %s", ErrSoak, conn, fmt.Sprintf(format, args...)))
		mu.Unlock()
	}
	var msgs, byts, frames, pings, partial atomic.Int64
	for i := 0; i < cfg.Conns; i++ {
		slow := cfg.SlowEvery > 0 && i%cfg.SlowEvery == cfg.SlowEvery-1
		if slow {
			res.SlowConns++
		}
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			rc, err := DialRaw(cfg.Addr, cfg.Path, 10*time.Second)
			if err != nil {
				fail(id, "dial: %v", err)
				return
			}
			defer rc.Close()
			if slow && cfg.ReadBuffer > 0 {
				rc.Conn.(*net.TCPConn).SetReadBuffer(cfg.ReadBuffer)
			}
			rc.Conn.SetDeadline(deadline)
			cs := &connSoak{cfg: &cfg, id: id, rc: rc, slow: slow}
			defer func() {
				msgs.Add(cs.got)
				byts.Add(cs.bytes)
				frames.Add(cs.frames)
				pings.Add(cs.pings)
				partial.Add(cs.partial)
			}()
			readErr := make(chan error, 1)
			go func() { readErr <- cs.read() }()
			werr := cs.write()
			if werr != nil {
				fail(id, "write: %v", werr)
				rc.Close() // unblocks the reader
			}
			if err := <-readErr; err != nil {
				fail(id, "%v", err)
				return
			}
			if werr != nil {
				return
			}
			if err := cs.closeHandshake(); err != nil {
				fail(id, "close: %v", err)
			}
		}(i)
	}
	wg.Wait()
	res.Messages, res.Bytes, res.Frames, res.Pings, res.Partial = msgs.Load(), byts.Load(), frames.Load(), pings.Load(), partial.Load()
	res.Duration = time.Since(start)
	return res, errors.Join(errs...)
}

// connSoak is one connection of a run.
type connSoak struct {
	cfg  *Config
	id   int
	rc   *RawClient
	slow bool

	// writer side, read after the writer is done
	frames, pings, partial, bytes int64
	// reader side
	got   int64
	pongs int64
	acked atomic.Int64 // message bytes echoed and verified
}

// write sends every message, cut into random fragments with pings
// between some of them, some frames split over several writes, with short
// random pauses.
func (cs *connSoak) write() error {
	cfg := cs.cfg
	r := rand.New(rand.NewPCG(cfg.Seed, uint64(cs.id)<<1|1))
	var msg, wire []byte
	var ping [8]byte
	for seq := 0; seq < cfg.Messages; seq++ {
		msg = buildMessage(msg, cfg.Seed, cfg.MinSize, cfg.MaxSize, cs.id, seq)
		if err := cs.waitWindow(len(msg)); err != nil {
			return fmt.Errorf("seq %d: %w", seq, err)
		}
		nfrag := 1
		if r.IntN(2) == 0 {
			nfrag = 1 + r.IntN(cfg.MaxFragments)
		}
		rest := msg
		for f := 0; f < nfrag; f++ {
			chunk := rest
			if f < nfrag-1 && len(rest) > 0 {
				chunk = rest[:r.IntN(len(rest)+1)]
			}
			rest = rest[len(chunk):]
			op := frame.OpContinuation
			if f == 0 {
				op = frame.OpBinary
			}
			wire = wire[:0]
			if f > 0 && r.IntN(8) == 0 {
				// A control frame between fragments must be answered at
				// once, so its pong comes before this message's echo.
				binary.BigEndian.PutUint64(ping[:], uint64(cs.pings))
				cs.pings++
				wire = cs.rc.AppendFrame(wire, true, frame.OpPing, ping[:])
			}
			wire = cs.rc.AppendFrame(wire, f == nfrag-1, op, chunk)
			cs.frames++
			if err := cs.writeWire(r, wire); err != nil {
				return fmt.Errorf("seq %d fragment %d: %w", seq, f, err)
			}
		}
		cs.bytes += int64(len(msg))
		if r.IntN(16) == 0 {
			time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
		}
	}
	return nil
}

// waitWindow waits until sending n more bytes keeps the connection within
// cfg.Window (a message larger than the window waits for an empty one).
func (cs *connSoak) waitWindow(n int) error {
	w := int64(cs.cfg.Window)
	if w <= 0 {
		return nil
	}
	deadline := time.Now().Add(cs.cfg.Timeout)
	for {
		out := cs.bytes - cs.acked.Load()
		if out == 0 || out+int64(n) <= w {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d bytes not echoed for %v", out, cs.cfg.Timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// writeWire writes b whole or, now and then, in pieces with a pause
// between, so the server sees frames (headers included) split across reads.
func (cs *connSoak) writeWire(r *rand.Rand, b []byte) error {
	if len(b) < 2 || r.IntN(10) != 0 {
		_, err := cs.rc.Conn.Write(b)
		return err
	}
	cs.partial++
	cut := 1 + r.IntN(min(len(b)-1, 16))
	if r.IntN(2) == 0 {
		cut = 1 + r.IntN(len(b)-1)
	}
	if _, err := cs.rc.Conn.Write(b[:cut]); err != nil {
		return err
	}
	time.Sleep(time.Duration(r.IntN(500)) * time.Microsecond)
	_, err := cs.rc.Conn.Write(b[cut:])
	return err
}

// read receives the echoes and pongs and checks them; a slow reader stops
// reading now and then.
func (cs *connSoak) read() error {
	cfg := cs.cfg
	r := rand.New(rand.NewPCG(cfg.Seed, uint64(cs.id)<<1))
	buf := make([]byte, 64<<10)
	var scratch, assembled []byte
	if cs.slow {
		time.Sleep(cfg.SlowStart)
	}
	inMsg := false
	for seq := 0; seq < cfg.Messages; {
		f, err := cs.rc.ReadFrame(buf)
		if err != nil {
			return fmt.Errorf("reading the echo of seq %d (%d pongs so far): %w", seq, cs.pongs, err)
		}
		if cap(f.Payload) > cap(buf) {
			buf = f.Payload[:0]
		}
		switch f.Opcode {
		case frame.OpPong:
			if len(f.Payload) != 8 || binary.BigEndian.Uint64(f.Payload) != uint64(cs.pongs) {
				return fmt.Errorf("pong %d carries %x", cs.pongs, f.Payload)
			}
			cs.pongs++
			continue
		case frame.OpClose:
			return fmt.Errorf("server closed with %d %q while seq %d was expected", f.CloseCode(), f.Payload[min(2, len(f.Payload)):], seq)
		case frame.OpBinary:
			if inMsg {
				return fmt.Errorf("new message inside a fragmented echo at seq %d", seq)
			}
			assembled = append(assembled[:0], f.Payload...)
			inMsg = true
		case frame.OpContinuation:
			if !inMsg {
				return fmt.Errorf("continuation without a message at seq %d", seq)
			}
			assembled = append(assembled, f.Payload...)
		default:
			return fmt.Errorf("unexpected %v frame at seq %d", f.Opcode, seq)
		}
		if !f.Fin {
			continue
		}
		inMsg = false
		if scratch, err = checkMessage(assembled, scratch, cfg.Seed, cfg.MinSize, cfg.MaxSize, cs.id, seq); err != nil {
			return err
		}
		seq++
		cs.got++
		cs.acked.Add(int64(len(assembled)))
		if cs.slow && r.IntN(8) == 0 {
			time.Sleep(time.Duration(1+r.IntN(int(cfg.SlowPause/time.Millisecond))) * time.Millisecond)
		}
	}
	return nil
}

// closeHandshake ends the connection cleanly: Close 1000, the server's
// Close 1000 back, then EOF. Every pong must have arrived before.
func (cs *connSoak) closeHandshake() error {
	if cs.pongs != cs.pings {
		return fmt.Errorf("%d pings sent, %d pongs received", cs.pings, cs.pongs)
	}
	if err := cs.rc.WriteClose(frame.CloseNormal, "bye"); err != nil {
		return err
	}
	f, err := cs.rc.ReadUntilClose(10 * time.Second)
	if err != nil {
		return fmt.Errorf("waiting for the server's Close: %w", err)
	}
	if f.CloseCode() != frame.CloseNormal {
		return fmt.Errorf("server's Close has code %d, want 1000", f.CloseCode())
	}
	if err := cs.rc.ExpectEOF(10 * time.Second); err != nil {
		return fmt.Errorf("server kept the connection open after the close handshake: %w", err)
	}
	return nil
}
