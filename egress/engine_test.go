package egress

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/internal/pki"
	"github.com/egressgw/egressgw/policy"
)

// loopbackResolver answers every name with 127.0.0.1, like an upstream DNS
// that knows the test's "external" servers.
type loopbackResolver struct{}

func (loopbackResolver) LookupAddrs(_ context.Context, host string) ([]netip.Addr, error) {
	if strings.HasPrefix(host, "nxdomain.") {
		return nil, fmt.Errorf("resolve %s via test: NXDOMAIN", host)
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// site is an "external" HTTPS server that records what reached it.
type site struct {
	*httptest.Server
	hits    atomic.Int64
	lastSNI atomic.Value
	lastCN  atomic.Value
}

func newSite(t testing.TB, leaf *pki.Leaf, clientCAs *pki.CA) *site {
	s := &site{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.lastSNI.Store(r.TLS.ServerName)
		cn := ""
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		s.lastCN.Store(cn)
		fmt.Fprintf(w, "site %s host=%s sni=%s proto=%s client=%s", r.URL.Path, r.Host, r.TLS.ServerName, r.Proto, cn)
	}))
	s.EnableHTTP2 = true
	s.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	if clientCAs != nil {
		s.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		s.TLS.ClientCAs = clientCAs.Pool()
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func port(u string) string {
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(u, "https://"))
	return p
}

// freePort returns a port free on loopback now, for a listener the test
// starts later. It is taken below Linux's ephemeral range (32768-60999), so
// that the outgoing connections of tests running meanwhile (other packages
// run in parallel) cannot be given it before the listener binds.
func freePort(t testing.TB) string {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(20000+rand.IntN(12000)))
		if err != nil {
			continue
		}
		defer l.Close()
		_, p, _ := net.SplitHostPort(l.Addr().String())
		return p
	}
	t.Fatal("no free port in 20000-31999 after 100 tries")
	return ""
}

// testYAML is the fixture's configuration. Its "external" servers listen
// on loopback, which netguard never lets a name resolved at request time
// reach: the DNS entries are MESH_INTERNAL, whose addresses are not vetted.
var testYAML = template.Must(template.New("cfg").Parse(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.test]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{.HTTP}}, name: http, protocol: HTTP, targetPort: {{.Site}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api.example.test
  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: ca.pem}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: h2}
spec:
  hosts: [h2.example.test]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{.HTTP}}, name: http, protocol: HTTP, targetPort: {{.Site}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: h2}
spec:
  host: h2.example.test
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: ca.pem, sni: api.example.test}
    connectionPool: {http: {h2UpgradePolicy: UPGRADE}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: sans}
spec:
  hosts: [sans.example.test]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{.HTTP}}, name: http, protocol: HTTP, targetPort: {{.Site}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sans}
spec:
  host: sans.example.test
  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: ca.pem, sni: api.example.test, subjectAltNames: [billing.example.test]}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: untrusted}
spec:
  hosts: [untrusted.example.test]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{.HTTP}}, name: http, protocol: HTTP, targetPort: {{.Untrusted}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: untrusted}
spec:
  host: untrusted.example.test
  trafficPolicy: {tls: {mode: SIMPLE}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: down}
spec:
  hosts: [down.example.test]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports: [{number: {{.HTTP}}, name: http, protocol: HTTP, targetPort: {{.Closed}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: unresolvable}
spec:
  hosts: [nxdomain.example.test]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{.HTTP}}, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: mtls}
spec:
  hosts: [mtls.example.test]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{.HTTP}}, name: http, protocol: HTTP, targetPort: {{.MTLS}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mtls, namespace: istio-system}
spec:
  host: mtls.example.test
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: client-credential, sni: api.example.test}}
---
apiVersion: v1
kind: Secret
metadata: {name: client-credential, namespace: istio-system}
type: Opaque
data:
  tls.crt: {{.ClientCert}}
  tls.key: {{.ClientKey}}
  ca.crt: {{.CA}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: www}
spec:
  hosts: [www.example.test]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{.TLS}}, name: tls, protocol: TLS, targetPort: {{.Site}}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: istio-system}
spec:
  action: DENY
  rules: [{to: [{operation: {hosts: [api.example.test], paths: ["/admin", "/admin/*"]}}]}]
