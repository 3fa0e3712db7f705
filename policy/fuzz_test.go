package policy

import (
	"slices"
	"strings"
	"testing"
)

// naiveLookup is Lookup written the obvious way, for FuzzLookup.
func naiveLookup(es []Entry, host string, port uint32) int {
	b := []byte(strings.TrimSuffix(host, "."))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	h := string(b)
	if h == "" || len(h) > maxNameLen || slices.Contains(strings.Split(h, "."), "") {
		return -1
	}
	best, bestScore := -1, -1
	for i, e := range es {
		if !slices.Contains(e.Ports, port) {
			continue
		}
		score := -1
		if e.Host == h {
			score = 1 << 20
		} else if suf, ok := strings.CutPrefix(e.Host, "*."); ok && strings.HasSuffix(h, "."+suf) {
			score = len(suf)
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

func FuzzLookup(f *testing.F) {
	for _, s := range []string{"api.example.com", "A.B.EU.example.com.", "example.com", "x.com", ".", "a..example.com", "db.internal"} {
		f.Add(s, uint16(443))
	}
	r := mustRegistry(f, testEntries)
	f.Fuzz(func(t *testing.T, host string, port uint16) {
		got, ok := r.Lookup(host, uint32(port))
		want := naiveLookup(testEntries, host, uint32(port))
		if got != want || ok != (want >= 0) {
			t.Errorf("Lookup(%q, %d) = %d, %v; want %d", host, port, got, ok, want)
		}
		registered := false
		for _, p := range []uint32{80, 443, 5432, 8080, 8443, 9000} {
			registered = registered || naiveLookup(testEntries, host, p) >= 0
		}
		if got := r.Intercepts(host); got != registered {
			t.Errorf("Intercepts(%q) = %v, want %v", host, got, registered)
		}
	})
}

// FuzzNewAuthz checks that compiling any host or path pattern either fails
// or gives a policy Decide can use.
func FuzzNewAuthz(f *testing.F) {
	for _, s := range []string{"*", "*.a.com", "a.*", "a.com:*", "a.com:443", "/x/*", "*.css", "[::1]:80", "a*b", ":", ""} {
		f.Add(s, "a.com", "/x/y")
	}
	p := &Policy{Mode: AllowAny}
	f.Fuzz(func(t *testing.T, pat, host, path string) {
		a, err := NewAuthz([]AuthzPolicy{{Name: "ns/f", Action: ActionAllow, Rules: []Rule{
			{To: []Operation{{Hosts: []string{pat}}}},
			{To: []Operation{{NotPaths: []string{pat}}}},
		}}})
		if err != nil {
			if a != nil {
				t.Fatalf("NewAuthz(%q) returned a policy and error %v", pat, err)
			}
			return
		}
		p := *p
		p.Authz = a
		p.Decide(Query{Host: host, Port: 443, HTTP: true, Method: "GET", Path: path})
	})
}
