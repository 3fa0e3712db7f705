package egress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/egressgw/egressgw/internal/pki"
)

// The tests in this file speak raw HTTP/1.x to the gateway's plaintext
// listener, which proxies to an origin server the test controls.

const (
	h1Host = "up.example.test"
	h1Doc  = "the document at /doc\n"
	h1Wait = 5 * time.Second // bound of every wait for the gateway
)

var h1YAML = template.Must(template.New("h1").Parse(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: up}
spec:
  hosts: [up.example.test]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports: [{number: {{.GW}}, name: {{.Name}}, protocol: {{.Protocol}}, targetPort: {{.Origin}}}]
{{- if .Policy}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: up}
spec:
  host: up.example.test
  trafficPolicy: {{.Policy}}
{{- end}}
`))

// h1Origin is the server behind the gateway.
type h1Origin struct {
	*httptest.Server
	conns    atomic.Int64 // connections accepted
	requests atomic.Int64
	closed   chan string // remote address of each connection closed by the server
}

type h1Env struct {
	eng    *Engine
	addr   string // the gateway's HTTP listener
	origin *h1Origin
}

type h1Options struct {
	tls      bool               // originate TLS to the origin (DestinationRule tls SIMPLE)
	h2       bool               // with tls: the origin offers h2 by ALPN
	protocol string             // the ServiceEntry port's protocol ("": HTTP); the port is named after it
	pool     string             // the DestinationRule's connectionPool, as a YAML flow map
	server   func(*http.Server) // adjusts the origin server before it starts
}

// newH1Env starts an origin serving h and a gateway in front of it.
func newH1Env(t *testing.T, h http.Handler, o h1Options) *h1Env {
	t.Helper()
	org := &h1Origin{closed: make(chan string, 64)}
	org.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	org.Config.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			org.conns.Add(1)
		case http.StateClosed:
			select {
			case org.closed <- c.RemoteAddr().String():
			default:
			}
		}
	}
	if o.server != nil {
		o.server(org.Config)
	}
	dir := t.TempDir()
	var policy []string
	if o.tls {
		org.TLS = &tls.Config{Certificates: []tls.Certificate{originCert(t, dir)}}
		org.EnableHTTP2 = o.h2
		org.StartTLS()
		policy = append(policy, "tls: {mode: SIMPLE, caCertificates: ca.pem}")
	} else {
		org.Start()
	}
	t.Cleanup(org.Close)
	if o.pool != "" {
		policy = append(policy, "connectionPool: "+o.pool)
	}
	eng, addr := gatewayTo(t, dir, port("https://"+org.Listener.Addr().String()), o.protocol, policy)
	return &h1Env{eng: eng, addr: addr, origin: org}
}

// originCert issues the origin's certificate for h1Host from a new CA,
// whose certificate it writes to dir/ca.pem for the DestinationRule.
func originCert(t *testing.T, dir string) tls.Certificate {
	t.Helper()
	ca, err := pki.NewCA("h1 test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(h1Host, h1Host)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return leaf.TLS
}

// gatewayTo starts a gateway with its configuration in dir (h1YAML): one
// ServiceEntry port of protocol ("": HTTP) to the origin's port on
// 127.0.0.1, with the DestinationRule trafficPolicy fields in policy. It
// returns the engine and the address of its HTTP listener.
func gatewayTo(t *testing.T, dir, originPort, protocol string, policy []string) (*Engine, string) {
	t.Helper()
	if protocol == "" {
		protocol = "HTTP"
	}
	gw := freePort(t)
	var sb strings.Builder
	vars := map[string]string{"GW": gw, "Origin": originPort, "Protocol": protocol, "Name": strings.ToLower(protocol)}
	if len(policy) > 0 {
		vars["Policy"] = "{" + strings.Join(policy, ", ") + "}"
	}
	if err := h1YAML.Execute(&sb, vars); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "egress.yaml"), []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return startEngine(t, dir), "127.0.0.1:" + gw
}

// waitClosed waits for the origin to close one of its connections.
func (o *h1Origin) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-o.closed:
	case <-time.After(h1Wait):
		t.Fatal("the origin did not close its connection")
	}
}

// origin is the usual origin handler. /doc is a fixed document with a
// Content-Length, /unknown-length a body streamed in two parts,
// /status/204 and /status/304 answer that status, /headers
// reports the request's Host and headers as JSON, /close answers with
// Connection: close; any other path echoes the request body, with what the
// origin saw of the request in X- headers.
func origin(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	switch r.URL.Path {
	case "/doc":
		h.Set("Content-Length", strconv.Itoa(len(h1Doc)))
		h.Set("X-Method", r.Method)
		_, _ = io.WriteString(w, h1Doc)
		return
	case "/status/204", "/status/304":
		h.Set("X-Method", r.Method)
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.WriteHeader(code)
		return
	case "/unknown-length":
		h.Set("X-Method", r.Method)
		_, _ = io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "part two")
		return
	case "/headers":
		h.Set("Connection", "X-Resp-Hop")
		h.Set("X-Resp-Hop", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("X-Resp-End", "1")
		_ = json.NewEncoder(w).Encode(h1Seen{Host: r.Host, Header: r.Header})
		return
	case "/close":
		h.Set("Connection", "close")
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "origin: reading the body: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h.Set("X-Method", r.Method)
	h.Set("X-Uri", r.RequestURI)
	h.Set("X-Remote", r.RemoteAddr)
	h.Set("X-Length", strconv.FormatInt(r.ContentLength, 10))
	h.Set("X-Chunked", strconv.FormatBool(slices.Contains(r.TransferEncoding, "chunked")))
	h.Set("X-Trailer", r.Trailer.Get("X-Sum"))
	h.Set("X-Expect", r.Header.Get("Expect"))
	h.Set("X-Tls", strconv.FormatBool(r.TLS != nil))
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

type h1Seen struct {
	Host   string
	Header http.Header
}

// h1Client is a raw client connection to the gateway.
type h1Client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (e *h1Env) dial(t *testing.T) *h1Client {
	t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, h1Wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(2 * h1Wait))
	return &h1Client{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *h1Client) send(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, raw); err != nil {
		c.t.Fatalf("writing to the gateway: %v", err)
	}
}

// response reads the response to a request with method, and its body.
func (c *h1Client) response(method string) (*http.Response, string) {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(h1Wait))
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading the response to %s: %v", method, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading the body of a %d response to %s: %v (got %q)", resp.StatusCode, method, err, b)
	}
	return resp, string(b)
}

// expectClosed checks that the gateway closes the connection without sending anything more.
func (c *h1Client) expectClosed() {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(h1Wait))
	b, err := c.br.ReadByte()
	var ne net.Error
	switch {
	case err == nil:
		rest, _ := c.br.Peek(c.br.Buffered())
		c.t.Fatalf("got %q, want the connection closed", append([]byte{b}, rest...))
	case errors.As(err, &ne) && ne.Timeout():
		c.t.Fatal("the gateway left the connection open")
	}
}

// rawRequest formats an HTTP/1.1 request head to the origin's host; hdr are "Name: value" lines.
func rawRequest(method, target string, hdr ...string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, h1Host)
	for _, h := range hdr {
		sb.WriteString(h + "\r\n")
	}
	sb.WriteString("\r\n")
	return sb.String()
}

// chunked frames body as chunks of at most size bytes, and the last chunk.
func chunked(body string, size int) string {
	var sb strings.Builder
	for len(body) > 0 {
		n := min(size, len(body))
		fmt.Fprintf(&sb, "%x\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	sb.WriteString("0\r\n\r\n")
	return sb.String()
}

// checkDoc reads a response to GET /doc.
func (c *h1Client) checkDoc() {
	c.t.Helper()
	resp, body := c.response(http.MethodGet)
	if resp.StatusCode != http.StatusOK || body != h1Doc {
		c.t.Fatalf("GET /doc: %d %q, want 200 %q", resp.StatusCode, body, h1Doc)
	}
}

func TestH1KeepAlive(t *testing.T) {
	tests := []struct {
		name      string
		opts      h1Options
		path      string
		wantConns int
	}{
		{name: "plaintext upstream", path: "/echo", wantConns: 1},
		{name: "TLS origination", opts: h1Options{tls: true}, path: "/echo", wantConns: 1},
		{name: "maxRequestsPerConnection 2", opts: h1Options{pool: "{http: {maxRequestsPerConnection: 2}}"}, path: "/echo", wantConns: 2},
		{name: "maxRequestsPerConnection 1", opts: h1Options{pool: "{http: {maxRequestsPerConnection: 1}}"}, path: "/echo", wantConns: 3},
		{name: "upstream answers Connection: close", path: "/close", wantConns: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newH1Env(t, http.HandlerFunc(origin), tt.opts)
			c := env.dial(t)
			remotes := map[string]bool{}
			for i := range 3 {
				c.send(rawRequest(http.MethodGet, fmt.Sprintf("%s?n=%d", tt.path, i)))
				resp, _ := c.response(http.MethodGet)
				if resp.StatusCode != http.StatusOK || resp.Close {
					t.Fatalf("request %d: status %d, close %v; want 200 on a kept-alive connection", i, resp.StatusCode, resp.Close)
				}
				if got := resp.Header.Get("X-Tls"); got != strconv.FormatBool(tt.opts.tls) {
					t.Errorf("request %d reached the origin with TLS %s, want %v", i, got, tt.opts.tls)
				}
				remotes[resp.Header.Get("X-Remote")] = true
			}
			if n := env.origin.conns.Load(); n != int64(tt.wantConns) || len(remotes) != tt.wantConns {
				t.Errorf("3 requests came over %d upstream connections (%d remote addresses), want %d", n, len(remotes), tt.wantConns)
			}
		})
	}
}

func TestH1RequestBody(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	tests := []struct {
		name        string
		req         string
		wantBody    string
		wantLength  int
		wantChunked bool
		wantTrailer string
	}{
		{name: "Content-Length", req: rawRequest("POST", "/echo", "Content-Length: 11") + "hello world",
			wantBody: "hello world", wantLength: 11},
		{name: "chunked", req: rawRequest("POST", "/echo", "Transfer-Encoding: chunked") + chunked("hello world", 5),
			wantBody: "hello world", wantLength: -1, wantChunked: true},
		{name: "chunked with a trailer", req: rawRequest("PUT", "/echo", "Transfer-Encoding: chunked", "Trailer: X-Sum") +
			"b\r\nhello world\r\n0\r\nX-Sum: 42\r\n\r\n", wantBody: "hello world", wantLength: -1, wantChunked: true, wantTrailer: "42"},
		{name: "empty, Content-Length: 0", req: rawRequest("POST", "/echo", "Content-Length: 0")},
		{name: "1 MiB, Content-Length", req: rawRequest("POST", "/echo", "Content-Length: "+strconv.Itoa(len(big))) + big,
			wantBody: big, wantLength: len(big)},
		{name: "1 MiB, chunked", req: rawRequest("POST", "/echo", "Transfer-Encoding: chunked") + chunked(big, 10000),
			wantBody: big, wantLength: -1, wantChunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.dial(t)
			c.send(tt.req)
			resp, body := c.response("POST")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if body != tt.wantBody {
				t.Errorf("echoed body: %d bytes, want %d (equal: %v)", len(body), len(tt.wantBody), body == tt.wantBody)
			}
			h := resp.Header
			if h.Get("X-Length") != strconv.Itoa(tt.wantLength) || h.Get("X-Chunked") != strconv.FormatBool(tt.wantChunked) {
				t.Errorf("origin saw Content-Length %s, chunked %s; want %d, %v", h.Get("X-Length"), h.Get("X-Chunked"), tt.wantLength, tt.wantChunked)
			}
			if got := h.Get("X-Trailer"); got != tt.wantTrailer {
				t.Errorf("origin saw trailer X-Sum %q, want %q", got, tt.wantTrailer)
			}
			// The body was consumed exactly: the connection serves another request.
			c.send(rawRequest("GET", "/doc"))
			c.checkDoc()
		})
	}
}

// TestH1StreamedResponse: the origin sends a first part and waits until the
// client has it through the gateway before it sends the rest. A gateway
// that held the body back until it ended would never deliver the first part.
func TestH1StreamedResponse(t *testing.T) {
	const first, second = "first part\n", "second part\n"
	tests := []struct {
		name          string
		proto         string
		contentLength bool
		wantChunked   bool
	}{
		{name: "chunked", proto: "HTTP/1.1", wantChunked: true},
		{name: "Content-Length", proto: "HTTP/1.1", contentLength: true},
		{name: "HTTP/1.0 client, body ends with the connection", proto: "HTTP/1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			env := newH1Env(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.contentLength {
					w.Header().Set("Content-Length", strconv.Itoa(len(first+second)))
				}
				_, _ = io.WriteString(w, first)
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-time.After(2 * h1Wait): // longer than the client waits for the first part
				}
				_, _ = io.WriteString(w, second)
			}), h1Options{})
			defer close(release)
			c := env.dial(t)
			c.send("GET /stream " + tt.proto + "\r\nHost: " + h1Host + "\r\n\r\n")
			_ = c.c.SetReadDeadline(time.Now().Add(h1Wait))
			resp, err := http.ReadResponse(c.br, nil)
			if err != nil {
				t.Fatalf("reading the response head: %v", err)
			}
			got := make([]byte, len(first))
			if _, err := io.ReadFull(resp.Body, got); err != nil {
				t.Fatalf("reading the first part while the origin holds the rest: %v (got %q)", err, got)
			}
			if string(got) != first {
				t.Fatalf("first part %q, want %q", got, first)
			}
			select {
			case release <- struct{}{}:
			case <-time.After(h1Wait):
				t.Fatal("the origin's handler is no longer waiting")
			}
			rest, err := io.ReadAll(resp.Body)
			if err != nil || string(rest) != second {
				t.Fatalf("rest of the body %q, %v; want %q", rest, err, second)
			}
			if chunked := slices.Equal(resp.TransferEncoding, []string{"chunked"}); chunked != tt.wantChunked {
				t.Errorf("Transfer-Encoding %v, want chunked %v", resp.TransferEncoding, tt.wantChunked)
			}
			if tt.contentLength && resp.ContentLength != int64(len(first+second)) {
				t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(first+second))
			}
		})
	}
}

// TestH1Bodyless: responses that have no body whatever their headers say
// (to HEAD; 204, 304) forward no body, and the next response parses.
func TestH1Bodyless(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	tests := []struct {
		method, path string
		wantStatus   int
		wantLength   int64
	}{
		{method: "HEAD", path: "/doc", wantStatus: 200, wantLength: int64(len(h1Doc))},
		{method: "HEAD", path: "/unknown-length", wantStatus: 200, wantLength: -1},
		{method: "GET", path: "/status/204", wantStatus: 204},
		{method: "GET", path: "/status/304", wantStatus: 304},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			c := env.dial(t)
			c.send(rawRequest(tt.method, tt.path))
			resp, body := c.response(tt.method)
			if resp.StatusCode != tt.wantStatus || body != "" {
				t.Fatalf("got %d %q, want %d without a body", resp.StatusCode, body, tt.wantStatus)
			}
			if resp.ContentLength != tt.wantLength {
				t.Errorf("Content-Length %d, want %d", resp.ContentLength, tt.wantLength)
			}
			if cl := resp.Header["Content-Length"]; tt.wantStatus == http.StatusNoContent && cl != nil {
				t.Errorf("Content-Length: %s on a 204", cl)
			}
			if m := resp.Header.Get("X-Method"); m != tt.method {
				t.Errorf("origin saw %q, want %s", m, tt.method)
			}
			// Nothing of a body followed the head: the next response parses.
			c.send(rawRequest("GET", "/doc"))
			c.checkDoc()
		})
	}
}

func TestH1ExpectContinue(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	c := env.dial(t)
	c.send(rawRequest("POST", "/echo", "Content-Length: 5", "Expect: 100-continue"))
	resp, _ := c.response("POST")
	if resp.StatusCode != http.StatusContinue || resp.Proto != "HTTP/1.1" {
		t.Fatalf("got %s %s before sending the body, want HTTP/1.1 100 Continue", resp.Proto, resp.Status)
	}
	c.send("hello")
	resp, body := c.response("POST")
	if resp.StatusCode != http.StatusOK || body != "hello" {
		t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, "hello")
	}
	if e := resp.Header.Get("X-Expect"); e != "" {
		t.Errorf("origin saw Expect: %s; the gateway answered it", e)
	}
}

func TestH1HTTP10(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	tests := []struct {
		name, path, connection string
		wantBody               string
		wantClose              bool // Connection: close and the connection closes; else Connection: keep-alive
	}{
		{name: "no keep-alive", path: "/doc", wantBody: h1Doc, wantClose: true},
		{name: "keep-alive", path: "/doc", connection: "keep-alive", wantBody: h1Doc},
		{name: "keep-alive, body of unknown length", path: "/unknown-length", connection: "keep-alive",
			wantBody: "part one, part two", wantClose: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.dial(t)
			req := "GET " + tt.path + " HTTP/1.0\r\nHost: " + h1Host + "\r\n"
			if tt.connection != "" {
				req += "Connection: " + tt.connection + "\r\n"
			}
			c.send(req + "\r\n")
			resp, body := c.response(http.MethodGet)
			if resp.StatusCode != http.StatusOK || body != tt.wantBody {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, tt.wantBody)
			}
			// ReadResponse turns Connection: close into resp.Close and drops the header.
			if ka := resp.Header.Get("Connection") == "keep-alive"; resp.Close != tt.wantClose || ka == tt.wantClose {
				t.Errorf("close %v, Connection %q; want close %v", resp.Close, resp.Header.Get("Connection"), tt.wantClose)
			}
			if len(resp.TransferEncoding) > 0 {
				t.Errorf("Transfer-Encoding %v to an HTTP/1.0 client", resp.TransferEncoding)
			}
			if tt.wantClose {
				c.expectClosed()
				return
			}
			c.send("GET /doc HTTP/1.0\r\nHost: " + h1Host + "\r\nConnection: keep-alive\r\n\r\n")
			c.checkDoc()
		})
	}
}

func TestH1Pipelining(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	c := env.dial(t)
	c.send(rawRequest("GET", "/echo?1") +
		rawRequest("POST", "/echo?2", "Content-Length: 4") + "body" +
		rawRequest("HEAD", "/doc") +
		rawRequest("POST", "/echo?4", "Transfer-Encoding: chunked") + chunked("chunked body", 4))
	want := []struct{ method, uri, body string }{
		{"GET", "/echo?1", ""}, {"POST", "/echo?2", "body"}, {"HEAD", "", ""}, {"POST", "/echo?4", "chunked body"},
	}
	for i, w := range want {
		resp, body := c.response(w.method)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Uri") != w.uri || body != w.body {
			t.Fatalf("response %d: %d for %q with %q, want 200 for %q with %q",
				i, resp.StatusCode, resp.Header.Get("X-Uri"), body, w.uri, w.body)
		}
	}
	if n := env.origin.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections, want 1", n)
	}
}

func TestH1Headers(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	tests := []struct {
		header, value string
		forwarded     bool
	}{
		{"X-End-To-End", "kept", true},
		{"Authorization", "Bearer token", true},
		{"Cache-Control", "no-cache", true},
		{"Connection", "keep-alive, X-Named-In-Connection", false},
		{"X-Named-In-Connection", "dropped", false},
		{"Keep-Alive", "timeout=5", false},
		{"Proxy-Connection", "keep-alive", false},
		{"Proxy-Authorization", "Basic Zm9vOmJhcg==", false},
		{"Te", "gzip", false},
		{"Upgrade", "h2c", false}, // without Connection: upgrade, no upgrade is asked for
		{"Forwarded", "for=192.0.2.1", false},
		{"X-Forwarded-For", "192.0.2.1", false},
		{"X-Forwarded-Host", "evil.example.test", false},
		{"X-Forwarded-Proto", "https", false},
	}
	host := h1Host + ":" + port("https://"+env.addr)
	req := "GET /headers HTTP/1.1\r\nHost: " + host + "\r\nX-Multi: a\r\nX-Multi: b\r\n"
	for _, tt := range tests {
		req += tt.header + ": " + tt.value + "\r\n"
	}
	c := env.dial(t)
	c.send(req + "\r\n")
	resp, body := c.response(http.MethodGet)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var seen h1Seen
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		t.Fatalf("origin's report %q: %v", body, err)
	}
	if seen.Host != host {
		t.Errorf("origin saw Host %q, want the client's %q", seen.Host, host)
	}
	if got := seen.Header["X-Multi"]; !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("X-Multi reached the origin as %q, want [a b]", got)
	}
	for _, tt := range tests {
		got, ok := seen.Header[tt.header]
		switch {
		case tt.forwarded && (!ok || got[0] != tt.value):
			t.Errorf("%s: origin saw %q, want %q", tt.header, got, tt.value)
		case !tt.forwarded && ok:
			t.Errorf("%s: %q was forwarded, want it dropped", tt.header, got)
		}
	}
	for k, want := range map[string]bool{"X-Resp-End": true, "X-Resp-Hop": false, "Keep-Alive": false, "Connection": false} {
		if _, ok := resp.Header[k]; ok != want {
			t.Errorf("response header %s relayed: %v, want %v (%v)", k, ok, want, resp.Header)
		}
	}

	t.Run("Te: trailers", func(t *testing.T) {
		c.send(rawRequest("GET", "/headers", "Te: trailers, deflate"))
		_, body := c.response(http.MethodGet)
		var seen h1Seen
		if err := json.Unmarshal([]byte(body), &seen); err != nil {
			t.Fatalf("origin's report %q: %v", body, err)
		}
		if got := seen.Header["Te"]; !slices.Equal(got, []string{"trailers"}) {
			t.Errorf("origin saw Te %q, want [trailers]", got)
		}
	})
}

// TestH1UpstreamClosedIdle: the origin closes a kept-alive connection
// while it sits in the gateway's pool, without having announced it. The
// next request still succeeds: a GET is retried on a new connection, and a
// POST, which cannot be retried, goes to a connection checked alive first.
func TestH1UpstreamClosedIdle(t *testing.T) {
	servers := []struct {
		name    string
		opts    h1Options
		handler func(env **h1Env) http.Handler
	}{
		{name: "origin idle timeout", opts: h1Options{server: func(s *http.Server) { s.IdleTimeout = 50 * time.Millisecond }},
			handler: func(**h1Env) http.Handler { return http.HandlerFunc(origin) }},
		{name: "origin closes after each response", handler: func(env **h1Env) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				c, brw, err := w.(http.Hijacker).Hijack()
				if err != nil {
					panic(err)
				}
				fmt.Fprintf(brw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
				_ = brw.Flush()
				addr := c.RemoteAddr().String()
				_ = c.Close()
				(*env).origin.closed <- addr
			})
		}},
	}
	next := []struct{ name, req, method, body string }{
		{"GET", rawRequest("GET", "/echo"), http.MethodGet, ""},
		{"POST", rawRequest("POST", "/echo", "Content-Length: 7") + "payload", http.MethodPost, "payload"},
		{"chunked POST", rawRequest("POST", "/echo", "Transfer-Encoding: chunked") + chunked("payload", 3), http.MethodPost, "payload"},
	}
	for _, srv := range servers {
		for _, nx := range next {
			t.Run(srv.name+"/"+nx.name, func(t *testing.T) {
				var env *h1Env
				env = newH1Env(t, srv.handler(&env), srv.opts)
				c := env.dial(t)
				c.send(rawRequest("GET", "/echo"))
				if resp, body := c.response(http.MethodGet); resp.StatusCode != http.StatusOK {
					t.Fatalf("first request: %d %s", resp.StatusCode, body)
				}
				env.origin.waitClosed(t)
				c.send(nx.req)
				resp, body := c.response(nx.method)
				if resp.StatusCode != http.StatusOK || body != nx.body {
					t.Fatalf("after the origin closed the idle connection: %d %q, want 200 %q", resp.StatusCode, body, nx.body)
				}
				if n := env.origin.conns.Load(); n != 2 {
					t.Errorf("%d upstream connections, want 2", n)
				}
			})
		}
	}
}

func TestH1Malformed(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	tests := []struct {
		name       string
		req        string
		wantStatus int
		wantBody   string
	}{
		{name: "garbage request line", req: "GARBAGE\r\n\r\n", wantStatus: 400, wantBody: `malformed HTTP request "GARBAGE"`},
		{name: "HTTP/1.1 without Host", req: "GET /doc HTTP/1.1\r\n\r\n", wantStatus: 400, wantBody: "missing required Host header"},
		{name: "space in a header name", req: "GET /doc HTTP/1.1\r\nHost: " + h1Host + "\r\nBad Header: x\r\n\r\n",
			wantStatus: 400, wantBody: `invalid header name "Bad Header"`},
		{name: "unsupported version", req: "GET /doc HTTP/2.0\r\nHost: " + h1Host + "\r\n\r\n",
			wantStatus: 400, wantBody: "unsupported protocol version HTTP/2.0"},
		{name: "headers just over 64 KiB", req: rawRequest("GET", "/doc", "X-Big: "+strings.Repeat("a", 64<<10)),
			wantStatus: 431, wantBody: "over the limit of 65536"},
		{name: "headers far over 64 KiB", req: rawRequest("GET", "/doc", "X-Big: "+strings.Repeat("a", 100<<10)),
			wantStatus: 431, wantBody: "over the limit of 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.dial(t)
			_, _ = io.WriteString(c.c, tt.req) // the gateway may stop reading an oversized head
			resp, body := c.response(http.MethodGet)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("got %d %q, want %d naming %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if !resp.Close {
				t.Errorf("no Connection: close in %v", resp.Header)
			}
			c.expectClosed()
		})
	}
	if n := env.origin.requests.Load(); n != 0 {
		t.Errorf("%d malformed requests reached the origin", n)
	}
}

// TestH1Upgrade: a protocol upgrade goes through, and the connection then
// carries the new protocol both ways.
func TestH1Upgrade(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "test" {
			http.Error(w, "origin: want Upgrade: test", http.StatusBadRequest)
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
		_ = brw.Flush()
		_ = c.SetDeadline(time.Now().Add(2 * h1Wait))
		_, _ = io.Copy(c, brw) // echo, starting with what came along with the request
	}), h1Options{})
	tests := []struct {
		name  string
		early string // sent along with the request, before the 101
	}{
		{name: "bytes after the 101"},
		{name: "bytes sent together with the request", early: "early,"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.dial(t)
			c.send(rawRequest("GET", "/ws", "Connection: Upgrade", "Upgrade: test") + tt.early)
			_ = c.c.SetReadDeadline(time.Now().Add(h1Wait))
			resp, err := http.ReadResponse(c.br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "test" {
				t.Fatalf("got %s %v, want 101 with Upgrade: test", resp.Status, resp.Header)
			}
			pending := tt.early
			for _, msg := range []string{"ping", "pong and more"} {
				c.send(msg)
				want := pending + msg
				pending = ""
				got := make([]byte, len(want))
				if _, err := io.ReadFull(c.br, got); err != nil || string(got) != want {
					t.Fatalf("echo %q, %v; want %q", got, err, want)
				}
			}
		})
	}
}

// TestH1DenyDiscardsBody: a denied request's body is read and dropped, so
// the connection goes on with the next request.
func TestH1DenyDiscardsBody(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	deny := func(hdr ...string) string {
		return strings.Replace(rawRequest("POST", "/upload", hdr...), "Host: "+h1Host, "Host: evil.example.test", 1)
	}
	tests := []struct{ name, req string }{
		{"Content-Length", deny("Content-Length: 11") + "secret body"},
		{"chunked", deny("Transfer-Encoding: chunked") + chunked("secret body", 4)},
		{"64 KiB", deny("Content-Length: 65536") + strings.Repeat("s", 64<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.origin.requests.Load()
			c := env.dial(t)
			c.send(tt.req)
			resp, body := c.response("POST")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "denied") || resp.Close {
				t.Fatalf("got %d (close %v) %q, want 403 on a kept-alive connection", resp.StatusCode, resp.Close, body)
			}
			c.send(rawRequest("GET", "/doc"))
			c.checkDoc()
			if n := env.origin.requests.Load() - before; n != 1 {
				t.Errorf("%d requests reached the origin, want only the allowed one", n)
			}
		})
	}
}

// TestH1DenyLargeUpload: the body of a denied upload is too large to
// discard, so the gateway closes the connection after the 403. The 403
// must say so (Connection: close), and the close must not reset the
// connection under it while the client is still sending: net/http's server
// half-closes and lingers for that, and its clients always get the 403.
func TestH1DenyLargeUpload(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * h1Wait}
	body := bytes.Repeat([]byte("x"), 8<<20)
	var resets []string
	unannounced := 0
	for range 20 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+env.addr+"/upload", bytes.NewReader(body))
		req.Host = "evil.example.test"
		resp, err := client.Do(req)
		if err != nil {
			resets = append(resets, err.Error())
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("got %d, want 403", resp.StatusCode)
		}
		if !resp.Close {
			unannounced++
		}
	}
	if unannounced > 0 {
		t.Errorf("%d of 20 403s did not say Connection: close, but the gateway closed the connection", unannounced)
	}
	if len(resets) > 0 {
		t.Errorf("%d of 20 uploads got an error instead of the 403, e.g. %s", len(resets), resets[0])
	}
}

// TestH1ShutdownIdle: draining closes a kept-alive connection that waits
// for its next request at once, instead of waiting for it.
func TestH1ShutdownIdle(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	c := env.dial(t)
	c.send(rawRequest("GET", "/doc"))
	c.checkDoc()
	const deadline = 4 * h1Wait
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	if err := env.eng.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > deadline/4 {
		t.Errorf("Shutdown took %v with only an idle connection open", d)
	}
	c.expectClosed()
}

// TestH1ShutdownInFlight: a request in flight when draining begins gets its
// response, which announces the close; then the connection closes.
func TestH1ShutdownInFlight(t *testing.T) {
	release := make(chan struct{})
	env := newH1Env(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(2 * h1Wait):
		}
		_, _ = io.WriteString(w, "late")
	}), h1Options{})
	c := env.dial(t)
	c.send(rawRequest("GET", "/slow"))
	waitFor(t, "the request to reach the origin", func() bool { return env.origin.requests.Load() == 1 })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*h1Wait)
		defer cancel()
		done <- env.eng.Shutdown(ctx)
	}()
	waitFor(t, "draining to begin", func() bool { return env.eng.stop.Err() != nil })
	close(release)
	resp, body := c.response(http.MethodGet)
	if resp.StatusCode != http.StatusOK || body != "late" || !resp.Close {
		t.Errorf("got %d %q (close %v), want 200 %q with Connection: close", resp.StatusCode, body, resp.Close, "late")
	}
	c.expectClosed()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(h1Wait):
		t.Error("Shutdown did not return after the last response")
	}
}

// waitFor polls cond until it holds, for at most h1Wait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(h1Wait); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A kept-alive connection holds its read buffer only for h1HotWait after a
// response; idle after that, it holds none, and its next request is still
// served.
func TestH1IdleConnectionReleasesBuffers(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	c := env.dial(t)
	for i := range 3 {
		c.send(rawRequest("GET", "/doc"))
		c.checkDoc()
		if i == 0 {
			waitFor(t, "the idle connection to give its read buffer back", func() bool { return heldReaders.Load() == 0 })
		}
	}
}
