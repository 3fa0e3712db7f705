package origination

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/egressgw/egressgw/internal/pki"
)

// The tests in this file drive H2Pool, H2Conn and H2Stream against a real
// golang.org/x/net/http2 server, and against a hand-driven raw server
// (rawH2Conn) for upstreams that misbehave.

const (
	h2Host = "h2.example.test"
	h2Wait = 5 * time.Second // bound of every wait
	h2Doc  = "the HTTP/2 document\n"
)

// h2Server is an HTTP/2 upstream: x/net/http2's ServeConn on each accepted
// connection, over TLS with ALPN or, when plaintext, with prior knowledge.
type h2Server struct {
	addr     string
	ca       *pki.CA // nil: plaintext (h2c)
	accepted atomic.Int64

	mu    sync.Mutex
	conns map[int]*h2ServerConn // by the order accepted, from 0
}

// h2ServerConn is the server's side of one connection.
type h2ServerConn struct {
	closed chan struct{} // closed once the server stopped serving it (the client closed it)
}

type h2ServerOptions struct {
	plaintext bool
	h1only    bool          // ALPN offers http/1.1 only (the connection is then just drained)
	h2        *http2.Server // nil: the zero Server
	base      *http.Server  // ServeConnOpts.BaseConfig
}

func newH2Server(t *testing.T, h http.Handler, o h2ServerOptions) *h2Server {
	t.Helper()
	s := &h2Server{conns: map[int]*h2ServerConn{}}
	var cfg *tls.Config
	if !o.plaintext {
		ca, err := pki.NewCA("h2 test CA")
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := ca.Issue(h2Host, h2Host)
		if err != nil {
			t.Fatal(err)
		}
		s.ca = ca
		cfg = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, NextProtos: []string{"h2"}}
		if o.h1only {
			cfg.NextProtos = []string{"http/1.1"}
		}
	}
	srv := o.h2
	if srv == nil {
		srv = &http2.Server{}
	}
	base := o.base
	if base == nil {
		base = &http.Server{}
	}
	s.addr = serveConns(t, func(i int, c net.Conn) {
		sc := &h2ServerConn{closed: make(chan struct{})}
		s.mu.Lock()
		s.conns[i] = sc
		s.mu.Unlock()
		s.accepted.Add(1)
		defer close(sc.closed)
		var conn net.Conn = c
		if cfg != nil {
			tc := tls.Server(c, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), h2Wait)
			err := tc.HandshakeContext(ctx)
			cancel()
			if err != nil {
				return
			}
			if tc.ConnectionState().NegotiatedProtocol != "h2" {
				_, _ = io.Copy(io.Discard, tc)
				return
			}
			conn = tc
		}
		srv.ServeConn(conn, &http2.ServeConnOpts{Handler: h, BaseConfig: base})
	})
	return s
}

