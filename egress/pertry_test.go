package egress

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPerTryTimeout: a route's retries.perTryTimeout ends a try that takes
// longer and retries it, on HTTP/1 clients' fast path too (which leaves
// such routes to the ReverseProxy path that applies it).
func TestPerTryTimeout(t *testing.T) {
	var tries atomic.Int64
	release := make(chan struct{})
	defer close(release)
	b := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		if tries.Add(1) == 1 {
			select { // the first try hangs
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = w.Write([]byte("try 2"))
	})
	yml := serviceEntry("app", "app.default.svc.cluster.local", 80, b, "") + `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: {{PORT}}, name: http, protocol: HTTP}
    hosts: [app.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: [app.example.com]
  gateways: [gw]
  http:
  - route: [{destination: {host: app}}]
    retries: {attempts: 2, perTryTimeout: 200ms, retryOn: 5xx}
`
	env := startIngress(t, yml, nil)
	start := time.Now()
	got := env.do(t, nil, "http", "GET", "app.example.com", "/x", nil)
	if got.status != 200 || !strings.Contains(got.body, "try 2") {
		t.Errorf("got %d %q after %v, want 200 from the second try once the first passed its 200ms", got.status, got.body, time.Since(start).Round(time.Millisecond))
	}
	if n := tries.Load(); n != 2 {
		t.Errorf("the backend saw %d tries, want 2", n)
	}
}
