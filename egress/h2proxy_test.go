package egress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The tests in this file speak raw HTTP/1.1 to the gateway, whose upstream
// is an HTTP/2 TLS origin: the gateway proxies each request over a stream
// of a pooled HTTP/2 connection (origination.H2Pool).

// h2Upstream is how the configuration makes the upstream HTTP/2.
type h2Upstream struct {
	name     string
	protocol string // the ServiceEntry port's protocol
	upgrade  bool   // DestinationRule h2UpgradePolicy: UPGRADE
}

var h2Upstreams = []h2Upstream{
	{name: "h2UpgradePolicy UPGRADE", protocol: "HTTP", upgrade: true},
	{name: "port protocol HTTP2", protocol: "HTTP2"},
}

// newH2Env starts a TLS origin serving h, over HTTP/2 by ALPN unless
// h1only, and a gateway in front of it configured as up says. The origin
// reports the protocol of each request in X-Proto.
func newH2Env(t *testing.T, h http.Handler, up h2Upstream, h1only bool) *h1Env {
	t.Helper()
	o := h1Options{tls: true, h2: !h1only, protocol: up.protocol}
	if up.upgrade {
		o.pool = "{http: {h2UpgradePolicy: UPGRADE}}"
	}
	return newH1Env(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		h.ServeHTTP(w, r)
	}), o)
}

// h2Origin is origin (h1_test.go) with more paths: /trailers answers
// with a streamed body and trailers, /abort resets the stream.
func h2Origin(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/trailers":
		w.Header().Set("Trailer", "X-Resp-Sum")
		_, _ = io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "part two")
		w.Header().Set("X-Resp-Sum", "two parts")
	case "/abort":
		panic(http.ErrAbortHandler) // RST_STREAM INTERNAL_ERROR over HTTP/2
	default:
		origin(w, r)
	}
}

// h2Pattern is n bytes of a repeating pattern.
func h2Pattern(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

func TestH2ProxyRelay(t *testing.T) {
	big := h2Pattern(1 << 20)
	tests := []struct {
		name   string
		method string
		req    string // the raw request
		check  func(t *testing.T, resp *http.Response, body string)
	}{
		{name: "GET", method: "GET", req: rawRequest("GET", "/doc"), check: func(t *testing.T, resp *http.Response, body string) {
			wantResp(t, resp, body, 200, h1Doc, map[string]string{"X-Proto": "HTTP/2.0", "X-Method": "GET",
				"Content-Length": strconv.Itoa(len(h1Doc))})
		}},
		{name: "POST 1 MiB", method: "POST", req: rawRequest("POST", "/echo?x=1", "Content-Length: "+strconv.Itoa(len(big))) + big,
			check: func(t *testing.T, resp *http.Response, body string) {
				if body != big {
					t.Errorf("echoed body: %d bytes, not the %d sent", len(body), len(big))
				}
				wantResp(t, resp, "", 200, "", map[string]string{"X-Proto": "HTTP/2.0", "X-Method": "POST",
					"X-Uri": "/echo?x=1", "X-Length": strconv.Itoa(len(big))})
			}},
		{name: "chunked request body with trailers", method: "POST",
			req: rawRequest("POST", "/echo", "Transfer-Encoding: chunked", "Trailer: X-Sum") +
				"4\r\n0123\r\n6\r\n456789\r\n0\r\nX-Sum: ten bytes\r\n\r\n",
			check: func(t *testing.T, resp *http.Response, body string) {
				wantResp(t, resp, body, 200, "0123456789", map[string]string{"X-Proto": "HTTP/2.0",
					"X-Length": "-1", "X-Trailer": "ten bytes"})
			}},
		{name: "response without content-length: chunked with trailers", method: "GET", req: rawRequest("GET", "/trailers"),
			check: func(t *testing.T, resp *http.Response, body string) {
				wantResp(t, resp, body, 200, "part one, part two", map[string]string{"X-Proto": "HTTP/2.0", "Content-Length": ""})
				if fmt.Sprint(resp.TransferEncoding) != "[chunked]" {
					t.Errorf("Transfer-Encoding %v, want chunked", resp.TransferEncoding)
				}
				if got := resp.Trailer.Get("X-Resp-Sum"); got != "two parts" {
					t.Errorf("trailer X-Resp-Sum %q, want %q (trailers %v)", got, "two parts", resp.Trailer)
				}
			}},
		{name: "response without content-length or trailers", method: "GET", req: rawRequest("GET", "/unknown-length"),
			check: func(t *testing.T, resp *http.Response, body string) {
				wantResp(t, resp, body, 200, "part one, part two", map[string]string{"X-Proto": "HTTP/2.0"})
				if fmt.Sprint(resp.TransferEncoding) != "[chunked]" {
					t.Errorf("Transfer-Encoding %v, want chunked", resp.TransferEncoding)
				}
			}},
		{name: "HEAD", method: "HEAD", req: rawRequest("HEAD", "/doc"), check: func(t *testing.T, resp *http.Response, body string) {
			wantResp(t, resp, body, 200, "", map[string]string{"X-Proto": "HTTP/2.0", "X-Method": "HEAD",
				"Content-Length": strconv.Itoa(len(h1Doc))})
		}},
	}
	for _, up := range h2Upstreams {
		t.Run(up.name, func(t *testing.T) {
			env := newH2Env(t, http.HandlerFunc(h2Origin), up, false)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := env.dial(t)
					c.send(tt.req)
					resp, body := c.response(tt.method)
					tt.check(t, resp, body)
					// The client connection serves on.
					c.send(rawRequest("GET", "/doc"))
					c.checkDoc()
				})
			}
		})
	}
}