// serveConns listens on a loopback port and serves each connection
// accepted there with serve, on a goroutine of its own (i counts
// connections from 0), closing the connection when serve returns. When the
// test ends, the listener and every connection are closed and the
// goroutines waited for. It returns the listener's address.
func serveConns(t *testing.T, serve func(i int, c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	ended := false
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		ended = true
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if ended { // accepted as the test ended: not served
				mu.Unlock()
				_ = c.Close()
				return
			}
			conns = append(conns, c)
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(i, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// conn returns the server's side of the i-th connection accepted.
func (s *h2Server) conn(t *testing.T, i int) *h2ServerConn {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.conns[i]
	if !ok {
		t.Fatalf("the server has not accepted connection %d (it has %d)", i, len(s.conns))
	}
	return sc
}

func (sc *h2ServerConn) waitClosed(t *testing.T, why string) {
	t.Helper()
	select {
	case <-sc.closed:
	case <-time.After(h2Wait):
		t.Fatalf("the client did not close the connection: %s", why)
	}
}

func (s *h2Server) upstream() Upstream {
	u := Upstream{Key: "h2 " + s.addr, Dial: dialTo(s.addr), IdleTimeout: time.Minute, HTTP2: true}
	if s.ca != nil {
		u.TLS = &TLS{RootCAs: s.ca.Pool()}
	}
	return u
}

func (s *h2Server) scheme() string {
	if s.ca == nil {
		return "http"
	}
	return "https"
}

// newTestH2Pool returns the pool for u from a fresh Pool, closed when the test ends.
func newTestH2Pool(t *testing.T, u Upstream) *H2Pool {
	t.Helper()
	p := NewPool(nil).H2(u)
	t.Cleanup(func() { p.closeIdle(true) })
	return p
}

func h2Req(scheme, method, path string) *H2Request {
	return &H2Request{Method: method, Scheme: scheme, Authority: h2Host, Path: path, Header: http.Header{},
		ContentLength: -1, EndStream: true}
}

// getConn takes a stream slot from p, within h2Wait.
func getConn(t *testing.T, p *H2Pool) *H2Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h2Wait)
	defer cancel()
	c, err := p.Get(ctx, h2Host)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return c
}

// openStream opens req on a connection from p. The stream is closed when
// the test ends, or after h2Wait, which ends any wait on it.
func openStream(t *testing.T, p *H2Pool, req *H2Request) (*H2Conn, *H2Stream) {
	t.Helper()
	c := getConn(t, p)
	s, err := c.Open(req)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	bound(t, s)
	return c, s
}

// bound closes s after h2Wait (so that no wait on it is unbounded) and when the test ends.
func bound(t *testing.T, s *H2Stream) {
	timer := time.AfterFunc(h2Wait, func() { _ = s.Close() })
	t.Cleanup(func() {
		timer.Stop()
		_ = s.Close()
	})
}

// h2Result is what a round trip got.
type h2Result struct {
	conn    *H2Conn
	interim []*http.Response
	resp    *http.Response
	body    []byte
}

// roundTrip sends req with body (nil: none) and trailer on a stream from
// p, and reads the whole response. The stream is closed before it returns.
func roundTrip(p *H2Pool, req *H2Request, body []byte, trailer http.Header) (h2Result, error) {
	var res h2Result
	ctx, cancel := context.WithTimeout(context.Background(), h2Wait)
	defer cancel()
	c, err := p.Get(ctx, h2Host)
	if err != nil {
		return res, fmt.Errorf("get: %w", err)
	}
	res.conn = c
	if body != nil {
		req.EndStream = false
	}
	s, err := c.Open(req)
	if err != nil {
		return res, fmt.Errorf("open: %w", err)
	}
	timer := time.AfterFunc(h2Wait, func() { _ = s.Close() })
	defer timer.Stop()
	defer s.Close()
	if body != nil {
		if _, err := s.Write(body); err != nil {
			return res, fmt.Errorf("write: %w", err)
		}
		if err := s.CloseSend(trailer); err != nil {
			return res, fmt.Errorf("close send: %w", err)
		}
	}
	for {
		r, err := s.ReadResponse()
		if err != nil {
			return res, fmt.Errorf("read response: %w", err)
		}
		if r.StatusCode >= 200 {
			res.resp = r
			break
		}
		res.interim = append(res.interim, r)
	}
	res.body, err = io.ReadAll(res.resp.Body)
	if err != nil {
		return res, fmt.Errorf("read body: %w", err)
	}
	return res, nil
}

// h2Handler is the usual upstream handler. /doc is a fixed document,
// /echo echoes the body with what the server saw in X- headers,
// /trailers answers with trailers, /big?n= sends n pattern bytes,
// /interim reads the body (so 100 Continue goes out), sends 103 Early
// Hints, then echoes the body.
func h2Handler(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Proto", r.Proto)
	h.Set("X-Method", r.Method)
	switch r.URL.Path {
	case "/doc":
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", strconv.Itoa(len(h2Doc)))
		_, _ = io.WriteString(w, h2Doc)
	case "/echo":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusInternalServerError)
			return
		}
		sum := sha256.Sum256(b)
		h.Set("X-Length", strconv.Itoa(len(b)))
		h.Set("X-Content-Length", strconv.FormatInt(r.ContentLength, 10))
		h.Set("X-Sha256", hex.EncodeToString(sum[:]))
		h.Set("X-Req-Trailer", r.Trailer.Get("X-Req-Sum"))
		h.Set("X-Host", r.Host)
		_, _ = w.Write(b)
	case "/trailers":
		h.Set("Trailer", "X-Resp-Sum")
		_, _ = io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "part two")
		h.Set("X-Resp-Sum", "two parts")
	case "/big":
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		h.Set("Content-Length", strconv.Itoa(n))
		_, _ = w.Write(pattern(n))
	case "/interim":
		b, _ := io.ReadAll(r.Body) // sends 100 Continue first
		h.Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		h.Del("Link")
		_, _ = w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func TestH2RoundTrip(t *testing.T) {
	big := pattern(1 << 20)
	bigSum := sha256.Sum256(big)
	tests := []struct {
		name      string
		plaintext bool
		method    string
		path      string
		header    http.Header
		cl        int64 // ContentLength; 0 means -1 (none)
		body      []byte
		trailer   http.Header
		check     func(t *testing.T, res h2Result)
	}{
		{name: "GET over TLS", method: "GET", path: "/doc", check: func(t *testing.T, res h2Result) {
			checkDoc(t, res)
		}},
		{name: "GET with prior knowledge (h2c)", plaintext: true, method: "GET", path: "/doc", check: func(t *testing.T, res h2Result) {
			checkDoc(t, res)
		}},
		{name: "POST 1 MiB past a 16 KiB window", method: "POST", path: "/echo", cl: int64(len(big)), body: big,
			check: func(t *testing.T, res h2Result) {
				wantHeaders(t, res.resp, map[string]string{"X-Length": strconv.Itoa(len(big)),
					"X-Content-Length": strconv.Itoa(len(big)), "X-Sha256": hex.EncodeToString(bigSum[:]), "X-Host": h2Host})
				if !bytes.Equal(res.body, big) {
					t.Errorf("echoed body: %d bytes, want the %d sent", len(res.body), len(big))
				}
			}},
		{name: "POST without content-length", plaintext: true, method: "POST", path: "/echo", body: []byte("streamed"),
			check: func(t *testing.T, res h2Result) {
				wantHeaders(t, res.resp, map[string]string{"X-Length": "8", "X-Content-Length": "-1"})
				if string(res.body) != "streamed" {
					t.Errorf("body %q, want %q", res.body, "streamed")
				}
			}},
		{name: "request trailers", method: "POST", path: "/echo", header: http.Header{"Trailer": {"X-Req-Sum"}},
			body: []byte("hello"), trailer: http.Header{"X-Req-Sum": {"5 bytes"}},
			check: func(t *testing.T, res h2Result) {
				wantHeaders(t, res.resp, map[string]string{"X-Req-Trailer": "5 bytes", "X-Length": "5"})
			}},
		{name: "response trailers", method: "GET", path: "/trailers", check: func(t *testing.T, res h2Result) {
			if string(res.body) != "part one, part two" {
				t.Errorf("body %q, want %q", res.body, "part one, part two")
			}
			if res.resp.ContentLength != -1 {
				t.Errorf("ContentLength %d, want -1", res.resp.ContentLength)
			}
			if got := res.resp.Trailer.Get("X-Resp-Sum"); got != "two parts" {
				t.Errorf("trailer X-Resp-Sum %q, want %q (Trailer %v)", got, "two parts", res.resp.Trailer)
			}
		}},
		{name: "HEAD with content-length and no body", method: "HEAD", path: "/doc", check: func(t *testing.T, res h2Result) {
			if res.resp.StatusCode != 200 || res.resp.ContentLength != int64(len(h2Doc)) || len(res.body) != 0 {
				t.Errorf("HEAD: %d, ContentLength %d, %d body bytes; want 200, %d, none",
					res.resp.StatusCode, res.resp.ContentLength, len(res.body), len(h2Doc))
			}
			wantHeaders(t, res.resp, map[string]string{"X-Method": "HEAD", "Content-Length": strconv.Itoa(len(h2Doc))})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newH2Server(t, http.HandlerFunc(h2Handler), h2ServerOptions{plaintext: tt.plaintext,
				h2: &http2.Server{MaxUploadBufferPerStream: 16 << 10, MaxUploadBufferPerConnection: 64 << 10}})
			p := newTestH2Pool(t, srv.upstream())
			req := h2Req(srv.scheme(), tt.method, tt.path)
			if tt.header != nil {
				req.Header = tt.header.Clone()
			}
			if tt.cl != 0 {
				req.ContentLength = tt.cl
			}
			res, err := roundTrip(p, req, tt.body, tt.trailer)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, res)
		})
	}
}

