package servercert

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/egressgw/egressgw/route"
)

// TestOptionalMutual: an OPTIONAL_MUTUAL server asks for a client
// certificate but takes a connection without one; one that is sent must be
// signed by its CA.
func TestOptionalMutual(t *testing.T) {
	serverCA, clientCA, otherCA := newCA(t, "server ca"), newCA(t, "client ca"), newCA(t, "other ca")
	m, _ := newManager(t, nil)
	st := simple(issue(t, serverCA, "mtls", "mtls.test"), "Secret ns/mtls")
	st.Mode = route.TLSOptionalMutual
	st.CAPEM = clientCA.CertPEM
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", st, "mtls.test")}); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m, 443)
	good, bad := issue(t, clientCA, "client", "client.test"), issue(t, otherCA, "intruder", "client.test")
	for _, tc := range []struct {
		name    string
		cert    *tls.Certificate // nil: none sent
		version uint16
		wantErr string // "": the connection works
	}{
		{"no certificate", nil, tls.VersionTLS13, ""},
		{"no certificate, TLS 1.2", nil, tls.VersionTLS12, ""},
		{"signed by the CA", &good.TLS, tls.VersionTLS13, ""},
		{"signed by the CA, TLS 1.2", &good.TLS, tls.VersionTLS12, ""},
		{"another CA", &bad.TLS, tls.VersionTLS13, "unknown certificate authority"},
		{"another CA, TLS 1.2", &bad.TLS, tls.VersionTLS12, "unknown certificate authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			send := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				asked = true
				if tc.cert == nil {
					return &tls.Certificate{}, nil
				}
				return tc.cert, nil
			}
			c, err := dial(addr, &tls.Config{ServerName: "mtls.test", RootCAs: serverCA.Pool(), GetClientCertificate: send, MaxVersion: tc.version})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want a working connection", err)
				}
				c.Close()
				if !asked {
					t.Errorf("the server did not ask for a client certificate")
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("got a working connection, want an error with %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one with %q", err, tc.wantErr)
			}
		})
	}
}
