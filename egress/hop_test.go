package egress

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEgressGatewayHopEdits: a mesh route whose destination is the egress
// gateway's own Service is the hop into the egress Gateway, as a sidecar
// makes it: the mesh route's rewrite and request header edits apply
// before the egress Gateway's route, its response edits after the
// gateway's, and its fault abort answers without reaching the gateway.
func TestEgressGatewayHopEdits(t *testing.T) {
	b := newBackend(t, "cnn", nil)
	p := freePort(t)
	n, _ := strconv.Atoi(p)
	yml := strings.ReplaceAll(serviceEntry("cnn", "edition.example.test", n, b, ""), "MESH_INTERNAL", "MESH_EXTERNAL") + `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway, namespace: default}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: PORT, name: http, protocol: HTTP}
    hosts: [edition.example.test]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-cnn-through-egress-gateway, namespace: default}
spec:
  hosts: [edition.example.test]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{gateways: [mesh], port: PORT, uri: {prefix: /aborted}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: istio-egressgateway.istio-system.svc.cluster.local, port: {number: PORT}}}]
  - match: [{gateways: [mesh], port: PORT}]
    rewrite: {uri: /rewritten}
    headers:
      request: {set: {X-Added: by-mesh}}
      response: {set: {X-Order: mesh}, add: {X-Seen: mesh}}
    route: [{destination: {host: istio-egressgateway.istio-system.svc.cluster.local, port: {number: PORT}}}]
  - match: [{gateways: [istio-egressgateway], port: PORT, uri: {prefix: /rewritten}}]
    headers:
      response: {set: {X-Order: gateway}, add: {X-Seen: gateway}}
    route: [{destination: {host: edition.example.test, port: {number: PORT}}}]
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "egress.yaml"), []byte(strings.ReplaceAll(yml, "PORT", p)), 0o600); err != nil {
		t.Fatal(err)
	}
	startEngine(t, dir)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+p+path, nil)
		req.Host = "edition.example.test"
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, body := get("/politics")
	if resp.StatusCode != 200 || !strings.Contains(body, "cnn path=/rewritten") || !strings.Contains(body, "added=by-mesh") {
		t.Errorf("through the hop: %d %q, want 200 from cnn with the mesh route's rewrite and header", resp.StatusCode, body)
	}
	if got, seen := resp.Header.Get("X-Order"), resp.Header.Values("X-Seen"); got != "mesh" || strings.Join(seen, ",") != "gateway,mesh" {
		t.Errorf("response edits: X-Order %q, X-Seen %v; want the mesh route's applied after the gateway's (mesh; gateway,mesh)", got, seen)
	}
	hits := b.hits.Load()
	if resp, body := get("/aborted"); resp.StatusCode != 418 || !strings.Contains(body, "fault injected") {
		t.Errorf("mesh route's fault abort: %d %q, want 418 naming the fault", resp.StatusCode, body)
	}
	if b.hits.Load() != hits {
		t.Errorf("the aborted request reached the backend")
	}
}
