package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/egressgw/egressgw/route"
)

// istioTasks finds shared/istio-tasks from the main checkout or a worktree.
func istioTasks(t *testing.T) string {
	t.Helper()
	for _, d := range []string{"../../../shared/istio-tasks", "../../../../shared/istio-tasks"} {
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	t.Skip("shared/istio-tasks not present")
	return ""
}

// taskSecrets writes the Secrets the Istio tasks' credentialNames name.
func taskSecrets(t *testing.T) string {
	t.Helper()
	pk := newTestPKI(t)
	data := map[string][]byte{"tls.crt": pk.certPEM, "tls.key": pk.keyPEM, "ca.crt": pk.caPEM}
	var b strings.Builder
	for _, n := range []string{"httpbin-credential", "helloworld-credential", "client-credential"} {
		b.WriteString(secretYAML("istio-system", n, data))
	}
	b.WriteString(secretYAML("default", "client-credential", data))
	f := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestIstioTaskRoutes loads Istio's ingress and egress-gateway tasks as
// written (later documents replace earlier ones, as kubectl apply does), with
// ServiceEntries for the backends, and checks the routes they end with.
func TestIstioTaskRoutes(t *testing.T) {
	dir := istioTasks(t)
	secrets := taskSecrets(t)
	opts := Options{Labels: map[string]string{"istio": "egressgateway"}}
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"ingress-control.yaml", []string{
			"ingress 80 server Gateway default/httpbin-gateway spec.servers[0] [*] plaintext HTTP",
			"ingress 80 vhost * via Gateway default/httpbin-gateway spec.servers[0] [default/httpbin]",
			"ingress 80   default/httpbin spec.http[0] -> outbound|8000||httpbin.default.svc.cluster.local",
		}},
		{"secure-ingress.yaml", []string{
			"ingress 443 server Gateway default/mygateway spec.servers[0] [httpbin.example.com] TLS MUTUAL (Secret istio-system/httpbin-credential)",
			"ingress 443 vhost httpbin.example.com via Gateway default/mygateway spec.servers[0] [default/httpbin]",
			"ingress 443   default/httpbin spec.http[0] -> outbound|8000||httpbin.default.svc.cluster.local",
		}},
		{"ingress-sni-passthrough.yaml", []string{
			"ingress 443 server Gateway default/mygateway spec.servers[0] [nginx.example.com] TLS PASSTHROUGH",
			"ingress 443 tls default/nginx spec.tls[0].match[0] sni [nginx.example.com] via [default/mygateway] -> outbound|443||my-nginx.default.svc.cluster.local",
		}},
		{"egress-gateway.yaml", []string{
			"egress 443 server Gateway default/istio-egressgateway spec.servers[0] [edition.cnn.com] TLS PASSTHROUGH",
			"egress 443 tls default/direct-cnn-through-egress-gateway spec.tls[0].match[0] sni [edition.cnn.com] via [mesh] -> outbound|443|cnn|istio-egressgateway.istio-system.svc.cluster.local",
			"egress 443 tls default/direct-cnn-through-egress-gateway spec.tls[1].match[0] sni [edition.cnn.com] via [default/istio-egressgateway] -> outbound|443||edition.cnn.com",
		}},
		{"egress-gateway-tls-origination.yaml", []string{
			"egress 80 vhost edition.cnn.com via mesh [default/direct-cnn-through-egress-gateway]",
			"egress 80   default/direct-cnn-through-egress-gateway spec.http[0] -> outbound|80|cnn|istio-egressgateway.istio-system.svc.cluster.local",
			"egress 443 server Gateway default/istio-egressgateway spec.servers[0] [my-nginx.mesh-external.svc.cluster.local] ISTIO_MUTUAL (plaintext from pods)",
			"egress 443 vhost my-nginx.mesh-external.svc.cluster.local via Gateway default/istio-egressgateway spec.servers[0] [default/direct-nginx-through-egress-gateway]",
			"egress 443   default/direct-nginx-through-egress-gateway spec.http[1] -> outbound|443||my-nginx.mesh-external.svc.cluster.local (missing: Service mesh-external/my-nginx has no ready endpoints for port 443)",
		}},
		{"egress-control.yaml", []string{
			"egress 80 vhost httpbin.org via mesh [default/httpbin-ext]",
			"egress 80   default/httpbin-ext spec.http[0] -> outbound|80||httpbin.org",
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s := mustLoad(t, opts, "testdata/ingress/backends.yaml", secrets, filepath.Join(dir, tc.file))
			diffLines(t, describeRoutes(s), tc.want)
			for _, w := range s.Warnings {
				if strings.Contains(w, "istio-egressgateway.istio-system.svc.cluster.local") && strings.Contains(w, "DestinationRule") {
					t.Errorf("the egress gateway's own DestinationRule is warned about: %s", w)
				}
			}
		})
	}
}

// TestEgressGatewayTLSOriginationTask checks what forwarding needs from the
// task's final state: the mesh hop into the gateway, and the gateway's route
// to port 443 of edition.cnn.com where the DestinationRule originates TLS.
func TestEgressGatewayTLSOriginationTask(t *testing.T) {
	s := mustLoad(t, Options{Labels: map[string]string{"istio": "egressgateway"}}, "testdata/ingress/egress-tls-origination-cnn.yaml")
	l := s.Routes.Listener(route.Egress, 80)
	if l == nil {
		t.Fatal("no egress listener on port 80")
	}
	res := l.Lookup(&route.Request{Host: "edition.cnn.com", Port: 80, Method: "GET", Path: "/politics", Gateway: route.Mesh})
	if res.Route == nil {
		t.Fatalf("mesh lookup: %+v", res)
	}
	if cl := s.Clusters[res.Route.Action.Pick(0).Cluster]; !cl.EgressGateway || cl.Subset != "cnn" {
		t.Errorf("mesh route goes to %+v, want the egress gateway's own Service (subset cnn)", cl)
	}
	// The gateway's leg: its server on port 80 (ISTIO_MUTUAL: the pod's
	// plaintext), routed to edition.cnn.com:443, where TLS is originated.
	res = l.Lookup(&route.Request{Host: "edition.cnn.com", Port: 80, Method: "GET", Path: "/politics"})
	if res.Route == nil || res.Server == nil || res.Server.TLS == nil || res.Server.TLS.Mode != route.TLSAcceptPlaintext {
		t.Fatalf("gateway lookup: %+v", res)
	}
	cl := s.Clusters[res.Route.Action.Pick(0).Cluster]
	if cl.Name != "outbound|443||edition.cnn.com" || cl.EntryPort.TLS == nil || cl.Missing != "" {
		t.Errorf("gateway route goes to %+v, want edition.cnn.com:443 with TLS origination", cl)
	}
	if !hasListener(s, 80) {
		t.Error("egress port 80 has no listener")
	}
}

func hasListener(s *Snapshot, port uint32) bool {
	for _, l := range s.Listeners {
		if l.Port == port {
			return true
		}
	}
	return false
}
