package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/egressgw/egressgw/internal/pki"
)

// TestIngressTLSProtocols: a TLS-terminated connection that negotiates
// HTTP/1.1 (or nothing) is served by the same HTTP/1 path as a plaintext
// one (an h1conn, with the fast paths on), one that negotiates h2 by the
// HTTP/2 server; both reach the route with X-Forwarded-Proto https. A
// handshake that fails is logged as a connection naming the server.
func TestIngressTLSProtocols(t *testing.T) {
	b := newBackend(t, "app", nil)
	ca, _ := pki.NewCA("ingress CA")
	leaf, _ := ca.Issue("a.example.com", "a.example.com")
	files := map[string][]byte{"a.pem": leaf.CertPEM, "a-key.pem": leaf.KeyPEM}
	yml := serviceEntry("app", "app.default.svc.cluster.local", 80, b, "") + `
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
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: [a.example.com]
  gateways: [tls]
  http:
  - route: [{destination: {host: app}}]
`
	env := startIngress(t, yml, files)
	addr := net.JoinHostPort(ingressAddr.String(), env.port)
	for _, tt := range []struct {
		name      string
		alpn      []string
		wantProto string
		wantH1    int // h1conns tracked while the connection is open, fast paths on
	}{
		{"http/1.1", []string{"http/1.1"}, "HTTP/1.1", 1},
		{"no ALPN", nil, "HTTP/1.1", 1},
		{"h2", []string{"h2", "http/1.1"}, "HTTP/2.0", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
				},
				DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
						Config: &tls.Config{ServerName: "a.example.com", RootCAs: ca.Pool(), NextProtos: tt.alpn}}
					return d.DialContext(ctx, "tcp", addr)
				},
				ForceAttemptHTTP2: tt.wantProto == "HTTP/2.0",
			}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for i := range 3 { // the connection is kept and reused
				resp, err := c.Get("https://a.example.com:" + env.port + "/x")
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Proto != tt.wantProto || !strings.Contains(string(body), "xfp=https") {
					t.Fatalf("request %d: got %d %s %q, want 200 %s from app with X-Forwarded-Proto https", i, resp.StatusCode, resp.Proto, body, tt.wantProto)
				}
			}
			want := tt.wantH1
			if stdlibInTests {
				want = 0
			}
			if got := trackedH1(env.eng); got != want {
				t.Errorf("h1conns tracked with the connection open: %d, want %d", got, want)
			}
			tr.CloseIdleConnections()
			waitFor(t, "the connection's h1conn to end", func() bool { return trackedH1(env.eng) == 0 })
		})
	}

	// A client that does not trust the certificate ends the handshake.
	_, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "a.example.com", RootCAs: x509.NewCertPool()})
	if err == nil {
		t.Fatal("handshake with an untrusted certificate succeeded")
	}
	waitFor(t, "the failed handshake's connection record", func() bool {
		for _, e := range env.logs.FilterMessage("connection").All() {
			m := e.ContextMap()
			if m["close"] == "tls_handshake" && m["sni"] == "a.example.com" && strings.Contains(m["reason"].(string), "TLS handshake with") {
				return true
			}
		}
		return false
	})
}

// trackedH1 counts the HTTP/1 connections the engine's listeners serve.
func trackedH1(e *Engine) int {
	n := 0
	for _, l := range e.listeners {
		l.mu.Lock()
		n += len(l.h1)
		l.mu.Unlock()
	}
	return n
}
