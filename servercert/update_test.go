package servercert

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/egressgw/egressgw/internal/pki"
	"github.com/egressgw/egressgw/route"
)

// TestRotation: new material for a server (a changed file or Secret, so a
// new Fingerprint) is served to the next handshake, a connection opened
// before keeps working, and the old certificate leaves the cache.
func TestRotation(t *testing.T) {
	ca := newCA(t, "rotation ca")
	m, _ := newManager(t, nil)
	first, second := issue(t, ca, "first", "web.test"), issue(t, ca, "second", "web.test")
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", simple(first, "Secret ns/web"), "web.test")}); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m, 443)
	open, err := dial(addr, &tls.Config{ServerName: "web.test", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if got := open.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "first" {
		t.Fatalf("before rotation: got certificate %q, want %q", got, "first")
	}
	oldHash := m.state.Load().listeners[listenerKey{route.Ingress, 443}].servers[0].hash

	if err := m.Update([]Spec{spec(443, "spec.servers[0]", simple(second, "Secret ns/web"), "web.test")}); err != nil {
		t.Fatal(err)
	}
	if got, err := servedCN(addr, "web.test"); err != nil || got != "second" {
		t.Fatalf("after rotation: got certificate %q, error %v; want %q", got, err, "second")
	}
	if err := roundTrip(open); err != nil {
		t.Fatalf("the connection opened before the rotation: %v", err)
	}
	for _, c := range m.cache.AllMatchingCertificates("first") {
		if c.Hash() == oldHash {
			t.Errorf("the rotated-out certificate is still in the cache")
		}
	}
	if got := m.Certificates(); len(got) != 1 || got[0].SHA256 != leafSHA(second) {
		t.Errorf("Certificates after rotation: got %+v, want the second certificate (sha256 %s)", got, leafSHA(second))
	}
}

// TestUpdateUnchangedKeepsServer: an Update with the same Fingerprint keeps
// the provisioned server (no re-parse, same configuration).
func TestUpdateUnchangedKeepsServer(t *testing.T) {
	ca := newCA(t, "ca")
	m, _ := newManager(t, nil)
	st := simple(issue(t, ca, "web", "web.test"), "files web")
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", st, "web.test")}); err != nil {
		t.Fatal(err)
	}
	before := m.state.Load().listeners[listenerKey{route.Ingress, 443}].servers[0]
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", st, "web.test")}); err != nil {
		t.Fatal(err)
	}
	if after := m.state.Load().listeners[listenerKey{route.Ingress, 443}].servers[0]; after != before {
		t.Errorf("an Update with the same material provisioned the server anew")
	}
}

// TestUpdateErrorKeepsPrevious: an Update with a server that cannot be
// provisioned returns an error naming it and the problem, and the
// previous specs keep serving; material it cached for other servers is
// dropped from the cache.
func TestUpdateErrorKeepsPrevious(t *testing.T) {
	ca := newCA(t, "ca")
	good, other := issue(t, ca, "good", "web.test"), issue(t, ca, "other", "other.test")
	newcomer := issue(t, ca, "newcomer", "new.test")
	for _, tc := range []struct {
		name    string
		bad     func() *route.ServerTLS
		hosts   []string
		wantErr string
	}{
		{"key is not PEM", func() *route.ServerTLS {
			st := simple(other, "Secret ns/bad")
			st.KeyPEM = []byte("not a key")
			return st
		}, []string{"other.test"}, "certificate and key (Secret ns/bad): tls: failed to find any PEM data in key input"},
		{"key of another certificate", func() *route.ServerTLS {
			st := simple(other, "files /etc/certs/other.pem")
			st.KeyPEM = good.KeyPEM
			return st
		}, []string{"other.test"}, "certificate and key (files /etc/certs/other.pem): tls: private key does not match public key"},
		{"MUTUAL without CA", func() *route.ServerTLS {
			st := simple(other, "files other")
			st.Mode = route.TLSMutual
			return st
		}, []string{"other.test"}, "tls.mode MUTUAL: client CA certificates: no PEM certificate found"},
		{"no TLS", func() *route.ServerTLS { return nil }, []string{"other.test"}, "does not terminate TLS"},
		{"PASSTHROUGH", func() *route.ServerTLS { return &route.ServerTLS{Mode: route.TLSPassthrough} }, []string{"other.test"}, "does not terminate TLS"},
		{"ACME with wildcard hosts only", func() *route.ServerTLS {
			return &route.ServerTLS{Mode: route.TLSSimple, ACME: true, Source: "ACME", Fingerprint: "acme"}
		}, []string{"*.example.com", "*"}, "ACME issues for exact hosts only: hosts [*.example.com *] has none"},
		{"max below min", func() *route.ServerTLS {
			st := simple(other, "files other")
			st.MinVersion, st.MaxVersion = tls.VersionTLS13, tls.VersionTLS12
			return st
		}, []string{"other.test"}, "maxProtocolVersion TLS 1.2 is below minProtocolVersion TLS 1.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newManager(t, nil)
			if err := m.Update([]Spec{spec(443, "spec.servers[0]", simple(good, "files good"), "web.test")}); err != nil {
				t.Fatal(err)
			}
			addr := serveTLS(t, m, 443)
			before := m.Certificates()
			err := m.Update([]Spec{
				spec(443, "spec.servers[0]", simple(newcomer, "files new"), "web.test"),
				spec(443, "spec.servers[1]", tc.bad(), tc.hosts...),
			})
			if err == nil {
				t.Fatalf("Update: got no error, want one with %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "Gateway ns/gw spec.servers[1] (ingress port 443)") {
				t.Fatalf("Update: got %q, want an error naming Gateway ns/gw spec.servers[1] (ingress port 443) and %q", err, tc.wantErr)
			}
			if got, err := servedCN(addr, "web.test"); err != nil || got != "good" {
				t.Errorf("after the failed Update: got certificate %q, error %v; want the previous one, %q", got, err, "good")
			}
			if after := m.Certificates(); len(after) != 1 || after[0].SHA256 != before[0].SHA256 {
				t.Errorf("Certificates after the failed Update: got %+v, want %+v", after, before)
			}
			if n := len(m.cache.AllMatchingCertificates("newcomer")); n != 0 {
				t.Errorf("the failed Update left %d certificate(s) of its other servers in the cache", n)
			}
		})
	}
}

