package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The HTTP/2 server's settings, as net/http's server has them.
const (
	h2MaxStreams      = 250              // SETTINGS_MAX_CONCURRENT_STREAMS
	h2MaxHandlers     = 4 * h2MaxStreams // handlers still running (streams reset under them) before the connection is refused service
	h2StreamWindow    = 1 << 20          // SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on a stream before the handler reads it
	h2ConnWindow      = 1 << 20          // the connection's receive window
	h2MaxReadFrame    = 1 << 20          // SETTINGS_MAX_FRAME_SIZE
	h2WindowRefresh   = 4 << 10          // receive credit is returned once at least this much was read
	h2PrefaceTimeout  = 10 * time.Second
	h2GoAwayTimeout   = time.Second // after the last stream of a closing connection, for the client to read the GOAWAY
	h2InitialPeerSize = 16384       // the peer's SETTINGS_MAX_FRAME_SIZE until it says otherwise
)

// h2IdleTimeout closes a connection without streams after this long. A variable for tests.
var h2IdleTimeout = h1IdleTimeout

// h2Buffers lend HTTP/2 client connections their read and write buffers.
var (
	h2Readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}
	h2Writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 16<<10) }}
)

// h2conn serves one client HTTP/2 connection (TLS-terminated or h2c with
// prior knowledge): its goroutine reads frames and dispatches them, each
// stream's handler runs on a goroutine of its own, and every frame goes
// out through one buffered writer, flushed by the last writer in
// progress, so that a response's HEADERS and DATA, and several streams'
// frames, leave in one write.
type h2conn struct {
	e      *Engine
	l      *listener
	c      net.Conn             // the TLS connection or the plaintext one (its peeked bytes first)
	tls    *tls.ConnectionState // r.TLS; nil for h2c
	remote string               // r.RemoteAddr
	client client               // the client's pod, looked up once per connection
	counts sourceCounters       // client.counters
	fr     *http2.Framer
	br     *bufio.Reader
	ctx    context.Context // streams' contexts derive from it; cancelled when the connection ends
	cancel context.CancelFunc
	canon  map[string]string // lowercase header names seen on this connection -> canonical; the read goroutine only
	serve1 http.Handler      // serves each request; nil: the engine (serveHTTP). Tests set their own.

	// Writes: wmu guards fr's write side and bw. pending counts
	// writers in progress; the last one out flushes bw.
	wmu     sync.Mutex
	bw      *bufio.Writer
	werr    error // the first write error: nothing more goes out; guarded by wmu
	pending atomic.Int32

	// Streams and flow control: mu guards them; cond (on mu) wakes
	// writers waiting for send window and readers of request bodies.
	mu           sync.Mutex
	cond         sync.Cond
	streams      map[uint32]*h2stream
	handlers     int    // stream goroutines running
	maxID        uint32 // highest client stream ID seen
	sendWindow   int64  // the connection's send window
	initWindow   int64  // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	peerFrame    int    // the peer's SETTINGS_MAX_FRAME_SIZE
	recvAvail    int64  // what the client may still send on the connection
	recvUnsent   int64  // receive credit not yet returned with WINDOW_UPDATE
	settingsAckd bool   // the client acknowledged our SETTINGS
	goingAway    bool   // GOAWAY sent: no new streams; the connection closes after the last
	closed       bool   // the connection is done: streams' writes fail
	idle         *time.Timer
	wg           sync.WaitGroup // stream goroutines
}

// errH2ConnClosed fails writes and body reads on a connection that ended.
var errH2ConnClosed = errors.New("http2: client connection closed")

// serveH2 serves the HTTP/2 connection c, whose preface has not been
// read yet (serveConn peeked its first bytes), until the client or the
// gateway ends it; tcp is the socket under c, cs the TLS state (nil for h2c).
func (e *Engine) serveH2(l *listener, c net.Conn, cs *tls.ConnectionState) {
	e.serveH2With(l, c, cs, nil)
}

