package egress

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/egressgw/egressgw/egress/config"
)

// TestHashCookieSet: with consistentHash httpCookie and a ttl, a request
// without the cookie gets one set (name, path, Max-Age, HttpOnly), and the
// requests that carry it reach the endpoint the first one reached, from
// whatever client address.
func TestHashCookieSet(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	yml := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: default}
spec:
  hosts: [app.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: %s}}
  - {address: 127.0.0.1, ports: {http: %s}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: app, namespace: default}
spec:
  host: app
  trafficPolicy:
    loadBalancer: {consistentHash: {httpCookie: {name: sticky, path: /, ttl: 60s}}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: {{PORT}}, name: http, protocol: HTTP}, hosts: [app.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: [app.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: app}}]}]
`, port2(a.URL), port2(b.URL))
	env := startIngress(t, yml, nil)
	from := func(i int) *http.Client { return env.client(nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(10+i))}) }
	seen := map[string]bool{}
	for i := range 8 {
		first := env.do(t, from(i), "http", "GET", "app.example.com", "/", nil)
		set := first.header.Values("Set-Cookie")
		if first.status != 200 || len(set) != 1 {
			t.Fatalf("client %d, first request: %d, Set-Cookie %q; want 200 with one Set-Cookie", i, first.status, set)
		}
		c, err := http.ParseSetCookie(set[0])
		if err != nil || c.Name != "sticky" || c.Path != "/" || c.MaxAge != 60 || !c.HttpOnly || c.Value == "" {
			t.Fatalf("client %d: Set-Cookie %q (%v), want sticky=...; Path=/; Max-Age=60; HttpOnly", i, set[0], err)
		}
		endpoint := first.header.Get("X-Backend")
		seen[endpoint] = true
		for j := range 4 {
			// From another address each time: only the cookie keeps it there.
			got := env.do(t, from(20+i*4+j), "http", "GET", "app.example.com", "/", http.Header{"Cookie": {"sticky=" + c.Value}})
			if got.status != 200 || got.header.Get("X-Backend") != endpoint {
				t.Errorf("client %d, request %d with the cookie: %d from %q, want 200 from %q, the first request's endpoint", i, j, got.status, got.header.Get("X-Backend"), endpoint)
			}
			if s := got.header.Values("Set-Cookie"); len(s) != 0 {
				t.Errorf("client %d, request %d with the cookie: Set-Cookie %q, want none", i, j, s)
			}
		}
	}
	if len(seen) < 2 {
		t.Logf("the 8 clients all went to %v (possible, if unlikely)", seen)
	}
}

// TestHashCookieHeader: the Set-Cookie of a generated hash cookie.
func TestHashCookieHeader(t *testing.T) {
	for _, tc := range []struct {
		lb   config.LBSettings
		want string
	}{
		{config.LBSettings{HashCookie: "s", HashCookiePath: "/", HashCookieTTL: time.Minute, HashCookieSet: true}, "s=v; Path=/; Max-Age=60; HttpOnly"},
		{config.LBSettings{HashCookie: "s", HashCookieTTL: 1500 * time.Millisecond, HashCookieSet: true}, "s=v; Max-Age=2; HttpOnly"},
		{config.LBSettings{HashCookie: "s", HashCookieSet: true}, "s=v; HttpOnly"}, // ttl 0: a session cookie
	} {
		if got := hashCookie(&tc.lb, "v"); got != tc.want {
			t.Errorf("hashCookie(%+v) = %q, want %q", tc.lb, got, tc.want)
		}
	}
}
