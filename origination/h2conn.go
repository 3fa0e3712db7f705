package origination

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Flow-control windows this client grants: 4 MiB per stream, as Go's
// Transport does, and a connection window large enough never to be the
// bound (each stream's buffered data is bounded by its own window).
const (
	h2StreamWindow          = 4 << 20
	h2ConnWindow            = 1 << 30
	h2DefaultPeerMaxStreams = 100 // until the upstream's SETTINGS say otherwise (RFC 9113 recommends no fewer than 100)
)

// h2MaxFrameRead is the largest frame the upstream may send: the
// protocol's default SETTINGS_MAX_FRAME_SIZE, which we do not raise.
const h2MaxFrameRead = 16384

// H2Conn is one upstream HTTP/2 connection, shared by concurrent requests.
//
// Writes are batched: a request's frames are appended to an output buffer
// and one writer goroutine sends everything queued in a single write,
// after letting the other goroutines ready to run append theirs. Under
// load many requests share one system call and one TLS record, which is
// what makes HTTP/2 to the upstream cheaper than HTTP/1.1. One reader
// goroutine reads frames and hands each stream its headers and data.
//
// Lock order: wmu before mu; the reader never holds mu while queueing.
type H2Conn struct {
	pool *H2Pool
	host string
	conn net.Conn
	fr   *http2.Framer // read side; owned by readLoop
	// Owned by readLoop: the header block being received and its decoder.
	block       []byte
	blockStream uint32
	blockEnd    bool // its HEADERS ended the stream
	blockOver   bool // it passed MaxResponseHeaderBytes and is being dropped
	hdec        headDecoder

	wmu    sync.Mutex
	out    []byte        // guarded by wmu: frames waiting for the writer
	spare  []byte        // guarded by wmu: the writer's previous buffer, reused
	wfr    *http2.Framer // guarded by wmu: writes into out
	henc   *hpack.Encoder
	hbuf   bytes.Buffer // guarded by wmu: the header block being encoded
	kicked bool         // guarded by wmu: the writer has been told there is output
	werr   error        // guarded by wmu: the connection can take no more frames
	nextID uint32       // guarded by wmu: IDs go out in the order HEADERS frames are queued
	kick   chan struct{}

	mu            sync.Mutex
	sendCond      sync.Cond // on mu: signalled when send windows grow or the connection fails
	streams       map[uint32]*H2Stream
	active        int           // streams reserved and not yet released
	uses          int           // streams ever reserved, for maxRequestsPerConnection
	maxStreams    int           // the upstream's SETTINGS_MAX_CONCURRENT_STREAMS
	peerWindow    int32         // the upstream's SETTINGS_INITIAL_WINDOW_SIZE
	maxFrame      int           // the upstream's SETTINGS_MAX_FRAME_SIZE
	maxHeaderList uint32        // the upstream's SETTINGS_MAX_HEADER_LIST_SIZE; 0 = unlimited
	sendWindow    int32         // connection-level send window
	connCredit    int32         // received data consumed and not yet returned by WINDOW_UPDATE
	goAway        bool          // no new streams: the upstream sent GOAWAY, or the pool retired the connection
	peerGoAway    bool          // the upstream sent GOAWAY
	goAwayCode    http2.ErrCode // its code
	lastStreamID  uint32
	err           error // the connection is dead; every stream gets this
	idleSince     time.Time
	idleTimer     *time.Timer
	done          chan struct{}
}

// errConnClosed ends streams of a connection closed by the pool (idle or shutdown).
var errConnClosed = errors.New("upstream HTTP/2 connection closed")

