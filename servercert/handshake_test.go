package servercert

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/egressgw/egressgw/route"
)

// TestSNISelection: among several servers of a port the certificate is
// chosen by SNI: exact, then the longest wildcard, then "*"; a name no
// server has fails with unrecognized_name and a log line.
func TestSNISelection(t *testing.T) {
	ca := newCA(t, "sni ca")
	m, logs := newManager(t, nil)
	cert := func(cn string, names ...string) *route.ServerTLS {
		return simple(issue(t, ca, cn, names...), "files "+cn)
	}
	specs := []Spec{
		spec(443, "spec.servers[0]", cert("exact", "a.example.com"), "a.example.com"),
		spec(443, "spec.servers[1]", cert("wild", "*.example.com"), "*.example.com"),
		spec(443, "spec.servers[2]", cert("deeper", "*.b.example.com"), "*.b.example.com"),
		spec(443, "spec.servers[3]", cert("other", "other.test"), "other.test", "second.test"),
		// A later server claiming a host already taken does not get it.
		spec(443, "spec.servers[4]", cert("late", "a.example.com"), "a.example.com"),
	}
	if err := m.Update(specs); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m, 443)
	for i, tc := range []struct {
		sni, want string
	}{
		{"a.example.com", "exact"},
		{"A.Example.COM", "exact"},
		{"x.example.com", "wild"},
		{"x.y.example.com", "wild"},
		{"y.b.example.com", "deeper"},
		{"other.test", "other"},
		{"second.test", "other"},
		{"unknown.test", ""},
		{"example.com", ""},
	} {
		t.Run(tc.sni, func(t *testing.T) {
			got, err := servedCN(addr, tc.sni)
			if tc.want == "" {
				if !isUnrecognizedName(err) {
					t.Fatalf("SNI %s: got certificate %q, error %v; want unrecognized_name", tc.sni, got, err)
				}
				if i == 7 { // the first refusal: the next ones within a second are counted, not logged
					wantLog(t, logs, "tls handshake refused: unrecognized_name", map[string]string{"sni": tc.sni, "reason": "no server of this port has a host matching the SNI"})
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("SNI %s: got certificate %q, error %v; want %q", tc.sni, got, err, tc.want)
			}
		})
	}
}

