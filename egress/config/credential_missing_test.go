package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/egressgw/egressgw/route"
)

// TestGatewayCredentialMissing: a Gateway server whose credentialName
// Secret is not found is compiled without certificate (its handshakes
// fail, with the reason) and named in an IST0101 warning; the other
// servers are served. Once the Secret exists, the server is served too. A
// Secret that exists with a bad certificate stays an error.
func TestGatewayCredentialMissing(t *testing.T) {
	pk := newTestPKI(t)
	gw := `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: %MODE%, credentialName: missing}
  - port: {number: 443, name: https-b, protocol: HTTPS}
    hosts: [b.example.com]
    tls: {mode: SIMPLE, credentialName: present}
`
	present := secretYAML("istio-system", "present", map[string][]byte{"tls.crt": pk.certPEM, "tls.key": pk.keyPEM})
	for _, tc := range []struct {
		name, mode string
		secret     string // the Secret "missing" as it later appears
		problem    string // once it appears; "" when it is then served
		served     string // the served server's description once it appears
	}{
		{"simple", "SIMPLE", secretYAML("istio-system", "missing", map[string][]byte{"tls.crt": pk.certPEM, "tls.key": pk.keyPEM}), "", "TLS SIMPLE (Secret istio-system/missing)"},
		{"mutual", "MUTUAL", secretYAML("istio-system", "missing", map[string][]byte{"tls.crt": pk.certPEM, "tls.key": pk.keyPEM, "ca.crt": pk.caPEM}), "", "TLS MUTUAL (Secret istio-system/missing)"},
		{"bad certificate", "SIMPLE", secretYAML("istio-system", "missing", map[string][]byte{"tls.crt": pk.certPEM, "tls.key": pk.otherKeyPEM}),
			"spec.servers[0].tls.credentialName: server certificate and key: tls: private key does not match public key", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := filepath.Join(dir, "gw.yaml")
			yaml := strings.ReplaceAll(gw, "%MODE%", tc.mode) + present
			writeTestFile(t, f, yaml)
			s, err := Load([]string{f}, Options{Namespace: "istio-system"})
			if err != nil {
				t.Fatalf("Load with the Secret missing: %v, want it to load with a warning", err)
			}
			l := s.Routes.Listener(route.Ingress, 443)
			a, b := l.ServerFor("a.example.com"), l.ServerFor("b.example.com")
			if a == nil || a.TLS == nil || !strings.Contains(a.TLS.Unserved, "Secret istio-system/missing not found") || a.TLS.CertPEM != nil {
				t.Errorf("server a: got %+v, want no certificate and Unserved naming Secret istio-system/missing", a)
			}
			if b == nil || b.TLS == nil || b.TLS.Unserved != "" || b.TLS.CertPEM == nil {
				t.Errorf("server b: got %+v, want served with Secret present's certificate", b)
			}
			want := "Gateway istio-system/gw: spec.servers[0].tls.credentialName: IST0101 referenced credentialName not found: Secret istio-system/missing not found"
			found := false
			for _, w := range s.Warnings {
				found = found || strings.Contains(w, want)
			}
			if !found {
				t.Errorf("warnings:\n  %s\nwant one containing %q", strings.Join(s.Warnings, "\n  "), want)
			}

			// The Secret appears: the file's next load serves the server.
			writeTestFile(t, f, yaml+tc.secret)
			s, err = Load([]string{f}, Options{Namespace: "istio-system"})
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("Load with a bad Secret: %v, want a problem %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load with the Secret: %v", err)
			}
			a = s.Routes.Listener(route.Ingress, 443).ServerFor("a.example.com")
			if got := describeServer(a); got != tc.served || a.TLS.Unserved != "" {
				t.Errorf("server a once the Secret exists: got %s (unserved %q), want %s", got, a.TLS.Unserved, tc.served)
			}
			for _, w := range s.Warnings {
				if strings.Contains(w, "credentialName") {
					t.Errorf("warning once the Secret exists: %s", w)
				}
			}
		})
	}
}
