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
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/internal/pki"
	"github.com/egressgw/egressgw/policy"
)

// mapResolver answers the names it knows; an IP literal is returned as it
// is, as dnsproxy.Resolver does.
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupAddrs(_ context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{ip}, nil
	}
	if as, ok := m[host]; ok {
		return as, nil
	}
	return nil, fmt.Errorf("resolve %s via test: NXDOMAIN", host)
}

// guarded is a gateway on 127.0.0.1 whose upstream names resolve through a
// mapResolver, with its access log and metrics at hand.
type guarded struct {
	eng     *Engine
	logs    *observer.ObservedLogs
	metrics *Metrics
}

func startGuarded(t *testing.T, yml string, mode policy.Mode, res Resolver, node []netip.Addr) *guarded {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "egress.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Load([]string{dir}, config.Options{ClusterDomain: "cluster.local", Namespace: "istio-system", Mode: mode})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	g := &guarded{logs: logs, metrics: NewMetrics(prometheus.NewRegistry())}
	g.eng = New(Config{EgressAddr: netip.MustParseAddr("127.0.0.1"), Resolver: res, NodeAddrs: node,
		Log: zap.NewNop(), AccessLog: zap.New(core), Metrics: g.metrics})
	if err := g.eng.Update(snap); err != nil {
		t.Fatalf("update: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.eng.Shutdown(ctx)
	})
	return g
}

// netguardEntries is the YAML of one ServiceEntry per entry, each with
// one port gwPort of protocol to targetPort sitePort. An entry is its
// name, its hosts (a YAML list) and any more lines of its spec.
func netguardEntries(protocol, gwPort, sitePort string, entries ...[]string) string {
	var sb strings.Builder
	for i, e := range entries {
		if i > 0 {
			sb.WriteString("---\n")
		}
		fmt.Fprintf(&sb, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: %s}\nspec:\n  hosts: %s\n", e[0], e[1])
		for _, l := range e[2:] {
			sb.WriteString("  " + l + "\n")
		}
		fmt.Fprintf(&sb, "  ports: [{number: %s, name: %s, protocol: %s, targetPort: %s}]\n", gwPort, strings.ToLower(protocol), protocol, sitePort)
	}
	return sb.String()
}

// wantAccessDenied dials the gateway at gw with TLS cfg and checks that
// the handshake ends in an access_denied alert.
func wantAccessDenied(t *testing.T, gw string, cfg *tls.Config) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", gw, cfg)
	if err == nil {
		c.Close()
		t.Fatal("handshake through the gateway succeeded, want an access_denied alert")
	}
	if !strings.Contains(err.Error(), "access denied") {
		t.Errorf("handshake error %q, want access denied", err)
	}
}

// hitServer is a plain HTTP server on addr that counts its requests.
func hitServer(t *testing.T, addr string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintf(w, "upstream reached: host=%s", r.Host)
	}))
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s, &hits
}

