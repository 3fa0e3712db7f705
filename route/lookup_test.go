package route

import (
	"net/http"
	"testing"
)

// seed000 is seed 000 compiled by hand: a Gateway on port 80 for
// httpbin.example.com with a VirtualService sending /status and /delay to
// httpbin, a second server for "*" and a "*" VirtualService for /headers.
func seed000() *Listener {
	gw := &Server{Gateway: "istio-system/httpbin-gateway", Field: "spec.servers[0]", Hosts: []string{"httpbin.example.com"}}
	any := &Server{Gateway: "istio-system/any", Field: "spec.servers[0]", Hosts: []string{"*"}}
	return &Listener{
		Side: Ingress, Port: 80, Servers: []*Server{gw, any},
		HTTP: []*VirtualHost{
			{Host: "httpbin.example.com", Server: gw, VirtualServices: []string{"default/httpbin"}, Routes: []*HTTPRoute{
				{VirtualService: "default/httpbin", Field: "spec.http[0]", Match: []Match{{URI: prefix("/status")}, {URI: prefix("/delay")}}, Action: one(0)},
			}},
			{Host: "*", Server: any, VirtualServices: []string{"default/any"}, Routes: []*HTTPRoute{
				{VirtualService: "default/any", Field: "spec.http[0]", Match: []Match{{URI: prefix("/headers")}}, Action: one(1)},
			}},
		},
	}
}

func TestLookup(t *testing.T) {
	l := seed000()
	mustTable(t, l)
	for _, tc := range []struct {
		name, host, path string
		miss             Miss
		route            string // VirtualService of the route found
	}{
		{"prefix", "httpbin.example.com", "/status/200", Found, "default/httpbin"},
		{"second match", "httpbin.example.com", "/delay/1", Found, "default/httpbin"},
		{"no route", "httpbin.example.com", "/headers", NoRouteMatched, ""},
		{"star server", "other.example.com", "/headers", Found, "default/any"},
		{"star no route", "other.example.com", "/status", NoRouteMatched, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := l.Lookup(req(tc.host, "GET", tc.path))
			if res.Miss != tc.miss {
				t.Fatalf("miss = %d, want %d", res.Miss, tc.miss)
			}
			got := ""
			if res.Route != nil {
				got = res.Route.VirtualService
			}
			if got != tc.route {
				t.Errorf("route of %s = %q, want %q", tc.route, got, tc.route)
			}
		})
	}
}

func TestLookupMisses(t *testing.T) {
	s := &Server{Gateway: "ns/gw", Field: "spec.servers[0]", Hosts: []string{"a.example.com", "*.b.example.com"}}
	l := &Listener{Side: Ingress, Port: 80, Servers: []*Server{s}, HTTP: []*VirtualHost{
		{Host: "a.example.com", Server: s, VirtualServices: []string{"ns/a", "ns/a2"}, Routes: []*HTTPRoute{{Match: []Match{{URI: exact("/x")}}, Action: one(0)}}},
	}}
	mustTable(t, l)
	for _, tc := range []struct {
		host, path string
		miss       Miss
		explain    string
	}{
		{"c.example.com", "GET /", NoServer, "no Gateway server on ingress port 80 serves host c.example.com (servers: Gateway ns/gw spec.servers[0] hosts [a.example.com *.b.example.com])"},
		{"x.b.example.com", "GET /", NoVirtualService, "Gateway ns/gw spec.servers[0] admits host x.b.example.com but no VirtualService for x.b.example.com is bound to it"},
		{"a.example.com", "GET /y", NoRouteMatched, "no route of VirtualService ns/a, VirtualService ns/a2 matched GET /y"},
		{"a.example.com", "GET /x", Found, ""},
	} {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			res := l.Lookup(req(tc.host, "GET", tc.path[4:]))
			if res.Miss != tc.miss {
				t.Fatalf("miss = %d, want %d", res.Miss, tc.miss)
			}
			if got := res.Explain(tc.host, tc.path, l); got != tc.explain {
				t.Errorf("Explain:\n got %q\nwant %q", got, tc.explain)
			}
		})
	}
}

func TestVirtualHostOrder(t *testing.T) {
	// exact > longest wildcard > "*", whatever the order they are listed in.
	l := &Listener{Side: Egress, Port: 80, HTTP: []*VirtualHost{
		{Host: "*", Routes: []*HTTPRoute{{Name: "star", Action: one(0)}}},
		{Host: "*.example.com", Routes: []*HTTPRoute{{Name: "short", Action: one(0)}}},
		{Host: "*.a.example.com", Routes: []*HTTPRoute{{Name: "long", Action: one(0)}}},
		{Host: "x.a.example.com", Routes: []*HTTPRoute{{Name: "exact", Action: one(0)}}},
	}}
	mustTable(t, l)
	for host, want := range map[string]string{
		"x.a.example.com":   "exact",
		"y.a.example.com":   "long",
		"z.y.a.example.com": "long",
		"a.example.com":     "short",
		"example.com":       "star",
		"other.org":         "star",
	} {
		res := l.Lookup(req(host, "GET", "/"))
		if res.Route == nil || res.Route.Name != want {
			t.Errorf("%s: got %+v, want route %s", host, res.Route, want)
		}
	}
}

