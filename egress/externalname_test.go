package egress

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/egressgw/egressgw/internal/pki"
)

// TestExternalNameToServiceEntryTLS: an ExternalName Service pointing at
// a ServiceEntry host whose port maps to a TLS targetPort, with a
// DestinationRule originating TLS on that port, reaches the TLS origin on
// the targetPort (issue 11: TLS was originated to the Service's port), and
// through the ServiceEntry's endpoints when it has some.
func TestExternalNameToServiceEntryTLS(t *testing.T) {
	ca, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ca.Issue("api.ext.test", "api.ext.test", "nxdomain.ext.test")
	origin := newSite(t, leaf, nil)
	httpPort := freePort(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`kind: Service
apiVersion: v1
metadata: {name: my-ext, namespace: default}
spec:
  type: ExternalName
  externalName: api.ext.test
  ports: [{name: http, port: %[1]s}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api-ext, namespace: default}
spec:
  hosts: [api.ext.test]
  resolution: DNS
  location: MESH_INTERNAL # its test origin is on loopback, which netguard refuses to names resolved at request time
  ports: [{number: %[1]s, name: http, protocol: HTTP, targetPort: %[2]s}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api-ext, namespace: default}
spec:
  host: api.ext.test
  trafficPolicy:
    portLevelSettings: [{port: {number: %[1]s}, tls: {mode: SIMPLE, caCertificates: ca.pem}}]
---
kind: Service
apiVersion: v1
metadata: {name: static-ext, namespace: default}
spec:
  type: ExternalName
  externalName: nxdomain.ext.test
  ports: [{name: http, port: %[1]s}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: static-ext, namespace: default}
spec:
  hosts: [nxdomain.ext.test]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports: [{number: %[1]s, name: http, protocol: HTTP, targetPort: %[2]s}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: static-ext, namespace: default}
spec:
  host: nxdomain.ext.test
  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: ca.pem}}
`, httpPort, port(origin.URL))
	if err := os.WriteFile(filepath.Join(dir, "egress.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startEngine(t, dir)
	// nxdomain.ext.test is known to no DNS: only the ServiceEntry's STATIC
	// endpoint reaches it.
	for _, tt := range []struct{ host, sni string }{
		{"my-ext.default.svc.cluster.local", "api.ext.test"},
		{"api.ext.test", "api.ext.test"},
		{"static-ext.default.svc.cluster.local", "nxdomain.ext.test"},
		{"nxdomain.ext.test", "nxdomain.ext.test"},
	} {
		host := tt.host
		t.Run(host, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+httpPort+"/x", nil)
			req.Host = host
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			want := "site /x host=" + host + " sni=" + tt.sni
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), want) {
				t.Errorf("got %d %q, want 200 %q... (TLS to the ServiceEntry's targetPort)", resp.StatusCode, b, want)
			}
		})
	}
}
