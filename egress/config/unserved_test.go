package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUnservedCounted: the warnings about what is not served are counted
// as they are made (Snapshot.Unserved, the egressgw_config_unserved gauge),
// not found again in their text: a Gateway host another server serves and
// a missing credentialName Secret are servers; a missing Gateway, host or
// subset are references; other warnings count for neither.
func TestUnservedCounted(t *testing.T) {
	yml := `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [x.example.com]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: b, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [x.example.com]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [y.example.com]
    tls: {mode: SIMPLE, credentialName: no-such-secret}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: [x.example.com]
  gateways: [a, missing-gateway]
  http:
  - route: [{destination: {host: nowhere.example.com}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s, namespace: default}
spec: {}
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustLoad(t, Options{}, dir)
	if want := (Unserved{Servers: 2, References: 2}); s.Unserved != want {
		t.Errorf("Unserved = %+v, want %+v; warnings:\n%v", s.Unserved, want, s.Warnings)
	}
}
