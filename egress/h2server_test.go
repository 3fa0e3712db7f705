package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// h2TestHandler is the handler both servers serve in the differential tests.
func h2TestHandler(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	switch r.URL.Path {
	case "/hello":
		h.Set("X-Hello", "world")
		_, _ = io.WriteString(w, "hello")
	case "/request": // what the handler saw of the request
		h.Set("X-Proto", r.Proto)
		h.Set("X-Host", strconv.FormatBool(strings.HasPrefix(r.Host, "127.0.0.1:")))
		h.Set("X-URI", r.RequestURI)
		h.Set("X-Query", r.URL.RawQuery)
		h.Set("X-Length", strconv.FormatInt(r.ContentLength, 10))
		h.Set("X-TLS", strconv.FormatBool(r.TLS != nil))
		h.Set("X-Remote", strconv.FormatBool(r.RemoteAddr != ""))
		h.Set("X-Cookie", r.Header.Get("Cookie"))
		h.Set("Content-Type", "text/plain")
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d bytes, %v, trailer %v", len(b), err, r.Trailer)
	case "/echo":
		_, _ = io.Copy(w, r.Body)
	case "/big":
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n == 0 {
			n = 1 << 20
		}
		h.Set("Content-Length", strconv.Itoa(n))
		_, _ = io.WriteString(w, h2Pattern(n))
	case "/trailers": // gRPC-style: declared trailers, set after the body
		_, _ = io.Copy(io.Discard, r.Body) // a client still sending after the response ended may see it reset
		h.Set("Content-Type", "application/grpc")
		h.Set("Trailer", "Grpc-Status, Grpc-Message")
		_, _ = io.WriteString(w, "\x00\x00\x00\x00\x02hi")
		w.(http.Flusher).Flush()
		h.Set("Grpc-Status", "0")
		h.Set("Grpc-Message", "ok")
	case "/trailer-prefix":
		_, _ = io.WriteString(w, "body")
		h.Set(http.TrailerPrefix+"Grpc-Status", "3")
	case "/trailers-only":
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", "7")
		h.Set("Grpc-Message", "denied")
		w.WriteHeader(http.StatusOK)
	case "/no-content":
		w.WriteHeader(http.StatusNoContent)
		_, err := io.WriteString(w, "x")
		h.Set("X-Late", fmt.Sprint(err)) // after WriteHeader: not sent
	case "/interim":
		h.Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		h.Del("Link")
		h.Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "after hints")
	case "/sniff":
		_, _ = io.WriteString(w, "<html><body>sniffed</body></html>")
	case "/connection":
		h.Set("Connection", "keep-alive")
		h.Set("Transfer-Encoding", "chunked")
		_, _ = io.WriteString(w, "no connection headers")
	case "/stream": // written in pieces, flushed
		for i := range 3 {
			fmt.Fprintf(w, "piece %d;", i)
			w.(http.Flusher).Flush()
		}
	default:
		http.NotFound(w, r)
	}
}

func req(method, path string, body string, hdr ...string) func(string) *http.Request {
	return func(base string) *http.Request {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		r, _ := http.NewRequest(method, base+path, rd)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		return r
	}
}

