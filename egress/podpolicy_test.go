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
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/identity"
	"github.com/egressgw/egressgw/internal/pki"
	"github.com/egressgw/egressgw/policy"
)

// Two pods on loopback addresses of their own (Linux answers all of
// 127.0.0.0/8), in namespaces team-a and team-b; 127.0.0.4 is no pod's.
var (
	podAddrA, podAddrB, noPodAddr = netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")
	podTable                      = identity.NewTable([]*identity.Pod{
		{Namespace: "team-a", Name: "sleep-1", ServiceAccount: "sleep", Workload: "sleep", IPs: []netip.Addr{podAddrA}},
		{Namespace: "team-b", Name: "curl-1", ServiceAccount: "curl", Workload: "curl", IPs: []netip.Addr{podAddrB}},
	}, nil)
)

const podPolicyYAML = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a-only, namespace: team-a}
spec:
  hosts: [a-only.example.test]
  exportTo: ["."]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{HTTP}}, name: http, protocol: HTTP, targetPort: {{SITE}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: public, namespace: default}
spec:
  hosts: [public.example.test, guarded.example.test]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{HTTP}}, name: http, protocol: HTTP, targetPort: {{SITE}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: www, namespace: team-a}
spec:
  hosts: [www.example.test]
  exportTo: ["."]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{TLS}}, name: tls, protocol: TLS, targetPort: {{TLSSITE}}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: guard, namespace: team-b}