func getHost(t *testing.T, gw, host string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+gw+"/netguard", nil)
	req.Host = host
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET Host %s: %v", host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestNetguardRebinding: under REGISTRY_ONLY, a name under a registered
// wildcard (resolution NONE) or a DNS entry whose answer is loopback, cloud
// metadata, private or the node's own address is refused with a 403 naming
// the address, its class and the flag, and nothing reaches the upstream;
// STATIC endpoints and MESH_INTERNAL entries on loopback are still dialled.
func TestNetguardRebinding(t *testing.T) {
	site, hits := hitServer(t, "127.0.0.1:0")
	sitePort := port("https://" + site.Listener.Addr().String())
	gwPort := freePort(t)
	yml := netguardEntries("HTTP", gwPort, sitePort,
		[]string{"rebind", `["*.rebind.test"]`},
		[]string{"dns", "[metadata.test, private.test, node.test]", "resolution: DNS"},
		[]string{"static", "[static.test]", "resolution: STATIC", "endpoints: [{address: 127.0.0.1}]"},
		[]string{"internal", "[internal.test]", "resolution: DNS", "location: MESH_INTERNAL"})
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	res := mapResolver{
		"loop.rebind.test":     lo,
		"mapped.rebind.test":   {netip.MustParseAddr("::ffff:127.0.0.1")},
		"nat64.rebind.test":    {netip.MustParseAddr("64:ff9b::7f00:1")},
		"metadata.test":        {netip.MustParseAddr("169.254.169.254")},
		"private.test":         {netip.MustParseAddr("10.1.2.3")},
		"node.test":            {netip.MustParseAddr("192.0.2.1")},
		"internal.test":        lo,
		"mixed.rebind.test":    {netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("127.0.0.1")},
		"ec2v6.rebind.test":    {netip.MustParseAddr("fd00:ec2::254")},
		"unspecif.rebind.test": {netip.MustParseAddr("0.0.0.0")},
	}
	g := startGuarded(t, yml, policy.RegistryOnly, res, []netip.Addr{netip.MustParseAddr("192.0.2.1")})
	gw := "127.0.0.1:" + gwPort
	tests := []struct {
		host, class string
		wantStatus  int
		wantBody    []string
	}{
		{"loop.rebind.test", "loopback", 403, []string{"egressgw: request to loop.rebind.test denied: it resolves to 127.0.0.1, a loopback address, which egressgw never dials for names resolved at request time"}},
		{"mapped.rebind.test", "loopback", 403, []string{"it resolves to ::ffff:127.0.0.1, a loopback address (it embeds 127.0.0.1)"}},
		{"nat64.rebind.test", "loopback", 403, []string{"it resolves to 64:ff9b::7f00:1, a loopback address (it embeds 127.0.0.1)"}},
		{"unspecif.rebind.test", "unspecified", 403, []string{"0.0.0.0, an unspecified address"}},
		{"mixed.rebind.test", "any", 403, []string{"request to mixed.rebind.test denied: it resolves to "}}, // either refusal
		{"ec2v6.rebind.test", "metadata", 403, []string{"fd00:ec2::254, a link-local address (cloud metadata)"}},
		{"metadata.test", "metadata", 403, []string{"request to metadata.test denied: it resolves to 169.254.169.254, a link-local address (cloud metadata)"}},
		{"private.test", "private_rfc1918", 403, []string{"it resolves to 10.1.2.3, a private address (RFC 1918): allow it with --allow-cidrs 10.0.0.0/8"}},
		{"node.test", "node", 403, []string{"it resolves to 192.0.2.1, an address of this node"}},
		{"static.test", "", 200, []string{"upstream reached: host=static.test"}},
		{"internal.test", "", 200, []string{"upstream reached: host=internal.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			before := hits.Load()
			g.logs.TakeAll()
			status, body, hdr := getHost(t, gw, tt.host)
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body: %s", status, tt.wantStatus, body)
			}
			for _, w := range tt.wantBody {
				if !strings.Contains(body, w) {
					t.Errorf("body %q does not contain %q", body, w)
				}
			}
			if reached := hits.Load() > before; reached != (tt.wantStatus == 200) {
				t.Errorf("upstream reached = %v, want %v", reached, tt.wantStatus == 200)
			}
			if tt.class == "" {
				return
			}
			if got := hdr.Get("X-Egressgw-Rule"); got != "netguard" {
				t.Errorf("X-Egressgw-Rule = %q, want netguard", got)
			}
			wantLogLine(t, g.logs, "request", "deny", "netguard", tt.wantBody[0])
			if got := counter(t, g.metrics.Guarded.WithLabelValues(tt.class)); got < 1 && tt.class != "any" {
				t.Errorf("egressgw_netguard_denied_total{class=%q} = %v, want at least 1", tt.class, got)
			}
		})
	}
	t.Run("HTTP/2 client (h2c)", func(t *testing.T) {
		before := hits.Load()
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodGet, "http://"+gw+"/h2c", nil)
		req.Host = "loop.rebind.test"
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "request to loop.rebind.test denied: it resolves to 127.0.0.1, a loopback address"; resp.StatusCode != 403 || !strings.Contains(string(b), want) {
			t.Errorf("got %s %d %q, want 403 containing %q", resp.Proto, resp.StatusCode, b, want)
		}
		if hits.Load() != before {
			t.Error("the upstream was reached")
		}
	})
	if got := counter(t, g.metrics.UpstreamFailures.WithLabelValues("netguard")); got != 0 {
		t.Errorf("refusals counted as upstream failures: %v", got)
	}
}

