package egress

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestH1ClientGoneCancelsUpstream: a client that hangs up while its request
// waits on the upstream (or while the response streams) gets the upstream
// connection closed, so the origin's handler sees its request cancelled.
func TestH1ClientGoneCancelsUpstream(t *testing.T) {
	testClientGone(t, func(t *testing.T, h http.Handler) *h1Env { return newH1Env(t, h, h1Options{}) })
}

// testClientGone hangs up a client while its request waits on the origin,
// and while the response streams, and checks that the origin's handler sees
// the request cancelled. newEnv starts the gateway and an origin serving h.
func testClientGone(t *testing.T, newEnv func(t *testing.T, h http.Handler) *h1Env) {
	for _, tt := range []struct {
		name  string
		start bool // the origin starts the response before it stalls
	}{{"waiting for the response", false}, {"while the body streams", true}} {
		t.Run(tt.name, func(t *testing.T) {
			entered, cancelled := make(chan struct{}), make(chan struct{})
			env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.start {
					_, _ = fmt.Fprint(w, "first part")
					w.(http.Flusher).Flush()
				}
				close(entered)
				select {
				case <-r.Context().Done():
					close(cancelled)
				case <-time.After(4 * watchPeriod):
				}
			}))
			c, err := net.Dial("tcp", env.addr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fmt.Fprintf(c, "GET /slow HTTP/1.1\r\nHost: %s\r\n\r\n", h1Host); err != nil {
				t.Fatal(err)
			}
			select {
			case <-entered:
			case <-time.After(h1Wait):
				t.Fatal("the request never reached the origin")
			}
			_ = c.Close()
			select {
			case <-cancelled:
			case <-time.After(3 * watchPeriod):
				t.Fatal("the origin's request was not cancelled after the client went away")
			}
		})
	}
}
