package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/egressgw/egressgw/internal/pki"
)

// TestForwardH1: an HTTP/2 client's requests to an HTTP/1.1 destination go
// over the HTTP/1.1 pool (forwardH1), not http.Transport: bodies both ways
// (of unknown length too), trailers, a route's retries, an upstream that
// is down, and a client that goes away (the upstream exchange ends with it).
func TestForwardH1(t *testing.T) {
	var fails, closed atomic.Int64
	fails.Store(1)
	release := make(chan struct{})
	b := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		if r.Close {
			closed.Add(1) // the last request its connection may carry
		}
		switch r.URL.Path {
		case "/echo":
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "got %d bytes, sum %d, length %d", len(body), sum(body), r.ContentLength)
		case "/trailers":
			w.Header().Set("Trailer", "Grpc-Status")
			_, _ = w.Write([]byte("body"))
			w.(http.Flusher).Flush() // chunked
			w.Header().Set("Grpc-Status", "0")
		case "/flaky":
			if fails.Add(-1) >= 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("second try"))
		case "/hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			_, _ = w.Write(bytes.Repeat([]byte("x"), 1<<20))
		}
	})
	defer close(release)
	ca, _ := pki.NewCA("ingress CA")
	leaf, _ := ca.Issue("a.example.com", "a.example.com")
	files := map[string][]byte{"a.pem": leaf.CertPEM, "a-key.pem": leaf.KeyPEM}
	yml := serviceEntry("app", "app.default.svc.cluster.local", 80, b, "") + `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: down, namespace: default}
spec:
  hosts: [down.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: 1}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tls, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: {{PORT}}, name: https, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, serverCertificate: FILEDIR/a.pem, privateKey: FILEDIR/a-key.pem}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: app, namespace: default}
spec:
  host: app.default.svc.cluster.local
  trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 2}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: [a.example.com]
  gateways: [tls]
  http:
  - match: [{uri: {prefix: /down}}]
    route: [{destination: {host: down}}]
    retries: {attempts: 0}
  - match: [{uri: {exact: /flaky}}]
    route: [{destination: {host: app}}]
    retries: {attempts: 2, retryOn: 5xx}
  - route: [{destination: {host: app}}]
    retries: {attempts: 0}
`
	env := startIngress(t, yml, files)
	addr := net.JoinHostPort(ingressAddr.String(), env.port)
	tr := &http.Transport{
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := &tls.Dialer{Config: &tls.Config{ServerName: "a.example.com", RootCAs: ca.Pool(), NextProtos: []string{"h2"}}}
			return d.DialContext(ctx, "tcp", addr)
		},
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "https://a.example.com:" + env.port

	do := func(req *http.Request) (*http.Response, string) {
		t.Helper()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.Proto != "HTTP/2.0" {
			t.Fatalf("%s: the client spoke %s, want HTTP/2.0", req.URL.Path, resp.Proto)
		}
		return resp, string(body)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for _, length := range []int64{int64(len(payload)), -1} {
		req, _ := http.NewRequest(http.MethodPost, url+"/echo", io.NopCloser(bytes.NewReader(payload)))
		req.ContentLength = length
		_, body := do(req)
		if want := fmt.Sprintf("got %d bytes, sum %d, length %d", len(payload), sum(payload), length); body != want {
			t.Errorf("POST of 1 MiB, length %d: %q, want %q", length, body, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/big", nil)
	if resp, body := do(req); resp.StatusCode != 200 || len(body) != 1<<20 {
		t.Errorf("GET of 1 MiB: %d, %d bytes", resp.StatusCode, len(body))
	}
	req, _ = http.NewRequest(http.MethodGet, url+"/trailers", nil)
	if resp, body := do(req); body != "body" || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("trailers: body %q, trailer %v, want body and Grpc-Status 0", body, resp.Trailer)
	}
	req, _ = http.NewRequest(http.MethodGet, url+"/flaky", nil)
	if resp, body := do(req); resp.StatusCode != 200 || body != "second try" {
		t.Errorf("retried 503: %d %q, want 200 from the second try", resp.StatusCode, body)
	}
	req, _ = http.NewRequest(http.MethodGet, url+"/down", nil)
	if resp, body := do(req); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "cannot connect to upstream") {
		t.Errorf("upstream down: %d %q, want 503 naming the cause", resp.StatusCode, body)
	}
	// The HTTP/1.1 pool applies maxRequestsPerConnection 2 (Connection:
	// close on every second request of a connection); http.Transport, the
	// path this replaces, applies only 1.
	if n := closed.Load(); n == 0 && !stdlibInTests {
		t.Error("no request reached the backend with Connection: close: they were not sent over the HTTP/1.1 pool, which applies maxRequestsPerConnection 2")
	}

	// The client gives up on /hang: the request is logged as 499 and the backend's request is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, url+"/hang", nil)
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("/hang answered %d", resp.StatusCode)
	}
	waitFor(t, "the abandoned request's log line (499)", func() bool {
		for _, e := range env.logs.FilterMessage("request").All() {
			if m := e.ContextMap(); m["path"] == "/hang" && m["status"] == int64(499) {
				return true
			}
		}
		return false
	})
}

func sum(b []byte) (s int) {
	for _, c := range b {
		s += int(c)
	}
	return s
}
