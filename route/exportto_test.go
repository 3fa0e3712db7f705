package route

import (
	"net/http"
	"testing"
)

// meshExported is an egress listener with mesh virtual hosts: api.example.com
// with a route of a VirtualService exported to team-a only, then one of a
// VirtualService exported everywhere; only.example.com with a single route
// exported to team-a; none.example.com with one exported nowhere ("~").
func meshExported(t testing.TB) *Listener {
	teamA := &Export{Namespaces: []string{"team-a"}}
	l := &Listener{Side: Egress, Port: 80, HTTP: []*VirtualHost{
		{Host: "api.example.com", VirtualServices: []string{"team-a/api", "default/api"}, Routes: []*HTTPRoute{
			{VirtualService: "team-a/api", Field: "spec.http[0]", Match: []Match{{URI: prefix("/v1")}}, Action: one(0), Export: teamA},
			{VirtualService: "default/api", Field: "spec.http[0]", Match: []Match{{URI: prefix("/")}}, Action: one(1)},
		}},
		{Host: "only.example.com", VirtualServices: []string{"team-a/only"}, Routes: []*HTTPRoute{
			{VirtualService: "team-a/only", Field: "spec.http[0]", Match: []Match{{URI: prefix("/v1")}}, Action: one(2), Export: teamA},
		}},
		{Host: "none.example.com", VirtualServices: []string{"team-a/none"}, Routes: []*HTTPRoute{
			{VirtualService: "team-a/none", Field: "spec.http[0]", Action: one(3), Export: &Export{}},
		}},
	}}
	mustTable(t, l)
	return l
}

func TestLookupExportTo(t *testing.T) {
	l := meshExported(t)
	teamA := Source{Namespace: "team-a", Scoped: true}
	teamB := Source{Namespace: "team-b", Scoped: true}
	unknown := Source{Scoped: true}
	files := Source{} // no pod table: exportTo not enforced
	for _, tc := range []struct {
		name, host, path string
		src              Source
		miss             Miss
		cluster          int // of the route found
	}{
		{"exported namespace takes its route", "api.example.com", "/v1/x", teamA, Found, 0},
		{"other namespace skips it to the next VirtualService", "api.example.com", "/v1/x", teamB, Found, 1},
		{"unknown source sees only what is exported everywhere", "api.example.com", "/v1/x", unknown, Found, 1},
		{"without a pod table every route applies", "api.example.com", "/v1/x", files, Found, 0},
		{"exported namespace, no route matched", "only.example.com", "/v2", teamA, NoRouteMatched, -1},
		{"other namespace: no VirtualService for the host", "only.example.com", "/v1", teamB, NoVirtualService, -1},
		{"other namespace, path that would not match either", "only.example.com", "/v2", teamB, NoVirtualService, -1},
		{"exported nowhere", "none.example.com", "/", teamA, NoVirtualService, -1},
		{"exported nowhere, files only", "none.example.com", "/", files, Found, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req(tc.host, "GET", tc.path)
			r.Gateway, r.Source = Mesh, tc.src
			res := l.Lookup(r)
			if res.Miss != tc.miss {
				t.Fatalf("miss = %d, want %d", res.Miss, tc.miss)
			}
			got := -1
			if res.Route != nil {
				got = res.Route.Action.Destinations[0].Cluster
			}
			if got != tc.cluster {
				t.Errorf("cluster of the route found = %d, want %d", got, tc.cluster)
			}
		})
	}
}

// TestLookupExportToGatewayBound: a route bound through a Gateway server
// ignores Export (the binding was decided for the gateway's namespace).
func TestLookupExportToGatewayBound(t *testing.T) {
	s := &Server{Gateway: "istio-system/gw", Field: "spec.servers[0]", Hosts: []string{"api.example.com"}}
	l := &Listener{Side: Egress, Port: 80, Servers: []*Server{s}, HTTP: []*VirtualHost{
		{Host: "api.example.com", Server: s, Routes: []*HTTPRoute{{Action: one(7), Export: &Export{Namespaces: []string{"team-a"}}}}},
	}}
	mustTable(t, l)
	r := req("api.example.com", "GET", "/")
	r.Source = Source{Namespace: "team-b", Scoped: true}
	if res := l.Lookup(r); res.Route == nil || res.Route.Action.Destinations[0].Cluster != 7 {
		t.Errorf("got %+v, want the Gateway-bound route whatever the source", res)
	}
}

func TestLookupExportToAllocs(t *testing.T) {
	l := meshExported(t)
	r := &Request{Host: "api.example.com", Port: 80, Method: "GET", Path: "/v1/x", Header: http.Header{}, Gateway: Mesh,
		Source: Source{Namespace: "team-b", Scoped: true}}
	if n := testing.AllocsPerRun(100, func() { l.Lookup(r) }); n != 0 {
		t.Errorf("Lookup with a scoped source allocates %v times, want 0", n)
	}
}

func BenchmarkLookupExportTo(b *testing.B) {
	l := meshExported(b)
	r := &Request{Host: "api.example.com", Port: 80, Method: "GET", Path: "/v1/x", Header: http.Header{}, Gateway: Mesh,
		Source: Source{Namespace: "team-b", Scoped: true}}
	b.ReportAllocs()
	for b.Loop() {
		if res := l.Lookup(r); res.Route == nil {
			b.Fatal("no route")
		}
	}
}