// TestH2Interim: informational heads come before the final response, in
// order; a client that asked for 100 Continue sends its body after it.
func TestH2Interim(t *testing.T) {
	srv := newH2Server(t, http.HandlerFunc(h2Handler), h2ServerOptions{})
	p := newTestH2Pool(t, srv.upstream())
	req := h2Req("https", "POST", "/interim")
	req.Header.Set("Expect", "100-continue")
	req.EndStream, req.ContentLength = false, 5
	_, s := openStream(t, p, req)
	next := func(want int) *http.Response {
		t.Helper()
		r, err := s.ReadResponse()
		if err != nil {
			t.Fatalf("waiting for %d: %v", want, err)
		}
		if r.StatusCode != want {
			t.Fatalf("got %s, want %d", r.Status, want)
		}
		return r
	}
	next(http.StatusContinue)
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseSend(nil); err != nil {
		t.Fatal(err)
	}
	if l := next(http.StatusEarlyHints).Header.Get("Link"); l != "</style.css>; rel=preload" {
		t.Errorf("103 Link %q, want the preload", l)
	}
	resp := next(http.StatusOK)
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "hello" {
		t.Errorf("final response body %q, %v; want %q", b, err, "hello")
	}
	if resp.Header.Get("Link") != "" {
		t.Error("the 103's Link header leaked into the final response")
	}
}

func checkDoc(t *testing.T, res h2Result) {
	t.Helper()
	r := res.resp
	if r.StatusCode != 200 || r.Status != "200 OK" || r.Proto != "HTTP/2.0" {
		t.Errorf("got %d %q %s, want 200 \"200 OK\" HTTP/2.0", r.StatusCode, r.Status, r.Proto)
	}
	if r.ContentLength != int64(len(h2Doc)) || string(res.body) != h2Doc {
		t.Errorf("body %q (ContentLength %d), want %q (%d)", res.body, r.ContentLength, h2Doc, len(h2Doc))
	}
	wantHeaders(t, r, map[string]string{"X-Proto": "HTTP/2.0", "X-Method": "GET", "Content-Type": "text/plain"})
}

func wantHeaders(t *testing.T, r *http.Response, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s: %q, want %q", k, got, v)
		}
	}
}

// TestH2LargeResponseFlowControl: the upstream may send no more than the
// 4 MiB stream window until the reader makes room; read slowly, a larger
// body then arrives whole through WINDOW_UPDATEs.
func TestH2LargeResponseFlowControl(t *testing.T) {
	const n = 6<<20 + 123
	srv := newH2Server(t, http.HandlerFunc(h2Handler), h2ServerOptions{})
	p := newTestH2Pool(t, srv.upstream())
	_, s := openStream(t, p, h2Req("https", "GET", "/big?n="+strconv.Itoa(n)))
	resp, err := s.ReadResponse()
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != n {
		t.Fatalf("ContentLength %d, want %d", resp.ContentLength, n)
	}
	// Nothing read yet: the upstream fills the stream window and stops.
	deadline := time.Now().Add(h2Wait)
	for s.Buffered() < h2StreamWindow {
		if time.Now().After(deadline) {
			t.Fatalf("buffered %d bytes, want the upstream to fill the %d-byte window", s.Buffered(), h2StreamWindow)
		}
		time.Sleep(time.Millisecond)
	}
	if got := s.Buffered(); got != h2StreamWindow {
		t.Fatalf("buffered %d bytes without reading, want exactly the %d-byte window", got, h2StreamWindow)
	}
	var got bytes.Buffer
	buf := make([]byte, 16<<10)
	for {
		k, err := s.Read(buf)
		got.Write(buf[:k])
		if b := s.Buffered(); b > h2StreamWindow {
			t.Fatalf("buffered %d bytes, more than the %d-byte window", b, h2StreamWindow)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got.Len(), err)
		}
	}
	if !bytes.Equal(got.Bytes(), pattern(n)) {
		t.Errorf("got %d bytes, not the %d sent", got.Len(), n)
	}
}

