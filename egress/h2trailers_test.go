package egress

import (
	"net/http"
	"testing"
)

// TestH2ProxyTrailersWithLength: trailers of an HTTP/2 response that also
// has a content-length reach an HTTP/1.1 client: announced in a Trailer
// header, the response goes chunked, as it must to carry them.
func TestH2ProxyTrailersWithLength(t *testing.T) {
	env := newH2Env(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Resp-Sum")
		w.Header().Set("Content-Length", "5")
		_, _ = w.Write([]byte("hello"))
		w.Header().Set("X-Resp-Sum", "five")
	}), h2Upstreams[0], false)
	c := env.dial(t)
	c.send(rawRequest("GET", "/sum"))
	resp, body := c.response("GET")
	if resp.StatusCode != 200 || body != "hello" || resp.Header.Get("X-Proto") != "HTTP/2.0" {
		t.Fatalf("got %d %q over %s, want 200 %q over HTTP/2.0", resp.StatusCode, body, resp.Header.Get("X-Proto"), "hello")
	}
	if got := resp.Trailer.Get("X-Resp-Sum"); got != "five" {
		t.Errorf("trailer X-Resp-Sum %q, want %q (response framed %v, length %d)", got, "five", resp.TransferEncoding, resp.ContentLength)
	}
	c.send(rawRequest("GET", "/sum")) // the connection serves on
	if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "hello" {
		t.Errorf("next request: %d %q", resp.StatusCode, body)
	}
}
