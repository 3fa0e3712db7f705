package egress

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/egressgw/egressgw/internal/limit"
	"github.com/egressgw/egressgw/internal/peek"
	"github.com/egressgw/egressgw/route"
)

// Timeouts of a plaintext HTTP/1 client connection, as the net/http server had them.
const (
	h1HeaderTimeout = 30 * time.Second // to read a request's line and headers
	h1IdleTimeout   = 5 * time.Minute  // between requests
	// h1HotWait is how long a connection waits for its next request with
	// its read buffer held, in a plain read, before it lets the buffers
	// go and waits as an idle connection. A busy client's next request
	// usually comes within it, and is then read with one system call
	// instead of a peek and a read.
	h1HotWait = 5 * time.Millisecond
)

// DefaultBodyIdleTimeout is how long a request body read may make no
// progress before the request fails with 408 and the connection closes.
const DefaultBodyIdleTimeout = 30 * time.Second

// h1conn serves the HTTP/1.x requests of one client connection, plaintext
// or TLS-terminated, on one goroutine: read a request, decide, and for the common case write
// it to a pooled upstream connection and copy the answer back, with no
// other goroutine involved (net/http's server and Transport hand each
// request across three). Requests it does not proxy itself (protocol
// upgrades, HTTP/2 upstreams) go through the upstream's ReverseProxy with
// h1conn as the http.ResponseWriter.
type h1conn struct {
	e      *Engine
	l      *listener
	c      net.Conn             // what requests are read from and answered on: the socket, or the TLS connection over it
	tcp    *net.TCPConn         // the socket under c
	tls    *tls.ConnectionState // the terminated TLS connection's state (r.TLS); nil for plaintext
	pr     *peekReader          // br reads the connection through a header-size limit
	bw     *bufio.Writer
	src    netip.Addr
	client client // src's pod, looked up once per connection
	counts sourceCounters
	xff    []string // []string{src}: X-Forwarded-For when the client starts it, made once per connection
	remote string
	idle   atomic.Bool // waiting for the next request: shutdown may close it now
	watch  *clientWatch

	// the response being written; reset per request
	header       http.Header
	status       int
	wrote        bool           // the status line and headers are out
	chunked      bool           // the body goes out chunked
	bodyless     bool           // HEAD, 1xx, 204, 304: no body whatever the headers say
	closing      bool           // close the connection after this response
	proto11      bool           // the client speaks HTTP/1.1
	hijacked     bool           // a ReverseProxy took the connection over (protocol upgrade)
	dead         bool           // nothing more can be said: close without a response
	req          *http.Request  // the request being answered
	respBody     responseBody   // the body of the upstream's response to it, when readResponse parsed the head
	sentContinue bool           // a 100 Continue went out for it
	forwarded    bool           // X-Forwarded-For and -Proto are the gateway's own (ingress): forward them
	retries      *route.Retries // the retry policy of the route the request follows; nil: egressgw's own (reused connections only)
}

// errHeadTooLarge ends the read of a request head that passed the limit.
var errHeadTooLarge = errors.New("request head too large")

// peekReader is the pooled buffered reader of a new connection: it
// classifies the connection and then, for HTTP, reads its requests.
type peekReader struct {
	br *bufio.Reader
	cr limit.Reader // under br: bounds a request head while one is read
	ir idleReader   // under cr: bounds the wait of each read of a request body
}

func (p *peekReader) reset(c net.Conn) {
	p.ir = idleReader{c: c}
	p.cr = limit.Reader{R: &p.ir, N: math.MaxInt64, Err: errHeadTooLarge}
	p.br.Reset(&p.cr)
}

// errBodyIdle ends a request body read that made no progress for the body idle timeout.
var errBodyIdle = errors.New("the request body made no progress")

// idleReader reads the client connection. While a request body is read
// (timeout > 0) it gives each read of the connection, that is each time
// the buffer above it has run dry, timeout to bring something: one
// deadline per read of the socket, none per read of the body, none at
// all for a request without a body.
type idleReader struct {
	c       net.Conn
	timeout time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	if r.timeout <= 0 {
		return r.c.Read(p)
	}
	_ = r.c.SetReadDeadline(time.Now().Add(r.timeout))
	n, err := r.c.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w for %v: %w", errBodyIdle, r.timeout, err)
	}
	return n, err
}

// serveH1 serves requests on the plaintext connection c until the client
// or the gateway ends the connection.
func (e *Engine) serveH1(l *listener, c *net.TCPConn, pr *peekReader) {
	e.serveH1Conn(&h1conn{e: e, l: l, c: c, tcp: c, pr: pr})
}

