package egress

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/egressgw/egressgw/internal/pki"
)

// TestIngressOptionalMutual: an OPTIONAL_MUTUAL server serves a client
// without certificate and one with a certificate of its CA, refuses one of
// another CA, and answers plain HTTP with a 400 as any terminating server.
func TestIngressOptionalMutual(t *testing.T) {
	b := newBackend(t, "app", nil)
	serverCA, _ := pki.NewCA("server CA")
	clientCA, _ := pki.NewCA("client CA")
	otherCA, _ := pki.NewCA("other CA")
	leaf, _ := serverCA.Issue("a.example.com", "a.example.com")
	good, _ := clientCA.Issue("client", "client.test")
	bad, _ := otherCA.Issue("intruder", "client.test")
	files := map[string][]byte{"a.pem": leaf.CertPEM, "a-key.pem": leaf.KeyPEM, "ca.pem": clientCA.CertPEM}
	yml := serviceEntry("app", "app.default.svc.cluster.local", 80, b, "") + `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tls, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: {{PORT}}, name: https, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: OPTIONAL_MUTUAL, serverCertificate: FILEDIR/a.pem, privateKey: FILEDIR/a-key.pem, caCertificates: FILEDIR/ca.pem}
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
	env := startIngressManaged(t, yml, files)
	for _, tc := range []struct {
		name    string
		cert    *tls.Certificate
		wantErr bool
	}{
		{"no client certificate", nil, false},
		{"client certificate of the CA", &good.TLS, false},
		{"client certificate of another CA", &bad.TLS, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := env.client(serverCA, nil)
			tr := c.Transport.(*http.Transport)
			tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if tc.cert == nil {
					return &tls.Certificate{}, nil
				}
				return tc.cert, nil
			}
			resp, err := c.Get("https://a.example.com:" + env.port + "/x")
			if tc.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %d, want the handshake refused", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want 200", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("got %d, want 200", resp.StatusCode)
			}
		})
	}
	if got := env.do(t, nil, "http", "GET", "a.example.com", "/x", nil); got.status != 400 || !strings.Contains(got.body, "plain HTTP was sent") {
		t.Errorf("plain HTTP to the OPTIONAL_MUTUAL server: got %d %q, want 400 naming plain HTTP", got.status, got.body)
	}
}
