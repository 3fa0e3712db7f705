package egress

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/egressgw/egressgw/internal/faultserver"
)

// weakSite is an HTTPS server whose certificate has a 1024-bit RSA key.
func weakSite(t *testing.T, host string) *httptest.Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "weak site served") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestUpstreamTLSRefusals: the client of a refused upstream handshake gets
// a 502 whose body says what was wrong, for a short RSA key (even with
// insecureSkipVerify) and for an upstream that resets the handshake.
func TestUpstreamTLSRefusals(t *testing.T) {
	httpPort := freePort(t)
	weak := weakSite(t, "api.x.test")
	cfg := ""
	for _, u := range []struct{ host, port, tls string }{
		{"api.x.test", port(weak.URL), "{mode: SIMPLE, insecureSkipVerify: true}"},
		{"reset.x.test", port(faultserver.ResetAfterHello(t)), "{mode: SIMPLE, insecureSkipVerify: true}"},
	} {
		cfg += fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %[1]s}
spec:
  hosts: [%[1]s]
  resolution: DNS
  location: MESH_INTERNAL # its test origin is on loopback, which netguard refuses to names resolved at request time
  ports: [{number: %[2]s, name: http, protocol: HTTP, targetPort: %[3]s}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %[1]s}
spec:
  host: %[1]s
  trafficPolicy: {tls: %[4]s}
---
`, u.host, httpPort, u.port, u.tls)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "egress.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startEngine(t, dir)
	tests := []struct {
		host      string
		wantCause string
		wantBody  []string
	}{
		{host: "api.x.test", wantCause: "tls_verify", wantBody: []string{"upstream TLS certificate verification failed",
			"upstream certificate for api.x.test has a 1024-bit RSA key; egressgw requires at least 2048 bits"}},
		{host: "reset.x.test", wantCause: "tls_handshake", wantBody: []string{"upstream TLS handshake failed: tls handshake with reset.x.test: ",
			"connection reset by peer"}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+httpPort+"/", nil)
			req.Host = tt.host
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("X-Egressgw-Error") != tt.wantCause {
				t.Errorf("got %d %s, want 502 %s; body %q", resp.StatusCode, resp.Header.Get("X-Egressgw-Error"), tt.wantCause, b)
			}
			for _, w := range tt.wantBody {
				if !strings.Contains(string(b), w) {
					t.Errorf("body %q does not contain %q", b, w)
				}
			}
		})
	}
}
