//go:build e2e && linux

package e2e

import (
	"strings"
	"testing"
)

// aliasYAML is an ExternalName Service pointing at api.example.test, whose
// ServiceEntry (testdata/config/api-example.yaml) maps port 80 to
// targetPort 443 with a DestinationRule originating TLS on port 80.
const aliasYAML = `kind: Service
apiVersion: v1
metadata: {name: api-alias, namespace: default}
spec:
  type: ExternalName
  externalName: api.example.test
  ports: [{name: http, protocol: TCP, port: 80}]
`

// TestHardening runs the issue-11 cases against a gateway of its own: the
// admin endpoints out of the pods' reach, and an ExternalName Service to
// a ServiceEntry host that gets the ServiceEntry's targetPort with its TLS.
func TestHardening(t *testing.T) {
	tp := env(t)
	gw := tp.startGateway(t, gatewayBinary(t, tp), "REGISTRY_ONLY")

	t.Run("admin_not_reachable_from_pod", func(t *testing.T) {
		// The pod may reach the egress address (the NetworkPolicy's one
		// opening); the admin listens on the node's loopback only.
		r := tp.podCurl("--connect-timeout", "2", "http://"+egressAddr+":15000/config_dump")
		if r.status != 0 || r.code == 0 {
			t.Errorf("the pod reached the admin address through %s: status %d\n%s", egressAddr, r.status, r)
		}
		if r := gw.admin("/readyz"); r.status != 200 {
			t.Errorf("/readyz on the node's loopback: status %d, want 200\n%s", r.status, r)
		}
	})

	t.Run("pprof_off_by_default", func(t *testing.T) {
		wantResponse(t, gw.admin("/debug/pprof/"), 404, "--admin-pprof")
		wantResponse(t, gw.admin("/debug/pprof/heap"), 404, "--admin-pprof")
	})

	t.Run("external_name_to_service_entry", func(t *testing.T) {
		before := gw.reloads(t, "success")
		gw.putConfig(t, "api-alias.yaml", aliasYAML)
		gw.waitReloads(t, "success", before)
		const name = "api-alias.default.svc.cluster.local"
		wantResolves(t, tp, name)
		r := tp.podCurl("http://" + name + "/hardening?id=alias-tls")
		// nginx has no server named api-alias...: its default server
		// answers 421, over TLS on 443 (the Host header is kept as sent, as
		// Kubernetes warns of ExternalName Services).
		wantResponse(t, r, 421, "sni=api.example.test host="+name)
		e := tp.nginxSaw(t, "id=alias-tls")
		if e.SSLProtocol == "" || e.SNI != "api.example.test" || e.Port != "443" {
			t.Errorf("nginx saw %+v; want TLS (ssl_protocol set) on 443 with SNI api.example.test", e)
		}
		if e.Host != name {
			t.Errorf("nginx saw Host %q, want %s (kept as the pod sent it)", e.Host, name)
		}
		if strings.Contains(r.body, "does not look like a TLS handshake") {
			t.Errorf("TLS was originated to the plaintext port: %s", r.body)
		}
	})
}