func TestMatch(t *testing.T) {
	h := http.Header{"X-Env": {"prod"}, "X-Multi": {"a", "b"}}
	for _, tc := range []struct {
		name string
		m    Match
		r    Request
		want bool
	}{
		{"empty", Match{}, Request{Path: "/"}, true},
		{"exact", Match{URI: exact("/a")}, Request{Path: "/a"}, true},
		{"exact longer", Match{URI: exact("/a")}, Request{Path: "/ab"}, false},
		{"prefix", Match{URI: prefix("/a")}, Request{Path: "/ab"}, true},
		{"prefix other", Match{URI: prefix("/a")}, Request{Path: "/b"}, false},
		{"regex whole path", Match{URI: regex("/a[0-9]")}, Request{Path: "/a1"}, true},
		{"regex not partial", Match{URI: regex("/a[0-9]")}, Request{Path: "/a1/x"}, false},
		{"ignore case exact", Match{URI: exact("/abc"), IgnoreURICase: true}, Request{Path: "/ABC"}, true},
		{"ignore case prefix", Match{URI: prefix("/abc"), IgnoreURICase: true}, Request{Path: "/AbCd"}, true},
		{"case kept", Match{URI: exact("/abc")}, Request{Path: "/ABC"}, false},
		{"method", Match{Method: exact("POST")}, Request{Method: "GET"}, false},
		{"method ok", Match{Method: exact("GET")}, Request{Method: "GET"}, true},
		{"scheme", Match{Scheme: exact("https")}, Request{Scheme: "http"}, false},
		{"authority", Match{Authority: prefix("api.")}, Request{Authority: "api.example.com:8080"}, true},
		{"port", Match{Port: 8080}, Request{Port: 80}, false},
		{"port ok", Match{Port: 8080}, Request{Port: 8080}, true},
		{"header exact", Match{Headers: []HeaderMatch{{Name: "X-Env", Match: exact("prod")}}}, Request{Header: h}, true},
		{"header exact no", Match{Headers: []HeaderMatch{{Name: "X-Env", Match: exact("dev")}}}, Request{Header: h}, false},
		{"header prefix", Match{Headers: []HeaderMatch{{Name: "X-Env", Match: prefix("pr")}}}, Request{Header: h}, true},
		{"header regex", Match{Headers: []HeaderMatch{{Name: "X-Env", Match: regex("p.*d")}}}, Request{Header: h}, true},
		{"header any value", Match{Headers: []HeaderMatch{{Name: "X-Multi", Match: exact("b")}}}, Request{Header: h}, true},
		{"header present", Match{Headers: []HeaderMatch{{Name: "X-Env", Present: true}}}, Request{Header: h}, true},
		{"header missing", Match{Headers: []HeaderMatch{{Name: "X-None", Present: true}}}, Request{Header: h}, false},
		{"without header, matching", Match{Headers: []HeaderMatch{{Name: "X-Env", Match: exact("prod"), Absent: true}}}, Request{Header: h}, false},
		{"without header, other value", Match{Headers: []HeaderMatch{{Name: "X-Env", Match: exact("dev"), Absent: true}}}, Request{Header: h}, true},
		{"without header, missing", Match{Headers: []HeaderMatch{{Name: "X-None", Absent: true}}}, Request{Header: h}, true},
		{"without header, present", Match{Headers: []HeaderMatch{{Name: "X-Env", Absent: true}}}, Request{Header: h}, false},
		{"query exact", Match{QueryParams: []HeaderMatch{{Name: "v", Match: exact("2")}}}, Request{Query: "a=1&v=2"}, true},
		{"query exact no", Match{QueryParams: []HeaderMatch{{Name: "v", Match: exact("2")}}}, Request{Query: "v=3"}, false},
		{"query prefix", Match{QueryParams: []HeaderMatch{{Name: "v", Match: prefix("2")}}}, Request{Query: "v=23"}, true},
		{"query regex", Match{QueryParams: []HeaderMatch{{Name: "v", Match: regex("[0-9]+")}}}, Request{Query: "v=23"}, true},
		{"query present", Match{QueryParams: []HeaderMatch{{Name: "debug", Present: true}}}, Request{Query: "x&debug"}, true},
		{"query missing", Match{QueryParams: []HeaderMatch{{Name: "debug", Present: true}}}, Request{Query: "debugx=1"}, false},
		{"gateway", Match{Gateways: []string{"ns/gw"}}, Request{Gateway: "mesh"}, false},
		{"gateway ok", Match{Gateways: []string{"mesh", "ns/gw"}}, Request{Gateway: "ns/gw"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.matches(&tc.r, tc.r.Gateway); got != tc.want {
				t.Errorf("matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFirstRouteWins(t *testing.T) {
	l := &Listener{Side: Ingress, Port: 80, HTTP: []*VirtualHost{{Host: "*", Routes: []*HTTPRoute{
		{Name: "a", Match: []Match{{URI: prefix("/a")}}, Action: one(0)},
		{Name: "ab", Match: []Match{{URI: prefix("/ab")}}, Action: one(1)},
		{Name: "rest", Action: one(2)},
	}}}}
	mustTable(t, l)
	for path, want := range map[string]string{"/abc": "a", "/b": "rest"} {
		if got := l.Lookup(req("h", "GET", path)).Route; got == nil || got.Name != want {
			t.Errorf("%s: got %+v, want %s", path, got, want)
		}
	}
}

func TestLookupAllocs(t *testing.T) {
	l := seed000()
	mustTable(t, l)
	r := req("httpbin.example.com", "GET", "/delay/3")
	r.Header.Set("X-A", "b")
	if n := testing.AllocsPerRun(100, func() { l.Lookup(r) }); n != 0 {
		t.Errorf("Lookup allocates %v times, want 0", n)
	}
}

// TestLookupGateways is Istio's egress-gateway task: one VirtualService
// bound to mesh and to the egress Gateway, its routes split by
// match.gateways. A pod's request (Gateway "mesh") takes the mesh route;
// the gateway's leg takes the other, named by the server that admits it.
func TestLookupGateways(t *testing.T) {
	gw := &Server{Gateway: "istio-system/istio-egressgateway", Field: "spec.servers[0]", Hosts: []string{"edition.cnn.com"}}
	routes := []*HTTPRoute{
		{Name: "to-gateway", Match: []Match{{Gateways: []string{"mesh"}, Port: 80}}, Action: one(0)},
		{Name: "out", Match: []Match{{Gateways: []string{"istio-system/istio-egressgateway"}, Port: 80}}, Action: one(1)},
	}
	l := &Listener{Side: Egress, Port: 80, Servers: []*Server{gw}, HTTP: []*VirtualHost{
		{Host: "edition.cnn.com", Server: gw, Routes: routes},
		{Host: "edition.cnn.com", Routes: routes},
	}}
	mustTable(t, l)
	for via, want := range map[string]string{"mesh": "to-gateway", "": "out", "istio-system/other": "out"} {
		r := req("edition.cnn.com", "GET", "/")
		r.Gateway = via
		res := l.Lookup(r)
		if res.Route == nil || res.Route.Name != want {
			t.Errorf("via %q: got %+v, want route %s", via, res.Route, want)
		}
		if (via == "mesh") != (res.Server == nil) {
			t.Errorf("via %q: server %v", via, res.Server)
		}
	}
	tls := &Listener{Side: Egress, Port: 443, Servers: []*Server{gw}, TLS: []*TLSRoute{
		{Field: "mesh", SNIHosts: []string{"edition.cnn.com"}, Gateways: []string{"mesh"}, Destinations: []Destination{{}}},
		{Field: "gw", SNIHosts: []string{"edition.cnn.com"}, Gateways: []string{gw.Gateway}, Destinations: []Destination{{}}},
	}}
	mustTable(t, tls)
	if r := tls.LookupTLSVia("mesh", "edition.cnn.com", 443); r == nil || r.Field != "mesh" {
		t.Errorf("LookupTLSVia(mesh) = %v, want the mesh route", r)
	}
	if r := tls.LookupTLS("edition.cnn.com", 443); r == nil || r.Field != "gw" {
		t.Errorf("LookupTLS = %v, want the gateway's route (its server admits the SNI)", r)
	}
}

// TestLookupOtherServer: a.example.com is admitted by two servers of the
// port; only the wildcard one has a VirtualService for it.
func TestLookupOtherServer(t *testing.T) {
	wild := &Server{Gateway: "ns/wild", Field: "spec.servers[0]", Hosts: []string{"*.example.com"}}
	exactSrv := &Server{Gateway: "ns/exact", Field: "spec.servers[0]", Hosts: []string{"a.example.com"}}
	l := &Listener{Side: Ingress, Port: 80, Servers: []*Server{wild, exactSrv}, HTTP: []*VirtualHost{
		{Host: "*.example.com", Server: wild, Routes: []*HTTPRoute{{Name: "wild", Action: one(0)}}},
	}}
	mustTable(t, l)
	res := l.Lookup(req("a.example.com", "GET", "/"))
	if res.Route == nil || res.Route.Name != "wild" || res.Server != wild {
		t.Errorf("got %+v, want the wildcard server's route", res)
	}
	if res := l.Lookup(req("b.example.org", "GET", "/")); res.Miss != NoServer {
		t.Errorf("b.example.org: miss %d, want NoServer", res.Miss)
	}
}
