package servercert

import (
	"strings"
	"testing"

	"github.com/egressgw/egressgw/route"
)

// FuzzServerFor checks the SNI index against the rule it implements,
// written plainly: an exact host, else the wildcard host with the longest
// suffix of the name, else "*"; the first server listed wins a host.
func FuzzServerFor(f *testing.F) {
	f.Add("a.example.com", "a.example.com,*.example.com", "*.b.example.com,*")
	f.Add("x.B.example.com.", "*.example.com", "*.b.example.com")
	f.Add("", "*", "a")
	f.Add("..", "*.", "*..")
	f.Fuzz(func(t *testing.T, sni, hostsA, hostsB string) {
		servers := []*server{
			{spec: Spec{Server: &route.Server{Field: "a", Hosts: strings.Split(hostsA, ",")}}},
			{spec: Spec{Server: &route.Server{Field: "b", Hosts: strings.Split(hostsB, ",")}}},
		}
		name := normalizeSNI(sni)
		if name != asciiLower(strings.TrimSuffix(sni, ".")) {
			t.Fatalf("normalizeSNI(%q) = %q", sni, name)
		}
		got := newListenerServers(servers).forName(name)
		if want := serverForPlain(servers, name); got != want {
			t.Fatalf("forName(%q) with hosts %q and %q: got %v, want %v", name, hostsA, hostsB, field(got), field(want))
		}
	})
}

func serverForPlain(servers []*server, name string) *server {
	for _, s := range servers {
		for _, h := range s.spec.Server.Hosts {
			if h == name && h != "*" && !strings.HasPrefix(h, "*.") {
				return s
			}
		}
	}
	var best *server
	bestLen := 0
	for _, s := range servers {
		for _, h := range s.spec.Server.Hosts {
			if strings.HasPrefix(h, "*.") && strings.HasSuffix(name, h[1:]) && len(name) > len(h)-1 && len(h) > bestLen {
				best, bestLen = s, len(h)
			}
		}
	}
	if best != nil {
		return best
	}
	for _, s := range servers {
		for _, h := range s.spec.Server.Hosts {
			if h == "*" {
				return s
			}
		}
	}
	return nil
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func field(s *server) string {
	if s == nil {
		return "none"
	}
	return s.spec.Server.Field
}
