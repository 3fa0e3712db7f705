package policy

import (
	"fmt"
	"strings"
	"testing"
)

// naiveHostMatch is hostPattern matching written the obvious way.
func naiveHostMatch(pat, host string, port uint32) bool {
	pat = strings.ToLower(pat)
	if i := strings.LastIndexByte(pat, ':'); i >= 0 {
		if p := pat[i+1:]; p != "*" && p != fmt.Sprint(port) {
			return false
		}
		pat = pat[:i]
	}
	h := []byte(host)
	for i, c := range h {
		if 'A' <= c && c <= 'Z' {
			h[i] = c + 'a' - 'A'
		}
	}
	host = string(h)
	switch {
	case pat == "*":
		return true
	case strings.HasPrefix(pat, "*"):
		return strings.HasSuffix(host, pat[1:])
	case strings.HasSuffix(pat, "*"):
		return strings.HasPrefix(host, pat[:len(pat)-1])
	}
	return host == pat
}

// TestHostPatternMatch checks the word-at-a-time host matching against
// naiveHostMatch, for patterns and hosts around the 8- and 16-byte edges.
func TestHostPatternMatch(t *testing.T) {
	names := []string{"", "a", "a.io", "b.io", "x.a.io", "example", "exampl.e", "a.example", "ab.example",
		"abcdefghijklmnop", "xabcdefghijklmnop", "bcdefghijklmnop", "abcdefghijklmno", "abcdefghijklmnopq", "Abcdefghijklmnopq",
		"svc.example.com", "api.example.com", "a.b.example.com", "example.com", "xample.com", "le.com",
		"tenant1.example.org", "a.tenant1.example.org", "very.long.name.of.a.service.example.com",
		"ery.long.name.of.a.service.example.com", "API.Example.COM", "Svc.EXAMPLE.com", "a.example.co", "ä.example.com"}
	var pats []string
	for _, n := range names {
		if n == "" {
			continue
		}
		pats = append(pats, n, "*"+n, "*."+n, n+"*", n+".*", strings.ToUpper(n), "*"+n+":443", n+":80", n+":*")
	}
	pats = append(pats, "*", "*:443", "*:80")
	for _, p := range pats {
		hp, err := compileHost(p)
		if err != nil {
			t.Fatalf("compileHost(%q): %v", p, err)
		}
		for _, host := range names {
			for _, port := range []uint32{80, 443} {
				q := Query{Host: host, Port: port}
				req := request{q: &q, host: host}
				req.words[0], req.words[1] = hostWords(host)
				got := nextHost([]hostPattern{hp}, 0, &req) == 0 && (hp.simple || hp.matchRest(&req))
				if want := naiveHostMatch(p, host, port); got != want {
					t.Errorf("pattern %q, host %q, port %d: match = %v, want %v", p, host, port, got, want)
				}
			}
		}
	}
}
