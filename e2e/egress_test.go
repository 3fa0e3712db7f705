//go:build e2e && linux

package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEgress runs egressgw (REGISTRY_ONLY) on the node and drives it from
// the pod, case by case, the way Istio's egress tasks drive a mesh. The
// cases share one gateway and run in order; the last one stops it.
func TestEgress(t *testing.T) {
	tp := env(t)
	gw := tp.startGateway(t, gatewayBinary(t, tp), "REGISTRY_ONLY")
	cases := []struct {
		name string
		run  func(*testing.T, *topology, *gateway)
	}{
		{"01_tls_origination", testTLSOrigination},
		{"02_tls_passthrough", testPassthrough},
		{"03_registry_only", testRegistryOnly},
		{"04_authorization_policy_deny_path", testAuthzDeny},
		{"05_external_name_service", testExternalName},
		{"06_wildcard_host", testWildcard},
		{"07_mutual_tls_origination", testMutualOrigination},
		{"08_untrusted_upstream_certificate", testUntrustedUpstream},
		{"09_upstream_down", testUpstreamDown},
		{"09b_http2_origination", testHTTP2Origination},
		{"09c_long_requests", testLongRequests},
		{"10_live_reload", testLiveReload},
		{"11_bad_input", testBadInput},
		{"12_sigterm", testSIGTERM},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gw.requireRunning(t)
			c.run(t, tp, gw)
		})
	}
}

// wantResponse checks curl got an HTTP response with status and a body
// containing every one of subs.
func wantResponse(t *testing.T, r curlResult, status int, subs ...string) {
	t.Helper()
	if r.status != status {
		t.Errorf("got status %d, want %d\n%s", r.status, status, r)
		return
	}
	for _, s := range subs {
		if !strings.Contains(r.body, s) {
			t.Errorf("body %q does not contain %q\n%s", r.body, s, r)
		}
	}
}

// wantResolves checks the pod resolves name to the egress address.
func wantResolves(t *testing.T, tp *topology, name string) {
	t.Helper()
	r := tp.dig(tp.pod, "+short", "@"+egressAddr, name, "A")
	if got := strings.TrimSpace(r.stdout); got != egressAddr {
		t.Errorf("dig %s: got %q, want %s\n%s", name, got, egressAddr, r)
	}
}

// wantBlockedName checks DNS refuses name: NXDOMAIN with EDE 15 (Blocked).
func wantBlockedName(t *testing.T, tp *topology, name string) {
	t.Helper()
	r := tp.dig(tp.pod, "@"+egressAddr, name, "A")
	if !strings.Contains(r.stdout, "status: NXDOMAIN") {
		t.Errorf("dig %s: want status NXDOMAIN\n%s", name, r)
	}
	if !strings.Contains(r.stdout, "EDE: 15 (Blocked)") {
		t.Errorf("dig %s: want Extended DNS Error 15 (Blocked)\n%s", name, r)
	}
}

// peerCertificate does a TLS handshake from the pod to the gateway with SNI
// serverName, verifying against the suite's CA, and returns the leaf the
// client saw.
func peerCertificate(tp *topology, serverName string) (*x509.Certificate, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(tp.pki.caPEM)
	var leaf *x509.Certificate
	err := inNetns(tp.pod, func() error {
		d := &net.Dialer{Timeout: 3 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(egressAddr, "443"), &tls.Config{ServerName: serverName, RootCAs: pool})
		if err != nil {
			return err
		}
		defer c.Close()
		leaf = c.ConnectionState().PeerCertificates[0]
		return nil
	})
	return leaf, err
}

// wantSiteCertificate checks the pod saw exactly the certificate nginx
// serves for name: the gateway passed TLS through untouched.
func wantSiteCertificate(t *testing.T, tp *topology, name string) {
	t.Helper()
	got, err := peerCertificate(tp, name)
	if err != nil {
		t.Errorf("TLS handshake with SNI %s through the gateway: %v", name, err)
		return
	}
	pemBytes, err := os.ReadFile(filepath.Join(tp.pki.dir, name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if !bytes.Equal(got.Raw, block.Bytes) {
		t.Errorf("certificate for %s: got subject %q issuer %q, want nginx's own (subject CN=%s, issuer CN=%s)",
			name, got.Subject, got.Issuer, name, caName)
	}
}
