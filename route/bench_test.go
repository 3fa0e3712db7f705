package route

import (
	"fmt"
	"net/http"
	"testing"
)

// bigListener is 10,000 routes: 2,500 hosts of 4 path prefixes each, every
// route adding a header (the shape of the ingress benchmark's routing
// config, scaled up), plus a "*" host.
func bigListener(tb testing.TB) *Listener {
	s := &Server{Gateway: "bench/gw", Field: "spec.servers[0]", Hosts: []string{"*"}}
	l := &Listener{Side: Ingress, Port: 80, Servers: []*Server{s}}
	for h := range 2500 {
		vh := &VirtualHost{Host: fmt.Sprintf("host%d.example.com", h), Server: s, VirtualServices: []string{fmt.Sprintf("bench/vs%d", h)}}
		for p := range 4 {
			vh.Routes = append(vh.Routes, &HTTPRoute{
				VirtualService: vh.VirtualServices[0], Field: fmt.Sprintf("spec.http[%d]", p),
				Match:   []Match{{URI: prefix(fmt.Sprintf("/p%d/", p))}},
				Action:  one(h*4 + p),
				Headers: HeaderOps{Request: HeaderEdit{Set: []Header{NewHeader("X-Route", fmt.Sprint(p))}}},
			})
		}
		l.HTTP = append(l.HTTP, vh)
	}
	l.HTTP = append(l.HTTP, &VirtualHost{Host: "*", Server: s, Routes: []*HTTPRoute{{Action: one(0)}}})
	mustTable(tb, l)
	return l
}

func BenchmarkLookup10000Routes(b *testing.B) {
	l := bigListener(b)
	reqs := make([]*Request, 64)
	for i := range reqs {
		reqs[i] = &Request{Host: fmt.Sprintf("host%d.example.com", i*37%2500), Port: 80, Method: "GET",
			Path: fmt.Sprintf("/p%d/status/200", i%4), Scheme: "http", Header: http.Header{"User-Agent": {"bench"}}}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if res := l.Lookup(reqs[i&63]); res.Route == nil {
			b.Fatal("no route")
		}
	}
}

func BenchmarkLookupWildcard(b *testing.B) {
	s := &Server{Gateway: "bench/gw", Field: "spec.servers[0]", Hosts: []string{"*.example.com"}}
	l := &Listener{Side: Ingress, Port: 80, Servers: []*Server{s}, HTTP: []*VirtualHost{
		{Host: "*.example.com", Server: s, Routes: []*HTTPRoute{
			{Match: []Match{{URI: regex("/api/v[0-9]+/.*"), Headers: []HeaderMatch{{Name: "X-Env", Match: exact("prod")}}}}, Action: one(0)},
			{Match: []Match{{URI: prefix("/")}}, Action: one(1)},
		}},
	}}
	mustTable(b, l)
	r := &Request{Host: "a.b.example.com", Port: 80, Method: "GET", Path: "/api/v2/users", Header: http.Header{"X-Env": {"prod"}}}
	b.ReportAllocs()
	for b.Loop() {
		if res := l.Lookup(r); res.Route == nil {
			b.Fatal("no route")
		}
	}
}

func TestLookup10000RoutesAllocs(t *testing.T) {
	l := bigListener(t)
	r := &Request{Host: "host2499.example.com", Port: 80, Method: "GET", Path: "/p3/x", Header: http.Header{}}
	if n := testing.AllocsPerRun(100, func() { l.Lookup(r) }); n != 0 {
		t.Errorf("Lookup allocates %v times, want 0", n)
	}
	if res := l.Lookup(r); res.Route == nil || res.Route.Action.Destinations[0].Cluster != 2499*4+3 {
		t.Errorf("got %+v, want the route of host2499 /p3/", res.Route)
	}
}