// TestCertificates: the list names each certificate's server, hosts,
// issuer, expiry and source, ACME hosts without a CA say why they are not
// served, and nothing of a key is in it.
func TestCertificates(t *testing.T) {
	ca := newCA(t, "listing ca")
	m, _ := newManager(t, nil)
	files, secret := issue(t, ca, "files", "files.test", "www.files.test"), issue(t, ca, "secret", "secret.test")
	mutual := simple(secret, "Secret istio-system/secret-credential")
	mutual.Mode, mutual.CAPEM = route.TLSMutual, ca.CertPEM
	acme := &route.ServerTLS{Mode: route.TLSSimple, ACME: true, Source: "ACME", Fingerprint: "acme"}
	egressSpec := spec(8443, "spec.servers[0]", simple(files, "files /etc/certs/files.pem"), "files.test")
	egressSpec.Side = route.Egress
	if err := m.Update([]Spec{
		spec(443, "spec.servers[0]", mutual, "secret.test"),
		spec(443, "spec.servers[1]", acme, "a.acme.test", "*.acme.test", "b.acme.test"),
		egressSpec,
	}); err != nil {
		t.Fatal(err)
	}
	got := m.Certificates()
	want := []CertInfo{
		{Side: "egress", Port: 8443, Server: "Gateway ns/gw spec.servers[0]", Hosts: []string{"files.test", "www.files.test"},
			Issuer: "CN=listing ca", NotAfter: files.TLS.Leaf.NotAfter.UTC(), SHA256: leafSHA(files), Source: "files /etc/certs/files.pem", Status: "serving"},
		{Side: "ingress", Port: 443, Server: "Gateway ns/gw spec.servers[0]", Hosts: []string{"secret.test"},
			Issuer: "CN=listing ca", NotAfter: secret.TLS.Leaf.NotAfter.UTC(), SHA256: leafSHA(secret), Source: "Secret istio-system/secret-credential", Status: "serving"},
		{Side: "ingress", Port: 443, Server: "Gateway ns/gw spec.servers[1]", Hosts: []string{"a.acme.test"}, Source: "ACME",
			Status: "not served: no certificate material, and ACME is off (--acme-ca unset)"},
		{Side: "ingress", Port: 443, Server: "Gateway ns/gw spec.servers[1]", Hosts: []string{"b.acme.test"}, Source: "ACME",
			Status: "not served: no certificate material, and ACME is off (--acme-ca unset)"},
	}
	gotJSON, _ := json.MarshalIndent(got, "", "  ")
	wantJSON, _ := json.MarshalIndent(want, "", "  ")
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("Certificates:\ngot  %s\nwant %s", gotJSON, wantJSON)
	}
	if strings.Contains(string(gotJSON), "PRIVATE KEY") || strings.Contains(string(gotJSON), string(secret.KeyPEM[40:80])) {
		t.Errorf("Certificates shows key material: %s", gotJSON)
	}
}

// TestACMEOff: a server without material and no --acme-ca fails its
// handshakes, logged once per host (when the specs arrive).
func TestACMEOff(t *testing.T) {
	m, logs := newManager(t, nil)
	acme := &route.ServerTLS{Mode: route.TLSSimple, ACME: true, Source: "ACME", Fingerprint: "acme"}
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", acme, "a.acme.test")}); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m, 443)
	for range 3 {
		if got, err := servedCN(addr, "a.acme.test"); err == nil {
			t.Fatalf("got certificate %q, want a failed handshake", got)
		}
	}
	wantLog(t, logs, "acme is off: handshakes for this host will fail", map[string]string{"host": "a.acme.test",
		"error": "Gateway ns/gw spec.servers[0] (ingress port 443) has no certificate material for a.acme.test, and ACME is off (--acme-ca unset)"})
	if n := logs.FilterField(zap.String("host", "a.acme.test")).Len(); n != 1 {
		t.Errorf("got %d log lines for the host, want 1: %v", n, logs.All())
	}
}

// leafSHA is the SHA-256 of l's certificate, hex.
func leafSHA(l *pki.Leaf) string {
	sum := sha256.Sum256(l.TLS.Certificate[0])
	return hex.EncodeToString(sum[:])
}