func TestLookupTLSExportTo(t *testing.T) {
	s := &Server{Gateway: "istio-system/gw", Field: "spec.servers[0]", Hosts: []string{"gw.example.com"}}
	teamA := &Export{Namespaces: []string{"team-a"}}
	l := &Listener{Side: Egress, Port: 443, Servers: []*Server{s}, TLS: []*TLSRoute{
		{VirtualService: "team-a/a", SNIHosts: []string{"api.example.com"}, Destinations: []Destination{{Cluster: 0}}, Export: teamA},
		{VirtualService: "default/all", SNIHosts: []string{"api.example.com"}, Destinations: []Destination{{Cluster: 1}}},
		{VirtualService: "team-a/gw", Server: s, SNIHosts: []string{"gw.example.com"}, Destinations: []Destination{{Cluster: 2}}, Export: teamA},
	}}
	mustTable(t, l)
	for _, tc := range []struct {
		name, sni string
		src       Source
		want      string // VirtualService of the route found, "" none
	}{
		{"exported", "api.example.com", Source{Namespace: "team-a", Scoped: true}, "team-a/a"},
		{"not exported: the next route", "api.example.com", Source{Namespace: "team-b", Scoped: true}, "default/all"},
		{"unknown source", "api.example.com", Source{Scoped: true}, "default/all"},
		{"no pod table", "api.example.com", Source{}, "team-a/a"},
		{"Gateway-bound route ignores it", "gw.example.com", Source{Namespace: "team-b", Scoped: true}, "team-a/gw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if r := l.LookupTLSFrom(Mesh, tc.sni, 443, tc.src); r != nil {
				got = r.VirtualService
			}
			if got != tc.want {
				t.Errorf("LookupTLSFrom(%s) = %q, want %q", tc.sni, got, tc.want)
			}
		})
	}
}

// TestLookupExportToOrder: among the routes a pod sees, its own
// namespace's VirtualService comes first, then one exported to it by
// name, then those exported everywhere, whatever the load order.
func TestLookupExportToOrder(t *testing.T) {
	toA := &Export{Namespaces: []string{"team-a"}}
	l := &Listener{Side: Egress, Port: 80, HTTP: []*VirtualHost{
		{Host: "api.example.com", VirtualServices: []string{"default/public", "team-b/to-a", "team-a/own"}, Routes: []*HTTPRoute{
			{VirtualService: "default/public", Field: "spec.http[0]", Action: one(0)},
			{VirtualService: "team-b/to-a", Field: "spec.http[0]", Action: one(1), Export: toA},
			{VirtualService: "team-a/own", Field: "spec.http[0]", Match: []Match{{URI: prefix("/own")}}, Action: one(2), Export: toA},
		}},
	}}
	mustTable(t, l)
	for _, tc := range []struct {
		name, path string
		src        Source
		want       int
	}{
		{"own namespace first", "/own", Source{Namespace: "team-a", Scoped: true}, 2},
		{"then exported by name", "/other", Source{Namespace: "team-a", Scoped: true}, 1},
		{"then public", "/own", Source{Namespace: "team-c", Scoped: true}, 0},
		{"without a pod table, load order", "/own", Source{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req("api.example.com", "GET", tc.path)
			r.Gateway, r.Source = Mesh, tc.src
			res := l.Lookup(r)
			if res.Route == nil || res.Route.Action.Destinations[0].Cluster != tc.want {
				t.Errorf("got %+v, want the route to cluster %d", res.Route, tc.want)
			}
		})
	}
}

// TestLookupExportToWildcard: a host whose exact VirtualServices a pod
// sees none of takes the next less specific one it sees.
func TestLookupExportToWildcard(t *testing.T) {
	teamA := &Export{Namespaces: []string{"team-a"}}
	l := &Listener{Side: Egress, Port: 80, HTTP: []*VirtualHost{
		{Host: "a.example.com", VirtualServices: []string{"team-a/exact"}, Routes: []*HTTPRoute{{VirtualService: "team-a/exact", Action: one(0), Export: teamA}}},
		{Host: "*.b.example.com", VirtualServices: []string{"team-a/b"}, Routes: []*HTTPRoute{{VirtualService: "team-a/b", Action: one(1), Export: teamA}}},
		{Host: "*.example.com", VirtualServices: []string{"team-c/wild"}, Routes: []*HTTPRoute{{VirtualService: "team-c/wild", Action: one(2), Export: &Export{Namespaces: []string{"team-b", "team-c"}}}}},
		{Host: "*", VirtualServices: []string{"default/any"}, Routes: []*HTTPRoute{{VirtualService: "default/any", Action: one(3)}}},
	}}
	mustTable(t, l)
	for _, tc := range []struct {
		name, host string
		ns         string
		want       int
	}{
		{"exact seen", "a.example.com", "team-a", 0},
		{"exact unseen: the wildcard", "a.example.com", "team-b", 2},
		{"two wildcards unseen: the next", "x.b.example.com", "team-d", 3},
		{"longest wildcard unseen: the shorter", "x.b.example.com", "team-c", 2},
		{"longest wildcard seen", "x.b.example.com", "team-a", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req(tc.host, "GET", "/")
			r.Gateway, r.Source = Mesh, Source{Namespace: tc.ns, Scoped: true}
			res := l.Lookup(r)
			if res.Route == nil || res.Route.Action.Destinations[0].Cluster != tc.want {
				t.Errorf("got %+v, want the route to cluster %d", res, tc.want)
			}
			if n := testing.AllocsPerRun(50, func() { l.Lookup(r) }); n != 0 {
				t.Errorf("Lookup allocates %v times, want 0", n)
			}
		})
	}
	r := req("a.example.com", "GET", "/")
	r.Gateway, r.Source = Mesh, Source{Namespace: "team-d", Scoped: true}
	l.HTTP = l.HTTP[:1] // a new listener with the exact host alone
	l2 := &Listener{Side: Egress, Port: 80, HTTP: l.HTTP}
	mustTable(t, l2)
	if res := l2.Lookup(r); res.Miss != NoVirtualService {
		t.Errorf("no wildcard: got %+v, want NoVirtualService", res)
	}
}
