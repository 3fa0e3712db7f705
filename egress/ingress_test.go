package egress

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/internal/pki"
	"github.com/egressgw/egressgw/policy"
	"github.com/egressgw/egressgw/route"
)

// ingressAddr is where the test engines' ingress listeners bind.
var ingressAddr = netip.MustParseAddr("127.0.0.3")

// ingressEgressAddr is the egress address of the ingress test engines,
// whose ServiceEntries register port 80: one per test process, so that two
// test binaries at once (another checkout's) do not both bind 127.0.0.1:80.
var ingressEgressAddr = func() netip.Addr {
	p := os.Getpid()
	return netip.AddrFrom4([4]byte{127, 1 + byte(p/250%250), 1 + byte(p%250), 1})
}()

// backend is an HTTP server standing for a Service behind the gateway: it
// answers with its name, the path and Host it was sent, and the headers.
type backend struct {
	*httptest.Server
	hits atomic.Int64
}

func newBackend(t *testing.T, name string, h http.HandlerFunc) *backend {
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s path=%s query=%s host=%s added=%s removed=%q xff=%s xfp=%s\n", name, r.URL.Path, r.URL.RawQuery, r.Host,
			r.Header.Get("X-Added"), r.Header.Get("X-Remove-Me"), r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(b.Close)
	return b
}

// serviceEntry registers host (a Service's name) at a backend, as the
// ServiceEntry a user writes for a destination outside Kubernetes.
func serviceEntry(name, host string, port int, b *backend, labels string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: default}
spec:
  hosts: [%s]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: %d, name: http, protocol: HTTP, targetPort: %s}]
  endpoints: [{address: 127.0.0.1%s}]
