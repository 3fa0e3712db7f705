package egress

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestH1BodyIdleTimeout: a request body that stops coming fails with 408
// once the body idle timeout passes without a byte, and the connection
// closes; a body that keeps coming, however slowly, is not cut off.
func TestH1BodyIdleTimeout(t *testing.T) {
	env := newCanonEnv(t, func(c *Config) { c.BodyIdleTimeout = 300 * time.Millisecond })
	t.Run("stalled", func(t *testing.T) {
		c := env.dial(t)
		c.send(rawRequest(http.MethodPost, "/echo", "Content-Length: 10") + "a")
		resp, body := c.response(http.MethodPost)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, "the request body made no progress for 300ms") {
			t.Errorf("got %d %q, want 408 saying the body made no progress", resp.StatusCode, body)
		}
		c.expectClosed()
	})
	t.Run("chunked, stalled", func(t *testing.T) {
		c := env.dial(t)
		c.send(rawRequest(http.MethodPost, "/echo", "Transfer-Encoding: chunked") + "5\r\nab")
		resp, body := c.response(http.MethodPost)
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("got %d %q, want 408", resp.StatusCode, body)
		}
		c.expectClosed()
	})
	t.Run("slow but steady", func(t *testing.T) {
		env := newCanonEnv(t, func(c *Config) { c.BodyIdleTimeout = time.Second })
		c := env.dial(t)
		c.send(rawRequest(http.MethodPost, "/echo", "Content-Length: 6"))
		for _, b := range "abcdef" { // longer than the timeout in all, each byte well within it
			time.Sleep(250 * time.Millisecond)
			c.send(string(b))
		}
		resp, body := c.response(http.MethodPost)
		if resp.StatusCode != http.StatusOK || body != "abcdef" {
			t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, "abcdef")
		}
		// The timeout is the body's only: the connection then waits for its next request as before.
		time.Sleep(1200 * time.Millisecond)
		c.send(rawRequest(http.MethodGet, "/doc"))
		c.checkDoc()
	})
}
