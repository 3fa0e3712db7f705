package egress

import (
	"net/http"
	"strconv"
	"testing"
)

// TestH2ProxyExpectContinue: a client that sends Expect: 100-continue to
// an HTTP/2 upstream gets its 100 Continue before it sends the body, for a
// body read whole first (up to 32 KiB) and for a streamed one; the
// upstream does not see Expect, which the gateway answered.
func TestH2ProxyExpectContinue(t *testing.T) {
	for _, n := range []int{2 << 10, 100 << 10} {
		t.Run(strconv.Itoa(n)+" bytes", func(t *testing.T) {
			env := newH2Env(t, http.HandlerFunc(h2Origin), h2Upstreams[0], false)
			c := env.dial(t)
			c.send(rawRequest("POST", "/echo", "Content-Length: "+strconv.Itoa(n), "Expect: 100-continue"))
			resp, _ := c.response("POST") // within h1Wait
			if resp.StatusCode != http.StatusContinue {
				t.Fatalf("got %s before sending the body, want 100 Continue", resp.Status)
			}
			body := h2Pattern(n)
			c.send(body)
			resp, got := c.response("POST")
			if resp.StatusCode != http.StatusOK || got != body || resp.Header.Get("X-Proto") != "HTTP/2.0" {
				t.Fatalf("got %d %s, %d bytes (equal: %v), want 200 over HTTP/2.0 with the %d bytes sent",
					resp.StatusCode, resp.Header.Get("X-Proto"), len(got), got == body, n)
			}
			if e := resp.Header.Get("X-Expect"); e != "" {
				t.Errorf("the upstream saw Expect: %s; the gateway answered it", e)
			}
		})
	}
}