---
`, name, host, port, port2(b.URL), labels)
}

func port2(u string) string { return port("https://" + strings.TrimPrefix(u, "http://")) }

// fakeCerts serves the material the compiler read for each server, chosen by SNI: the engine's side of TLS termination.
type fakeCerts struct{ t atomic.Pointer[route.Table] }

func (f *fakeCerts) Update(t *route.Table) error { f.t.Store(t); return nil }
func (f *fakeCerts) HandleHTTPChallenge(http.ResponseWriter, *http.Request) bool {
	return false
}
func (f *fakeCerts) TLSConfig(side route.Side, port uint32) *tls.Config {
	return &tls.Config{NextProtos: []string{"h2", "http/1.1"}, GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		l := f.t.Load().Listener(side, port)
		if l == nil {
			return nil, fmt.Errorf("no listener")
		}
		s := l.ServerFor(strings.ToLower(h.ServerName))
		if s == nil || s.TLS == nil {
			return nil, fmt.Errorf("no server for %q", h.ServerName)
		}
		c, err := tls.X509KeyPair(s.TLS.CertPEM, s.TLS.KeyPEM)
		return &c, err
	}}
}

type ingressEnv struct {
	eng  *Engine
	logs *observer.ObservedLogs
	port string // the Gateway's port
}

// startIngress serves yml with an ingress address: {{PORT}} is replaced by
// a free port, FILEDIR by the directory files are written to.
func startIngress(t *testing.T, yml string, files map[string][]byte) *ingressEnv {
	t.Helper()
	env := &ingressEnv{port: freePort(t)}
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yml = strings.ReplaceAll(strings.ReplaceAll(yml, "{{PORT}}", env.port), "FILEDIR", dir)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Load([]string{dir}, config.Options{ClusterDomain: "cluster.local", Namespace: "istio-system", Mode: policy.RegistryOnly})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	core, logs := observer.New(zap.InfoLevel)
	env.logs = logs
	env.eng = New(Config{EgressAddr: ingressEgressAddr, IngressAddr: ingressAddr, Resolver: loopbackResolver{},
		Log: zap.NewNop(), AccessLog: zap.New(core), Metrics: NewMetrics(prometheus.NewRegistry()), StdlibPaths: stdlibInTests,
		Certs: &fakeCerts{}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}})
	if err := env.eng.Update(snap); err != nil {
		t.Fatalf("update: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = env.eng.Shutdown(ctx)
	})
	return env
}

type ingressReply struct {
	status int
	body   string
	header http.Header
}

// do sends a request for host+path to the ingress port; https with TLS and SNI host.
func (env *ingressEnv) do(t *testing.T, c *http.Client, scheme, method, host, path string, hdr http.Header) ingressReply {
	t.Helper()
	req, _ := http.NewRequest(method, scheme+"://"+host+":"+env.port+path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if h := hdr.Get("Host"); h != "" {
		req.Host = h
	}
	if c == nil {
		c = env.client(nil, nil)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return ingressReply{resp.StatusCode, string(b), resp.Header}
}

// client dials the ingress address whatever the URL's host, from src if set.
func (env *ingressEnv) client(roots *pki.CA, src net.Addr) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: src}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, net.JoinHostPort(ingressAddr.String(), env.port))
		},
		ForceAttemptHTTP2: true,
	}
	if roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots.Pool()}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// seed000 is the first seed's Gateway and VirtualService, unchanged.
const seed000 = `apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway # use Istio default gateway implementation
  servers:
  - port:
      number: {{PORT}}
      name: http
      protocol: HTTP
    hosts:
    - "httpbin.example.com"
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
`

// TestIngressSeed000: host and prefix routes through the Gateway reach the
// destination; anything else is a 404 that says what was missing, and the
// access log says which Gateway, VirtualService and route served.
func TestIngressSeed000(t *testing.T) {
	b := newBackend(t, "httpbin", nil)
	env := startIngress(t, serviceEntry("httpbin", "httpbin.default.svc.cluster.local", 8000, b, "")+seed000, nil)
	for _, tc := range []struct {
		host, path string
		status     int
		body       []string
	}{
		{"httpbin.example.com", "/status/200", 200, []string{"httpbin path=/status/200", "host=httpbin.example.com:" + env.port, "xfp=http"}},
		{"httpbin.example.com", "/delay/0", 200, []string{"httpbin path=/delay/0"}},
		{"httpbin.example.com", "/headers", 404, []string{"httpbin.example.com", "/headers", "VirtualService default/httpbin"}},
		{"other.example.com", "/status/200", 404, []string{"other.example.com", "Gateway default/httpbin-gateway"}},
	} {
		got := env.do(t, nil, "http", "GET", tc.host, tc.path, nil)
		if got.status != tc.status {
			t.Errorf("%s%s: status %d, want %d; body %q", tc.host, tc.path, got.status, tc.status, got.body)
		}
		for _, w := range tc.body {
			if !strings.Contains(got.body, w) {
				t.Errorf("%s%s: body %q lacks %q", tc.host, tc.path, got.body, w)
			}
		}
	}
	if n := b.hits.Load(); n != 2 {
		t.Errorf("backend reached %d times, want 2 (the 404s must not reach it)", n)
	}
	var line map[string]any
	for deadline := time.Now().Add(h1Wait); line == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, e := range env.logs.FilterMessage("request").All() {
			if f := e.ContextMap(); f["path"] == "/status/200" && f["host"] == "httpbin.example.com" {
				line = f
			}
		}
	}
	want := map[string]any{"direction": "ingress", "gateway": "default/httpbin-gateway", "virtual_service": "default/httpbin",
		"status": int64(200), "decision": "allow", "cluster": "outbound|8000||httpbin.default.svc.cluster.local"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
}

// TestIngressRouteFeatures: each VirtualService feature, one route per path.
func TestIngressRouteFeatures(t *testing.T) {
	v1 := newBackend(t, "v1", nil)
	v2 := newBackend(t, "v2", nil)
	var failed atomic.Bool
	flaky := newBackend(t, "flaky", func(w http.ResponseWriter, r *http.Request) {
		if failed.CompareAndSwap(false, true) {
			http.Error(w, "first try fails", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "flaky answered on the retry")
	})
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		fmt.Fprintln(w, "slow")
	})
	yml := serviceEntry("v1", "v1.default.svc.cluster.local", 80, v1, "") + serviceEntry("v2", "v2.default.svc.cluster.local", 80, v2, "") +
		serviceEntry("flaky", "flaky.default.svc.cluster.local", 80, flaky, "") + serviceEntry("slow", "slow.default.svc.cluster.local", 80, slow, "") + `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: {{PORT}}, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: features, namespace: default}
spec:
  hosts: [app.example.com]
  gateways: [gw]
  http:
  - name: rewrite
    match: [{uri: {prefix: /old/}}]
    rewrite: {uri: /new/, authority: rewritten.example.com}
    route: [{destination: {host: v1}}]
  - name: redirect
    match: [{uri: {exact: /moved}}]
    redirect: {uri: /here, authority: elsewhere.example.com}
  - name: direct
    match: [{uri: {exact: /direct}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
  - name: headers
    match: [{uri: {prefix: /headers}, headers: {x-pick: {exact: "yes"}}}]
    headers:
      request: {set: {x-added: hello}, remove: [x-remove-me]}
      response: {add: {x-resp: added}, remove: [x-backend]}
    route: [{destination: {host: v1}}]
  - name: abort
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 429, percentage: {value: 100}}}
    route: [{destination: {host: v1}}]
  - name: timeout
    match: [{uri: {prefix: /slow}}]
    timeout: 0.2s
    route: [{destination: {host: slow}}]
  - name: retry
    match: [{uri: {prefix: /flaky}}]
    retries: {attempts: 2, retryOn: 5xx}
    route: [{destination: {host: flaky}}]
  - name: split
    match: [{uri: {prefix: /split}}]
    route:
    - {destination: {host: v1}, weight: 50}
    - {destination: {host: v2}, weight: 50}