// TestNoSNI: a ClientHello without SNI gets the port's only server, or the
// one with hosts "*"; with neither the handshake fails with
// unrecognized_name and a log line.
func TestNoSNI(t *testing.T) {
	ca := newCA(t, "nosni ca")
	for _, tc := range []struct {
		name  string
		specs func() []Spec
		want  string
	}{
		{"only server", func() []Spec {
			return []Spec{spec(443, "spec.servers[0]", simple(issue(t, ca, "only", "a.test"), "files only"), "a.test")}
		}, "only"},
		{"star server", func() []Spec {
			return []Spec{
				spec(443, "spec.servers[0]", simple(issue(t, ca, "a", "a.test"), "files a"), "a.test"),
				spec(443, "spec.servers[1]", simple(issue(t, ca, "star", "default.test"), "files star"), "*"),
			}
		}, "star"},
		{"several, no star", func() []Spec {
			return []Spec{
				spec(443, "spec.servers[0]", simple(issue(t, ca, "a", "a.test"), "files a"), "a.test"),
				spec(443, "spec.servers[1]", simple(issue(t, ca, "b", "b.test"), "files b"), "b.test"),
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, logs := newManager(t, nil)
			if err := m.Update(tc.specs()); err != nil {
				t.Fatal(err)
			}
			addr := serveTLS(t, m, 443)
			got, err := servedCN(addr, "")
			if tc.want == "" {
				if !isUnrecognizedName(err) {
					t.Fatalf("no SNI: got certificate %q, error %v; want unrecognized_name", got, err)
				}
				wantLog(t, logs, "tls handshake refused: unrecognized_name", map[string]string{"reason": "no SNI", "listener": "ingress port 443"})
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("no SNI: got certificate %q, error %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestUnknownListener: a listener whose port has no server in the specs
// refuses every handshake with unrecognized_name.
func TestUnknownListener(t *testing.T) {
	ca := newCA(t, "ca")
	m, logs := newManager(t, nil)
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", simple(issue(t, ca, "a", "a.test"), "files a"), "a.test")}); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m, 8443)
	if got, err := servedCN(addr, "a.test"); !isUnrecognizedName(err) {
		t.Fatalf("port 8443: got certificate %q, error %v; want unrecognized_name", got, err)
	}
	wantLog(t, logs, "tls handshake refused: unrecognized_name", map[string]string{"listener": "ingress port 8443", "reason": "no TLS server on this port"})
}

// TestMutual: a MUTUAL server requires a client certificate signed by its
// CA: without one, or with one of another CA, the connection fails.
func TestMutual(t *testing.T) {
	serverCA, clientCA, otherCA := newCA(t, "server ca"), newCA(t, "client ca"), newCA(t, "other ca")
	m, _ := newManager(t, nil)
	st := simple(issue(t, serverCA, "mtls", "mtls.test"), "Secret ns/mtls")
	st.Mode = route.TLSMutual
	st.CAPEM = clientCA.CertPEM
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", st, "mtls.test")}); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m, 443)
	good, bad := issue(t, clientCA, "client", "client.test"), issue(t, otherCA, "intruder", "client.test")
	for _, tc := range []struct {
		name    string
		certs   []tls.Certificate
		version uint16
		wantErr string
	}{
		{"signed by the CA", []tls.Certificate{good.TLS}, tls.VersionTLS13, ""},
		{"signed by the CA, TLS 1.2", []tls.Certificate{good.TLS}, tls.VersionTLS12, ""},
		{"no certificate", nil, tls.VersionTLS13, "certificate required"},
		{"no certificate, TLS 1.2", nil, tls.VersionTLS12, "handshake failure"},
		{"another CA", []tls.Certificate{bad.TLS}, tls.VersionTLS13, "unknown certificate authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Sent whatever the server's CA list says (crypto/tls would
			// send no certificate rather than one of another CA).
			send := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if len(tc.certs) == 0 {
					return &tls.Certificate{}, nil
				}
				return &tc.certs[0], nil
			}
			c, err := dial(addr, &tls.Config{ServerName: "mtls.test", RootCAs: serverCA.Pool(), GetClientCertificate: send, MaxVersion: tc.version})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want a working connection", err)
				}
				c.Close()
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

// TestVersionsAndCiphers: a server's min/max protocol version and cipher
// suites are what it negotiates.
func TestVersionsAndCiphers(t *testing.T) {
	ca := newCA(t, "ca")
	m, _ := newManager(t, nil)
	only13 := simple(issue(t, ca, "only13", "only13.test"), "files only13")
	only13.MinVersion = tls.VersionTLS13
	only12 := simple(issue(t, ca, "only12", "only12.test"), "files only12")
	only12.MaxVersion = tls.VersionTLS12
	suite := simple(issue(t, ca, "suite", "suite.test"), "files suite")
	suite.MaxVersion = tls.VersionTLS12
	suite.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	def := simple(issue(t, ca, "default", "default.test"), "files default")
	if err := m.Update([]Spec{
		spec(443, "spec.servers[0]", only13, "only13.test"),
		spec(443, "spec.servers[1]", only12, "only12.test"),
		spec(443, "spec.servers[2]", suite, "suite.test"),
		spec(443, "spec.servers[3]", def, "default.test"),
	}); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m, 443)
	for _, tc := range []struct {
		name        string
		sni         string
		client      *tls.Config
		wantVersion uint16
		wantSuite   uint16
		wantErr     string
	}{
		{"min 1.3 refuses a 1.2 client", "only13.test", &tls.Config{MaxVersion: tls.VersionTLS12}, 0, 0, "protocol version"},
		{"min 1.3 takes a 1.3 client", "only13.test", &tls.Config{}, tls.VersionTLS13, 0, ""},
		{"max 1.2 negotiates 1.2", "only12.test", &tls.Config{}, tls.VersionTLS12, 0, ""},
		{"default min is 1.2", "default.test", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, 0, 0, "protocol version"},
		{"cipher suite of the server", "suite.test", &tls.Config{CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
			tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ""},
		{"no common cipher suite", "suite.test", &tls.Config{CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, 0, 0, "handshake failure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.client.Clone()
			cfg.ServerName, cfg.RootCAs = tc.sni, ca.Pool()
			c, err := dial(addr, cfg)
			if tc.wantErr != "" {
				if err == nil {
					c.Close()
					t.Fatalf("got a connection, want an error with %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cs := c.ConnectionState()
			if cs.Version != tc.wantVersion {
				t.Errorf("version: got %s, want %s", tls.VersionName(cs.Version), tls.VersionName(tc.wantVersion))
			}
			if tc.wantSuite != 0 && cs.CipherSuite != tc.wantSuite {
				t.Errorf("cipher suite: got %s, want %s", tls.CipherSuiteName(cs.CipherSuite), tls.CipherSuiteName(tc.wantSuite))
			}
		})
	}
}

// TestALPN: an HTTP server offers h2 and http/1.1; a TCP one offers none.
func TestALPN(t *testing.T) {
	ca := newCA(t, "ca")
	m, _ := newManager(t, nil)
	tcp := spec(443, "spec.servers[1]", simple(issue(t, ca, "tcp", "tcp.test"), "files tcp"), "tcp.test")
	tcp.Server.Protocol = route.ProtocolTCP
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", simple(issue(t, ca, "web", "web.test"), "files web"), "web.test"), tcp}); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m, 443)
	for _, tc := range []struct{ sni, offer, want string }{
		{"web.test", "h2", "h2"},
		{"web.test", "http/1.1", "http/1.1"},
		{"tcp.test", "h2", ""},
	} {
		c, err := dial(addr, &tls.Config{ServerName: tc.sni, RootCAs: ca.Pool(), NextProtos: []string{tc.offer}})
		if err != nil {
			t.Fatalf("%s offering %s: %v", tc.sni, tc.offer, err)
		}
		if got := c.ConnectionState().NegotiatedProtocol; got != tc.want {
			t.Errorf("%s offering %s: negotiated %q, want %q", tc.sni, tc.offer, got, tc.want)
		}
		c.Close()
	}
}

// TestSelectAllocs: finding the server of an SNI allocates nothing.
func TestSelectAllocs(t *testing.T) {
	s := &server{spec: Spec{Server: &route.Server{Hosts: []string{"*.example.com"}}}}
	l := newListenerServers([]*server{s})
	if n := testing.AllocsPerRun(100, func() {
		if l.forName(normalizeSNI("a.b.example.com")) != s {
			t.Fatal("no server")
		}
	}); n != 0 {
		t.Errorf("forName: %v allocations, want 0", n)
	}
}