// newH2Conn speaks HTTP/2 over an established connection (TLS with ALPN
// h2, or plaintext with prior knowledge): it sends the preface and its
// SETTINGS, waits for the upstream's SETTINGS, and starts the reader and
// the writer.
func newH2Conn(p *H2Pool, host string, conn net.Conn) (*H2Conn, error) {
	c := &H2Conn{
		pool: p, host: host, conn: conn, kick: make(chan struct{}, 1),
		streams: map[uint32]*H2Stream{}, nextID: 1,
		maxStreams: h2DefaultPeerMaxStreams, peerWindow: 65535, maxFrame: 16384, sendWindow: 65535,
		done: make(chan struct{}),
	}
	c.hdec.tab = newConnTable()
	c.sendCond.L = &c.mu
	c.wfr = http2.NewFramer(outWriter{c}, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)
	br := bufio.NewReaderSize(conn, 32<<10)
	c.fr = http2.NewFramer(nil, br)
	c.fr.SetReuseFrames() // frames are consumed before the next is read; header blocks are decoded in h2decode.go
	// What we allow by not announcing SETTINGS_MAX_FRAME_SIZE (the
	// Framer would take 16 MiB: one HEADERS frame could then hold far
	// more than MaxResponseHeaderBytes before it is decoded and refused).
	c.fr.SetMaxReadFrameSize(h2MaxFrameRead)

	c.out = append(c.out, http2.ClientPreface...)
	_ = c.wfr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		// Upstreams add each response's date and the like to the table and
		// seldom refer to them again; keeping it costs more than it saves.
		http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: MaxResponseHeaderBytes},
	)
	_ = c.wfr.WriteWindowUpdate(0, h2ConnWindow-65535)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(c.out); err != nil {
		return nil, err
	}
	c.out = c.out[:0]
	f, err := c.fr.ReadFrame()
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		return nil, fmt.Errorf("the upstream's HTTP/2 handshake: %w", c.connError(ce))
	}
	if err != nil {
		return nil, fmt.Errorf("the upstream did not answer HTTP/2: %w", err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		return nil, fmt.Errorf("the upstream did not answer HTTP/2: its first frame was %v, not SETTINGS", f.Header().Type)
	}
	_ = conn.SetDeadline(time.Time{})
	if err := c.onSettings(sf); err != nil {
		return nil, err
	}
	c.idleSince = time.Now()
	if d := p.u.IdleTimeout; d > 0 {
		c.idleTimer = time.AfterFunc(d, c.idleCheck)
	}
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

// outWriter lets the write Framer append to the output buffer (under wmu).
type outWriter struct{ c *H2Conn }

func (w outWriter) Write(p []byte) (int, error) {
	w.c.out = append(w.c.out, p...)
	return len(p), nil
}

// queue appends the frames write produces to the output and has the
// writer send them. write runs under wmu.
func (c *H2Conn) queue(write func(fr *http2.Framer) error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	if err := write(c.wfr); err != nil {
		return err
	}
	c.kickLocked()
	return nil
}

func (c *H2Conn) kickLocked() {
	if !c.kicked {
		c.kicked = true
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// writeLoop sends queued frames. It yields once before each write so that
// goroutines made ready by the same network poll (requests arriving on
// other client connections) append theirs first: they then share the
// system call and the TLS record.
func (c *H2Conn) writeLoop() {
	defer c.recoverLoop("write")
	for {
		select {
		case <-c.kick:
		case <-c.done:
			return
		}
		runtime.Gosched()
		c.wmu.Lock()
		b := c.out
		c.out, c.spare = c.spare[:0], nil
		c.kicked = false
		c.wmu.Unlock()
		if h := c.pool.hooks; h != nil && h.write != nil {
			h.write()
		}
		_, err := c.conn.Write(b)
		c.wmu.Lock()
		if cap(b) <= 256<<10 {
			c.spare = b[:0]
		}
		if err != nil && c.werr == nil {
			c.werr = err
		}
		c.wmu.Unlock()
		if err != nil {
			c.fail(fmt.Errorf("writing to the upstream: %w", err))
			return
		}
	}
}

// readLoop reads frames until the connection ends, handing each stream
// its part.
func (c *H2Conn) readLoop() {
	defer c.recoverLoop("read")
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				c.resetStream(se.StreamID, se.Code, &ProtocolError{fmt.Errorf("the upstream sent an invalid frame: %v", se)})
				continue
			}
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				c.goAwayAndFail(http2.ErrCode(ce), c.connError(ce))
				return
			}
			if errors.Is(err, http2.ErrFrameTooLarge) {
				c.goAwayAndFail(http2.ErrCodeFrameSize, &ProtocolError{fmt.Errorf("the upstream sent a frame over the %d bytes allowed (FRAME_SIZE_ERROR): %w", h2MaxFrameRead, err)})
				return
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			c.fail(fmt.Errorf("reading from the upstream: %w", err))
			return
		}
		if h := c.pool.hooks; h != nil && h.dispatch != nil {
			h.dispatch(f)
		}
		if err := c.dispatch(f); err != nil {
			code := http2.ErrCodeProtocol
			if _, ok := err.(*errCompression); ok {
				code = http2.ErrCodeCompression
			}
			c.goAwayAndFail(code, err)
			return
		}
	}
}