// TestH2ConcurrentStreams: many requests at once on an upstream that takes
// 10 streams per connection all succeed, on more than one connection. The
// handler holds every request until 11 are in flight, which one
// connection cannot carry.
func TestH2ConcurrentStreams(t *testing.T) {
	const (
		maxStreams = 10
		clients    = 200
	)
	var inflight, peak atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	srv := newH2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if n > maxStreams {
			once.Do(func() { close(release) })
		}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		case <-time.After(h2Wait):
		}
		_, _ = io.WriteString(w, "ok "+r.URL.Path)
	}), h2ServerOptions{h2: &http2.Server{MaxConcurrentStreams: maxStreams}})
	p := newTestH2Pool(t, srv.upstream())
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/" + strconv.Itoa(i)
			res, err := roundTrip(p, h2Req("https", "GET", path), nil, nil)
			switch {
			case err != nil:
				errs <- fmt.Errorf("request %d: %w", i, err)
			case res.resp.StatusCode != 200 || string(res.body) != "ok "+path:
				errs <- fmt.Errorf("request %d: %d %q, want 200 %q", i, res.resp.StatusCode, res.body, "ok "+path)
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 5 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d requests failed", failed, clients)
	}
	if n := srv.accepted.Load(); n < 2 {
		t.Errorf("the pool opened %d connection(s), want more than one for %d streams at a time", n, maxStreams+1)
	}
	if pk := peak.Load(); pk <= maxStreams {
		t.Errorf("at most %d requests were in flight, want more than %d", pk, maxStreams)
	}
}

// TestH2MaxRequests: a connection carries MaxRequests streams, then the
// pool opens another and closes the spent one.
func TestH2MaxRequests(t *testing.T) {
	tests := []struct {
		name string
		max  int
		want []int // index of the connection each request used
	}{
		{name: "unlimited", want: []int{0, 0, 0, 0}},
		{name: "MaxRequests 3", max: 3, want: []int{0, 0, 0, 1, 1}},
		{name: "MaxRequests 1", max: 1, want: []int{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newH2Server(t, http.HandlerFunc(h2Handler), h2ServerOptions{})
			u := srv.upstream()
			u.MaxRequests = tt.max
			p := newTestH2Pool(t, u)
			var conns []*H2Conn
			var got []int
			for i := range tt.want {
				res, err := roundTrip(p, h2Req("https", "GET", "/doc"), nil, nil)
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				idx := -1
				for j, c := range conns {
					if c == res.conn {
						idx = j
					}
				}
				if idx < 0 {
					idx = len(conns)
					conns = append(conns, res.conn)
				}
				got = append(got, idx)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("connections used %v, want %v", got, tt.want)
			}
			if n := int(srv.accepted.Load()); n != len(conns) {
				t.Errorf("the server accepted %d connections, want %d", n, len(conns))
			}
			if tt.max > 0 {
				srv.conn(t, 0).waitClosed(t, "it carried its last allowed stream")
			}
		})
	}
}

// TestH2IdleTimeout: a connection without streams for IdleTimeout is
// closed; one with a stream open is not.
func TestH2IdleTimeout(t *testing.T) {
	const idle = 50 * time.Millisecond
	t.Run("idle connection is closed", func(t *testing.T) {
		srv := newH2Server(t, http.HandlerFunc(h2Handler), h2ServerOptions{})
		u := srv.upstream()
		u.IdleTimeout = idle
		p := newTestH2Pool(t, u)
		first, err := roundTrip(p, h2Req("https", "GET", "/doc"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv.conn(t, 0).waitClosed(t, "idle past IdleTimeout")
		next, err := roundTrip(p, h2Req("https", "GET", "/doc"), nil, nil)
		if err != nil {
			t.Fatalf("request after the idle close: %v", err)
		}
		if next.conn == first.conn {
			t.Error("the pool reused the connection it closed as idle")
		}
	})
	t.Run("connection with an open stream is kept", func(t *testing.T) {
		proceed := make(chan struct{})
		srv := newH2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-proceed:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, "late")
		}), h2ServerOptions{})
		u := srv.upstream()
		u.IdleTimeout = idle
		p := newTestH2Pool(t, u)
		done := make(chan error, 1)
		go func() {
			res, err := roundTrip(p, h2Req("https", "GET", "/slow"), nil, nil)
			if err == nil && string(res.body) != "late" {
				err = fmt.Errorf("body %q, want %q", res.body, "late")
			}
			done <- err
		}()
		// Several idle timeouts pass while the stream waits for its response.
		select {
		case <-srv.conn0(t).closed:
			t.Fatal("the connection was closed as idle while a stream was open")
		case <-time.After(6 * idle):
		}
		close(proceed)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(h2Wait):
			t.Fatal("no response")
		}
		srv.conn(t, 0).waitClosed(t, "idle past IdleTimeout after its stream ended")
	})
}

// conn0 waits for the first connection to be accepted and returns it.
func (s *h2Server) conn0(t *testing.T) *h2ServerConn {
	t.Helper()
	deadline := time.Now().Add(h2Wait)
	for s.accepted.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the pool did not connect")
		}
		time.Sleep(time.Millisecond)
	}
	return s.conn(t, 0)
}

