package egress

import (
	"errors"
	"io"
	"net/http"
	"testing"

	"golang.org/x/net/http2"
)

// TestH2ProxyResetPassedOn: an upstream that resets its stream reaches a
// client speaking HTTP/2 as a reset stream, not as a 502 the upstream
// never sent, whether the reset came before the response head or during
// the body; an HTTP/1.1 client whose response had begun sees it cut short
// (no last chunk), not a clean end.
func TestH2ProxyResetPassedOn(t *testing.T) {
	for _, tt := range []struct {
		name  string
		began bool // the upstream sent the head and part of the body first
	}{
		{name: "before the response head"},
		{name: "during the body", began: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newH2Env(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.began {
					_, _ = io.WriteString(w, "part one")
					w.(http.Flusher).Flush()
				}
				panic(http.ErrAbortHandler) // RST_STREAM INTERNAL_ERROR
			}), h2Upstreams[0], false)
			tr := &http.Transport{Protocols: new(http.Protocols)}
			tr.Protocols.SetUnencryptedHTTP2(true)
			t.Cleanup(tr.CloseIdleConnections)
			h2c := &http.Client{Transport: tr, Timeout: h1Wait}
			req, _ := http.NewRequest("GET", "http://"+env.addr+"/reset", nil)
			req.Host = h1Host
			var se http2.StreamError
			resp, err := h2c.Do(req)
			if err == nil {
				b, rerr := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if !tt.began || !errors.As(rerr, &se) {
					t.Errorf("HTTP/2 client: %s %d %q, body error %v; want the stream reset", resp.Proto, resp.StatusCode, b, rerr)
				}
			} else if tt.began || !errors.As(err, &se) {
				t.Errorf("HTTP/2 client: %v; want the stream reset", err)
			}
			if !tt.began {
				return // an HTTP/1.1 client gets a 502 naming the reset: TestH2ProxyUpstreamReset
			}
			h1 := &http.Client{Transport: &http.Transport{}, Timeout: h1Wait}
			resp, err = h1.Do(req)
			if err != nil {
				t.Fatalf("HTTP/1.1 client: %v", err)
			}
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "part one" || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("HTTP/1.1 client: %d %q, %v; want 200 %q cut short (unexpected EOF)", resp.StatusCode, b, err, "part one")
			}
		})
	}
}
