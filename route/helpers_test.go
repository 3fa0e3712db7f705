package route

import (
	"net/http"
	"regexp"
	"testing"
)

// re compiles expr anchored as the compiler does.
func re(expr string) *regexp.Regexp { return regexp.MustCompile("^(?:" + expr + ")$") }

func prefix(p string) StringMatch { return StringMatch{Kind: MatchPrefix, Value: p} }
func exact(p string) StringMatch  { return StringMatch{Kind: MatchExact, Value: p} }
func regex(p string) StringMatch  { return StringMatch{Kind: MatchRegex, Re: re(p)} }

// one is a single destination to cluster c.
func one(c int) Action {
	return Action{Destinations: []Destination{{Cluster: c}}}
}

func mustTable(t testing.TB, ls ...*Listener) *Table {
	t.Helper()
	tb, err := New(ls)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tb
}

func req(host, method, path string) *Request {
	return &Request{Host: host, Authority: host, Port: 80, Method: method, Path: path, Scheme: "http", Header: http.Header{}}
}