// connError describes a connection error the Framer found in the
// upstream's frames: its code always, and its detail when the Framer
// has one (a SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1 has only the code,
// FLOW_CONTROL_ERROR, RFC 9113 §6.5.2).
func (c *H2Conn) connError(ce http2.ConnectionError) error {
	msg := "HTTP/2 protocol error from the upstream (" + http2.ErrCode(ce).String() + ")"
	if d := c.fr.ErrorDetail(); d != nil {
		msg += ": " + d.Error()
	} else if http2.ErrCode(ce) == http2.ErrCodeFlowControl {
		msg += ": SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1" // the Framer's only FLOW_CONTROL_ERROR
	}
	return &ProtocolError{errors.New(msg)}
}

// dispatch handles one frame; an error is a connection error.
func (c *H2Conn) dispatch(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.HeadersFrame:
		// The Framer checks that CONTINUATION frames follow for the same
		// stream until END_HEADERS.
		c.blockStream, c.blockEnd, c.blockOver = f.StreamID, f.StreamEnded(), false
		if f.HeadersEnded() {
			return c.onBlock(f.HeaderBlockFragment())
		}
		c.block = append(c.block[:0], f.HeaderBlockFragment()...)
	case *http2.ContinuationFrame:
		if !c.blockOver {
			if len(c.block)+len(f.HeaderBlockFragment()) > MaxResponseHeaderBytes {
				if c.hdec.tab.max > 0 {
					// Skipping it would leave our copy of the dynamic table
					// behind the upstream's.
					return errors.New("the upstream's response headers exceed " + limitText(MaxResponseHeaderBytes) +
						" while its HPACK dynamic table is in use")
				}
				c.blockOver, c.block = true, nil // dropped: with no dynamic table, nothing in it changes the connection's state
			} else {
				c.block = append(c.block, f.HeaderBlockFragment()...)
			}
		}
		if f.HeadersEnded() {
			err := c.onBlock(c.block)
			if cap(c.block) > 64<<10 {
				c.block = nil
			}
			return err
		}
	case *http2.DataFrame:
		if err := c.onData(f); err != nil {
			c.resetStream(f.StreamID, http2.ErrCodeProtocol, err)
		}
	case *http2.RSTStreamFrame:
		c.mu.Lock()
		if s := c.streams[f.StreamID]; s != nil {
			s.reset = true // no RST_STREAM back, and no more to send
			if f.ErrCode == http2.ErrCodeNo && s.ended {
				// A complete response, then "stop sending the body"
				// (RFC 9113 §8.1): the response stands.
				s.failLocked(nil)
			} else {
				s.failLocked(&StreamResetError{Code: f.ErrCode, refused: f.ErrCode == http2.ErrCodeRefusedStream})
			}
		}
		c.mu.Unlock()
	case *http2.SettingsFrame:
		if f.IsAck() {
			// The upstream's encoder now keeps no dynamic table: its
			// next size update is 0 (RFC 9113 §6.5.3).
			c.hdec.tab.settingsAcked()
			return nil
		}
		if err := c.onSettings(f); err != nil {
			return err
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			data := f.Data
			_ = c.queue(func(fr *http2.Framer) error { return fr.WritePing(true, data) })
		}
	case *http2.GoAwayFrame:
		c.onGoAway(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.PushPromiseFrame:
		return errors.New("the upstream sent PUSH_PROMISE after push was disabled")
	}
	return nil
}

func (c *H2Conn) onSettings(f *http2.SettingsFrame) error {
	var tableSize uint32
	hasTable := false
	c.mu.Lock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			c.maxStreams = int(min(s.Val, 1<<20))
		case http2.SettingInitialWindowSize:
			delta := int32(s.Val) - c.peerWindow
			c.peerWindow = int32(s.Val)
			for _, st := range c.streams {
				st.sendWindow += delta
			}
		case http2.SettingMaxFrameSize:
			c.maxFrame = int(s.Val)
		case http2.SettingMaxHeaderListSize:
			c.maxHeaderList = s.Val
		case http2.SettingHeaderTableSize:
			tableSize, hasTable = s.Val, true
		}
		return nil
	})
	c.sendCond.Broadcast()
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("the upstream sent invalid SETTINGS: %w", err)
	}
	return c.queue(func(fr *http2.Framer) error {
		if hasTable {
			c.henc.SetMaxDynamicTableSizeLimit(tableSize)
		}
		return fr.WriteSettingsAck()
	})
}