// TestH2CloseMidResponse: closing a stream whose response is still
// coming resets it, so the upstream's handler sees its request cancelled;
// a Read blocked on it returns; the slot is given back.
func TestH2CloseMidResponse(t *testing.T) {
	entered, cancelled := make(chan struct{}), make(chan struct{})
	srv := newH2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first part")
		if r.URL.Path != "/slow" {
			return
		}
		w.(http.Flusher).Flush()
		close(entered)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(h2Wait):
		}
	}), h2ServerOptions{})
	p := newTestH2Pool(t, srv.upstream())
	c, s := openStream(t, p, h2Req("https", "GET", "/slow"))
	resp, err := s.ReadResponse()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("first part"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first part" {
		t.Fatalf("read %q, %v; want %q", buf, err, "first part")
	}
	<-entered
	readErr := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 10))
		readErr <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case err := <-readErr:
		if err == nil || err == io.EOF {
			t.Errorf("Read blocked across Close returned %v, want an error", err)
		}
	case <-time.After(h2Wait):
		t.Fatal("Read did not return after Close")
	}
	select {
	case <-cancelled:
	case <-time.After(h2Wait):
		t.Fatal("the upstream handler's request was not cancelled (no RST_STREAM)")
	}
	c.mu.Lock()
	active, open := c.active, len(c.streams)
	c.mu.Unlock()
	if active != 0 || open != 0 {
		t.Errorf("after Close: %d slots taken, %d streams, want none", active, open)
	}
	// The connection carries on.
	res, err := roundTrip(p, h2Req("https", "GET", "/quick"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.conn != c || string(res.body) != "first part" {
		t.Errorf("next request: body %q, same connection %v; want %q on the same connection", res.body, res.conn == c, "first part")
	}
}

// TestH2NoHTTP2: an upstream that picks http/1.1 by ALPN gives ErrNoHTTP2,
// and the pool is not used for HTTP/2 for a while.
func TestH2NoHTTP2(t *testing.T) {
	srv := newH2Server(t, http.HandlerFunc(h2Handler), h2ServerOptions{h1only: true})
	p := newTestH2Pool(t, srv.upstream())
	if !p.Usable() {
		t.Fatal("a new pool is not Usable")
	}
	ctx, cancel := context.WithTimeout(context.Background(), h2Wait)
	defer cancel()
	c, err := p.Get(ctx, h2Host)
	if !errors.Is(err, ErrNoHTTP2) {
		t.Fatalf("Get: %v, %v; want ErrNoHTTP2", c, err)
	}
	if p.Usable() {
		t.Error("Usable after the upstream declined HTTP/2")
	}
	srv.conn(t, 0).waitClosed(t, "the upstream declined HTTP/2")
}

// TestH2HeaderListTooLarge: request headers larger than the upstream's
// SETTINGS_MAX_HEADER_LIST_SIZE are not sent; the connection stays usable.
func TestH2HeaderListTooLarge(t *testing.T) {
	srv := newH2Server(t, http.HandlerFunc(h2Handler), h2ServerOptions{base: &http.Server{MaxHeaderBytes: 512}})
	p := newTestH2Pool(t, srv.upstream())
	c := getConn(t, p)
	req := h2Req("https", "GET", "/doc")
	req.Header.Set("X-Big", strings.Repeat("b", 1000))
	s, err := c.Open(req)
	var he *HeaderListTooLargeError
	if !errors.As(err, &he) {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("Open: %v, want a HeaderListTooLargeError", err)
	}
	const limit = 512 + 10*32 // as x/net/http2 announces MaxHeaderBytes
	if he.Limit != limit || he.Size <= limit {
		t.Errorf("HeaderListTooLargeError{Size: %d, Limit: %d}, want Limit %d and a larger Size", he.Size, he.Limit, limit)
	}
	c.mu.Lock()
	active := c.active
	c.mu.Unlock()
	if active != 0 {
		t.Errorf("%d slots taken after the failed Open, want 0", active)
	}
	// The same connection (and its header compression state) still works.
	for i := range 2 {
		res, err := roundTrip(p, h2Req("https", "GET", "/doc"), nil, nil)
		if err != nil {
			t.Fatalf("request %d after the refused one: %v", i+1, err)
		}
		checkDoc(t, res)
		if res.conn != c {
			t.Errorf("request %d after the refused one used a new connection", i+1)
		}
	}
}

// rawH2Conn is the server's side of a connection to a hand-driven HTTP/2
// server, for upstreams that misbehave.
type rawH2Conn struct {
	net.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	henc *hpack.Encoder
}

// newRawH2Server serves each accepted plaintext connection with serve
// (i counts connections from 0). serve reports problems with t.Errorf; it
// is waited for when the test ends.
func newRawH2Server(t *testing.T, serve func(i int, rc *rawH2Conn)) Upstream {
	t.Helper()
	addr := serveConns(t, func(i int, c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(h2Wait))
		rc := &rawH2Conn{Conn: c}
		rc.fr = http2.NewFramer(c, c)
		rc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		rc.henc = hpack.NewEncoder(&rc.hbuf)
		serve(i, rc)
	})
	return Upstream{Key: "raw " + addr, Dial: dialTo(addr), IdleTimeout: time.Minute, HTTP2: true}
}

// newFirstConnRawH2Server is a raw HTTP/2 upstream for tests about its
// first connection, which first serves from the start; every later
// connection answers 204 (noContent).
func newFirstConnRawH2Server(t *testing.T, first func(rc *rawH2Conn)) Upstream {
	t.Helper()
	return newRawH2Server(t, func(i int, rc *rawH2Conn) {
		if i > 0 {
			rc.noContent(t)
			return
		}
		first(rc)
	})
}

// newFirstConnH2Server is newFirstConnRawH2Server with the handshake done
// and the first request's HEADERS read before first serves.
func newFirstConnH2Server(t *testing.T, first func(rc *rawH2Conn, hf *http2.MetaHeadersFrame)) Upstream {
	t.Helper()
	return newFirstConnRawH2Server(t, func(rc *rawH2Conn) {
		hf, err := rc.firstRequest()
		if err != nil {
			t.Error(err)
			return
		}
		first(rc, hf)
	})
}

// preface reads the client preface.
func (rc *rawH2Conn) preface() error {
	b := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(rc, b); err != nil {
		return fmt.Errorf("reading the preface: %w", err)
	}
	if string(b) != http2.ClientPreface {
		return fmt.Errorf("preface %q", b)
	}
	return nil
}

// handshake reads the preface and sends the server's SETTINGS.
func (rc *rawH2Conn) handshake(settings ...http2.Setting) error {
	if err := rc.preface(); err != nil {
		return err
	}
	return rc.fr.WriteSettings(settings...)
}

