package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHashCookie: consistentHash httpCookie compiles its name, path and
// ttl; a ttl, even 0s, has the gateway set the cookie (HashCookieSet); a
// name or path a cookie cannot carry is an error naming the field.
func TestHashCookie(t *testing.T) {
	for _, tc := range []struct {
		name, cookie string
		want         LBSettings
		problem      string
	}{
		{"ttl", "{name: sticky, path: /app, ttl: 60s}", LBSettings{Policy: LBConsistentHash, HashCookie: "sticky", HashCookiePath: "/app", HashCookieTTL: time.Minute, HashCookieSet: true}, ""},
		{"ttl 0: a session cookie", "{name: sticky, ttl: 0s}", LBSettings{Policy: LBConsistentHash, HashCookie: "sticky", HashCookieSet: true}, ""},
		{"no ttl: read only", "{name: sticky}", LBSettings{Policy: LBConsistentHash, HashCookie: "sticky"}, ""},
		{"bad name", `{name: "a b", ttl: 1s}`, LBSettings{}, `spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name: "a b" is not a valid cookie name`},
		{"bad path", `{name: s, path: "/a;b", ttl: 1s}`, LBSettings{}, `spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.path: "/a;b" is not a valid cookie path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "lb.yaml")
			writeTestFile(t, f, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: default}
spec:
  hosts: [app.example.com]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: app, namespace: default}
spec:
  host: app.example.com
  trafficPolicy:
    loadBalancer: {consistentHash: {httpCookie: `+tc.cookie+`}}
`)
			s, err := Load([]string{f}, Options{})
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("Load: %v, want a problem %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Entries[0].Ports[0].LB; got != tc.want {
				t.Errorf("LB = %+v, want %+v", got, tc.want)
			}
		})
	}
}