// serveH2With is serveH2 with handler serving the requests instead of the engine (tests).
func (e *Engine) serveH2With(l *listener, c net.Conn, cs *tls.ConnectionState, handler http.Handler) {
	h := &h2conn{e: e, l: l, serve1: handler, c: c, tls: cs, remote: c.RemoteAddr().String(), client: e.clientOf(remoteAddr(c)), streams: map[uint32]*h2stream{},
		sendWindow: 65535, initWindow: 65535, peerFrame: h2InitialPeerSize, recvAvail: 65535, canon: map[string]string{}}
	h.client.counters = &h.counts
	h.cond.L = &h.mu
	// As net/http's server: ReverseProxy aborts a response whose copy
	// failed (panic(http.ErrAbortHandler)) only under a server.
	ctx := context.WithValue(context.Background(), http.ServerContextKey, l.srv)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.LocalAddr())
	h.ctx, h.cancel = context.WithCancel(ctx)
	h.br = h2Readers.Get().(*bufio.Reader)
	h.br.Reset(c)
	h.bw = h2Writers.Get().(*bufio.Writer)
	h.bw.Reset(c)
	h.fr = http2.NewFramer(h.bw, h.br)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = h.maxHeaderList()
	h.fr.SetMaxReadFrameSize(h2MaxReadFrame)
	h.fr.SetReuseFrames()
	defer h.finish()
	if !l.trackH2(h) {
		return
	}
	defer l.untrackH2(h)
	h.serve()
}

// maxHeaderList is the SETTINGS_MAX_HEADER_LIST_SIZE advertised: the
// backstop the net/http server had (handle enforces, and logs, the
// engine's limit itself), with net/http's allowance for field overhead.
func (h *h2conn) maxHeaderList() uint32 {
	return uint32(16*h.e.cfg.MaxHeaderBytes + 10*32)
}

// finish ends the connection: streams' contexts are cancelled and their
// body reads and writes fail; it waits for their handlers, then gives the
// buffers back.
func (h *h2conn) finish() {
	if v := recover(); v != nil {
		h.e.panicked("http2 connection", v, debug.Stack())
		h.goAway(http2.ErrCodeInternal)
	}
	h.mu.Lock()
	h.closed = true
	for _, s := range h.streams {
		s.closeBody(errH2ConnClosed)
	}
	if h.idle != nil {
		h.idle.Stop()
	}
	h.cond.Broadcast()
	h.mu.Unlock()
	h.cancel()
	_ = h.c.Close()
	h.wg.Wait()
	h.wmu.Lock()
	h.werr = errH2ConnClosed
	h.bw.Reset(nil)
	h2Writers.Put(h.bw)
	h.wmu.Unlock()
	h.br.Reset(nil)
	h2Readers.Put(h.br)
}

// serve reads the preface and frames until the connection ends.
func (h *h2conn) serve() {
	_ = h.c.SetReadDeadline(time.Now().Add(h2PrefaceTimeout))
	var preface [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(h.br, preface[:]); err != nil || string(preface[:]) != http2.ClientPreface {
		return
	}
	if h.lockWrite() {
		_ = h.fr.WriteSettings(
			http2.Setting{ID: http2.SettingMaxFrameSize, Val: h2MaxReadFrame},
			http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: h2MaxStreams},
			http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: h.maxHeaderList()},
			http2.Setting{ID: http2.SettingHeaderTableSize, Val: 4096},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		)
		_ = h.fr.WriteWindowUpdate(0, h2ConnWindow-65535)
	}
	h.unlockWrite()
	h.mu.Lock()
	h.recvAvail = h2ConnWindow
	h.idle = time.AfterFunc(h2IdleTimeout, h.onIdle)
	h.mu.Unlock()

	first, held := true, false
	defer func() {
		if held {
			h.unlockPending()
		}
	}()
	for {
		f, err := h.fr.ReadFrame()
		// Handling a frame counts as a write in progress, and so does
		// the next while it is already buffered whole: what a batch of
		// frames makes the connection write leaves in one flush.
		if !held {
			h.pending.Add(1)
			held = true
		}
		if first && err == nil {
			if _, ok := f.(*http2.SettingsFrame); !ok {
				err = http2.ConnectionError(http2.ErrCodeProtocol)
			} else {
				_ = h.c.SetReadDeadline(time.Time{})
			}
			first = false
		}
		if err == nil {
			err = h.process(f)
		}
		if err != nil {
			var se http2.StreamError
			var ce http2.ConnectionError
			switch {
			case errors.As(err, &se):
				h.resetStream(se.StreamID, se.Code)
			case errors.As(err, &ce):
				h.goAway(http2.ErrCode(ce))
				return
			case errors.Is(err, http2.ErrFrameTooLarge):
				h.goAway(http2.ErrCodeFrameSize)
				return
			default:
				return
			}
		}
		if !h.frameBuffered() {
			held = false
			h.unlockPending()
		}
	}
}

