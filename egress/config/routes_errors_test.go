package config

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/egressgw/egressgw/route"
)

func TestRouteErrors(t *testing.T) {
	s, err := Load([]string{"testdata/errors/routes.yaml"}, Options{})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Load: snapshot %v, error %v; want *Error", s != nil, err)
	}
	const f = "testdata/errors/routes.yaml: "
	want := []string{
		"Gateway default/no-tls: spec.servers[0].tls: an HTTPS server needs tls (mode SIMPLE or MUTUAL to terminate, PASSTHROUGH to route by SNI)",
		"Gateway default/no-tls: spec.servers[1].tls.mode: ISTIO_MUTUAL needs the mesh's CA, which egressgw does not have (no sidecars): use SIMPLE or MUTUAL with a certificate",
		`Gateway default/no-tls: spec.servers[2].tls.cipherSuites[1]: unknown cipher suite "RC4-MD5" (use one of AES128-GCM-SHA256, AES128-SHA, AES256-GCM-SHA384, AES256-SHA, ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES128-SHA, ECDHE-ECDSA-AES256-GCM-SHA384, ECDHE-ECDSA-AES256-SHA, ECDHE-ECDSA-CHACHA20-POLY1305, ECDHE-RSA-AES128-GCM-SHA256, ECDHE-RSA-AES128-SHA, ECDHE-RSA-AES256-GCM-SHA384, ECDHE-RSA-AES256-SHA, ECDHE-RSA-CHACHA20-POLY1305, or Go's TLS_ECDHE_... names)`,
		"Gateway default/no-tls: spec.servers[3].tls: MUTUAL needs a server certificate: set credentialName, or serverCertificate and privateKey",
		"Gateway default/no-tls: spec.servers[3].tls.caCertificates: MUTUAL needs the CA that signs client certificates: set caCertificates, or credentialName with a Secret that has ca.crt",
		`Gateway default/no-tls: spec.servers[4].port.protocol: "UDP" is not supported (use HTTP, HTTP2, GRPC, GRPC-WEB, HTTPS, TLS, TCP, MONGO, MYSQL, REDIS or THRIFT)`,
		`VirtualService default/bad: spec.http[0].match[0].uri.regex: regex "/a[" does not compile: missing closing ]: ` + "`[`",
		"VirtualService default/bad: spec.http[1].route: weights add up to 90, not 100",
		`VirtualService default/bad: spec.http[2].retries.retryOn: unknown condition "sometimes" (use 5xx, cancelled, connect-failure, deadline-exceeded, envoy-ratelimited, gateway-error, http3-post-connect-failure, internal, refused-stream, reset, reset-before-request, resource-exhausted, retriable-4xx, retriable-headers, retriable-status-codes, unavailable, or an HTTP status code)`,
		"VirtualService default/bad: spec.http[3].delegate: delegate VirtualServices are not supported: put the routes in this VirtualService",
		"VirtualService default/bad: spec.http[4]: one of route, redirect or directResponse is required",
		"Gateway default/second: spec.servers[0]: IST0145 conflicting gateways: host same.example.com on ingress port 7443 is also served by Gateway default/first spec.servers[0] with different TLS settings (TLS PASSTHROUGH); one host and port can have one TLS configuration",
	}
	var got []string
	for _, p := range e.Problems {
		got = append(got, strings.TrimPrefix(p.String(), f))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestServerCertificates: the material of SIMPLE and MUTUAL servers is read
// and checked when loading (a mismatched pair is an error, so the last good
// configuration stays), and its files are watched.
func TestServerCertificates(t *testing.T) {
	pk := newTestPKI(t)
	gw := func(tls string) string {
		return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [a.example.com]
    tls: ` + tls + "\n"
	}
	for _, tc := range []struct {
		name    string
		secrets map[string]map[string][]byte
		files   map[string][]byte
		tls     string
		problem string // "" for none
		mode    string
		source  string
	}{
		{"files", nil, map[string][]byte{"cert.pem": pk.certPEM, "key.pem": pk.keyPEM},
			"{mode: SIMPLE, serverCertificate: cert.pem, privateKey: key.pem, minProtocolVersion: TLSV1_3}", "", "TLS SIMPLE (files cert.pem key.pem)", ""},
		{"mismatched files", nil, map[string][]byte{"cert.pem": pk.certPEM, "key.pem": pk.otherKeyPEM},
			"{mode: SIMPLE, serverCertificate: cert.pem, privateKey: key.pem}", "spec.servers[0].tls.serverCertificate: server certificate and key: tls: private key does not match public key", "", ""},
		{"credential", map[string]map[string][]byte{"cred": {"tls.crt": pk.certPEM, "tls.key": pk.keyPEM}}, nil,
			"{mode: SIMPLE, credentialName: cred}", "", "TLS SIMPLE (Secret istio-system/cred)", ""},
		{"mismatched credential", map[string]map[string][]byte{"cred": {"tls.crt": pk.certPEM, "tls.key": pk.otherKeyPEM}}, nil,
			"{mode: SIMPLE, credentialName: cred}", "spec.servers[0].tls.credentialName: server certificate and key: tls: private key does not match public key", "", ""},
		{"mutual with a cacert Secret", map[string]map[string][]byte{"cred": {"tls.crt": pk.certPEM, "tls.key": pk.keyPEM}, "cred-cacert": {"ca.crt": pk.caPEM}}, nil,
			"{mode: MUTUAL, credentialName: cred}", "", "TLS MUTUAL (Secret istio-system/cred)", ""},
		{"mutual without CA", map[string]map[string][]byte{"cred": {"tls.crt": pk.certPEM, "tls.key": pk.keyPEM}}, nil,
			"{mode: MUTUAL, credentialName: cred}", "spec.servers[0].tls.caCertificates: MUTUAL needs the CA that signs client certificates: set caCertificates, or add ca.crt to the credential's Secret, or create a Secret cred-cacert", "", ""},
		{"optional mutual with the credential's CA", map[string]map[string][]byte{"cred": {"tls.crt": pk.certPEM, "tls.key": pk.keyPEM, "ca.crt": pk.caPEM}}, nil,
			"{mode: OPTIONAL_MUTUAL, credentialName: cred}", "", "TLS OPTIONAL_MUTUAL (Secret istio-system/cred)", ""},
		{"optional mutual with caCertificates", nil, map[string][]byte{"cert.pem": pk.certPEM, "key.pem": pk.keyPEM, "ca.pem": pk.caPEM},
			"{mode: OPTIONAL_MUTUAL, serverCertificate: cert.pem, privateKey: key.pem, caCertificates: ca.pem}", "", "TLS OPTIONAL_MUTUAL (files cert.pem key.pem)", ""},
		{"optional mutual without CA", map[string]map[string][]byte{"cred": {"tls.crt": pk.certPEM, "tls.key": pk.keyPEM}}, nil,
			"{mode: OPTIONAL_MUTUAL, credentialName: cred}", "spec.servers[0].tls.caCertificates: OPTIONAL_MUTUAL needs the CA that signs client certificates: set caCertificates, or add ca.crt to the credential's Secret, or create a Secret cred-cacert", "", ""},
		{"acme", nil, nil, "{mode: SIMPLE}", "", "TLS SIMPLE (ACME)", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			yaml := gw(tc.tls)
			for name, data := range tc.secrets {
				yaml += secretYAML("istio-system", name, data)
			}
			for name, b := range tc.files {
				writeTestFile(t, filepath.Join(dir, name), string(b))
			}
			f := filepath.Join(dir, "gw.yaml")
			writeTestFile(t, f, yaml)
			s, err := Load([]string{f}, Options{})
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("Load: %v\nwant a problem %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			srv := s.Routes.Listener(route.Ingress, 443).ServerFor("a.example.com")
			if got := describeServer(srv); got != tc.mode {
				t.Errorf("server = %s, want %s", got, tc.mode)
			}
			for name := range tc.files {
				if !slices.Contains(s.Files, filepath.Join(dir, name)) {
					t.Errorf("%s not watched: files %v", name, s.Files)
				}
			}
			if srv.TLS.ACME != (tc.name == "acme") || srv.TLS.Fingerprint == "" {
				t.Errorf("tls = %+v", srv.TLS)
			}
		})
	}
}