`
	env := startIngress(t, yml, nil)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		name, path string
		hdr        http.Header
		status     int
		body       string
		header     [2]string // a response header and its value ("" value: absent)
	}{
		{"rewrite", "/old/x?q=1", nil, 200, "v1 path=/new/x query=q=1 host=rewritten.example.com", [2]string{}},
		{"redirect", "/moved", nil, 301, "", [2]string{"Location", "http://elsewhere.example.com:" + env.port + "/here"}},
		{"direct", "/direct", nil, 418, "short and stout", [2]string{}},
		{"headers", "/headers", h("X-Pick", "yes", "X-Remove-Me", "gone"), 200, `added=hello removed=""`, [2]string{"X-Resp", "added"}},
		{"headers removed", "/headers", h("X-Pick", "yes"), 200, "v1", [2]string{"X-Backend", ""}},
		{"no header match", "/headers", nil, 404, "VirtualService default/features", [2]string{}},
		{"abort", "/abort", nil, 429, "fault", [2]string{}},
		{"timeout", "/slow", nil, 504, "VirtualService default/features", [2]string{}},
		{"retry", "/flaky", nil, 200, "flaky answered on the retry", [2]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := env.do(t, nil, "http", "GET", "app.example.com", tc.path, tc.hdr)
			if got.status != tc.status || !strings.Contains(got.body, tc.body) {
				t.Errorf("got %d %q, want %d with %q", got.status, got.body, tc.status, tc.body)
			}
			if k := tc.header[0]; k != "" && got.header.Get(k) != tc.header[1] {
				t.Errorf("response header %s = %q, want %q", k, got.header.Get(k), tc.header[1])
			}
		})
	}
	if v1.hits.Load() == 0 {
		t.Fatal("v1 never reached")
	}
	before1, before2 := v1.hits.Load(), v2.hits.Load()
	for range 100 {
		if got := env.do(t, nil, "http", "GET", "app.example.com", "/split", nil); got.status != 200 {
			t.Fatalf("split: %d %q", got.status, got.body)
		}
	}
	if n1, n2 := v1.hits.Load()-before1, v2.hits.Load()-before2; n1 < 20 || n2 < 20 {
		t.Errorf("50/50 split sent %d to v1 and %d to v2 of 100, want each at least 20", n1, n2)
	}
}

// TestIngressHTTPSRedirectAndTLS: a server with httpsRedirect answers 301
// to https (but not to a trusted proxy that says the client used https);
// the HTTPS server terminates with its certificate, chosen by SNI, and a
// request for another server's host on that connection is a 421.
func TestIngressHTTPSRedirectAndTLS(t *testing.T) {
	b := newBackend(t, "app", nil)
	ca, _ := pki.NewCA("ingress CA")
	leafA, _ := ca.Issue("a.example.com", "a.example.com")
	leafB, _ := ca.Issue("b.example.com", "b.example.com")
	files := map[string][]byte{"a.pem": leafA.CertPEM, "a-key.pem": leafA.KeyPEM, "b.pem": leafB.CertPEM, "b-key.pem": leafB.KeyPEM}
	yml := serviceEntry("app", "app.default.svc.cluster.local", 80, b, "") + `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tls, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: {{PORT}}, name: https-a, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, serverCertificate: FILEDIR/a.pem, privateKey: FILEDIR/a-key.pem}
  - port: {number: {{PORT}}, name: https-b, protocol: HTTPS}
    hosts: [b.example.com]
    tls: {mode: SIMPLE, serverCertificate: FILEDIR/b.pem, privateKey: FILEDIR/b-key.pem}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: [a.example.com, b.example.com]
  gateways: [tls]
  http:
  - route: [{destination: {host: app}}]