// next reads the next frame, acknowledging SETTINGS.
func (rc *rawH2Conn) next() (http2.Frame, error) {
	f, err := rc.fr.ReadFrame()
	if err != nil {
		return nil, err
	}
	if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
		if err := rc.fr.WriteSettingsAck(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// request reads frames until a request's HEADERS.
func (rc *rawH2Conn) request() (*http2.MetaHeadersFrame, error) {
	for {
		f, err := rc.next()
		if err != nil {
			return nil, fmt.Errorf("waiting for a request: %w", err)
		}
		if hf, ok := f.(*http2.MetaHeadersFrame); ok {
			return hf, nil
		}
	}
}

// firstRequest does the handshake and reads the first request's HEADERS.
func (rc *rawH2Conn) firstRequest() (*http2.MetaHeadersFrame, error) {
	if err := rc.handshake(); err != nil {
		return nil, err
	}
	return rc.request()
}

// noContent answers the first request 204 and reads on until the client
// hangs up: how the connections after the first serve in tests about the first.
func (rc *rawH2Conn) noContent(t *testing.T) {
	hf, err := rc.firstRequest()
	if err != nil {
		t.Error(err)
		return
	}
	_ = rc.headers(hf.StreamID, true, ":status", "204")
	_, _ = io.Copy(io.Discard, rc)
}

// waitFor reads frames until one that match accepts.
func (rc *rawH2Conn) waitFor(what string, match func(http2.Frame) bool) error {
	for {
		f, err := rc.next()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if match(f) {
			return nil
		}
	}
}

// headers sends a HEADERS frame of name, value pairs.
func (rc *rawH2Conn) headers(id uint32, end bool, kv ...string) error {
	rc.hbuf.Reset()
	for i := 0; i < len(kv); i += 2 {
		_ = rc.henc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.hbuf.Bytes(), EndStream: end, EndHeaders: true})
}

// headerBlock sends the header block b for stream id in a HEADERS frame
// and as many CONTINUATION frames as it takes, each of at most piece bytes.
func (rc *rawH2Conn) headerBlock(id uint32, endStream bool, b []byte, piece int) {
	first := true
	for len(b) > 0 {
		n := min(piece, len(b))
		end := n == len(b)
		if first {
			_ = rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b[:n], EndStream: endStream, EndHeaders: end})
			first = false
		} else {
			_ = rc.fr.WriteContinuation(id, end, b[:n])
		}
		b = b[n:]
	}
}

// TestH2StreamReset: RST_STREAM from the upstream fails the stream with a
// StreamResetError, Refused for REFUSED_STREAM only.
func TestH2StreamReset(t *testing.T) {
	tests := []struct {
		code        http2.ErrCode
		wantRefused bool
	}{
		{http2.ErrCodeInternal, false},
		{http2.ErrCodeCancel, false},
		{http2.ErrCodeRefusedStream, true},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			u := newRawH2Server(t, func(_ int, rc *rawH2Conn) {
				hf, err := rc.firstRequest()
				if err != nil {
					t.Error(err)
					return
				}
				_ = rc.fr.WriteRSTStream(hf.StreamID, tt.code)
				_, _ = io.Copy(io.Discard, rc) // until the client hangs up
			})
			p := newTestH2Pool(t, u)
			_, s := openStream(t, p, h2Req("http", "GET", "/"))
			resp, err := s.ReadResponse()
			var re *StreamResetError
			if !errors.As(err, &re) {
				t.Fatalf("ReadResponse: %v, %v; want a StreamResetError", resp, err)
			}
			if re.Code != tt.code || re.Refused() != tt.wantRefused {
				t.Errorf("StreamResetError{Code: %v, Refused: %v}, want %v, %v", re.Code, re.Refused(), tt.code, tt.wantRefused)
			}
			if !strings.Contains(err.Error(), tt.code.String()) {
				t.Errorf("error %q does not name %v", err, tt.code)
			}
		})
	}
}

// TestH2GoAway: a GOAWAY whose last stream ID is below an open stream
// fails that stream as refused; streams at or below it finish; the pool
// opens a new connection for the next request and closes the old one once
// its streams are done.
func TestH2GoAway(t *testing.T) {
	firstClosed := make(chan struct{})
	u := newFirstConnH2Server(t, func(rc *rawH2Conn, a *http2.MetaHeadersFrame) {
		if _, err := rc.request(); err != nil {
			t.Error(err)
			return
		}
		_ = rc.fr.WriteGoAway(a.StreamID, http2.ErrCodeNo, nil)
		_ = rc.headers(a.StreamID, false, ":status", "200", "content-length", "2")
		_ = rc.fr.WriteData(a.StreamID, true, []byte("ok"))
		if _, err := io.Copy(io.Discard, rc); err == nil { // the client closed it (not the read deadline)
			close(firstClosed)
		}
	})
	p := newTestH2Pool(t, u)
	c1, s1 := openStream(t, p, h2Req("http", "GET", "/a"))
	c2, s2 := openStream(t, p, h2Req("http", "GET", "/b"))
	if c1 != c2 {
		t.Fatal("two streams did not share the connection")
	}
	_, err := s2.ReadResponse()
	var re *StreamResetError
	if !errors.As(err, &re) || !re.Refused() {
		t.Fatalf("stream above the GOAWAY: %v, want a refused StreamResetError", err)
	}
	resp, err := s1.ReadResponse()
	if err != nil {
		t.Fatalf("stream below the GOAWAY: %v", err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
		t.Fatalf("stream below the GOAWAY: body %q, %v; want %q", b, err, "ok")
	}
	res, err := roundTrip(p, h2Req("http", "GET", "/c"), nil, nil)
	if err != nil {
		t.Fatalf("request after the GOAWAY: %v", err)
	}
	if res.conn == c1 {
		t.Error("the pool opened a stream on a connection that sent GOAWAY")
	}
	if res.resp.StatusCode != 204 {
		t.Errorf("status %d, want 204", res.resp.StatusCode)
	}
	_ = s1.Close()
	_ = s2.Close()
	select {
	case <-firstClosed:
	case <-time.After(h2Wait):
		t.Fatal("the connection that sent GOAWAY was not closed after its last stream")
	}
}

// TestH2ConnectionDies: when the upstream's connection ends, every stream
// on it fails, and the next request gets a new connection.
func TestH2ConnectionDies(t *testing.T) {
	u := newFirstConnRawH2Server(t, func(rc *rawH2Conn) {
		if err := rc.handshake(); err != nil {
			t.Error(err)
			return
		}
		for range 2 {
			if _, err := rc.request(); err != nil {
				t.Error(err)
				return
			}
		}
		_ = rc.Close()
	})
	p := newTestH2Pool(t, u)
	c1, s1 := openStream(t, p, h2Req("http", "GET", "/a"))
	_, s2 := openStream(t, p, h2Req("http", "POST", "/b"))
	for i, s := range []*H2Stream{s1, s2} {
		_, err := s.ReadResponse()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("stream %d: %v, want an unexpected EOF from the upstream", i+1, err)
		}
	}
	if _, err := s2.Write([]byte("x")); err == nil {
		t.Error("Write on a dead connection succeeded")
	}
	res, err := roundTrip(p, h2Req("http", "GET", "/c"), nil, nil)
	if err != nil {
		t.Fatalf("request after the connection died: %v", err)
	}
	if res.conn == c1 {
		t.Error("the pool reused a dead connection")
	}
}

