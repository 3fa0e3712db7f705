package egress

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/egressgw/egressgw/internal/pki"
)

// TestIngressToServiceEndpoints: a Gateway and VirtualService route to a
// Kubernetes Service reach its ready EndpointSlice endpoints on loopback,
// each at its slice's port for the Service port's name (targetPort by
// name), balanced as the Service's DestinationRule says; a Service with no
// ready endpoint answers 503 naming it (issue 13).
func TestIngressToServiceEndpoints(t *testing.T) {
	a := newBackend(t, "pod-a", nil)
	b := newBackend(t, "pod-b", nil)
	yml := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  selector: {app: httpbin}
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 8000, targetPort: web}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: httpbin-a, namespace: default, labels: {kubernetes.io/service-name: httpbin}}
addressType: IPv4
ports: [{name: http, port: %s, protocol: TCP}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: httpbin-b, namespace: default, labels: {kubernetes.io/service-name: httpbin}}
addressType: IPv4
ports: [{name: http, port: %s, protocol: TCP}]
endpoints:
- addresses: [127.0.0.1]
- addresses: [127.0.0.2]
  conditions: {ready: false, serving: true, terminating: true}
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  selector: {app: empty}
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: empty-1, namespace: default, labels: {kubernetes.io/service-name: empty}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: false}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: default}
spec:
  host: httpbin
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: {{PORT}}, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: default}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /empty}}]
    route: [{destination: {host: empty}}]
  - route: [{destination: {host: httpbin, port: {number: 8000}}}]
`, port2(a.URL), port2(b.URL))
	env := startIngress(t, yml, nil)
	for i := range 4 {
		got := env.do(t, nil, "http", "GET", "app.example.com", fmt.Sprintf("/get/%d", i), nil)
		if got.status != 200 || !strings.Contains(got.body, fmt.Sprintf("path=/get/%d", i)) {
			t.Errorf("GET /get/%d: %d %q, want 200 from a pod", i, got.status, got.body)
		}
	}
	if na, nb := a.hits.Load(), b.hits.Load(); na != 2 || nb != 2 {
		t.Errorf("pod-a reached %d times, pod-b %d, want 2 each (ROUND_ROBIN over both ready endpoints)", na, nb)
	}
	got := env.do(t, nil, "http", "GET", "app.example.com", "/empty", nil)
	want := "destination outbound|80||empty.default.svc.cluster.local: Service default/empty has no ready endpoints for port 80"
	if got.status != 503 || !strings.Contains(got.body, want) {
		t.Errorf("GET /empty: %d %q, want 503 with %q", got.status, got.body, want)
	}
}

// TestSelectorlessServicePassthrough: TLS sent to a selectorless Service's
// name (Istio's my-wikipedia: a Service with Endpoints outside the
// cluster) is passed through to its endpoints; TLS naming another host on
// that port is decided as that host (unregistered: refused), as for an
// ExternalName Service.
func TestSelectorlessServicePassthrough(t *testing.T) {
	ca, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ca.Issue("my-wikipedia.default.svc.cluster.local", "my-wikipedia.default.svc.cluster.local", "en.wikipedia.org")
	origin := newSite(t, leaf, nil)
	tlsPort := freePort(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`kind: Service
apiVersion: v1
metadata: {name: my-wikipedia, namespace: default}
spec:
  ports: [{protocol: TCP, port: %s, name: tls}]
---
kind: Endpoints
apiVersion: v1
metadata: {name: my-wikipedia, namespace: default}
subsets:
- addresses: [{ip: 127.0.0.1}]
  ports: [{port: %s, name: tls}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: my-wikipedia, namespace: default}
spec:
  host: my-wikipedia.default.svc.cluster.local
  trafficPolicy: {tls: {mode: DISABLE}}
`, tlsPort, port(origin.URL))
	if err := os.WriteFile(filepath.Join(dir, "egress.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startEngine(t, dir)
	get := func(sni string) (string, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", "127.0.0.1:"+tlsPort, &tls.Config{ServerName: sni, RootCAs: ca.Pool()})
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /wiki/Main_Page HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", sni)
		b, err := io.ReadAll(c)
		return string(b), err
	}
	body, err := get("my-wikipedia.default.svc.cluster.local")
	if err != nil || !strings.Contains(body, "site /wiki/Main_Page host=my-wikipedia.default.svc.cluster.local sni=my-wikipedia.default.svc.cluster.local") {
		t.Errorf("TLS to the Service's name: %v %q, want the endpoint's answer", err, body)
	}
	if body, err := get("en.wikipedia.org"); err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Errorf("TLS for en.wikipedia.org: %v %q, want refused (not registered; the Service is routed to by its own name)", err, body)
	}
}
