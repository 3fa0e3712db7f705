package egress

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestH1UpstreamLimits: an upstream that floods informational responses or
// sends a head over origination.MaxResponseHeaderBytes (64 KiB, as the
// request side) gets a 502 naming the problem.
func TestH1UpstreamLimits(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
		interim int // 1xx responses the client sees first
	}{
		{"five early hints pass", func(w http.ResponseWriter, r *http.Request) {
			for range 5 {
				w.Header().Set("Link", "</style.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
			}
			_, _ = w.Write([]byte("final"))
		}, "final", 5},
		{"six are too many", func(w http.ResponseWriter, r *http.Request) {
			for range 6 {
				w.WriteHeader(http.StatusEarlyHints)
			}
			_, _ = w.Write([]byte("final"))
		}, "more than 5 informational", 5},
		{"101 unasked", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusSwitchingProtocols)
		}, "switched protocols", 0},
		{"a head of 60 KiB passes", func(w http.ResponseWriter, r *http.Request) {
			for i := range 60 {
				w.Header().Set("X-Big-"+strconv.Itoa(i), strings.Repeat("x", 1000))
			}
			_, _ = w.Write([]byte("final"))
		}, "final", 0},
		{"a head over 64 KiB", func(w http.ResponseWriter, r *http.Request) {
			for i := range 100 {
				w.Header().Set("X-Big-"+strconv.Itoa(i), strings.Repeat("x", 1000))
			}
			_, _ = w.Write([]byte("final"))
		}, "headers exceed 64 KiB", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newH1Env(t, tt.handler, h1Options{})
			c := env.dial(t)
			c.send(rawRequest(http.MethodGet, "/"))
			for i := range tt.interim {
				resp, _ := c.response(http.MethodGet)
				if resp.StatusCode != http.StatusEarlyHints {
					t.Fatalf("response %d: %d, want 103", i+1, resp.StatusCode)
				}
			}
			resp, body := c.response(http.MethodGet)
			if !strings.Contains(body, tt.want) {
				t.Errorf("got %d %q, want a body containing %q", resp.StatusCode, body, tt.want)
			}
			if tt.want != "final" && resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status %d, want 502", resp.StatusCode)
			}
		})
	}
}

// TestH1RefusalHead: a refusal's head carries each framing and connection
// header once, whatever the handler set.
func TestH1RefusalHead(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), h1Options{})
	c := env.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: " + h1Host + "\r\nBad Header: x\r\n\r\n")
	_ = c.c.SetReadDeadline(time.Now().Add(h1Wait))
	counts := map[string]int{}
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the head: %v", err)
		}
		if line == "\r\n" {
			break
		}
		if name, _, ok := strings.Cut(line, ":"); ok {
			counts[http.CanonicalHeaderKey(name)]++
		}
	}
	if counts["Connection"] != 1 || counts["Content-Length"] != 1 {
		t.Errorf("head has %d Connection and %d Content-Length lines, want one of each", counts["Connection"], counts["Content-Length"])
	}
}

// TestH1RequestTarget: the upstream gets the origin form of the target,
// with the path the policy decided on (dot segments removed), whatever
// form the client used.
func TestH1RequestTarget(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	for _, tt := range []struct{ target, want string }{
		{"/echo?q=1", "/echo?q=1"},
		{"http://" + h1Host + "/echo?q=1", "/echo?q=1"},
		{"/a/../echo", "/echo"},
		{"//echo//x/", "/echo/x/"},
		{"/a%2Fb", "/a%2Fb"},
	} {
		c := env.dial(t)
		c.send("GET " + tt.target + " HTTP/1.1\r\nHost: " + h1Host + "\r\n\r\n")
		resp, body := c.response(http.MethodGet)
		if got := resp.Header.Get("X-Uri"); resp.StatusCode != http.StatusOK || got != tt.want {
			t.Errorf("GET %s: %d, upstream saw %q (body %q); want 200 and %q", tt.target, resp.StatusCode, got, body, tt.want)
		}
	}
}
