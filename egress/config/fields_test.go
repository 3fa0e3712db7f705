package config

import (
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/egressgw/egressgw/route"
)

func TestVirtualServiceFields(t *testing.T) {
	s := mustLoad(t, Options{Labels: map[string]string{"istio": "egressgateway"}}, "testdata/ingress/fields.yaml")
	l := s.Routes.Listener(route.Ingress, 80)
	if l == nil {
		t.Fatal("no ingress listener on port 80")
	}
	req := func(host, method, path, query string, h http.Header) route.Result {
		return l.Lookup(&route.Request{Host: host, Authority: host, Port: 80, Method: method, Path: path, Query: query, Scheme: "http", Header: h})
	}
	h := http.Header{"X-Env": {"stage"}, "X-Debug": {""}}
	for _, tc := range []struct {
		name, host, method, path, query string
		h                               http.Header
		want                            string // route name; "" for a miss
	}{
		{"every match part", "api.example.com", "GET", "/api/users", "v=2", h, "full"},
		{"uri case ignored", "api.example.com", "GET", "/Api/users", "v=2", h, "full"},
		{"wrong method", "api.example.com", "POST", "/api/users", "v=2", h, "nowhere"},
		{"header regex whole value", "api.example.com", "GET", "/api/users", "v=2", http.Header{"X-Env": {"production"}, "X-Debug": {""}}, "nowhere"},
		{"header presence", "api.example.com", "GET", "/api/users", "v=2", http.Header{"X-Env": {"prod"}}, "nowhere"},
		{"without header", "api.example.com", "GET", "/api/users", "v=2", http.Header{"X-Env": {"prod"}, "X-Debug": {""}, "X-Skip": {"1"}}, "nowhere"},
		{"query param", "api.example.com", "GET", "/api/users", "v=3", h, "nowhere"},
		{"redirect", "api.example.com", "GET", "/old", "", nil, "moved"},
		{"direct response regex", "api.example.com", "GET", "/teapot", "", nil, "teapot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := req(tc.host, tc.method, tc.path, tc.query, tc.h)
			got := ""
			if res.Route != nil {
				got = res.Route.Name
			}
			if got != tc.want {
				t.Errorf("route = %q, want %q (miss %d)", got, tc.want, res.Miss)
			}
		})
	}

	full := req("api.example.com", "GET", "/api/x", "v=2", h).Route
	if full == nil {
		t.Fatal("no full route")
	}
	if full.Timeout != 2*time.Second {
		t.Errorf("timeout = %v", full.Timeout)
	}
	if want := (route.Retries{Attempts: 3, PerTryTimeout: 500 * time.Millisecond, On: route.RetryGatewayError | route.RetryConnectFailure | route.RetryRetriableStatusCodes, Codes: []int{504}}); !reflect.DeepEqual(full.Retries, want) {
		t.Errorf("retries = %+v, want %+v", full.Retries, want)
	}
	if got := full.Rewrite.Path("/API/x", &full.Match[0]); got != "/v2/x" || full.Rewrite.Authority != "backend.example.com" {
		t.Errorf("rewrite: path %q, %+v", got, full.Rewrite)
	}
	wantHeaders := route.HeaderOps{
		Request:  route.HeaderEdit{Set: []route.Header{route.NewHeader("X-From", "gw")}, Add: []route.Header{route.NewHeader("X-Trace", "1")}, Remove: []string{"X-Internal"}},
		Response: route.HeaderEdit{Remove: []string{"Server"}},
	}
	if !reflect.DeepEqual(full.Headers, wantHeaders) {
		t.Errorf("headers = %+v", full.Headers)
	}
	if f := full.Fault; f == nil || f.Delay != time.Second || f.DelayPerMil != 100_000 || f.AbortStatus != 503 || f.AbortPerMil != 5_000 {
		t.Errorf("fault = %+v", full.Fault)
	}
	if m := full.Mirror; m == nil || m.PerMil != 250_000 || s.Clusters[m.Cluster].Name != "outbound|8000|v2|httpbin.default.svc.cluster.local" {
		t.Errorf("mirror = %+v", full.Mirror)
	}
	if c := full.CORS; c == nil || c.AllowMethods != "GET, POST" || c.MaxAge != "86400" || !c.AllowCredentials || len(c.AllowOrigins) != 2 || !c.AllowOrigins[1].Re.MatchString("https://x.b.example.com") {
		t.Errorf("cors = %+v", full.CORS)
	}
	a := full.Action
	if a.TotalWeight != 100 || len(a.Destinations) != 2 || a.Pick(89).Cluster == a.Pick(90).Cluster {
		t.Fatalf("action = %+v", a)
	}
	v1, v2 := s.Clusters[a.Pick(0).Cluster], s.Clusters[a.Pick(99).Cluster]
	if h := a.Pick(0).Headers.Request.Set; len(h) != 1 || h[0].Name != "X-Subset" || h[0].Value != "v1" {
		t.Errorf("per-destination headers = %+v", a.Pick(0).Headers)
	}
	if len(v1.Entry.Endpoints) != 1 || v1.Entry.Endpoints[0].Address != "10.0.0.1" || v1.EntryPort.LB.Policy != LBConsistentHash || v1.EntryPort.LB.HashHeader != "X-User" || !v1.EntryPort.Outlier.Enabled || v1.EntryPort.Outlier.Consecutive5xx != 3 || v1.EntryPort.Outlier.Interval != 5*time.Second || v1.EntryPort.Outlier.BaseEjectionTime != 30*time.Second {
		t.Errorf("subset v1 = %+v", v1)
	}
	// v2 sets only loadBalancer: the rule's outlierDetection still applies (Istio merges per field).
	if len(v2.Entry.Endpoints) != 1 || v2.Entry.Endpoints[0].Address != "10.0.0.2" || v2.EntryPort.LB.Policy != LBRandom || v2.EntryPort.Outlier.Consecutive5xx != 3 || v2.EntryPort.Cluster != "outbound|8000|v2|httpbin.default.svc.cluster.local" {
		t.Errorf("subset v2 = %+v", v2)
	}

	moved := req("api.example.com", "GET", "/old", "", nil).Route
	if rd := moved.Action.Redirect; rd.Code != 308 || rd.Location("http", "api.example.com", 80, "/old", "a=1") != "http://new.example.com/new?a=1" {
		t.Errorf("redirect = %+v", rd)
	}
	tea := req("api.example.com", "GET", "/tea", "", nil).Route
	if d := tea.Action.Direct; d.Status != 418 || string(d.Body) != "short and stout" {
		t.Errorf("direct = %+v", d)
	}
	rr := req("api.example.com", "GET", "/service/foo/v1/api", "", nil).Route
	if got := rr.Rewrite.Path("/service/foo/v1/api", &rr.Match[0]); got != "/v1/api/instance/foo" {
		t.Errorf("uriRegexRewrite: %q", got)
	}
	if cl := s.Clusters[rr.Action.Pick(0).Cluster]; !strings.Contains(cl.Missing, "subset v3") {
		t.Errorf("missing subset: %+v", cl)
	}
	if rr.Retries.Attempts != 2 || rr.Retries.On != route.DefaultRetries.On {
		t.Errorf("default retries = %+v", rr.Retries)
	}
	if cl := s.Clusters[req("api.example.com", "GET", "/x", "", nil).Route.Action.Pick(0).Cluster]; !strings.Contains(cl.Missing, "nowhere.example.org") {
		t.Errorf("missing host: %+v", cl)
	}
	// The egress Gateway's port opens although no ServiceEntry registers it.
	if !slices.ContainsFunc(s.Listeners, func(l Listener) bool { return l.Port == 8080 }) || s.Routes.Listener(route.Egress, 8080) == nil {
		t.Errorf("egress gateway port 8080: listeners %+v", s.Listeners)
	}
	for _, w := range []string{
		"VirtualService default/api: spec.gateways: IST0101 referenced Gateway not found: default/missing-gw",
		"VirtualService default/api: spec.http[3].route[0].destination.subset: IST0101 referenced subset not found: subset v3 of httpbin.default.svc.cluster.local",
		"VirtualService default/api: spec.http[4].route[0].destination.host: IST0101 referenced host not found",
		"VirtualService default/api: spec.http: not applied on Gateway istio-system/gw spec.servers[2]: it is a PASSTHROUGH server",
		"VirtualService default/api: spec.tls: not applied on Gateway istio-system/gw spec.servers[0]: it terminates TLS and routes HTTP",
		"Gateway istio-system/gw: spec.servers[1]: host api.example.com on ingress port 80 is not served by this server: Gateway istio-system/gw spec.servers[0], which comes first, already serves it",
	} {
		if !hasWarning(s, w) {
			t.Errorf("missing warning %q in\n%s", w, strings.Join(s.Warnings, "\n"))
		}
	}
	// local.example.com is admitted for istio-system only ("./"): the
	// VirtualService in default does not bind it.
	if res := req("local.example.com", "GET", "/tea", "", nil); res.Route != nil || res.Miss != route.NoVirtualService {
		t.Errorf("./local.example.com bound a VirtualService of another namespace: %+v", res)
	}
}

func TestRouteToMissingPort(t *testing.T) {
	dir := t.TempDir()
	f := dir + "/vs.yaml"
	writeTestFile(t, f, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin}
spec:
  hosts: [httpbin.default.svc.cluster.local]
  ports: [{number: 8000, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: {host: httpbin, port: {number: 9000}}}]}]
`)
	_, err := Load([]string{f}, Options{})
	want := "VirtualService default/vs: spec.http[0].route[0].destination.port.number: route to a port the destination lacks: httpbin.default.svc.cluster.local (ServiceEntry default/httpbin) has no port 9000 (ports: 8000)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load: %v\nwant %q", err, want)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
