package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestH2ServerHandlerPanic: a handler's panic resets its stream with
// INTERNAL_ERROR (as net/http's server does), is counted, and the
// connection serves on.
func TestH2ServerHandlerPanic(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("handler exploded")
		}
		h2TestHandler(w, r)
	})
	for _, useTLS := range []bool{false, true} {
		ours, std := newH2Servers(t, h, useTLS)
		for _, s := range []*h2Server{std, ours} {
			if got := s.do(req("GET", "/panic", "")); got.err != "stream error INTERNAL_ERROR" {
				t.Errorf("%s tls=%v: a handler's panic gave %s, want the stream reset with INTERNAL_ERROR", s.name, useTLS, got)
			}
			if got := s.do(req("GET", "/hello", "")); got.status != 200 || got.body != "hello" {
				t.Errorf("%s tls=%v: after a handler's panic: %s, want 200 hello", s.name, useTLS, got)
			}
		}
		if n := counterValue(ours.eng.metrics.Panics.WithLabelValues("http2 stream")); n != 1 {
			t.Errorf("tls=%v: egressgw_recovered_panics_total{where=\"http2 stream\"} = %v, want 1", useTLS, n)
		}
	}
}

// TestH2ServerGarbage: bytes that are no frames, after the preface, end
// the connection (GOAWAY or a close), never the process; the server
// serves the next connection.
func TestH2ServerGarbage(t *testing.T) {
	ours, _ := newH2Servers(t, http.HandlerFunc(h2TestHandler), false)
	for i, garbage := range []string{
		"\x00\x00\x04\x06\x00\x00\x00\x00\x00abcd",                        // a short PING
		"\xff\xff\xff\x00\x00\x00\x00\x00\x01" + strings.Repeat("x", 100), // DATA over the frame size
		"\x00\x00\x04\x01\x04\x00\x00\x00\x01\xff\xff\xff\xff",            // HEADERS with a bad HPACK block
		"\x00\x00\x00\x09\x04\x00\x00\x00\x01",                            // CONTINUATION with no HEADERS
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		r := ours.raw(t)
		if _, err := io.WriteString(r.c, garbage); err != nil {
			t.Fatal(err)
		}
		tr := strings.Join(r.transcript(1, false, 0), "; ")
		if !strings.Contains(tr, "GOAWAY") && !strings.Contains(tr, "connection closed") {
			t.Errorf("garbage %d: %s; want the connection ended", i, tr)
		}
		if got := ours.do(req("GET", "/hello", "")); got.status != 200 {
			t.Errorf("after garbage %d: %s; want 200", i, got)
		}
	}
	if n := counterValue(ours.eng.metrics.Panics.WithLabelValues("http2 connection")); n != 0 {
		t.Errorf("%v connection panics recovered, want none", n)
	}
}

// TestH2ServerShutdown: the listener's drain sends GOAWAY NO_ERROR; the
// stream in flight finishes, then the connection closes and the listener is drained.
func TestH2ServerShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-release:
		case <-time.After(h1Wait):
		}
		_, _ = io.WriteString(w, "finished")
	})
	ours, _ := newH2Servers(t, h, false)
	r := ours.raw(t)
	r.headers(1, true, get("/slow")...)
	select {
	case <-started:
	case <-time.After(h1Wait):
		t.Fatal("the request did not reach the handler")
	}
	ours.l.closeIdle()
	close(release)
	got := strings.Join(r.transcript(1, false, 0), "; ")
	if want := "GOAWAY NO_ERROR; HEADERS end=false :status=200 content-length=8 content-type=text/plain; charset=utf-8; body 8 bytes, end"; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if got := strings.Join(r.transcript(0, false, 0), "; "); got != "read: connection closed" {
		t.Errorf("after the stream: %s; want the connection closed", got)
	}
	select {
	case <-ours.l.drained:
	case <-time.After(h1Wait):
		t.Error("the listener was not drained once its HTTP/2 connection closed")
	}
}

// TestH2ServerIdleTimeout: a connection without streams for the idle
// timeout gets GOAWAY and is closed.
func TestH2ServerIdleTimeout(t *testing.T) {
	defer func(d time.Duration) { h2IdleTimeout = d }(h2IdleTimeout)
	h2IdleTimeout = 50 * time.Millisecond
	ours, _ := newH2Servers(t, http.HandlerFunc(h2TestHandler), false)
	r := ours.raw(t)
	r.headers(1, true, get("/hello")...)
	r.transcript(1, false, 0)
	if got := strings.Join(r.transcript(0, false, 0), "; "); got != "GOAWAY NO_ERROR; read: connection closed" {
		t.Errorf("an idle connection: %s; want GOAWAY NO_ERROR, then closed", got)
	}
}

// TestH2ServerCurlAndH2load: curl (over TLS and with prior knowledge)
// gets the same answers from both servers, and h2load's requests all succeed.
func TestH2ServerCurlAndH2load(t *testing.T) {
	for _, tool := range []string{"curl", "h2load"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/install-test-deps.sh)", tool)
		}
	}
	for _, useTLS := range []bool{false, true} {
		ours, std := newH2Servers(t, http.HandlerFunc(h2TestHandler), useTLS)
		mode := "--http2-prior-knowledge"
		if useTLS {
			mode = "--http2"
		}
		for _, args := range [][]string{
			{"/hello"},
			{"/echo", "--data-binary", "@-"},
			{"/trailers", "-H", "Content-Type: application/grpc", "--data-binary", "call"},
			{"/big"},
		} {
			var out [2]string
			for i, s := range []*h2Server{std, ours} {
				cmd := exec.Command("curl", append([]string{"-sS", "-k", mode, "-D", "-", "--max-time", "10", s.url(args[0])}, args[1:]...)...)
				cmd.Stdin = strings.NewReader(h2Pattern(200 << 10))
				b, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("curl %s (%s): %v: %s", s.url(args[0]), s.name, err, b)
				}
				out[i] = regexp.MustCompile(`(?m)^date: .*\r\n`).ReplaceAllString(string(b), "")
			}
			if out[0] != out[1] {
				t.Errorf("tls=%v curl %v:\nours: %.300q\nnet/http: %.300q", useTLS, args, out[1], out[0])
			}
			if !strings.HasPrefix(out[1], "HTTP/2 200") {
				t.Errorf("tls=%v curl %v: %.100q, want HTTP/2 200", useTLS, args, out[1])
			}
		}
		b, err := exec.Command("h2load", "-n", "2000", "-c", "4", "-m", "16", ours.url("/hello")).CombinedOutput()
		if err != nil {
			t.Fatalf("h2load: %v: %s", err, b)
		}
		if !bytes.Contains(b, []byte("2000 succeeded, 0 failed, 0 errored")) {
			t.Errorf("tls=%v h2load: %s; want 2000 succeeded", useTLS, b)
		}
	}
}

// TestH2ServerTaken: an h2c connection is served by our HTTP/2 server
// (the listener tracks it), by net/http's with the fast paths off.
func TestH2ServerTaken(t *testing.T) {
	f := newFixture(t)
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: h1Wait}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+f.httpPort+"/h2c", nil)
	req.Host = "api.example.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("got %d, want 200", resp.StatusCode)
	}
	n := 0
	for _, l := range f.eng.listeners {
		l.mu.Lock()
		n += len(l.h2)
		l.mu.Unlock()
	}
	if want := map[bool]int{false: 1, true: 0}[stdlibInTests]; n != want {
		t.Errorf("the listeners track %d HTTP/2 connections, want %d (fast paths %v)", n, want, !stdlibInTests)
	}
}