func (c *H2Conn) onGoAway(f *http2.GoAwayFrame) {
	c.mu.Lock()
	c.goAway, c.peerGoAway, c.goAwayCode, c.lastStreamID = true, true, f.ErrCode, f.LastStreamID
	for id, s := range c.streams {
		if id > f.LastStreamID {
			s.failLocked(c.refusedByGoAwayLocked())
			s.reset = true
		}
	}
	idle := c.active == 0
	c.mu.Unlock()
	c.pool.forget(c)
	if idle {
		c.close(errConnClosed)
	}
}

// refusedByGoAwayLocked is the error of a stream above the upstream's GOAWAY.
func (c *H2Conn) refusedByGoAwayLocked() error {
	return &StreamResetError{Code: c.goAwayCode, refused: true, goAway: true}
}

func (c *H2Conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	if f.StreamID == 0 {
		if int64(c.sendWindow)+int64(f.Increment) > 1<<31-1 {
			c.mu.Unlock()
			return errors.New("the upstream's WINDOW_UPDATE overflowed the connection's window")
		}
		c.sendWindow += int32(f.Increment)
	} else if s := c.streams[f.StreamID]; s != nil {
		if int64(s.sendWindow)+int64(f.Increment) > 1<<31-1 {
			err := s.protocolErrorLocked(errors.New("the upstream's WINDOW_UPDATE overflowed the stream's window"))
			c.mu.Unlock()
			c.resetStream(f.StreamID, http2.ErrCodeFlowControl, err)
			return nil
		}
		s.sendWindow += int32(f.Increment)
	}
	c.sendCond.Broadcast()
	c.mu.Unlock()
	return nil
}

// onBlock decodes the header block received for c.blockStream and hands
// it to the stream. A malformed head resets the stream; an undecodable
// block is returned, a connection error.
func (c *H2Conn) onBlock(block []byte) error {
	id := c.blockStream
	var h respHead
	var err error
	if c.blockOver {
		err = errHeadTooLarge(MaxResponseHeaderBytes)
	} else if h, err = c.hdec.decode(block, MaxResponseHeaderBytes); err != nil {
		if _, ok := err.(*errCompression); ok {
			return err
		}
	}
	h.endStream = c.blockEnd
	if err == nil {
		err = c.onHeaders(id, h)
	}
	if err != nil {
		c.resetStream(id, http2.ErrCodeProtocol, err)
	}
	return nil
}

// onHeaders hands a stream its response head or trailers; a malformed
// one is returned as the stream's error, which the stream already has.
func (c *H2Conn) onHeaders(id uint32, h respHead) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[id]
	if s == nil || s.err != nil {
		return nil
	}
	return s.protocolErrorLocked(s.onHeadersLocked(h))
}

// onData hands a stream its data; a violation is returned as the
// stream's error, which the stream already has.
func (c *H2Conn) onData(f *http2.DataFrame) error {
	n := int32(f.Length) // padding counts against flow control too
	c.mu.Lock()
	s := c.streams[f.StreamID]
	if s == nil || s.err != nil {
		// Reset or finished by us: give the connection window back now.
		c.connCredit += n
		credit := c.takeConnCreditLocked()
		c.mu.Unlock()
		c.sendCredit(0, 0, credit)
		return nil
	}
	err := s.protocolErrorLocked(s.onDataLocked(f, n))
	c.mu.Unlock()
	return err
}

// takeConnCreditLocked returns the connection window to give back now, if
// enough has accumulated to be worth a frame.
func (c *H2Conn) takeConnCreditLocked() uint32 {
	if c.connCredit < h2StreamWindow {
		return 0
	}
	n := c.connCredit
	c.connCredit = 0
	return uint32(n)
}

// sendCredit queues WINDOW_UPDATE frames for a stream and the connection (zero increments are skipped).
func (c *H2Conn) sendCredit(id, streamInc, connInc uint32) {
	if streamInc == 0 && connInc == 0 {
		return
	}
	_ = c.queue(func(fr *http2.Framer) error {
		if streamInc > 0 {
			_ = fr.WriteWindowUpdate(id, streamInc)
		}
		if connInc > 0 {
			_ = fr.WriteWindowUpdate(0, connInc)
		}
		return nil
	})
}

// resetStream ends one stream with an error, telling the upstream.
func (c *H2Conn) resetStream(id uint32, code http2.ErrCode, err error) {
	c.mu.Lock()
	if s := c.streams[id]; s != nil {
		s.failLocked(err)
		s.reset = true
	}
	c.mu.Unlock()
	_ = c.queue(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, code) })
}