`
	env := startIngress(t, yml, files)
	c := env.client(ca, nil)
	for _, host := range []string{"a.example.com", "b.example.com"} {
		got := env.do(t, c, "https", "GET", host, "/x", nil)
		if got.status != 200 || !strings.Contains(got.body, "app path=/x") || !strings.Contains(got.body, "xfp=https") {
			t.Errorf("https://%s: got %d %q, want 200 from app with X-Forwarded-Proto https", host, got.status, got.body)
		}
	}
	// One connection, SNI a.example.com, then a request for b: 421.
	conn, err := tls.Dial("tcp", net.JoinHostPort(ingressAddr.String(), env.port), &tls.Config{ServerName: "a.example.com", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /x HTTP/1.1\r\nHost: b.example.com\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(h1Wait))
	line, _ := io.ReadAll(io.LimitReader(conn, 12))
	if !strings.HasPrefix(string(line), "HTTP/1.1 421") {
		t.Errorf("Host b.example.com on a connection for a.example.com: got %q, want 421 Misdirected Request", line)
	}
}

// TestIngressHTTPSRedirect: httpsRedirect is a 301 to the same host and
// path over https, except for a trusted proxy that terminated TLS itself.
func TestIngressHTTPSRedirect(t *testing.T) {
	b := newBackend(t, "app", nil)
	yml := serviceEntry("app", "app.default.svc.cluster.local", 80, b, "") + `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: redirect, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: {{PORT}}, name: http, protocol: HTTP}
    hosts: [app.example.com]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: [app.example.com]
  gateways: [redirect]
  http:
  - route: [{destination: {host: app}}]
`
	env := startIngress(t, yml, nil)
	got := env.do(t, nil, "http", "GET", "app.example.com", "/a/b?c=d", nil)
	if want := "https://app.example.com/a/b?c=d"; got.status != 301 || got.header.Get("Location") != want {
		t.Errorf("got %d Location %q, want 301 to %s", got.status, got.header.Get("Location"), want)
	}
	if b.hits.Load() != 0 {
		t.Error("a redirected request reached the backend")
	}
	lb := env.client(nil, &net.TCPAddr{IP: net.ParseIP("127.0.0.9")})
	got = env.do(t, lb, "http", "GET", "app.example.com", "/a", http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"203.0.113.7"}})
	if got.status != 200 || !strings.Contains(got.body, "xfp=https") || !strings.Contains(got.body, "xff=203.0.113.7, 127.0.0.9") {
		t.Errorf("from the trusted proxy: got %d %q, want 200 with X-Forwarded-Proto https and the chain appended", got.status, got.body)
	}
	untrusted := env.client(nil, &net.TCPAddr{IP: net.ParseIP("127.0.0.8")})
	if got = env.do(t, untrusted, "http", "GET", "app.example.com", "/a", http.Header{"X-Forwarded-Proto": {"https"}}); got.status != 301 {
		t.Errorf("X-Forwarded-Proto from an untrusted client: got %d, want 301 (it is not believed)", got.status)
	}
}

// outlierConfig is a destination of two endpoints, good and bad (which
// answers 503), round-robin balanced with outlierDetection (two 5xx in a
// row eject for baseEjection), behind an ingress route to app.example.com
// with no retries.
func outlierConfig(t *testing.T, baseEjection string) (bad *backend, yml string) {
	good := newBackend(t, "good", nil)
	bad = newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad endpoint", http.StatusServiceUnavailable)
	})
	yml = fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: default}
spec:
  hosts: [app.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: %s}}
  - {address: 127.0.0.1, ports: {http: %s}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: app, namespace: default}
spec:
  host: app
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: %s, maxEjectionPercent: 100}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: {{PORT}}, name: http, protocol: HTTP}, hosts: [app.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: [app.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: app}}], retries: {attempts: 0}}]
`, port2(good.URL), port2(bad.URL), baseEjection)
	return bad, yml
}

// TestIngressOutlierEjection: a destination's endpoints are balanced per
// request, and an endpoint that keeps failing is ejected by the
// DestinationRule's outlierDetection: the requests go to the healthy one.
func TestIngressOutlierEjection(t *testing.T) {
	bad, yml := outlierConfig(t, "60s")
	env := startIngress(t, yml, nil)
	statuses := map[int]int{}
	for range 10 {
		statuses[env.do(t, nil, "http", "GET", "app.example.com", "/", nil).status]++
	}
	if statuses[200] == 0 || statuses[503] == 0 {
		t.Fatalf("round robin over a good and a bad endpoint gave %v, want both answers", statuses)
	}
	if n := bad.hits.Load(); n > 3 {
		t.Errorf("the failing endpoint got %d requests of 10, want it ejected after 2 consecutive 5xx", n)
	}
	before := bad.hits.Load()
	for range 20 {
		if got := env.do(t, nil, "http", "GET", "app.example.com", "/", nil); got.status != 200 {
			t.Fatalf("after the ejection: %d %q, want 200 from the good endpoint", got.status, got.body)
		}
	}
	if bad.hits.Load() != before {
		t.Error("the ejected endpoint was sent requests")
	}
}