// TestH2BodyLengthMismatch: a body that disagrees with its content-length
// is an error on Read, not a clean EOF.
func TestH2BodyLengthMismatch(t *testing.T) {
	tests := []struct {
		name    string
		send    func(rc *rawH2Conn, id uint32)
		want    string
		wantLen int // bytes read before the error
	}{
		{name: "short body", want: "short of its content-length", wantLen: 3, send: func(rc *rawH2Conn, id uint32) {
			_ = rc.headers(id, false, ":status", "200", "content-length", "10")
			_ = rc.fr.WriteData(id, true, []byte("abc"))
		}},
		{name: "empty body", want: "short of its content-length", send: func(rc *rawH2Conn, id uint32) {
			_ = rc.headers(id, true, ":status", "200", "content-length", "5")
		}},
		{name: "long body", want: "more body than its content-length", send: func(rc *rawH2Conn, id uint32) {
			_ = rc.headers(id, false, ":status", "200", "content-length", "2")
			_ = rc.fr.WriteData(id, true, []byte("abc"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newRawH2Server(t, func(_ int, rc *rawH2Conn) {
				hf, err := rc.firstRequest()
				if err != nil {
					t.Error(err)
					return
				}
				tt.send(rc, hf.StreamID)
				_, _ = io.Copy(io.Discard, rc)
			})
			p := newTestH2Pool(t, u)
			_, s := openStream(t, p, h2Req("http", "GET", "/"))
			resp, err := s.ReadResponse()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("read %q, %v; want an error containing %q", b, err, tt.want)
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Errorf("error %T, want a ProtocolError", err)
			}
			if len(b) > tt.wantLen {
				t.Errorf("read %d bytes before the error, want at most %d", len(b), tt.wantLen)
			}
		})
	}
}

// TestH2CloseResetsUnfinishedRequest: Close resets a stream whose response
// ended while its request body was still being sent, so the upstream does
// not keep the stream open.
func TestH2CloseResetsUnfinishedRequest(t *testing.T) {
	gotRST := make(chan http2.ErrCode, 1)
	u := newRawH2Server(t, func(_ int, rc *rawH2Conn) {
		hf, err := rc.firstRequest()
		if err != nil {
			t.Error(err)
			return
		}
		_ = rc.headers(hf.StreamID, true, ":status", "413", "content-length", "0")
		err = rc.waitFor("RST_STREAM", func(f http2.Frame) bool {
			if rst, ok := f.(*http2.RSTStreamFrame); ok && rst.StreamID == hf.StreamID {
				gotRST <- rst.ErrCode
				return true
			}
			return false
		})
		if err != nil {
			close(gotRST)
		}
	})
	p := newTestH2Pool(t, u)
	req := h2Req("http", "POST", "/upload")
	req.EndStream, req.ContentLength = false, 1<<20
	_, s := openStream(t, p, req)
	if _, err := s.Write([]byte("the start of the body")); err != nil {
		t.Fatal(err)
	}
	resp, err := s.ReadResponse()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil || resp.StatusCode != 413 {
		t.Fatalf("response %d, %v; want 413 and an empty body", resp.StatusCode, err)
	}
	_ = s.Close()
	select {
	case code, ok := <-gotRST:
		if !ok {
			t.Fatal("the upstream got no RST_STREAM for a stream the client left half open")
		}
		if code != http2.ErrCodeCancel {
			t.Errorf("RST_STREAM %v, want CANCEL", code)
		}
	case <-time.After(2 * h2Wait):
		t.Fatal("the raw server did not finish")
	}
}

// TestH2HandshakeFails: an upstream that does not answer the preface with
// SETTINGS fails Get with a ProtocolError saying so.
func TestH2HandshakeFails(t *testing.T) {
	tests := []struct {
		name  string
		serve func(rc *rawH2Conn)
		want  string
	}{
		{name: "first frame PING", want: "its first frame was PING, not SETTINGS", serve: func(rc *rawH2Conn) {
			_ = rc.fr.WritePing(false, [8]byte{1})
		}},
		{name: "first frame SETTINGS ACK", want: "its first frame was SETTINGS, not SETTINGS", serve: func(rc *rawH2Conn) {
			_ = rc.fr.WriteSettingsAck()
		}},
		{name: "closes at once", want: "did not answer HTTP/2", serve: func(rc *rawH2Conn) {}},
		{name: "answers HTTP/1.1", want: "did not answer HTTP/2", serve: func(rc *rawH2Conn) {
			_, _ = io.WriteString(rc, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newRawH2Server(t, func(_ int, rc *rawH2Conn) {
				if err := rc.preface(); err != nil {
					t.Error(err)
					return
				}
				tt.serve(rc)
			})
			p := newTestH2Pool(t, u)
			ctx, cancel := context.WithTimeout(context.Background(), h2Wait)
			defer cancel()
			c, err := p.Get(ctx, h2Host)
			if err == nil {
				t.Fatalf("Get returned a connection (%p)", c)
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Get: %v (%T), want a ProtocolError containing %q", err, err, tt.want)
			}
		})
	}
}

// TestH2RetiredPool: a request that took an upstream from the previous
// configuration just as a reload retired its pool (Pool.Retain) is still
// served, on a connection of its own that closes after it; the pool's
// existing connection closes once idle.
func TestH2RetiredPool(t *testing.T) {
	srv := newH2Server(t, http.HandlerFunc(h2Handler), h2ServerOptions{})
	u := srv.upstream()
	pool := NewPool(nil)
	p := pool.H2(u)
	if _, err := roundTrip(p, h2Req("https", "GET", "/doc"), nil, nil); err != nil {
		t.Fatal(err)
	}
	pool.Retain(map[string]bool{}) // the reload dropped this upstream
	srv.conn(t, 0).waitClosed(t, "its pool was retired while it was idle")
	res, err := roundTrip(p, h2Req("https", "GET", "/doc"), nil, nil)
	if err != nil {
		t.Fatalf("a request racing the reload failed: %v", err)
	}
	if res.resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", res.resp.StatusCode)
	}
	srv.conn(t, 1).waitClosed(t, "it served the one request of a retired pool")
}

// TestH2WindowOverflow: a WINDOW_UPDATE that takes a stream's send window
// past 2^31-1 fails the stream as the upstream's protocol error and
// resets it with FLOW_CONTROL_ERROR (RFC 9113 §6.9.1).
func TestH2WindowOverflow(t *testing.T) {
	reset := make(chan http2.ErrCode, 1)
	u := newRawH2Server(t, func(_ int, rc *rawH2Conn) {
		hf, err := rc.firstRequest()
		if err != nil {
			t.Error(err)
			return
		}
		_ = rc.fr.WriteWindowUpdate(hf.StreamID, 1<<31-1)
		if err := rc.waitFor("RST_STREAM", func(f http2.Frame) bool {
			if rst, ok := f.(*http2.RSTStreamFrame); ok && rst.StreamID == hf.StreamID {
				reset <- rst.ErrCode
				return true
			}
			return false
		}); err != nil {
			t.Error(err)
		}
		_, _ = io.Copy(io.Discard, rc)
	})
	p := newTestH2Pool(t, u)
	_, s := openStream(t, p, h2Req("http", "GET", "/"))
	_, err := s.ReadResponse()
	var pe *ProtocolError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "overflowed the stream's window") {
		t.Fatalf("ReadResponse: %v; want the stream's window overflow as a ProtocolError", err)
	}
	select {
	case code := <-reset:
		if code != http2.ErrCodeFlowControl {
			t.Errorf("the stream was reset with %v, want FLOW_CONTROL_ERROR", code)
		}
	case <-time.After(h2Wait):
		t.Fatal("the upstream never saw the stream reset")
	}
}