// frameBuffered reports whether a whole frame is buffered: reading it
// will not wait for the client.
func (h *h2conn) frameBuffered() bool {
	n := h.br.Buffered()
	if n < 9 {
		return false
	}
	b, _ := h.br.Peek(9)
	return n >= 9+(int(b[0])<<16|int(b[1])<<8|int(b[2]))
}

// process handles one frame read from the client.
func (h *h2conn) process(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return h.processHeaders(f)
	case *http2.DataFrame:
		return h.processData(f)
	case *http2.SettingsFrame:
		return h.processSettings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if h.lockWrite() {
			_ = h.fr.WritePing(true, f.Data)
		}
		h.unlockWrite()
	case *http2.WindowUpdateFrame:
		return h.processWindowUpdate(f)
	case *http2.RSTStreamFrame:
		h.mu.Lock()
		defer h.mu.Unlock()
		if f.StreamID > h.maxID {
			return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
		}
		if s := h.streams[f.StreamID]; s != nil {
			s.closeLocked(errH2StreamReset)
		}
	case *http2.GoAwayFrame:
		h.shutdown()
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // clients cannot push
	}
	return nil // unknown frame types are ignored
}

func (h *h2conn) processSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		h.mu.Lock()
		h.settingsAckd = true
		h.mu.Unlock()
		return nil
	}
	if f.NumSettings() > 100 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			h.mu.Lock()
			defer h.mu.Unlock()
			delta := int64(s.Val) - h.initWindow
			h.initWindow = int64(s.Val)
			for _, st := range h.streams {
				if st.sendWindow+delta > 1<<31-1 {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
				st.sendWindow += delta
			}
			h.cond.Broadcast()
		case http2.SettingMaxFrameSize:
			h.mu.Lock()
			h.peerFrame = int(s.Val)
			h.mu.Unlock()
		}
		return nil
	}); err != nil {
		return err
	}
	if h.lockWrite() {
		_ = h.fr.WriteSettingsAck()
	}
	h.unlockWrite()
	return nil
}

