package config

import (
	"net/http"
	"testing"

	"github.com/egressgw/egressgw/route"
)

// TestSeedLookups looks requests up in the seeds' compiled route tables:
// the routes they document, and the 404 bodies naming what was missing.
func TestSeedLookups(t *testing.T) {
	seed000 := mustLoad(t, Options{}, "testdata/ingress/backends.yaml", "testdata/ingress/seed000.yaml")
	seed002 := mustLoad(t, Options{}, "testdata/ingress/seed002.yaml")
	for _, tc := range []struct {
		name       string
		s          *Snapshot
		host, path string
		cluster    string // the route's cluster, or "" for a miss
		explain    string
	}{
		{"000 status", seed000, "httpbin.example.com", "/status/200", "outbound|8000||httpbin.default.svc.cluster.local", ""},
		{"000 delay", seed000, "httpbin.example.com", "/delay/1", "outbound|8000||httpbin.default.svc.cluster.local", ""},
		{"000 headers not routed", seed000, "httpbin.example.com", "/headers", "", "no route of VirtualService default/httpbin matched GET /headers"},
		{"000 other host", seed000, "other.example.com", "/status/200", "", "no Gateway server on ingress port 80 serves host other.example.com (servers: Gateway default/httpbin-gateway spec.servers[0] hosts [httpbin.example.com])"},
		{"002 hello", seed002, "www.hello-web.com", "/hello", "outbound|12345||hello-web.default.svc.cluster.local", ""},
		{"002 wudebao", seed002, "www.wudebao-web.com", "/wudebao", "outbound|54321||wudebao-web.default.svc.cluster.local", ""},
		{"002 path of the other host", seed002, "www.hello-web.com", "/wudebao", "", "no route of VirtualService default/hello-web matched GET /wudebao"},
		{"002 host without VirtualService", seed002, "api.hello-web.com", "/hello", "", "Gateway default/hello-web-gateway spec.servers[0] admits host api.hello-web.com but no VirtualService for api.hello-web.com is bound to it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.s.Routes.Listener(route.Ingress, 80)
			res := l.Lookup(&route.Request{Host: tc.host, Authority: tc.host, Port: 80, Method: "GET", Path: tc.path, Scheme: "http", Header: http.Header{}})
			got := ""
			if res.Route != nil {
				got = tc.s.Clusters[res.Route.Action.Pick(0).Cluster].Name
			}
			if got != tc.cluster {
				t.Errorf("cluster = %q, want %q", got, tc.cluster)
			}
			if e := res.Explain(tc.host, "GET "+tc.path, l); e != tc.explain {
				t.Errorf("Explain:\n got %q\nwant %q", e, tc.explain)
			}
		})
	}
}