// TestH2HeaderBlockInContinuations: a response head split over HEADERS and
// CONTINUATION frames is put together and decoded; one over
// MaxResponseHeaderBytes fails its stream only, and the connection serves on.
func TestH2HeaderBlockInContinuations(t *testing.T) {
	block := func(kv ...string) []byte {
		var b bytes.Buffer
		e := hpack.NewEncoder(&b)
		e.SetMaxDynamicTableSizeLimit(0)
		for i := 0; i < len(kv); i += 2 {
			_ = e.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return b.Bytes()
	}
	big := strings.Repeat("a", MaxResponseHeaderBytes+1)
	u := newRawH2Server(t, func(_ int, rc *rawH2Conn) {
		hf, err := rc.firstRequest()
		if err != nil {
			t.Error(err)
			return
		}
		rc.headerBlock(hf.StreamID, true, block(":status", "200", "x-split", "over three frames", "content-length", "0"), 8)
		for _, b := range [][]byte{block(":status", "200", "x-big", big), block(":status", "204")} {
			hf, err := rc.request()
			if err != nil {
				t.Error(err)
				return
			}
			rc.headerBlock(hf.StreamID, true, b, 16384)
		}
		_, _ = io.Copy(io.Discard, rc)
	})
	p := newTestH2Pool(t, u)
	c1, s := openStream(t, p, h2Req("http", "GET", "/split"))
	resp, err := s.ReadResponse()
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Split") != "over three frames" {
		t.Fatalf("split head: %v, %v", resp, err)
	}
	_ = s.Close()
	_, s = openStream(t, p, h2Req("http", "GET", "/big"))
	if resp, err := s.ReadResponse(); err == nil || !strings.Contains(err.Error(), "exceed 64 KiB") {
		t.Fatalf("head over the limit: %v, %v; want an error saying it exceeds 64 KiB", resp, err)
	}
	_ = s.Close()
	c3, s := openStream(t, p, h2Req("http", "GET", "/after"))
	if resp, err := s.ReadResponse(); err != nil || resp.StatusCode != 204 {
		t.Fatalf("after the large head: %v, %v", resp, err)
	}
	if c3 != c1 {
		t.Error("the connection did not serve on after the large head")
	}
}
