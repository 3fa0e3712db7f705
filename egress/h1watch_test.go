package egress

import (
	"fmt"
	"io"
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

// TestH1SlowAnswerOnNewConnection: the first request of a new connection,
// and the next one on it, is answered, and its response streamed, whole however long past the
// connection's hello deadline the upstream takes (the deadline that bounds
// how long a new connection may take to show what it is must not cut the
// request it then sends; it did, as "client went away", 10 s after connect).
func TestH1SlowAnswerOnNewConnection(t *testing.T) {
	defer func(d time.Duration) { helloTimeout = d }(helloTimeout)
	helloTimeout = 100 * time.Millisecond
	late := helloTimeout + 2*watchPeriod
	env := newH1Env(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			for i := range 3 {
				_, _ = fmt.Fprintf(w, "part %d;", i)
				w.(http.Flusher).Flush()
				time.Sleep(late / 2)
			}
			return
		}
		time.Sleep(late)
		_, _ = fmt.Fprint(w, "late answer")
	}), h1Options{})
	for _, tt := range []struct{ path, want string }{
		{"/late", "late answer"},
		{"/stream", "part 0;part 1;part 2;"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			c := env.dial(t) // a new connection for each: its first request, then a kept-alive one
			for i := range 2 {
				c.send(rawRequest(http.MethodGet, tt.path))
				_ = c.c.SetReadDeadline(time.Now().Add(h1Wait + late))
				resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodGet})
				if err != nil {
					t.Fatalf("request %d, GET %s: %v", i, tt.path, err)
				}
				b, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != http.StatusOK || string(b) != tt.want {
					t.Fatalf("request %d, GET %s: %d %q (%v), want 200 %q", i, tt.path, resp.StatusCode, b, err, tt.want)
				}
			}
		})
	}
}