// serveH1TLS serves the HTTP/1.x requests of tc, a TLS connection over c
// whose handshake is done, on the same path as plaintext ones.
func (e *Engine) serveH1TLS(l *listener, c *net.TCPConn, tc *tls.Conn) {
	cs := tc.ConnectionState()
	pr := readers.Get().(*peekReader)
	pr.reset(tc)
	e.serveH1Conn(&h1conn{e: e, l: l, c: tc, tcp: c, tls: &cs, pr: pr})
}

func (e *Engine) serveH1Conn(h *h1conn) {
	c := h.c
	h.remote, h.header, h.watch = c.RemoteAddr().String(), http.Header{}, newClientWatch(h.tcp)
	if ap, err := netip.ParseAddrPort(h.remote); err == nil {
		h.src = ap.Addr().Unmap()
	}
	h.client = h.e.clientOf(h.src)
	h.client.counters = &h.counts
	h.bw = writers.Get().(*bufio.Writer)
	h.bw.Reset(c)
	heldReaders.Add(1)
	defer func() {
		h.l.untrack(h)
		if h.hijacked {
			heldReaders.Add(-1)
			return // the buffers may still be in use by the upgraded connection's copiers: leave them to the GC
		}
		_ = c.Close()
		h.releaseBuffers()
	}()
	if !h.l.track(h) {
		return
	}
	for first := true; ; first = false {
		if !first && !h.waitRequest() {
			return
		}
		if !h.serveOne() {
			return
		}
	}
}

// waitRequest waits for the first byte of the next request. Unless the
// client already sent more (pipelining), it first waits h1HotWait with its
// buffers held, then as an idle connection: without buffers, so that an
// idle connection holds its goroutine and little else.
func (h *h1conn) waitRequest() bool {
	h.idle.Store(true)
	defer h.idle.Store(false)
	if h.pr.br.Buffered() > 0 { // pipelined: serveOne bounds the rest of its head
		return !h.l.closing.Load()
	}
	if h.tls != nil {
		// What the TLS connection has already decrypted cannot be seen
		// from the socket: wait with the buffers held.
		if !h.waitUntil(h1IdleTimeout) {
			return false
		}
		_, err := h.pr.br.Peek(1)
		return err == nil && !h.l.closing.Load()
	}
	if !h.waitUntil(h1HotWait) {
		return false
	}
	_, err := h.pr.br.Peek(1)
	if err == nil {
		return !h.l.closing.Load()
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) || !h.waitUntil(h1IdleTimeout) {
		return false
	}
	h.releaseBuffers()
	if err := waitReadable(h.tcp); err != nil {
		return false
	}
	h.takeBuffers()
	_, err = h.pr.br.Peek(1)
	return err == nil && !h.l.closing.Load()
}

// waitUntil sets how long the client may stay silent from now, and reports
// whether the listener is still open. closeIdle sets closing before its
// deadline of now, so a deadline of now set meanwhile is not overwritten
// unnoticed.
func (h *h1conn) waitUntil(d time.Duration) bool {
	_ = h.c.SetReadDeadline(time.Now().Add(d))
	return !h.l.closing.Load()
}

// releaseBuffers gives the reader and writer back to their pools.
func (h *h1conn) releaseBuffers() {
	if h.pr != nil {
		readers.Put(h.pr)
		h.pr = nil
		heldReaders.Add(-1)
	}
	if h.bw != nil {
		h.bw.Reset(nil)
		writers.Put(h.bw)
		h.bw = nil
	}
}

func (h *h1conn) takeBuffers() {
	h.pr = readers.Get().(*peekReader)
	h.pr.reset(h.c)
	heldReaders.Add(1)
	h.bw = writers.Get().(*bufio.Writer)
	h.bw.Reset(h.c)
}

// heldReaders counts the read buffers HTTP/1 connections hold, for tests.
var heldReaders atomic.Int64

// waitReadable waits until c has bytes to read, an end of stream or an
// error, taking nothing from it. The check for what is already there comes
// after the runtime's poller was armed, so an arrival in between still
// wakes the wait.
func waitReadable(c *net.TCPConn) error {
	sc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	first := true
	return sc.Read(func(fd uintptr) bool {
		if !first {
			return true // woken by the poller: the read that follows finds out, and waits again if it must
		}
		first = false
		return peek.FD(fd) != peek.Empty
	})
}