// TestH2ServerDifferential: the same handler behind our HTTP/2 server and
// net/http's, driven by Go's HTTP/2 client over TLS and h2c, gives the
// same status, headers, body, trailers and interim responses.
func TestH2ServerDifferential(t *testing.T) {
	big := h2Pattern(1 << 20)
	withTrailer := func(base string) *http.Request {
		r, _ := http.NewRequest("POST", base+"/request", io.NopCloser(strings.NewReader("with a trailer")))
		r.ContentLength = -1
		r.Trailer = http.Header{"X-Sum": nil}
		r.Body = &trailerBody{r: strings.NewReader("with a trailer"), req: r}
		return r
	}
	tests := []struct {
		name string
		mk   func(string) *http.Request
	}{
		{"GET", req("GET", "/hello", "")},
		{"HEAD", req("HEAD", "/hello", "")},
		{"request as seen", req("GET", "/request?a=b&c", "", "Cookie", "a=1", "Cookie", "b=2")},
		{"POST with a length", req("POST", "/request", "twelve bytes")},
		{"Expect 100-continue", req("POST", "/request", "continued", "Expect", "100-continue")},
		{"Expect 100-continue, body unread", req("POST", "/hello", "not read", "Expect", "100-continue")},
		{"POST 1 MiB echoed", req("POST", "/echo", big)},
		{"POST streamed body", func(base string) *http.Request {
			r, _ := http.NewRequest("POST", base+"/request", io.NopCloser(strings.NewReader(big)))
			r.ContentLength = -1
			return r
		}},
		{"request trailers", withTrailer},
		{"response of 1 MiB", req("GET", "/big", "")},
		{"trailers", req("POST", "/trailers", "call", "Content-Type", "application/grpc")},
		{"trailer prefix", req("GET", "/trailer-prefix", "")},
		{"trailers-only", req("POST", "/trailers-only", "call", "Content-Type", "application/grpc")},
		{"204", req("GET", "/no-content", "")},
		{"103 Early Hints", req("GET", "/interim", "")},
		{"sniffed content type", req("GET", "/sniff", "")},
		{"connection headers dropped", req("GET", "/connection", "")},
		{"streamed response", req("GET", "/stream", "")},
		{"not found", req("GET", "/nowhere", "")},
	}
	for _, useTLS := range []bool{false, true} {
		ours, std := newH2Servers(t, http.HandlerFunc(h2TestHandler), useTLS)
		for _, tt := range tests {
			t.Run(fmt.Sprintf("tls=%v/%s", useTLS, tt.name), func(t *testing.T) {
				want := std.do(tt.mk)
				got := ours.do(tt.mk)
				if got.String() != want.String() {
					t.Errorf("ours:\n%s\nnet/http:\n%s", got, want)
				}
				if got.err != "" || got.proto != "HTTP/2.0" {
					t.Errorf("ours: %s %s, want an HTTP/2.0 response", got.proto, got.err)
				}
			})
		}
	}
}

// trailerBody sets its request's trailer once read whole, as a client
// computing a checksum would.
type trailerBody struct {
	r   io.Reader
	req *http.Request
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.req.Trailer.Set("X-Sum", "42")
	}
	return n, err
}
func (b *trailerBody) Close() error { return nil }

// TestH2ServerConcurrentStreams: 100 streams in flight on one connection,
// each handler waiting until all have arrived.
func TestH2ServerConcurrentStreams(t *testing.T) {
	const n = 100
	var arrived atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == n {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-time.After(h1Wait):
			http.Error(w, "not all streams arrived", http.StatusGatewayTimeout)
			return
		}
		_, _ = io.WriteString(w, r.URL.Path)
	})
	for _, useTLS := range []bool{false, true} {
		ours, _ := newH2Servers(t, h, useTLS)
		arrived.Store(0)
		all, once = make(chan struct{}), sync.Once{}
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := "/s" + strconv.Itoa(i)
				res := ours.do(req("GET", path, ""))
				if res.status != 200 || res.body != path {
					errs <- fmt.Sprintf("stream %d: %s", i, res)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("tls=%v: %s", useTLS, e)
		}
	}
}

// TestH2ServerClientReset: a client's RST_STREAM cancels its request's
// context, on both servers.
func TestH2ServerClientReset(t *testing.T) {
	started := make(chan struct{}, 2)
	cancelled := make(chan error, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(h1Wait):
			cancelled <- errors.New("the request's context was not cancelled")
		}
	})
	ours, std := newH2Servers(t, h, false)
	for _, s := range []*h2Server{std, ours} {
		ctx, cancel := context.WithCancel(context.Background())
		r, _ := http.NewRequestWithContext(ctx, "GET", s.url("/wait"), nil)
		resp, err := s.client.Do(r)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		<-started
		cancel() // RST_STREAM CANCEL
		_ = resp.Body.Close()
		select {
		case err := <-cancelled:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: handler's context: %v, want context.Canceled", s.name, err)
			}
		case <-time.After(2 * h1Wait):
			t.Fatalf("%s: the handler did not return", s.name)
		}
	}
}