spec:
  action: DENY
  rules: [{to: [{operation: {hosts: [guarded.example.test]}}]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: team-b}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
  egress: [{hosts: ["./*", "default/guarded.example.test"]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: team-a}
spec:
  outboundTrafficPolicy: {mode: ALLOW_ANY}
`

type podEngine struct {
	eng               *Engine
	httpPort, tlsPort string
	ca                *pki.CA
	logs              *observer.ObservedLogs
	metrics           *Metrics
}

func startPodEngine(t *testing.T, identities func() *identity.Table) *podEngine {
	t.Helper()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "site host=%s", r.Host)
	}))
	t.Cleanup(site.Close)
	ca, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ca.Issue("www.example.test", "www.example.test")
	tlsSite := newSite(t, leaf, nil)
	pe := &podEngine{httpPort: freePort(t), tlsPort: freePort(t), ca: ca}
	yml := strings.NewReplacer("{{HTTP}}", pe.httpPort, "{{TLS}}", pe.tlsPort, "{{SITE}}", port(strings.TrimPrefix(site.URL, "http://")), "{{TLSSITE}}", port(tlsSite.URL)).Replace(podPolicyYAML)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Load([]string{dir}, config.Options{Mode: policy.RegistryOnly, Labels: map[string]string{"istio": "egressgateway"}})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	pe.logs, pe.metrics = logs, NewMetrics(prometheus.NewRegistry())
	pe.eng = New(Config{EgressAddr: netip.MustParseAddr("127.0.0.1"), Resolver: loopbackResolver{}, Log: zap.NewNop(),
		AccessLog: zap.New(core), Metrics: pe.metrics, StdlibPaths: stdlibInTests, Identities: identities})
	if err := pe.eng.Update(snap); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = pe.eng.Shutdown(ctx)
	})
	return pe
}

// get sends GET / for host from address from, over HTTP/1.1 or h2c.
func (pe *podEngine) get(t *testing.T, from netip.Addr, host string, h2c bool) (int, string) {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}, Timeout: 5 * time.Second}).DialContext}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+pe.httpPort+"/", nil)
	req.Host = host
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", host, from, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if h2c && resp.Proto != "HTTP/2.0" {
		t.Fatalf("GET %s from %s: %s, want HTTP/2.0", host, from, resp.Proto)
	}
	return resp.StatusCode, string(b)
}

// TestPodPolicyEngine: clients of two namespaces get different answers
// from the same gateway, on HTTP/1.1, h2c and TLS passthrough: exportTo,
// a Sidecar's egress hosts and outboundTrafficPolicy, a namespace's
// AuthorizationPolicy. A host a pod does not see is refused as an
// unregistered one.
func TestPodPolicyEngine(t *testing.T) {
	pe := startPodEngine(t, func() *identity.Table { return podTable })
	const (
		site         = "site host="
		registryOnly = "denied by outboundTrafficPolicy REGISTRY_ONLY: host is not registered"
		sidecarRO    = "denied by Sidecar team-b/default outboundTrafficPolicy REGISTRY_ONLY: host is not registered"
		guardRule    = "denied by AuthorizationPolicy team-b/guard rules[0]"
		loopback     = "a loopback address, which egressgw never dials" // ALLOW_ANY's passthrough, refused by netguard
	)
	tests := []struct {
		name   string
		from   netip.Addr
		host   string
		status int
		body   string
	}{
		{"exportTo: own namespace", podAddrA, "a-only.example.test", 200, site},
		{"exportTo: other namespace as unregistered", podAddrB, "a-only.example.test", 403, sidecarRO},
		{"exportTo: unknown pod sees only '*'", noPodAddr, "a-only.example.test", 403, registryOnly},
		{"sidecar hosts: team-a has no egress list", podAddrA, "public.example.test", 200, site},
		{"sidecar hosts: outside team-b's", podAddrB, "public.example.test", 403, sidecarRO},
		{"sidecar hosts: unknown pod, no Sidecar", noPodAddr, "public.example.test", 200, site},
		{"namespace policy: not team-a's", podAddrA, "guarded.example.test", 200, site},
		{"namespace policy: team-b's DENY", podAddrB, "guarded.example.test", 403, guardRule},
		{"namespace policy: not for an unknown pod", noPodAddr, "guarded.example.test", 200, site},
		{"sidecar ALLOW_ANY: team-a passes through", podAddrA, "unregistered.example.test", 403, loopback},
		{"sidecar REGISTRY_ONLY: team-b", podAddrB, "unregistered.example.test", 403, sidecarRO},
	}
	for _, h2c := range []bool{false, true} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/h2c=%v", tc.name, h2c), func(t *testing.T) {
				status, body := pe.get(t, tc.from, tc.host, h2c)
				if status != tc.status || !strings.Contains(body, tc.body) {
					t.Errorf("GET %s from %s: %d %q, want %d with %q", tc.host, tc.from, status, body, tc.status, tc.body)
				}
			})
		}
	}

	// TLS passthrough by SNI: www.example.test is exported to team-a only.
	for _, tc := range []struct {
		from netip.Addr
		ok   bool
	}{{podAddrA, true}, {podAddrB, false}, {noPodAddr, false}} {
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: tc.from.AsSlice()}}
		c, err := tls.DialWithDialer(d, "tcp", "127.0.0.1:"+pe.tlsPort, &tls.Config{ServerName: "www.example.test", RootCAs: pe.ca.Pool()})
		if err == nil {
			c.Close()
		}
		if ok := err == nil; ok != tc.ok || !ok && !strings.Contains(err.Error(), "access denied") {
			t.Errorf("TLS to www.example.test from %s: error %v, want success %v (else access denied)", tc.from, err, tc.ok)
		}
	}

	// The access log names the pod, or says unknown pod.
	wantPods := map[string]string{"127.0.0.2": "team-a/sleep-1", "127.0.0.3": "team-b/curl-1", "127.0.0.4": "/" + unknownPod}
	n := 0
	for _, e := range pe.eventually(t, 2*len(tests)+3) {
		m := e.ContextMap()
		src, _, _ := net.SplitHostPort(fmt.Sprint(m["src"]))
		if got := fmt.Sprint(m["source_namespace"]) + "/" + fmt.Sprint(m["source_pod"]); got != wantPods[src] {
			t.Errorf("%s from %s: source %q, want %q", e.Message, src, got, wantPods[src])
		}
		n++
	}
	if n == 0 {
		t.Error("no access log")
	}
	for _, tc := range []struct {
		vec                    *prometheus.CounterVec
		ns, workload, decision string
		want                   float64
	}{
		{pe.metrics.SourceRequests, "team-b", "curl", "deny", 2 * 4},
		{pe.metrics.SourceRequests, "team-a", "sleep", "allow", 2 * 3},
		{pe.metrics.SourceRequests, "unknown", "unknown", "deny", 2},
		{pe.metrics.SourceConnections, "team-a", "sleep", "allow", 1},
		{pe.metrics.SourceConnections, "team-b", "curl", "deny", 1},
	} {
		var m dto.Metric
		if err := tc.vec.WithLabelValues("egress", tc.ns, tc.workload, tc.decision).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != tc.want {
			t.Errorf("source counter %s %s %s = %v, want %v", tc.ns, tc.workload, tc.decision, got, tc.want)
		}
	}
}

// eventually returns the access log once it has n records (a passthrough
// connection is logged when its relay ends), waiting at most 5 seconds.
func (pe *podEngine) eventually(t *testing.T, n int) []observer.LoggedEntry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for pe.logs.Len() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pe.logs.Len() < n {
		t.Errorf("access log has %d records, want %d", pe.logs.Len(), n)
	}
	return pe.logs.All()
}

// TestPodPolicyEngineWithoutTable: without a pod table the gateway is what
// it was: exportTo and Sidecars not enforced, a namespace's policy without
// selector gateway-wide, and nothing of pods in the access log.
func TestPodPolicyEngineWithoutTable(t *testing.T) {
	for _, ids := range []func() *identity.Table{nil, func() *identity.Table { return nil }} {
		pe := startPodEngine(t, ids)
		for _, tc := range []struct {
			host   string
			status int
		}{{"a-only.example.test", 200}, {"public.example.test", 200}, {"guarded.example.test", 403}} {
			if status, body := pe.get(t, podAddrB, tc.host, false); status != tc.status {
				t.Errorf("GET %s: %d %q, want %d", tc.host, status, body, tc.status)
			}
		}
		for _, e := range pe.eventually(t, 3) {
			if m := e.ContextMap(); m["source_pod"] != nil || m["source_namespace"] != nil {
				t.Errorf("access log %v names a pod without a pod table", m)
			}
		}
	}
}

// TestPodPerRequestAllocs: what a request with a known pod adds (its
// Query, the access log's two fields, the source counter of its
// connection) allocates nothing once the connection counted its first.
func TestPodPerRequestAllocs(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	var cs sourceCounters
	for _, cl := range []client{{pod: podTable.Lookup(podAddrA), known: true, counters: &cs}, {known: true, counters: &sourceCounters{}}, {}} {
		cl.count(m.SourceRequests, cl.counters, 0, false) // the connection's first request makes the counter
		n := testing.AllocsPerRun(100, func() {
			q := cl.query("api.example.test", 80, podAddrA)
			ns, pod := cl.logFields()
			cl.count(m.SourceRequests, cl.counters, 0, false)
			if q.Identities != cl.known || ns.Key == "x" || pod.Key == "x" {
				t.Fatal("unreachable")
			}
		})
		if n != 0 {
			t.Errorf("client %+v: %v allocations per request, want 0", cl, n)
		}
	}
}