// serveOne reads and answers one request; it reports whether the connection may serve another.
func (h *h1conn) serveOne() bool {
	r, err := h.readRequest()
	if err != nil {
		h.badRequest(err)
		return false
	}
	if r.ContentLength != 0 || isUpgrade(r) {
		// Lift the header deadline for what is read next. Otherwise the
		// client is not read from until waitRequest sets the idle deadline.
		_ = h.c.SetReadDeadline(time.Time{})
	}
	r.RemoteAddr, r.TLS = h.remote, h.tls
	if r.ContentLength != 0 && !isUpgrade(r) {
		h.pr.ir.timeout = h.e.cfg.BodyIdleTimeout // until the request is answered
		defer func() {
			if h.pr != nil {
				h.pr.ir.timeout = 0
			}
		}()
	}
	h.reset(r)
	rec := getRecorder(h)
	defer putRecorder(rec)
	rec.client = h.client
	if msg := invalidRequest(r); msg != "" {
		h.closing = true
		refuse(rec, http.StatusBadRequest, "egressgw: "+msg)
		h.e.logRequest(h.e.state.Load(), h.l, r, requestHost(r.Host), noDecision("malformed request"), nil, rec, time.Now())
	} else {
		h.e.handle(h.l, h, rec, r, h.src)
	}
	if h.hijacked || h.dead {
		return false
	}
	if !h.finish() {
		return false
	}
	if h.closing {
		h.lingerClose()
		return false
	}
	return true
}

// readRequest reads the next request's head. When it is already buffered
// (the usual case), parsing it cannot wait on the client and the header
// deadline need not be set; a common head is then parsed in place
// (parseHead), anything else by http.ReadRequest.
func (h *h1conn) readRequest() (*http.Request, error) {
	b, _ := h.pr.br.Peek(h.pr.br.Buffered())
	if r, n := parseHead(b); r != nil {
		_, _ = h.pr.br.Discard(n)
		return r, nil
	}
	if !bytes.Contains(b, crlf2) {
		_ = h.c.SetReadDeadline(time.Now().Add(h1HeaderTimeout))
	}
	h.pr.cr.N = int64(h.e.cfg.MaxHeaderBytes) + 4<<10 // exact limit checked (and logged) in handle
	defer func() { h.pr.cr.N = math.MaxInt64 }()
	return http.ReadRequest(h.pr.br)
}

// settleBody, before a response head is written, reads what the handler
// left of the request body (up to 256 KiB, as net/http's server does) so
// the connection can serve the next request; when that cannot be done the
// response says Connection: close.
func (h *h1conn) settleBody() {
	r := h.req
	if r == nil || r.Body == nil || r.Body == http.NoBody || h.closing {
		return
	}
	if !h.sentContinue && httpguts.HeaderValuesContainsToken(r.Header["Expect"], "100-continue") {
		h.closing = true // the client waits for a 100 Continue before it sends the body
		return
	}
	if _, err := io.CopyN(io.Discard, r.Body, 256<<10+1); err != io.EOF && !errors.Is(err, http.ErrBodyReadAfterClose) {
		h.closing = true
	}
}

// lingerClose ends the connection after a response: it shuts down the
// sending side, then reads and drops what the client still sends (the
// rest of a refused upload) for up to a second, so that closing with
// unread bytes does not reset the connection before the client has read
// the response (net/http's server waits the same way).
func (h *h1conn) lingerClose() {
	h.pr.ir.timeout = 0 // the read deadline below holds
	if cw, ok := h.c.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		return
	}
	_ = h.c.SetReadDeadline(time.Now().Add(time.Second))
	buf := getBuffer()
	defer putBuffer(buf)
	for {
		if _, err := h.pr.br.Read(*buf); err != nil {
			return
		}
	}
}

// invalidRequest returns why net/http's server would have refused r, or "".
func invalidRequest(r *http.Request) string {
	switch {
	case r.ProtoMajor != 1:
		return "unsupported protocol version " + r.Proto
	case r.ProtoAtLeast(1, 1) && r.Host == "" && r.Method != http.MethodConnect:
		return "missing required Host header"
	case !httpguts.ValidHostHeader(r.Host):
		return "malformed Host header"
	}
	for k, vs := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return "invalid header name " + strconv.Quote(k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return "invalid value of header " + k
			}
		}
	}
	return ""
}

// badRequest answers a request that could not be read, unless the client simply went away.
func (h *h1conn) badRequest(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.As(err, &ne) && ne.Timeout() && h.pr.br.Buffered() == 0:
		return
	}
	status, msg := http.StatusBadRequest, "egressgw: malformed request: "+err.Error()
	if errors.Is(err, errHeadTooLarge) {
		status, msg = http.StatusRequestHeaderFieldsTooLarge, "egressgw: request headers are over the limit of "+strconv.Itoa(h.e.cfg.MaxHeaderBytes)+" bytes"
	}
	r := &http.Request{Method: "-", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: h.remote, Header: http.Header{}}
	r.URL = new(url.URL)
	h.reset(r)
	h.closing = true
	rec := getRecorder(h)
	defer putRecorder(rec)
	refuse(rec, status, msg)
	h.e.logRequest(h.e.state.Load(), h.l, r, "", noDecision("malformed request"), nil, rec, time.Now())
	_ = h.finish()
}