// TestH2ServerFrames: what Go's client will not send, sent frame by
// frame, gets the same answer from both servers: bad pseudo-headers and
// forbidden headers, a header list over the limit, a PING, a small
// SETTINGS_INITIAL_WINDOW_SIZE, DATA past the Content-Length.
func TestH2ServerFrames(t *testing.T) {
	tests := []struct {
		name     string
		settings []http2.Setting
		send     func(r *rawH2)
		id       uint32 // the stream told; 0: until a PING ack
		ack      bool
		maxData  int
	}{
		{name: "GET", send: func(r *rawH2) { r.headers(1, true, get("/hello")...) }, id: 1},
		{name: "no :path", send: func(r *rawH2) {
			r.headers(1, true, ":method", "GET", ":scheme", "https", ":authority", "example.test")
		}, id: 1},
		{name: "no :method", send: func(r *rawH2) {
			r.headers(1, true, ":scheme", "https", ":authority", "example.test", ":path", "/hello")
		}, id: 1},
		{name: "bad :scheme", send: func(r *rawH2) {
			r.headers(1, true, ":method", "GET", ":scheme", "ftp", ":authority", "example.test", ":path", "/hello")
		}, id: 1},
		{name: "unknown pseudo-header", send: func(r *rawH2) { r.headers(1, true, get("/hello", ":foo", "bar")...) }, id: 1},
		{name: "pseudo-header after a field", send: func(r *rawH2) {
			r.headers(1, true, ":method", "GET", ":scheme", "https", "x-a", "b", ":authority", "example.test", ":path", "/hello")
		}, id: 1},
		{name: "uppercase field name", send: func(r *rawH2) { r.headers(1, true, get("/hello", "X-Upper", "v")...) }, id: 1},
		{name: "connection header", send: func(r *rawH2) { r.headers(1, true, get("/hello", "connection", "keep-alive")...) }, id: 1},
		{name: "te other than trailers", send: func(r *rawH2) { r.headers(1, true, get("/hello", "te", "gzip")...) }, id: 1},
		{name: "relative :path", send: func(r *rawH2) { r.headers(1, true, get("hello")...) }, id: 1},
		{name: "extended CONNECT", send: func(r *rawH2) {
			r.headers(1, true, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "example.test", ":path", "/chat")
		}, id: 1},
		{name: "CONNECT with a path", send: func(r *rawH2) {
			r.headers(1, true, ":method", "CONNECT", ":authority", "example.test:443", ":path", "/")
		}, id: 1},
		{name: "header list over the limit", send: func(r *rawH2) {
			r.headers(1, true, get("/hello", "x-big", strings.Repeat("b", 20*h2TestHeaderBytes))...)
		}, id: 1},
		{name: "even stream ID", send: func(r *rawH2) { r.headers(2, true, get("/hello")...) }, id: 2},
		{name: "PING", send: func(r *rawH2) { _ = r.fr.WritePing(false, [8]byte{'p', 'i', 'n', 'g', 'd', 'a', 't', 'a'}) }},
		{name: "small INITIAL_WINDOW_SIZE", settings: []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 100}},
			send: func(r *rawH2) { r.headers(1, true, get("/big?n=1000")...) }, id: 1, ack: true, maxData: 100},
		{name: "DATA past the Content-Length", send: func(r *rawH2) {
			r.headers(1, false, append(get("/request"), "content-length", "3")...)
			_ = r.fr.WriteData(1, true, []byte("four"))
		}, id: 1},
		{name: "DATA short of the Content-Length", send: func(r *rawH2) {
			r.headers(1, false, append(get("/request"), "content-length", "5")...)
			_ = r.fr.WriteData(1, true, []byte("four"))
		}, id: 1},
		{name: "DATA on an idle stream", send: func(r *rawH2) { _ = r.fr.WriteData(7, true, []byte("x")) }, id: 7},
		{name: "WINDOW_UPDATE overflowing the connection window", send: func(r *rawH2) {
			_ = r.fr.WriteWindowUpdate(0, 1<<31-1)
		}, id: 1},
		{name: "request trailers without END_STREAM", send: func(r *rawH2) {
			r.headers(1, false, get("/request")...)
			r.headers(1, false, "x-trailer", "v")
		}, id: 1},
	}
	for _, useTLS := range []bool{false, true} {
		ours, std := newH2Servers(t, http.HandlerFunc(h2TestHandler), useTLS)
		for _, tt := range tests {
			t.Run(fmt.Sprintf("tls=%v/%s", useTLS, tt.name), func(t *testing.T) {
				var got, want []string
				for _, s := range []*h2Server{std, ours} {
					r := s.raw(t, tt.settings...)
					tt.send(r)
					tr := r.transcript(tt.id, tt.ack, tt.maxData)
					if s == ours {
						got = tr
					} else {
						want = tr
					}
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("ours:\n  %s\nnet/http:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
			})
		}
	}
}
