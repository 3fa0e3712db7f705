package route

import (
	"net/http"
	"reflect"
	"regexp"
	"testing"
)

func TestRewritePath(t *testing.T) {
	for _, tc := range []struct {
		name string
		rw   *Rewrite
		m    *Match
		path string
		want string
	}{
		{"nil", nil, nil, "/a", "/a"},
		{"prefix", &Rewrite{URI: "/v2"}, &Match{URI: prefix("/v1")}, "/v1/users", "/v2/users"},
		{"prefix to root", &Rewrite{URI: "/"}, &Match{URI: prefix("/api/")}, "/api/x", "/x"},
		{"exact", &Rewrite{URI: "/new"}, &Match{URI: exact("/old")}, "/old", "/new"},
		{"regex match", &Rewrite{URI: "/new"}, &Match{URI: regex("/o.*")}, "/old/x", "/new"},
		{"no match", &Rewrite{URI: "/new"}, nil, "/old", "/new"},
		{"authority only", &Rewrite{Authority: "h"}, &Match{URI: prefix("/")}, "/old", "/old"},
		{"uriRegexRewrite", &Rewrite{Regex: regexp.MustCompile(`^/service/([^/]+)(/.*)$`), RegexSub: "${2}/instance/${1}"}, nil, "/service/foo/v1/api", "/v1/api/instance/foo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rw.Path(tc.path, tc.m); got != tc.want {
				t.Errorf("Path(%q) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}

func TestRedirectLocation(t *testing.T) {
	for _, tc := range []struct {
		name string
		rd   Redirect
		port uint32
		want string
	}{
		{"https redirect", Redirect{Scheme: "https"}, 80, "https://h.example.com/p?q=1"},
		{"https redirect from other port", Redirect{Scheme: "https"}, 8080, "https://h.example.com/p?q=1"},
		{"same scheme keeps port", Redirect{URI: "/new"}, 8080, "http://h.example.com:8080/new?q=1"},
		{"authority and port", Redirect{Authority: "other", Port: 8443, Scheme: "https"}, 80, "https://other:8443/p?q=1"},
		{"request port", Redirect{Scheme: "https", DerivePort: DeriveFromRequestPort}, 8080, "https://h.example.com:8080/p?q=1"},
		{"protocol default", Redirect{DerivePort: DeriveFromProtocolDefault}, 8080, "http://h.example.com/p?q=1"},
		{"own query", Redirect{URI: "/n?x=2"}, 80, "http://h.example.com/n?x=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rd.Location("http", "h.example.com", tc.port, "/p", "q=1"); got != tc.want {
				t.Errorf("Location = %q, want %q", got, tc.want)
			}
		})
	}
	if c := (&Redirect{}).StatusCode(); c != 301 {
		t.Errorf("default redirect code %d, want 301", c)
	}
}

func TestHeaderEditApply(t *testing.T) {
	h := http.Header{"X-Old": {"1"}, "X-Set": {"a", "b"}, "X-Add": {"1"}}
	e := &HeaderEdit{
		Set:    []Header{NewHeader("X-Set", "c"), {Name: "X-New", Value: "n"}},
		Add:    []Header{NewHeader("X-Add", "2"), NewHeader("X-Old", "again")},
		Remove: []string{"X-Old"},
	}
	e.Apply(h)
	want := http.Header{"X-Set": {"c"}, "X-New": {"n"}, "X-Add": {"1", "2"}, "X-Old": {"again"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got %v, want %v", h, want)
	}
	(*HeaderEdit)(nil).Apply(h)

	// A set value is shared by every header it is applied to: adding to one
	// of them must not write into the others.
	h2 := http.Header{}
	e.Apply(h2)
	h2["X-Set"] = append(h2["X-Set"], "more")
	if got := h["X-Set"]; len(got) != 1 || got[0] != "c" {
		t.Errorf("after adding to another request's X-Set: %v, want [c]", got)
	}
	set := &HeaderEdit{Set: []Header{NewHeader("X-Route", "1")}}
	h3 := http.Header{"X-Route": {"0"}}
	if n := testing.AllocsPerRun(100, func() { set.Apply(h3) }); n != 0 {
		t.Errorf("Apply of a NewHeader set: %v allocations, want 0", n)
	}
}
