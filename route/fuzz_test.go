package route

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzLookup looks up arbitrary requests in a listener that uses every kind
// of match: no panic, a result consistent with its Miss, an explanation for
// every miss, and a rewrite and redirect that do not panic either.
func FuzzLookup(f *testing.F) {
	s := &Server{Gateway: "ns/gw", Field: "spec.servers[0]", Hosts: []string{"a.example.com", "*.b.example.com"}}
	star := &Server{Gateway: "ns/gw2", Field: "spec.servers[0]", Hosts: []string{"*"}}
	routes := []*HTTPRoute{
		{Match: []Match{{URI: prefix("/pre"), IgnoreURICase: true}}, Action: one(0), Rewrite: &Rewrite{URI: "/x"}},
		{Match: []Match{{URI: regex("/r[a-z]+"), Method: exact("GET")}}, Action: one(1), Rewrite: &Rewrite{Regex: re("/r(.*)"), RegexSub: "/${1}"}},
		{Match: []Match{{Headers: []HeaderMatch{{Name: "X-A", Match: prefix("v")}, {Name: "X-B", Absent: true}}}}, Action: Action{Kind: ActionRedirect, Redirect: &Redirect{Scheme: "https"}}},
		{Match: []Match{{QueryParams: []HeaderMatch{{Name: "q", Match: regex("[0-9]*")}}, Authority: prefix("a.")}}, Action: one(2)},
		{Match: []Match{{URI: exact("/E"), IgnoreURICase: true, Gateways: []string{"ns/gw"}}}, Action: one(3)},
	}
	l := &Listener{Side: Ingress, Port: 80, Servers: []*Server{s, star}, HTTP: []*VirtualHost{
		{Host: "a.example.com", Server: s, VirtualServices: []string{"ns/a"}, Routes: routes},
		{Host: "*.b.example.com", Server: s, VirtualServices: []string{"ns/b"}, Routes: routes[:2]},
		{Host: "*.example.org", Server: star, VirtualServices: []string{"ns/c"}, Routes: routes[2:]},
	}}
	if _, err := New([]*Listener{l}); err != nil {
		f.Fatal(err)
	}
	f.Add("a.example.com", "GET", "/PREfix", "q=1&x", "vvv", "ns/gw")
	f.Add("x.b.example.com", "GET", "/rabc", "", "", "mesh")
	f.Add("x.example.org", "POST", "/e", "q=a", "v", "")
	f.Fuzz(func(t *testing.T, host, method, path, query, hv, gw string) {
		r := &Request{Host: host, Authority: host, Port: 80, Method: method, Path: path, Query: query,
			Scheme: "http", Header: http.Header{"X-A": {hv}}, Gateway: gw}
		res := l.Lookup(r)
		switch {
		case res.Miss == Found && (res.Route == nil || res.Host == nil):
			t.Fatalf("found without route: %+v", res)
		case res.Miss != Found && res.Route != nil:
			t.Fatalf("miss %d with a route", res.Miss)
		case res.Miss != Found && res.Explain(host, method+" "+path, l) == "":
			t.Fatalf("miss %d without explanation", res.Miss)
		}
		if res.Route != nil {
			for i := range res.Route.Match {
				res.Route.Rewrite.Path(path, &res.Route.Match[i])
			}
			if rd := res.Route.Action.Redirect; rd != nil && !strings.HasPrefix(rd.Location("http", host, 80, path, query), "https://") {
				t.Fatal("https redirect to another scheme")
			}
		}
		l.ServerFor(host)
		l.LookupTLS(host, 80)
	})
}