func wantResp(t *testing.T, resp *http.Response, body string, status int, wantBody string, hdr map[string]string) {
	t.Helper()
	if resp.StatusCode != status || body != wantBody {
		t.Errorf("got %d %.200q, want %d %.200q", resp.StatusCode, body, status, wantBody)
	}
	for k, v := range hdr {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("header %s: %q, want %q", k, got, v)
		}
	}
}

// TestH2ProxyUpstreamReset: a stream the upstream resets is a 502 naming the reset.
func TestH2ProxyUpstreamReset(t *testing.T) {
	env := newH2Env(t, http.HandlerFunc(h2Origin), h2Upstreams[0], false)
	c := env.dial(t)
	c.send(rawRequest("GET", "/abort"))
	resp, body := c.response("GET")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	if !strings.Contains(body, "reset the HTTP/2 stream") || !strings.Contains(body, "INTERNAL_ERROR") {
		t.Errorf("body %q does not name the reset and its code", body)
	}
	if got := resp.Header.Get("X-Egressgw-Error"); got != "upstream_protocol" {
		t.Errorf("X-Egressgw-Error %q, want upstream_protocol", got)
	}
	// The upstream connection serves on.
	c2 := env.dial(t)
	c2.send(rawRequest("GET", "/doc"))
	c2.checkDoc()
}

// TestH2ProxyClientGone: a client that hangs up while its request waits on
// the upstream (or while the response streams) has its stream reset, so
// the origin's handler sees the request cancelled.
func TestH2ProxyClientGone(t *testing.T) {
	testClientGone(t, func(t *testing.T, h http.Handler) *h1Env { return newH2Env(t, h, h2Upstreams[0], false) })
}

// TestH2ProxyFallback: an upstream that offers only http/1.1 by ALPN still
// gets the requests, over HTTP/1.1.
func TestH2ProxyFallback(t *testing.T) {
	env := newH2Env(t, http.HandlerFunc(h2Origin), h2Upstreams[0], true)
	c := env.dial(t)
	for i := range 3 {
		c.send(rawRequest("POST", "/echo", "Content-Length: 5") + "hello")
		resp, body := c.response("POST")
		wantResp(t, resp, body, 200, "hello", map[string]string{"X-Proto": "HTTP/1.1", "X-Length": "5"})
		if t.Failed() {
			t.Fatalf("request %d", i+1)
		}
	}
	c.send(rawRequest("GET", "/doc"))
	c.checkDoc()
}

// TestH2ProxyFallbackHeaders: the request that finds out the upstream
// declines HTTP/2 reaches it over HTTP/1.1 with its headers whole (Te:
// trailers is end-to-end; HTTP/2's preparation of the head must not have
// touched it).
func TestH2ProxyFallbackHeaders(t *testing.T) {
	env := newH2Env(t, http.HandlerFunc(h2Origin), h2Upstreams[0], true)
	c := env.dial(t)
	c.send(rawRequest("GET", "/headers", "Te: trailers", "X-End: 1"))
	resp, body := c.response("GET")
	if resp.StatusCode != 200 || resp.Header.Get("X-Proto") != "HTTP/1.1" {
		t.Fatalf("got %d over %q: %s, want 200 over HTTP/1.1", resp.StatusCode, resp.Header.Get("X-Proto"), body)
	}
	var seen h1Seen
	if err := json.NewDecoder(strings.NewReader(body)).Decode(&seen); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
	if got := seen.Header.Get("Te"); got != "trailers" {
		t.Errorf("upstream saw Te %q, want trailers", got)
	}
	if got := seen.Header.Get("X-End"); got != "1" {
		t.Errorf("upstream saw X-End %q, want 1", got)
	}
}

// TestH2ProxyHopByHop: hop-by-hop request headers (Connection, Keep-Alive,
// those Connection names, Te other than trailers) are not sent upstream.
func TestH2ProxyHopByHop(t *testing.T) {
	env := newH2Env(t, http.HandlerFunc(h2Origin), h2Upstreams[0], false)
	tests := []struct {
		name   string
		te     string
		wantTe string
	}{
		{name: "Te gzip", te: "gzip"},
		{name: "Te trailers", te: "trailers", wantTe: "trailers"},
		{name: "Te gzip, trailers", te: "gzip, trailers", wantTe: "trailers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.dial(t)
			c.send(rawRequest("GET", "/headers",
				"Connection: keep-alive, X-Hop",
				"X-Hop: 1",
				"Keep-Alive: timeout=5",
				"Proxy-Connection: keep-alive",
				"Te: "+tt.te,
				"X-End: 1"))
			resp, body := c.response("GET")
			if resp.StatusCode != 200 || resp.Header.Get("X-Proto") != "HTTP/2.0" {
				t.Fatalf("got %d over %q: %s, want 200 over HTTP/2.0", resp.StatusCode, resp.Header.Get("X-Proto"), body)
			}
			var seen h1Seen
			if err := json.NewDecoder(bytes.NewReader([]byte(body))).Decode(&seen); err != nil {
				t.Fatalf("decoding %q: %v", body, err)
			}
			if seen.Host != h1Host {
				t.Errorf("upstream saw host %q, want %q", seen.Host, h1Host)
			}
			if got := seen.Header.Get("X-End"); got != "1" {
				t.Errorf("end-to-end X-End: %q, want 1", got)
			}
			for _, k := range []string{"Connection", "Keep-Alive", "X-Hop", "Proxy-Connection"} {
				if v, ok := seen.Header[k]; ok {
					t.Errorf("hop-by-hop %s: %q reached the upstream", k, v)
				}
			}
			if got := strings.Join(seen.Header["Te"], ", "); got != tt.wantTe {
				t.Errorf("upstream saw Te %q, want %q", got, tt.wantTe)
			}
		})
	}
}
