package egress

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// bodyBackend records the bodies and Hosts of the requests it gets.
type bodyBackend struct {
	*backend
	mu     sync.Mutex
	bodies [][]byte
	hosts  []string
}

func newBodyBackend(t *testing.T, name string) *bodyBackend {
	bb := &bodyBackend{}
	bb.backend = newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		bb.mu.Lock()
		bb.bodies, bb.hosts = append(bb.bodies, b), append(bb.hosts, r.Host)
		bb.mu.Unlock()
		fmt.Fprintf(w, "%s got %d bytes\n", name, len(b))
	})
	return bb
}

// last returns the count of requests and the last body and Host.
func (bb *bodyBackend) last() (int, []byte, string) {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	if len(bb.bodies) == 0 {
		return 0, nil, ""
	}
	return len(bb.bodies), bb.bodies[len(bb.bodies)-1], bb.hosts[len(bb.hosts)-1]
}

// waitCount waits (bounded) until bb has had n requests.
func (bb *bodyBackend) waitCount(n int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _, _ := bb.last()
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMirrorBodies: a request with a body of at most 64 KiB reaches the
// primary and the mirror (its Host suffixed -shadow) with the same bytes,
// known length or chunked, also after an Expect: 100-continue; a longer
// body reaches the primary whole and is not mirrored, counted as
// skipped_body_too_large. On the fast paths and on net/http's.
func TestMirrorBodies(t *testing.T) {
	for _, stdlib := range []bool{false, true} {
		t.Run(fmt.Sprintf("stdlib=%v", stdlib), func(t *testing.T) {
			saved := stdlibInTests
			stdlibInTests = stdlib
			defer func() { stdlibInTests = saved }()
			testMirrorBodies(t)
		})
	}
}

func testMirrorBodies(t *testing.T) {
	primary, shadow := newBodyBackend(t, "primary"), newBodyBackend(t, "shadow")
	yml := serviceEntry("primary", "primary.default.svc.cluster.local", 80, primary.backend, "") +
		serviceEntry("shadow", "shadow.default.svc.cluster.local", 80, shadow.backend, "") + `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: {{PORT}}, name: http, protocol: HTTP}
    hosts: [app.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: [app.example.com]
  gateways: [gw]
  http:
  - route: [{destination: {host: primary}}]
    mirror: {host: shadow}
    mirrorPercentage: {value: 100}
`
	env := startIngress(t, yml, nil)
	skipped := env.eng.metrics.Mirrors.WithLabelValues("skipped_body_too_large")
	pattern := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		return b
	}
	mirrored := 0
	for _, tc := range []struct {
		name     string
		size     int
		chunked  bool
		expect   bool // Expect: 100-continue, the body sent only once the gateway says so
		mirrored bool
	}{
		{"1 KiB", 1 << 10, false, false, true},
		{"1 KiB chunked", 1 << 10, true, false, true},
		{"1 KiB after 100-continue", 1 << 10, false, true, true},
		{"64 KiB", 64 << 10, false, false, true},
		{"200 KiB", 200 << 10, false, false, false},
		{"200 KiB chunked", 200 << 10, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := pattern(tc.size)
			before := counterValue(skipped)
			nPrimary, _, _ := primary.last()
			status, reply := rawPost(t, env.port, body, tc.chunked, tc.expect)
			if status != 200 || !strings.Contains(reply, fmt.Sprintf("primary got %d bytes", tc.size)) {
				t.Fatalf("got %d %q, want 200 from primary with %d bytes", status, reply, tc.size)
			}
			n, got, _ := primary.last()
			if n != nPrimary+1 || !bytes.Equal(got, body) {
				t.Errorf("primary got %d requests, last body %d bytes, want 1 more with the %d bytes sent", n-nPrimary, len(got), tc.size)
			}
			if !tc.mirrored {
				if got := counterValue(skipped) - before; got != 1 {
					t.Errorf("skipped_body_too_large grew by %v, want 1", got)
				}
				if n, _, _ := shadow.last(); n != mirrored {
					t.Errorf("mirror got %d requests, want %d (this one not mirrored)", n, mirrored)
				}
				return
			}
			mirrored++
			if n := shadow.waitCount(mirrored); n != mirrored {
				t.Fatalf("mirror got %d requests, want %d", n, mirrored)
			}
			_, got, host := shadow.last()
			if !bytes.Equal(got, body) {
				t.Errorf("mirror body: %d bytes, want the %d bytes sent", len(got), len(body))
			}
			if want := "app.example.com-shadow:" + env.port; host != want {
				t.Errorf("mirror Host %q, want %q", host, want)
			}
		})
	}
	// A request without body is mirrored as before.
	if got := env.do(t, nil, "http", "GET", "app.example.com", "/get", nil); got.status != 200 {
		t.Fatalf("GET: got %d %q, want 200", got.status, got.body)
	}
	if n := shadow.waitCount(mirrored + 1); n != mirrored+1 {
		t.Errorf("GET: mirror got %d requests, want %d", n, mirrored+1)
	}
}

// rawPost sends a POST with body to the ingress port over a connection of
// its own and returns the response's status and body. With expect, it
// waits (bounded) for the 100 Continue before sending the body.
func rawPost(t *testing.T, port string, body []byte, chunked, expect bool) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort(ingressAddr.String(), port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	head := "POST /upload HTTP/1.1\r\nHost: app.example.com:" + port + "\r\n"
	if chunked {
		head += "Transfer-Encoding: chunked\r\n"
	} else {
		head += fmt.Sprintf("Content-Length: %d\r\n", len(body))
	}
	if expect {
		head += "Expect: 100-continue\r\n"
	}
	if _, err := io.WriteString(c, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if expect {
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
			t.Fatalf("before the body: got %q (%v), want HTTP/1.1 100 Continue", line, err)
		}
		if _, err := br.ReadString('\n'); err != nil { // the empty line ending it
			t.Fatal(err)
		}
	}
	go func() { // written while the response may already be read
		w := bufio.NewWriter(c)
		if chunked {
			for i := 0; i < len(body); i += 10 << 10 {
				chunk := body[i:min(i+10<<10, len(body))]
				fmt.Fprintf(w, "%x\r\n", len(chunk))
				_, _ = w.Write(chunk)
				_, _ = w.WriteString("\r\n")
			}
			_, _ = w.WriteString("0\r\n\r\n")
		} else {
			_, _ = w.Write(body)
		}
		_ = w.Flush()
	}()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