func (h *h2conn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f.StreamID == 0 {
		if h.sendWindow+int64(f.Increment) > 1<<31-1 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		h.sendWindow += int64(f.Increment)
		h.cond.Broadcast()
		return nil
	}
	if f.StreamID > h.maxID {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	s := h.streams[f.StreamID]
	if s == nil {
		return nil // a closed stream
	}
	if s.sendWindow+int64(f.Increment) > 1<<31-1 {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	s.sendWindow += int64(f.Increment)
	h.cond.Broadcast()
	return nil
}

// processData hands a DATA frame's payload to its stream's request body.
func (h *h2conn) processData(f *http2.DataFrame) error {
	id, n := f.StreamID, int64(f.Length)
	h.mu.Lock()
	defer h.mu.Unlock()
	if id > h.maxID {
		return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
	}
	if n > h.recvAvail {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	h.recvAvail -= n
	s := h.streams[id]
	if s != nil && s.localDone {
		h.creditLocked(nil, n)
		return h.lateFrameLocked(s, f.StreamEnded())
	}
	if s == nil || s.remoteDone || s.bodyErr != nil {
		// A closed stream, or a body nobody reads any more: the
		// connection's window is given back at once.
		h.creditLocked(nil, n)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	if n > s.recvAvail {
		h.creditLocked(nil, n)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
	}
	s.recvAvail -= n
	data := f.Data()
	if pad := n - int64(len(data)); pad > 0 {
		h.creditLocked(s, pad)
	}
	s.bodyBytes += int64(len(data))
	if s.declLen >= 0 && s.bodyBytes > s.declLen {
		h.creditLocked(nil, int64(len(data)))
		s.closeLocked(errH2BodyLength)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	s.body = append(s.body, data...)
	if f.StreamEnded() {
		s.endBodyLocked()
	}
	h.cond.Broadcast()
	return nil
}

// endBodyLocked ends the request body of s (END_STREAM): its reader gets
// io.EOF, or, short of the Content-Length, an error saying so (as with
// net/http's server). Called with h.mu held.
func (s *h2stream) endBodyLocked() {
	s.remoteDone = true
	if s.declLen >= 0 && s.bodyBytes != s.declLen {
		s.bodyErr = fmt.Errorf("request declared a Content-Length of %d but only wrote %d bytes", s.declLen, s.bodyBytes)
	} else {
		s.bodyErr = io.EOF
	}
	s.h.cond.Broadcast()
}

// errH2BodyLength fails a request body whose length is not the Content-Length it declared.
var errH2BodyLength = errors.New("http2: request body length does not match its Content-Length")

// creditLocked returns n bytes of receive window to the client (the
// connection's, and s's when s is not nil), with WINDOW_UPDATE once
// enough has gathered. Called with mu held; the frames are written after
// it is released, by unlockMu.
func (h *h2conn) creditLocked(s *h2stream, n int64) {
	h.recvUnsent += n
	if s != nil && !s.remoteDone {
		s.recvUnsent += n
	}
}

// sendCredit writes the WINDOW_UPDATEs that gathered credit calls for
// (the connection's, and s's). Called without mu.
func (h *h2conn) sendCredit(s *h2stream) {
	h.mu.Lock()
	var connInc, streamInc uint32
	if h.recvUnsent >= h2WindowRefresh || h.recvUnsent >= h2ConnWindow/2 {
		connInc = uint32(h.recvUnsent)
		h.recvAvail += h.recvUnsent
		h.recvUnsent = 0
	}
	if s != nil && !s.remoteDone && s.bodyErr == nil && s.recvUnsent >= h2WindowRefresh {
		streamInc = uint32(s.recvUnsent)
		s.recvAvail += s.recvUnsent
		s.recvUnsent = 0
	}
	h.mu.Unlock()
	if connInc == 0 && streamInc == 0 {
		return
	}
	if h.lockWrite() {
		if connInc > 0 {
			_ = h.fr.WriteWindowUpdate(0, connInc)
		}
		if streamInc > 0 {
			_ = h.fr.WriteWindowUpdate(s.id, streamInc)
		}
	}
	h.unlockWrite()
}

// resetStream sends RST_STREAM for id and forgets the stream.
func (h *h2conn) resetStream(id uint32, code http2.ErrCode) {
	h.mu.Lock()
	if s := h.streams[id]; s != nil {
		s.closeLocked(errH2StreamReset)
	}
	h.mu.Unlock()
	if h.lockWrite() {
		_ = h.fr.WriteRSTStream(id, code)
	}
	h.unlockWrite()
	h.sendCredit(nil)
}

// errH2StreamReset fails the body reads and writes of a reset stream.
var errH2StreamReset = errors.New("http2: stream reset")

// goAway tells the client the connection ends with code; the serve loop then returns.
func (h *h2conn) goAway(code http2.ErrCode) {
	h.mu.Lock()
	h.goingAway = true
	last := h.maxID
	h.mu.Unlock()
	if h.lockWrite() {
		_ = h.fr.WriteGoAway(last, code, nil)
	}
	h.unlockWrite()
}

// shutdown starts a graceful close: GOAWAY NO_ERROR naming the last
// stream taken; streams in flight finish, then the connection closes.
func (h *h2conn) shutdown() {
	h.mu.Lock()
	if h.goingAway || h.closed {
		h.mu.Unlock()
		return
	}
	h.goingAway = true
	last, idle := h.maxID, len(h.streams) == 0
	h.mu.Unlock()
	if h.lockWrite() {
		_ = h.fr.WriteGoAway(last, http2.ErrCodeNo, nil)
	}
	h.unlockWrite()
	if idle {
		h.closeSoon()
	}
}

// closeSoon ends the read loop after h2GoAwayTimeout, time for the client
// to read what was sent (closing at once could reset it unread).
func (h *h2conn) closeSoon() {
	_ = h.c.SetReadDeadline(time.Now().Add(h2GoAwayTimeout))
}

// onIdle closes a connection that had no stream for h2IdleTimeout.
func (h *h2conn) onIdle() {
	h.mu.Lock()
	idle := len(h.streams) == 0 && !h.closed
	h.mu.Unlock()
	if idle {
		h.shutdown()
	}
}

// lockWrite starts a write: the frame goes into bw under wmu. It reports
// whether the connection can still be written to; unlockWrite ends the
// write either way.
func (h *h2conn) lockWrite() bool {
	h.pending.Add(1)
	h.wmu.Lock()
	return h.werr == nil
}

// unlockWrite ends a write; the last writer in progress flushes.
func (h *h2conn) unlockWrite() {
	h.wmu.Unlock()
	h.unlockPending()
}

func (h *h2conn) unlockPending() {
	if h.pending.Add(-1) != 0 {
		return
	}
	h.wmu.Lock()
	if h.werr == nil && h.bw.Buffered() > 0 {
		if err := h.bw.Flush(); err != nil {
			h.werr = fmt.Errorf("write to http2 client: %w", err)
			_ = h.c.Close() // the read loop ends
		}
	}
	h.wmu.Unlock()
}