// wantLogLine checks the access log has one line msg with decision, rule
// and a reason containing reason. It waits for it, bounded: a refused
// connection's line is written after the client has its alert.
func wantLogLine(t *testing.T, logs *observer.ObservedLogs, msg, decision, rule, reason string) {
	t.Helper()
	var seen []string
	for deadline := time.Now().Add(h1Wait); ; time.Sleep(5 * time.Millisecond) {
		seen = seen[:0]
		for _, e := range logs.FilterMessage(msg).All() {
			f := e.ContextMap()
			if f["decision"] == decision && f["rule"] == rule && strings.Contains(fmt.Sprint(f["reason"]), reason) {
				return
			}
			seen = append(seen, fmt.Sprint(f))
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Errorf("no %q log line with decision %s, rule %s and a reason containing %q; got %v", msg, decision, rule, reason, seen)
}

// TestNetguardAllowAny: ALLOW_ANY dials the requested host, so a Host
// header (or SNI) naming the node's loopback, in any form, or the cloud
// metadata address must be refused, not proxied. The upstream listens on
// 127.0.0.2 on the gateway's own port, where the passthrough would dial.
func TestNetguardAllowAny(t *testing.T) {
	site, hits := hitServer(t, "127.0.0.2:0")
	gwPort := port("https://" + site.Listener.Addr().String())
	yml := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: x}
spec:
  hosts: [registered.test]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports: [{number: %s, name: http-any}]
`, gwPort)
	g := startGuarded(t, yml, policy.AllowAny, mapResolver{"rebound.test": {netip.MustParseAddr("127.0.0.2")}}, nil)
	gw := "127.0.0.1:" + gwPort
	for _, tt := range []struct{ host, want string }{
		{"127.0.0.2", "request to 127.0.0.2 denied: 127.0.0.2 is a loopback address"},
		{"127.0.0.2:" + gwPort, "request to 127.0.0.2 denied: 127.0.0.2 is a loopback address"},
		{"[::ffff:127.0.0.2]", "::ffff:127.0.0.2 is a loopback address (it embeds 127.0.0.2)"},
		{"[::ffff:127.0.0.2]:" + gwPort, "::ffff:127.0.0.2 is a loopback address"},
		{"169.254.169.254", "169.254.169.254 is a link-local address (cloud metadata)"},
		{"rebound.test", "request to rebound.test denied: it resolves to 127.0.0.2, a loopback address"},
	} {
		t.Run(tt.host, func(t *testing.T) {
			before := hits.Load()
			status, body, _ := getHost(t, gw, tt.host)
			if status != http.StatusForbidden || !strings.Contains(body, tt.want) {
				t.Errorf("got %d %q, want 403 containing %q", status, body, tt.want)
			}
			if hits.Load() != before {
				t.Error("the upstream on 127.0.0.2 was reached")
			}
		})
	}
	t.Run("TLS with SNI resolving to loopback gets access_denied", func(t *testing.T) {
		g.logs.TakeAll()
		before := hits.Load()
		wantAccessDenied(t, gw, &tls.Config{ServerName: "rebound.test", InsecureSkipVerify: true})
		if hits.Load() != before {
			t.Error("the upstream on 127.0.0.2 was reached")
		}
		wantLogLine(t, g.logs, "connection", "deny", "netguard", "request to rebound.test denied: it resolves to 127.0.0.2, a loopback address")
	})
}

// TestNetguardPassthroughSNI: a TLS ClientHello whose SNI is under a
// registered wildcard (resolution NONE) and resolves to loopback gets an
// access_denied alert, and the TLS server on loopback is never reached; a
// STATIC endpoint on loopback is passed through as before.
func TestNetguardPassthroughSNI(t *testing.T) {
	ca, err := pki.NewCA("netguard CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ca.Issue("x.rebind.test", "x.rebind.test", "static.test")
	s := newSite(t, leaf, nil)
	sitePort := port(s.URL)
	gwPort := freePort(t)
	yml := netguardEntries("TLS", gwPort, sitePort,
		[]string{"rebind", `["*.rebind.test"]`},
		[]string{"static", "[static.test]", "resolution: STATIC", "endpoints: [{address: 127.0.0.1}]"})
	g := startGuarded(t, yml, policy.RegistryOnly, mapResolver{"x.rebind.test": {netip.MustParseAddr("127.0.0.1")}}, nil)
	gw := "127.0.0.1:" + gwPort
	before := s.hits.Load()
	wantAccessDenied(t, gw, &tls.Config{ServerName: "x.rebind.test", RootCAs: ca.Pool()})
	wantLogLine(t, g.logs, "connection", "deny", "netguard", "it resolves to 127.0.0.1, a loopback address")
	if got := counter(t, g.metrics.Guarded.WithLabelValues("loopback")); got != 1 {
		t.Errorf("egressgw_netguard_denied_total{class=loopback} = %v, want 1", got)
	}

	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", gw, &tls.Config{ServerName: "static.test", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatalf("STATIC endpoint on loopback: %v, want it passed through", err)
	}
	fmt.Fprintf(c, "GET /static HTTP/1.1\r\nHost: static.test\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(c)
	c.Close()
	if !strings.Contains(string(b), "site /static") {
		t.Errorf("STATIC passthrough response %q, want the site's", b)
	}
	if got := s.hits.Load() - before; got != 1 {
		t.Errorf("site hits = %d, want 1 (the STATIC request only)", got)
	}
}

func counter(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
