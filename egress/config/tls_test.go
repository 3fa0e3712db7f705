package config

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/egressgw/egressgw/internal/pki"
)

type testPKI struct {
	caPEM, certPEM, keyPEM, otherKeyPEM []byte
}

// newTestPKI returns a CA, a client certificate and key it signed, and
// another key that does not match the certificate.
func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	ca, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue("client.example.test")
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.Issue("other.example.test")
	if err != nil {
		t.Fatal(err)
	}
	return testPKI{caPEM: ca.CertPEM, certPEM: client.CertPEM, keyPEM: client.KeyPEM, otherKeyPEM: other.KeyPEM}
}

// secretYAML renders a Secret with base64 data.
func secretYAML(ns, name string, data map[string][]byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ndata:\n", name, ns)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range data {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "  %s: %s\n", k, base64.StdEncoding.EncodeToString(data[k]))
	}
	return b.String()
}

const mtlsConfig = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: nginx}
spec:
  hosts: [nginx.example.test]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate-mtls}
spec:
  host: nginx.example.test
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: %s, credentialName: client-credential, sni: nginx.example.test}
`

func TestCredentialName(t *testing.T) {
	pki := newTestPKI(t)
	tests := []struct {
		name    string
		mode    string
		secrets string
		wantErr string // "" = loads
		wantCA  bool
	}{
		{"tls keys in DR namespace", "MUTUAL",
			secretYAML("default", "client-credential", map[string][]byte{"tls.crt": pki.certPEM, "tls.key": pki.keyPEM, "ca.crt": pki.caPEM}), "", true},
		{"generic keys in gateway namespace", "MUTUAL",
			secretYAML("istio-system", "client-credential", map[string][]byte{"cert": pki.certPEM, "key": pki.keyPEM, "cacert": pki.caPEM}), "", true},
		{"DR namespace wins", "MUTUAL",
			secretYAML("default", "client-credential", map[string][]byte{"tls.crt": pki.certPEM, "tls.key": pki.keyPEM}) +
				secretYAML("istio-system", "client-credential", map[string][]byte{"tls.crt": []byte("junk"), "tls.key": []byte("junk")}), "", false},
		{"CA from -cacert Secret", "MUTUAL",
			secretYAML("istio-system", "client-credential", map[string][]byte{"tls.crt": pki.certPEM, "tls.key": pki.keyPEM}) +
				secretYAML("istio-system", "client-credential-cacert", map[string][]byte{"ca.crt": pki.caPEM}), "", true},
		{"SIMPLE uses only the CA", "SIMPLE",
			secretYAML("default", "client-credential", map[string][]byte{"ca.crt": pki.caPEM}), "", true},
		{"not found", "MUTUAL", "",
			"spec.trafficPolicy.portLevelSettings[0].tls.credentialName: Secret default/client-credential not found (nor istio-system/client-credential)", false},
		{"key mismatch", "MUTUAL",
			secretYAML("default", "client-credential", map[string][]byte{"tls.crt": pki.certPEM, "tls.key": pki.otherKeyPEM}),
			"spec.trafficPolicy.portLevelSettings[0].tls.credentialName: client certificate and key: tls: private key does not match public key", false},
		{"MUTUAL without client certificate", "MUTUAL",
			secretYAML("default", "client-credential", map[string][]byte{"ca.crt": pki.caPEM}),
			"spec.trafficPolicy.portLevelSettings[0].tls.credentialName: Secret default/client-credential has no client certificate and key", false},
		{"SIMPLE without CA", "SIMPLE",
			secretYAML("default", "client-credential", map[string][]byte{"tls.crt": pki.certPEM, "tls.key": pki.keyPEM}),
			"spec.trafficPolicy.portLevelSettings[0].tls.credentialName: Secret default/client-credential has no CA certificate", false},
		{"bad CA", "SIMPLE",
			secretYAML("default", "client-credential", map[string][]byte{"ca.crt": []byte("not pem")}),
			"spec.trafficPolicy.portLevelSettings[0].tls.credentialName: no PEM certificate found", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "mtls.yaml")
			if err := os.WriteFile(f, []byte(fmt.Sprintf(mtlsConfig, tc.mode)+tc.secrets), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Load([]string{f}, Options{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), f+": DestinationRule default/originate-mtls: "+tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tls := s.Entries[0].Ports[0].TLS
			if tls == nil || tls.SNI != "nginx.example.test" || tls.Source != "DestinationRule default/originate-mtls portLevelSettings[0].tls" {
				t.Fatalf("TLS = %+v", tls)
			}
			if tls.Mutual != (tc.mode == "MUTUAL") || (tls.Certificate != nil) != tls.Mutual {
				t.Errorf("Mutual = %v, Certificate = %v", tls.Mutual, tls.Certificate != nil)
			}
			if (tls.RootCAs != nil) != tc.wantCA {
				t.Errorf("RootCAs set = %v, want %v", tls.RootCAs != nil, tc.wantCA)
			}
		})
	}
}

func TestCertificateFiles(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	for name, b := range map[string][]byte{"ca.pem": pki.caPEM, "client.pem": pki.certPEM, "client.key": pki.keyPEM, "other.key": pki.otherKeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.test]
  ports: [{number: 443, name: https}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api.example.test
  trafficPolicy:
    tls: {mode: MUTUAL, caCertificates: ca.pem, clientCertificate: client.pem, privateKey: %s}
`
	f := filepath.Join(dir, "dr.yaml")
	write := func(key string) {
		if err := os.WriteFile(f, []byte(fmt.Sprintf(conf, key)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("client.key") // relative to the YAML file's directory
	s := mustLoad(t, Options{}, f)
	tls := s.Entries[0].Ports[0].TLS
	if tls == nil || !tls.Mutual || tls.Certificate == nil || tls.RootCAs == nil || tls.Source != "DestinationRule default/api trafficPolicy.tls" {
		t.Fatalf("TLS = %+v", tls)
	}
	want := []string{f, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")}
	if !slices.Equal(s.Files, want) {
		t.Errorf("Files = %v, want %v", s.Files, want)
	}
	fp := tls.Fingerprint
	if s2 := mustLoad(t, Options{}, f); s2.Entries[0].Ports[0].TLS.Fingerprint != fp {
		t.Errorf("fingerprint not stable")
	}

	write("other.key")
	_, err := Load([]string{f}, Options{})
	if err == nil || !strings.Contains(err.Error(), "spec.trafficPolicy.tls.clientCertificate: client certificate and key: tls: private key does not match public key") {
		t.Errorf("mismatched key: %v", err)
	}
}

func TestIstioTaskFilesWithSecret(t *testing.T) {
	dir := istioTasks(t)
	pki := newTestPKI(t)
	tmp := t.TempDir()
	for _, tc := range []struct{ file, ns string }{
		{"egress-tls-origination.yaml", "default"},
		{"egress-gateway-tls-origination.yaml", "istio-system"},
	} {
		sec := filepath.Join(tmp, tc.ns+".yaml")
		if err := os.WriteFile(sec, []byte(secretYAML(tc.ns, "client-credential", map[string][]byte{"tls.crt": pki.certPEM, "tls.key": pki.keyPEM, "ca.crt": pki.caPEM})), 0o644); err != nil {
			t.Fatal(err)
		}
		s := mustLoad(t, Options{}, sec, filepath.Join(dir, tc.file))
		if tc.ns == "default" {
			e := entryByHost(t, s, "my-nginx.mesh-external.svc.cluster.local")
			if p := port(t, e, 80); p.TLS == nil || !p.TLS.Mutual || p.TargetPort != 443 {
				t.Errorf("%s: port 80 = %+v", tc.file, p)
			}
			if p := port(t, entryByHost(t, s, "edition.cnn.com"), 80); p.TLS == nil || p.TLS.Mutual || p.TargetPort != 443 {
				t.Errorf("%s: edition.cnn.com port 80 = %+v", tc.file, p)
			}
		}
	}
}