// goAwayAndFail tells the upstream why the connection ends, then ends it.
func (c *H2Conn) goAwayAndFail(code http2.ErrCode, err error) {
	c.wmu.Lock()
	if c.werr == nil {
		_ = c.wfr.WriteGoAway(0, code, nil)
		_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second)) // best effort: the connection ends anyway
		_, _ = c.conn.Write(c.out)
		c.out = c.out[:0]
	}
	c.wmu.Unlock()
	c.fail(err)
}

// fail ends the connection: every stream gets err.
func (c *H2Conn) fail(err error) {
	c.pool.forget(c)
	c.close(err)
}

func (c *H2Conn) close(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	_, panicked := err.(*PanicError) // the same request could well panic again: not one to send again
	for _, s := range c.streams {
		if s.answered || panicked {
			s.failLocked(err)
		} else {
			s.failLocked(&NoResponseError{Err: err})
		}
	}
	c.sendCond.Broadcast()
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	close(c.done)
	c.mu.Unlock()
	c.wmu.Lock()
	if c.werr == nil {
		c.werr = err
	}
	c.wmu.Unlock()
	_ = c.conn.Close()
}

// reserve takes a stream slot if the connection can open another stream.
func (c *H2Conn) reserve() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.goAway || c.active >= c.maxStreams || !c.pool.reusable(c.uses) {
		return false
	}
	c.active++
	c.uses++
	return true
}

// takeLast reserves the connection's only stream: it takes no other and
// closes when that one is released.
func (c *H2Conn) takeLast() (*H2Conn, error) {
	if !c.reserve() {
		c.close(errConnClosed)
		return nil, errNoStreams
	}
	c.closeIfIdle()
	return c, nil
}

// allowsStreams reports whether the upstream allows any concurrent stream.
func (c *H2Conn) allowsStreams() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxStreams > 0
}

// release gives a stream slot back. A connection that may open no more
// streams is closed when its last stream is released.
func (c *H2Conn) release() {
	c.mu.Lock()
	c.active--
	spent := c.active == 0 && (c.goAway || !c.pool.reusable(c.uses))
	if c.active == 0 {
		c.idleSince = time.Now()
	}
	c.mu.Unlock()
	if spent {
		c.pool.forget(c)
		c.close(errConnClosed)
	}
}

// idleCheck closes the connection once it has had no stream for the idle timeout.
func (c *H2Conn) idleCheck() {
	d := c.pool.u.IdleTimeout
	c.mu.Lock()
	left := d - time.Since(c.idleSince)
	idle := c.active == 0 && left <= 0
	if !idle && c.err == nil {
		if c.active > 0 {
			left = d
		}
		c.idleTimer.Reset(left)
	}
	c.mu.Unlock()
	if idle {
		c.pool.forget(c)
		c.close(errConnClosed)
	}
}

// closeIfIdle closes the connection if no stream uses it; otherwise it
// is left to finish its streams and closes when the last is released.
func (c *H2Conn) closeIfIdle() {
	c.mu.Lock()
	c.goAway = true // no new streams
	idle := c.active == 0
	c.mu.Unlock()
	if idle {
		c.close(errConnClosed)
	}
}

// StreamResetError is a stream the upstream reset (RST_STREAM) or did not
// process (above a GOAWAY's last stream ID).
type StreamResetError struct {
	Code    http2.ErrCode
	refused bool
	goAway  bool
}

func (e *StreamResetError) Error() string {
	if e.goAway {
		return "the upstream is closing its HTTP/2 connection (GOAWAY " + e.Code.String() + ") and did not process the request"
	}
	return "the upstream reset the HTTP/2 stream (" + e.Code.String() + ")"
}

// Refused reports whether the upstream did not process the request at
// all, so that sending it again elsewhere is safe.
func (e *StreamResetError) Refused() bool { return e.refused }

// NoResponseError is a request whose connection ended before any of its
// response arrived. Unless the request never left (Unprocessed), the
// upstream may have processed it or not: only an idempotent one may be
// sent again.
type NoResponseError struct {
	Err    error
	unsent bool
}

func (e *NoResponseError) Error() string { return e.Err.Error() }
func (e *NoResponseError) Unwrap() error { return e.Err }

// Unprocessed reports whether the request was never sent (its connection
// had ended before), so that sending it elsewhere is safe.
func (e *NoResponseError) Unprocessed() bool { return e.unsent }

// ProtocolError is an upstream that broke the HTTP/2 protocol on a stream.
type ProtocolError struct{ Err error }

func (e *ProtocolError) Error() string { return e.Err.Error() }
func (e *ProtocolError) Unwrap() error { return e.Err }
