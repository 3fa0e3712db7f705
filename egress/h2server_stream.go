package egress

import (
	"context"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// h2stream is one request of an HTTP/2 client connection and its
// response: the http.ResponseWriter (and http.Flusher) its handler gets,
// and the request body's pipe. The fields under "guarded by mu" belong to
// the connection's mu; the response fields to the handler's goroutine.
type h2stream struct {
	h      *h2conn
	id     uint32
	req    *http.Request
	cancel context.CancelFunc

	// guarded by h.mu
	sendWindow int64
	recvAvail  int64 // what the client may still send on the stream
	recvUnsent int64
	remoteDone bool   // END_STREAM received
	reset      bool   // RST_STREAM sent or received: nothing more goes out on it
	localDone  bool   // the response is complete, the request body not: see finish
	body       []byte // request body received and not read yet
	bodyErr    error  // what reads get once body is drained: io.EOF, or why the body failed
	bodyBytes  int64
	declLen    int64 // the request's Content-Length, -1 without one
	trailer    http.Header

	// the response; the handler's goroutine only
	header      http.Header
	hb          *h2HeaderBlock // the header encoded at WriteHeader, until it is sent
	respLen     int64          // the response's valid Content-Length, -1 without one
	respLenText string
	hasType     bool // the header has Content-Type
	hasEncoding bool // and a non-empty Content-Encoding
	hasDate     bool
	closeConn   bool // Connection: close
	status      int
	wroteHeader bool
	sentHeader  bool
	handlerDone bool
	head        bool
	cont        atomic.Int32 // 1: the client expects 100 Continue; 2: sent, or a final status was; read by the body's reader too
	holding     bool         // writeChunk counts as a write in progress (h.pending)
	buf         []byte       // the body written and not sent yet, in *bufp
	bufp        *[]byte      // from h2Chunks
	trailers    []string     // declared trailer keys, canonical
	sentLen     int64        // the Content-Length sent, 0 if none
	wrote       int64
}

// h2ConnHeaders are the connection-specific headers an HTTP/2 request must not carry (RFC 9113 8.2.2).
var h2ConnHeaders = [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade"}

// processHeaders opens a stream (or takes a request's trailers) and starts its handler.
func (h *h2conn) processHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 != 1 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	h.mu.Lock()
	if id <= h.maxID {
		s := h.streams[id]
		h.mu.Unlock()
		if s == nil {
			return http2.ConnectionError(http2.ErrCodeStreamClosed)
		}
		return h.processTrailers(s, f)
	}
	h.maxID = id
	if h.goingAway {
		h.mu.Unlock()
		return nil
	}
	if len(h.streams) >= h2MaxStreams {
		code := http2.ErrCodeRefusedStream
		if !h.settingsAckd {
			code = http2.ErrCodeProtocol
		}
		h.mu.Unlock()
		return http2.StreamError{StreamID: id, Code: code}
	}
	if h.handlers >= h2MaxHandlers {
		h.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	h.mu.Unlock()

	s, handler, err := h.newStream(f)
	if err != nil {
		return err
	}
	h.mu.Lock()
	s.sendWindow = h.initWindow
	h.streams[id] = s
	h.handlers++
	if len(h.streams) == 1 && h.idle != nil {
		h.idle.Stop()
	}
	h.mu.Unlock()
	h.wg.Add(1)
	go s.run(handler)
	return nil
}

// processTrailers takes the request trailers of s (a HEADERS frame that ends its body).
func (h *h2conn) processTrailers(s *h2stream, f *http2.MetaHeadersFrame) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.localDone {
		return h.lateFrameLocked(s, f.StreamEnded())
	}
	if s.remoteDone {
		return http2.StreamError{StreamID: s.id, Code: http2.ErrCodeStreamClosed}
	}
	if !f.StreamEnded() || f.PseudoFields() != nil && len(f.PseudoFields()) > 0 {
		s.closeLocked(errH2StreamReset)
		return http2.StreamError{StreamID: s.id, Code: http2.ErrCodeProtocol}
	}
	if s.trailer != nil {
		for _, hf := range f.RegularFields() {
			k := h.canonical(hf.Name)
			if !httpguts.ValidTrailerHeader(k) {
				s.closeLocked(errH2StreamReset)
				return http2.StreamError{StreamID: s.id, Code: http2.ErrCodeProtocol}
			}
			s.trailer[k] = append(s.trailer[k], hf.Value)
		}
	}
	s.endBodyLocked()
	return nil
}

// newStream makes the request of a new stream, validated as net/http's
// server does: a malformed one is a stream error; one with a header list
// over the limit, or connection-specific headers, gets its handler that
// answers 431 or 400.
func (h *h2conn) newStream(f *http2.MetaHeadersFrame) (*h2stream, http.HandlerFunc, error) {
	method, scheme := f.PseudoValue("method"), f.PseudoValue("scheme")
	authority, path, protocol := f.PseudoValue("authority"), f.PseudoValue("path"), f.PseudoValue("protocol")
	bad := http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
	if protocol != "" { // extended CONNECT is not advertised (net/http's default)
		return nil, nil, bad
	}
	connect := method == http.MethodConnect
	if connect {
		if path != "" || scheme != "" || authority == "" {
			return nil, nil, bad
		}
	} else if method == "" || path == "" || scheme != "https" && scheme != "http" {
		return nil, nil, bad
	}

	fields := f.RegularFields()
	header := make(http.Header, len(fields))
	values := make([]string, len(fields)) // one backing array for the common case of one value per name
	for i, hf := range fields {
		k := h.canonical(hf.Name)
		if vs, ok := header[k]; ok {
			header[k] = append(vs, hf.Value)
			continue
		}
		values[i] = hf.Value
		header[k] = values[i : i+1 : i+1]
	}
	if authority == "" {
		authority = header.Get("Host")
	}
	var u *url.URL
	requestURI := path
	if connect {
		u, requestURI = &url.URL{Host: authority}, authority
	} else {
		var err error
		if u, err = url.ParseRequestURI(path); err != nil {
			return nil, nil, bad
		}
	}
	if cookies := header["Cookie"]; len(cookies) > 1 {
		header["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	s := &h2stream{h: h, id: f.StreamID, recvAvail: h2StreamWindow, declLen: -1, head: method == http.MethodHead}
	if httpguts.HeaderValuesContainsToken(header["Expect"], "100-continue") {
		s.cont.Store(1)
		delete(header, "Expect")
	}
	for _, v := range header["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			switch k = textproto.CanonicalMIMEHeaderKey(textproto.TrimString(k)); k {
			case "Transfer-Encoding", "Trailer", "Content-Length": // not trailers
			default:
				if s.trailer == nil {
					s.trailer = http.Header{}
				}
				s.trailer[k] = nil
			}
		}
	}
	delete(header, "Trailer")

	ctx, cancel := context.WithCancel(h.ctx)
	r := (&http.Request{Method: method, URL: u, RequestURI: requestURI, Header: header, Host: authority, Trailer: s.trailer,
		Proto: "HTTP/2.0", ProtoMajor: 2, RemoteAddr: h.remote, TLS: h.tls, Body: http.NoBody}).WithContext(ctx) // the literal stays on the stack
	if !f.StreamEnded() {
		r.ContentLength = -1
		if vs := header["Content-Length"]; len(vs) > 0 {
			if n, err := strconv.ParseUint(vs[0], 10, 63); err == nil {
				r.ContentLength = int64(n)
				s.declLen = int64(n)
			} else {
				r.ContentLength = 0
			}
		}
		r.Body = (*h2body)(s)
	} else {
		s.remoteDone, s.bodyErr = true, io.EOF
	}
	s.req, s.cancel = r, cancel
	s.header = http.Header{}

	var handler http.HandlerFunc
	switch {
	case f.Truncated:
		handler = handleHeaderListTooLong
	default:
		if problem := invalidH2Headers(header); problem != "" {
			handler = func(w http.ResponseWriter, _ *http.Request) { http.Error(w, problem, http.StatusBadRequest) }
		}
	}
	return s, handler, nil
}

// invalidH2Headers names the problem of request headers HTTP/2 forbids, "" if none.
func invalidH2Headers(h http.Header) string {
	for _, k := range h2ConnHeaders {
		if _, ok := h[k]; ok {
			return "request header " + strconv.Quote(k) + " is not valid in HTTP/2"
		}
	}
	if te := h["Te"]; len(te) > 0 && (len(te) > 1 || te[0] != "trailers" && te[0] != "") {
		return `request header "TE" may only be "trailers" in HTTP/2`
	}
	return ""
}

// handleHeaderListTooLong answers a request whose header list passed
// SETTINGS_MAX_HEADER_LIST_SIZE, as net/http's server does.
func handleHeaderListTooLong(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
	_, _ = io.WriteString(w, "<h1>HTTP Error 431</h1><p>Request Header Field(s) Too Large</p>")
}

// canonical is the canonical form of a lowercase header name, cached per connection.
func (h *h2conn) canonical(name string) string {
	if k, ok := commonH2Headers[name]; ok {
		return k
	}
	if k, ok := h.canon[name]; ok {
		return k
	}
	k := http.CanonicalHeaderKey(name)
	if len(h.canon) < 100 {
		h.canon[name] = k
	}
	return k
}

// run serves the stream's request on its goroutine: the engine's handler
// (or handler, for a request refused before it), then the end of the response.
func (s *h2stream) run(handler http.HandlerFunc) {
	h := s.h
	defer func() {
		s.cancel()
		v := recover()
		if v != nil {
			if v != http.ErrAbortHandler {
				h.e.panicked("http2 stream", v, debug.Stack())
			}
			s.resetStream(http2.ErrCodeInternal)
		} else {
			s.finish()
		}
		if s.hb != nil {
			h2Encoders.Put(s.hb)
			s.hb = nil
		}
		s.release()
		h.wg.Done()
	}()
	switch {
	case handler != nil:
		handler(s, s.req)
	case h.serve1 != nil:
		h.serve1.ServeHTTP(s, s.req)
	default:
		h.e.serveHTTP(h.l, s, s.req)
	}
}

// finish ends the response once the handler returned: what it buffered,
// END_STREAM, trailers; a client still sending a body it no longer needs
// is told to stop (RST_STREAM NO_ERROR), as net/http's server does.
//
// The client may well have ended its body already, its last frames not
// read yet: the stream stays until its next frame says, so that a
// client that did end it sees no reset (net/http's serve loop handles the
// frames read before the handler's end).
func (s *h2stream) finish() {
	s.handlerDone = true
	_ = s.flush()
	s.h.mu.Lock()
	if !s.remoteDone && !s.reset {
		s.localDone = true
	}
	s.h.mu.Unlock()
}

// lateFrameLocked handles a DATA or trailers frame for a stream whose
// response is complete: END_STREAM closes it quietly, anything else
// tells the client to stop sending (RST_STREAM NO_ERROR). Called with h.mu held.
func (h *h2conn) lateFrameLocked(s *h2stream, ended bool) error {
	s.reset = true
	h.forgetLocked(s)
	if ended {
		return nil
	}
	return http2.StreamError{StreamID: s.id, Code: http2.ErrCodeNo}
}

// forgetLocked takes s off the connection's streams. Called with h.mu held.
func (h *h2conn) forgetLocked(s *h2stream) {
	if h.streams[s.id] != s {
		return
	}
	delete(h.streams, s.id)
	if len(h.streams) > 0 || h.closed {
		return
	}
	if h.goingAway {
		h.closeSoon()
	} else if h.idle != nil {
		h.idle.Reset(h2IdleTimeout)
	}
}

// release forgets the stream: it no longer counts against the
// connection's streams; a closing connection closes after its last.
func (s *h2stream) release() {
	h := s.h
	h.mu.Lock()
	if !s.localDone {
		h.forgetLocked(s)
	}
	s.closeBodyLocked(errH2ConnClosed) // a read after the handler (a transport's) fails, as with net/http
	h.handlers--
	h.mu.Unlock()
	h.sendCredit(nil)
}

// resetStream resets the stream with code (a handler's panic, rec.reset:
// INTERNAL_ERROR), unless it is already.
func (s *h2stream) resetStream(code http2.ErrCode) {
	h := s.h
	h.mu.Lock()
	if s.reset {
		h.mu.Unlock()
		return
	}
	s.closeLocked(errH2StreamReset)
	h.mu.Unlock()
	if h.lockWrite() {
		_ = h.fr.WriteRSTStream(s.id, code)
	}
	h.unlockWrite()
	h.sendCredit(nil)
}

// closeLocked ends the stream at once (RST_STREAM sent or received): its
// context is cancelled, body reads and writes fail, its unread body's
// window goes back to the connection. Called with h.mu held.
func (s *h2stream) closeLocked(err error) {
	s.reset = true
	s.closeBodyLocked(err)
	if s.cancel != nil {
		s.cancel()
	}
	s.h.forgetLocked(s)
	s.h.cond.Broadcast()
}

// closeBody fails the body's reads with err (the connection ended).
func (s *h2stream) closeBody(err error) {
	s.reset = true
	s.closeBodyLocked(err)
	if s.cancel != nil {
		s.cancel()
	}
}

func (s *h2stream) closeBodyLocked(err error) {
	if s.bodyErr == nil || s.bodyErr == io.EOF && len(s.body) > 0 {
		s.bodyErr = err
	}
	if len(s.body) > 0 {
		s.h.creditLocked(nil, int64(len(s.body)))
		s.body = nil
	}
	s.h.cond.Broadcast()
}

// h2body is a stream's request body.
type h2body h2stream

func (b *h2body) Read(p []byte) (int, error) {
	s := (*h2stream)(b)
	h := s.h
	if s.cont.Load() == 1 && s.cont.CompareAndSwap(1, 2) {
		s.writeContinue()
	}
	h.mu.Lock()
	for len(s.body) == 0 && s.bodyErr == nil {
		h.cond.Wait()
	}
	if len(s.body) == 0 {
		err := s.bodyErr
		h.mu.Unlock()
		return 0, err
	}
	n := copy(p, s.body)
	s.body = s.body[n:]
	if len(s.body) == 0 {
		s.body = s.body[:0:0] // the next DATA starts a fresh buffer rather than growing under a reader
	}
	h.creditLocked(s, int64(n))
	h.mu.Unlock()
	h.sendCredit(s)
	return n, nil
}

// Close stops the body: what the client sends on is discarded (and its window given back).
func (b *h2body) Close() error {
	s := (*h2stream)(b)
	s.h.mu.Lock()
	if s.bodyErr == nil || s.bodyErr == io.EOF {
		s.closeBodyLocked(http.ErrBodyReadAfterClose)
	}
	s.h.mu.Unlock()
	s.h.sendCredit(nil)
	return nil
}

// commonH2Headers maps common lowercase header names to their canonical form.
var commonH2Headers = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"accept", "accept-charset", "accept-encoding", "accept-language", "accept-ranges", "age",
		"access-control-allow-credentials", "access-control-allow-headers", "access-control-allow-methods",
		"access-control-allow-origin", "access-control-expose-headers", "access-control-max-age",
		"access-control-request-headers", "access-control-request-method", "allow", "authorization",
		"cache-control", "content-disposition", "content-encoding", "content-language", "content-length",
		"content-location", "content-range", "content-type", "cookie", "date", "etag", "expect", "expires",
		"from", "host", "if-match", "if-modified-since", "if-none-match", "if-unmodified-since", "last-modified",
		"link", "location", "max-forwards", "origin", "proxy-authenticate", "proxy-authorization", "range",
		"referer", "refresh", "retry-after", "server", "set-cookie", "strict-transport-security", "te",
		"trailer", "transfer-encoding", "user-agent", "vary", "via", "www-authenticate", "x-forwarded-for",
		"x-forwarded-proto", "x-request-id", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
		"grpc-status", "grpc-message", "connection", "keep-alive", "proxy-connection", "upgrade"} {
		m[k] = http.CanonicalHeaderKey(k)
	}
	return m
}()