`))

type fixture struct {
	eng               *Engine
	site, mtls, other *site
	httpPort, tlsPort string
	ca                *pki.CA
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ca, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ca.Issue("api.example.test", "api.example.test", "www.example.test")
	client, _ := ca.Issue("client.example.test")
	otherCA, _ := pki.NewCA("untrusted CA")
	otherLeaf, _ := otherCA.Issue("untrusted.example.test", "untrusted.example.test")
	f := &fixture{site: newSite(t, leaf, nil), mtls: newSite(t, leaf, ca), other: newSite(t, otherLeaf, nil),
		httpPort: freePort(t), tlsPort: freePort(t), ca: ca}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	b64 := base64.StdEncoding.EncodeToString
	if err := testYAML.Execute(&sb, map[string]string{"HTTP": f.httpPort, "TLS": f.tlsPort, "Site": port(f.site.URL),
		"Untrusted": port(f.other.URL), "MTLS": port(f.mtls.URL), "Closed": freePort(t),
		"ClientCert": b64(client.CertPEM), "ClientKey": b64(client.KeyPEM), "CA": b64(ca.CertPEM)}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "egress.yaml"), []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	f.eng = startEngine(t, dir)
	return f
}

// startEngine serves the configuration in dir on 127.0.0.1 until the test ends.
func startEngine(t testing.TB, dir string) *Engine {
	t.Helper()
	snap, err := config.Load([]string{dir}, config.Options{ClusterDomain: "cluster.local", Namespace: "istio-system", Mode: policy.RegistryOnly,
		Labels: map[string]string{"istio": "egressgateway"}}) // run's default --labels
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	eng := New(Config{EgressAddr: netip.MustParseAddr("127.0.0.1"), Resolver: loopbackResolver{},
		Log: zap.NewNop(), AccessLog: accessLogInTests, Metrics: NewMetrics(prometheus.NewRegistry()), StdlibPaths: stdlibInTests})
	if err := eng.Update(snap); err != nil {
		t.Fatalf("update: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	})
	return eng
}

func (f *fixture) get(t *testing.T, host, path string, hdr http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+f.httpPort+path, nil)
	req.Host = host
	for k, v := range hdr {
		req.Header[k] = v
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEngineHTTP(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, host, path string
		hdr              http.Header
		wantStatus       int
		wantBody         []string
		wantSiteHit      bool
	}{
		{name: "origination SIMPLE", host: "api.example.test", path: "/x", wantStatus: 200,
			wantBody: []string{"site /x", "sni=api.example.test", "proto=HTTP/1.1", "host=api.example.test"}, wantSiteHit: true},
		{name: "h2UpgradePolicy UPGRADE originates HTTP/2", host: "h2.example.test", path: "/y", wantStatus: 200,
			wantBody: []string{"site /y", "sni=api.example.test", "proto=HTTP/2.0", "host=h2.example.test"}, wantSiteHit: true},
		{name: "deny by path", host: "api.example.test", path: "/admin/users", wantStatus: 403,
			wantBody: []string{"AuthorizationPolicy istio-system/no-admin rules[0]"}},
		{name: "dot segments cannot dodge the deny", host: "api.example.test", path: "/public/../admin", wantStatus: 403,
			wantBody: []string{"no-admin"}},
		{name: "unregistered host", host: "evil.example.test", path: "/", wantStatus: 403,
			wantBody: []string{"outboundTrafficPolicy REGISTRY_ONLY"}},
		{name: "subjectAltNames enforced", host: "sans.example.test", path: "/", wantStatus: 502,
			wantBody: []string{"certificate verification failed", "billing.example.test"}},
		{name: "untrusted upstream", host: "untrusted.example.test", path: "/", wantStatus: 502,
			wantBody: []string{"certificate verification failed", "unknown authority"}},
		{name: "upstream down", host: "down.example.test", path: "/", wantStatus: 503,
			wantBody: []string{"cannot connect to upstream", "connection refused"}},
		{name: "upstream name does not resolve", host: "nxdomain.example.test", path: "/", wantStatus: 503,
			wantBody: []string{"cannot resolve upstream", "NXDOMAIN"}},
		{name: "mutual TLS from credentialName", host: "mtls.example.test", path: "/m", wantStatus: 200,
			wantBody: []string{"client=client.example.test"}},
		{name: "plain HTTP to a TLS-declared port's host", host: "www.example.test", path: "/", wantStatus: 403,
			wantBody: []string{"host is registered, but not on this port"}},
		{name: "oversized headers", host: "api.example.test", path: "/", hdr: http.Header{"X-Big": {strings.Repeat("a", 70<<10)}},
			wantStatus: 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.site.hits.Load()
			status, body := f.get(t, tt.host, tt.path, tt.hdr)
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body: %s", status, tt.wantStatus, body)
			}
			for _, w := range tt.wantBody {
				if !strings.Contains(body, w) {
					t.Errorf("body %q does not contain %q", body, w)
				}
			}
			if hit := f.site.hits.Load() > before; hit != tt.wantSiteHit {
				t.Errorf("upstream reached = %v, want %v", hit, tt.wantSiteHit)
			}
		})
	}
}

func TestEnginePassthrough(t *testing.T) {
	f := newFixture(t)
	dial := func(sni string) (*tls.Conn, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		return tls.DialWithDialer(d, "tcp", "127.0.0.1:"+f.tlsPort, &tls.Config{ServerName: sni, RootCAs: f.ca.Pool(), InsecureSkipVerify: sni == ""})
	}
	t.Run("registered SNI reaches the upstream's own certificate", func(t *testing.T) {
		c, err := dial("www.example.test")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := c.ConnectionState().PeerCertificates[0].Issuer.CommonName; got != "test CA" {
			t.Errorf("issuer = %q, want the upstream's CA", got)
		}
		fmt.Fprintf(c, "GET /pt HTTP/1.1\r\nHost: www.example.test\r\nConnection: close\r\n\r\n")
		b, _ := io.ReadAll(c)
		if !strings.Contains(string(b), "site /pt") || !strings.Contains(string(b), "sni=www.example.test") {
			t.Errorf("response %q did not come from the upstream", b)
		}
	})
	for _, tt := range []struct{ name, sni, want string }{
		{"unregistered SNI gets access_denied", "evil.example.test", "access denied"},
		{"no SNI gets unrecognized_name", "", "unrecognized name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := f.site.hits.Load()
			c, err := dial(tt.sni)
			if err == nil {
				c.Close()
				t.Fatal("handshake succeeded, want a TLS alert")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if f.site.hits.Load() != before {
				t.Error("the upstream was reached")
			}
		})
	}
}

func TestEngineUpdateKeepsServingOnBindFailure(t *testing.T) {
	f := newFixture(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, p, _ := net.SplitHostPort(busy.Addr().String())
	dir := t.TempDir()
	yml := fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: x}\nspec:\n  hosts: [x.example.test]\n  ports: [{number: %s, name: http, protocol: HTTP}]\n", p)
	if err := os.WriteFile(filepath.Join(dir, "x.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Load([]string{dir}, config.Options{Mode: policy.RegistryOnly})
	if err != nil {
		t.Fatal(err)
	}
	gen := f.eng.Generation()
	if err := f.eng.Update(snap); err == nil || !strings.Contains(err.Error(), "listen on 127.0.0.1:"+p) {
		t.Fatalf("Update error = %v, want a listen error naming the port", err)
	}
	if f.eng.Generation() != gen {
		t.Error("generation moved although the update failed")
	}
	if status, body := f.get(t, "api.example.test", "/still", nil); status != 200 {
		t.Errorf("after a failed update: status %d (%s), want the old configuration serving", status, body)
	}
}

// TestShutdownClosesSilentConnections: a connection that has not sent a
// byte carries no request, so draining must not wait out its hello timeout.
func TestShutdownClosesSilentConnections(t *testing.T) {
	f := newFixture(t)
	c, err := net.Dial("tcp", "127.0.0.1:"+f.httpPort)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond) // let the gateway accept it and start waiting for its first byte
	ctx, cancel := context.WithTimeout(context.Background(), helloTimeout/2)
	defer cancel()
	if err := f.eng.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v; a silent connection held the drain", err)
	}
}

// TestEngineH2CClient: a client speaking HTTP/2 with prior knowledge (gRPC
// without TLS) is served, and its request is originated like any other.
func TestEngineH2CClient(t *testing.T) {
	f := newFixture(t)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+f.httpPort+"/h2c", nil)
	req.Host = "api.example.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Proto != "HTTP/2.0" || resp.StatusCode != 200 || !strings.Contains(string(b), "site /h2c") {
		t.Errorf("got %s %d %q; want HTTP/2.0 200 from the upstream", resp.Proto, resp.StatusCode, b)
	}
}

// TestUpstreamLogAddrScheme: the access log names an upstream with the
// scheme it is reached with: https where TLS is originated.
func TestUpstreamLogAddrScheme(t *testing.T) {
	f := newFixture(t)
	st := f.eng.state.Load()
	checked := 0
	for _, ups := range st.upstreams {
		for _, u := range ups {
			if u.logAddr == "" {
				continue
			}
			want := "http://"
			if u.port.TLS != nil {
				want = "https://"
			}
			if !strings.HasPrefix(u.logAddr, want) {
				t.Errorf("%s port %d: access log upstream %q, want it to start with %s", u.host, u.port.Number, u.logAddr, want)
			}
			if u.port.TLS != nil {
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("the fixture has no TLS-originating upstream with a fixed target: nothing was checked")
	}
}