// reset prepares the response writer for r.
func (h *h1conn) reset(r *http.Request) {
	clear(h.header)
	h.req = r
	h.status, h.wrote, h.chunked, h.hijacked, h.dead, h.sentContinue = 0, false, false, false, false, false
	h.bodyless = r.Method == http.MethodHead
	h.proto11 = r.ProtoAtLeast(1, 1)
	h.closing = r.Close || h.l.closing.Load()
}

// Header, WriteHeader, Write, Flush and Hijack make h1conn the
// http.ResponseWriter of refusals and of the ReverseProxy fallback.
func (h *h1conn) Header() http.Header { return h.header }

// forwardedFor is the X-Forwarded-For of a request whose client starts
// the chain, shared by the connection's requests (a full slice: an append copies it).
func (h *h1conn) forwardedFor() []string {
	if h.xff == nil {
		h.xff = []string{h.src.String()}
	}
	return h.xff
}

func (h *h1conn) WriteHeader(code int) {
	if h.wrote {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if h.proto11 { // interim responses (103 Early Hints) mean nothing to HTTP/1.0
			h.writeHead(code, h.header, false)
		}
		clear(h.header)
		return
	}
	h.status = code
}

func (h *h1conn) Write(p []byte) (int, error) {
	if !h.wrote {
		h.commit()
	}
	if h.bodyless {
		return len(p), nil
	}
	if h.chunked && len(p) > 0 {
		writeChunkHeader(h.bw, len(p))
		n, err := h.bw.Write(p)
		_, _ = h.bw.WriteString("\r\n")
		return n, err
	}
	return h.bw.Write(p)
}

func (h *h1conn) Flush() {
	if !h.wrote {
		h.commit()
	}
	_ = h.bw.Flush()
}

// Hijack hands the connection over, with whatever the client already sent buffered.
func (h *h1conn) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h.wrote {
		return nil, nil, errors.New("egressgw: hijack after the response started")
	}
	h.hijacked = true
	return &hijackedConn{Conn: h.c, br: h.pr.br}, bufio.NewReadWriter(h.pr.br, h.bw), nil
}

// commit writes the status line and headers, choosing the body's framing.
func (h *h1conn) commit() {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	code := h.status
	h.bodyless = h.bodyless || bodylessStatus(code)
	if !h.bodyless && h.header.Get("Content-Length") == "" {
		if h.proto11 {
			h.chunked = true
		} else {
			h.closing = true // HTTP/1.0 without a length: the body ends with the connection
		}
	}
	if h.header.Get("Connection") == "close" {
		h.closing = true
	}
	// Framing and connection headers are this connection's to write (endHead).
	delete(h.header, "Connection")
	delete(h.header, "Keep-Alive")
	delete(h.header, "Transfer-Encoding")
	h.settleBody()
	h.writeHead(code, h.header, true)
}

// writeHead writes a status line and the headers of hdr; a final head
// ends with the framing and connection headers this connection needs.
func (h *h1conn) writeHead(code int, hdr http.Header, final bool) {
	_, _ = h.bw.WriteString("HTTP/1.1 ")
	writeStatus(h.bw, code)
	writeHeaders(h.bw, hdr)
	if final {
		h.endHead()
		return
	}
	_, _ = h.bw.WriteString("\r\n")
}

// endHead writes the framing and connection headers and the blank line.
func (h *h1conn) endHead() {
	h.wrote = true
	if h.chunked {
		_, _ = h.bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case h.closing:
		_, _ = h.bw.WriteString("Connection: close\r\n")
	case !h.proto11:
		_, _ = h.bw.WriteString("Connection: keep-alive\r\n")
	}
	_, _ = h.bw.WriteString("\r\n")
}

// finish completes the response (headers if none were written, the last
// chunk) and sends it; it reports whether that worked.
func (h *h1conn) finish() bool {
	if !h.wrote {
		if h.status == 0 {
			h.status = http.StatusOK
		}
		if !bodylessStatus(h.status) && h.header.Get("Content-Length") == "" {
			h.header.Set("Content-Length", "0")
		}
		h.commit()
	}
	if h.chunked {
		_, _ = h.bw.WriteString("0\r\n\r\n")
	}
	return h.bw.Flush() == nil
}

// hijackedConn reads what was buffered before the connection was taken over.
// It embeds the net.Conn interface, not the TCP connection, so that
// io.Copy cannot take the socket's WriteTo and skip the buffer.
type hijackedConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *hijackedConn) Read(p []byte) (int, error) {
	if c.br.Buffered() > 0 {
		return c.br.Read(p)
	}
	return c.Conn.Read(p)
}
