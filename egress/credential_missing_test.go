package egress

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/internal/pki"
	"github.com/egressgw/egressgw/policy"
	"github.com/egressgw/egressgw/route"
	"github.com/egressgw/egressgw/servercert"
)

// managerCerts gives an engine a servercert Manager, as cmd/egressgw does.
type managerCerts struct{ *servercert.Manager }

func (c managerCerts) Update(t *route.Table) error {
	var specs []servercert.Spec
	for _, l := range t.Listeners() {
		for _, s := range l.Servers {
			if s.TLS != nil && s.TLS.Terminates() {
				specs = append(specs, servercert.Spec{Side: l.Side, Port: l.Port, Server: s})
			}
		}
	}
	return c.Manager.Update(specs)
}

// managedEnv is an ingressEnv whose engine has a servercert Manager for
// its certificates, as cmd/egressgw gives it.
type managedEnv struct {
	*ingressEnv
	dir      string
	metrics  *Metrics
	certLogs *observer.ObservedLogs // the Manager's warnings
}

// startIngressManaged is startIngress with a servercert Manager: {{PORT}}
// is replaced by a free port, FILEDIR by the directory files are written to.
func startIngressManaged(t *testing.T, yml string, files map[string][]byte) *managedEnv {
	t.Helper()
	env := &managedEnv{ingressEnv: &ingressEnv{port: freePort(t)}, dir: t.TempDir()}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(env.dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	core, logs := observer.New(zap.WarnLevel)
	env.certLogs = logs
	mgr, err := servercert.New(servercert.Config{Log: zap.New(core), Storage: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mgr.Close)
	env.metrics = NewMetrics(prometheus.NewRegistry())
	env.eng = New(Config{EgressAddr: ingressEgressAddr, IngressAddr: ingressAddr, Resolver: loopbackResolver{},
		Log: zap.NewNop(), AccessLog: zap.NewNop(), Metrics: env.metrics, StdlibPaths: stdlibInTests, Certs: managerCerts{mgr}})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = env.eng.Shutdown(ctx)
	})
	env.reload(t, yml)
	return env
}

// reload serves yml as the new configuration.
func (env *managedEnv) reload(t *testing.T, yml string) {
	t.Helper()
	yml = strings.ReplaceAll(strings.ReplaceAll(yml, "{{PORT}}", env.port), "FILEDIR", env.dir)
	if err := os.WriteFile(filepath.Join(env.dir, "config.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Load([]string{env.dir}, config.Options{ClusterDomain: "cluster.local", Namespace: "istio-system", Mode: policy.RegistryOnly})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := env.eng.Update(snap); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func tlsSecretYAML(name string, l *pki.Leaf) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: %s, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: %s, tls.key: %s}
---
`, name, base64.StdEncoding.EncodeToString(l.CertPEM), base64.StdEncoding.EncodeToString(l.KeyPEM))
}

// TestIngressCredentialMissing: a server whose credentialName Secret is
// missing fails its handshakes (logged, naming the Secret and where it was
// looked for) while the other server of the port serves, and is counted as
// unserved; once the Secret appears, a reload serves it.
func TestIngressCredentialMissing(t *testing.T) {
	b := newBackend(t, "app", nil)
	ca, _ := pki.NewCA("ingress CA")
	leafA, _ := ca.Issue("a.example.com", "a.example.com")
	leafB, _ := ca.Issue("b.example.com", "b.example.com")
	yml := serviceEntry("app", "app.default.svc.cluster.local", 80, b, "") + tlsSecretYAML("cred-b", leafB) + `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tls, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: {{PORT}}, name: https-a, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, credentialName: cred-a}
  - port: {number: {{PORT}}, name: https-b, protocol: HTTPS}
    hosts: [b.example.com]
    tls: {mode: SIMPLE, credentialName: cred-b}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: [a.example.com, b.example.com]
  gateways: [istio-system/tls]
  http:
  - route: [{destination: {host: app}}]
---
`
	env := startIngressManaged(t, yml, nil)
	port, logs, metrics := env.port, env.certLogs, env.metrics
	c := env.client(ca, nil)

	if got := env.do(t, c, "https", "GET", "b.example.com", "/x", nil); got.status != 200 || !strings.Contains(got.body, "app path=/x") {
		t.Errorf("https://b.example.com (Secret present): got %d %q, want 200 from app", got.status, got.body)
	}
	handshake := func() error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", net.JoinHostPort(ingressAddr.String(), port),
			&tls.Config{ServerName: "a.example.com", RootCAs: ca.Pool()})
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := handshake(); err == nil || !strings.Contains(err.Error(), "remote error: tls:") {
		t.Errorf("handshake for a.example.com (Secret missing): got %v, want a TLS alert", err)
	}
	lines := logs.FilterMessage("tls handshake failed: no certificate").All()
	if len(lines) != 1 || !strings.Contains(fmt.Sprint(lines[0].ContextMap()), "Secret istio-system/cred-a not found") {
		t.Errorf("log lines %v, want one naming Secret istio-system/cred-a", lines)
	}
	if got := gaugeValue(metrics.Unserved.WithLabelValues("server")); got != 1 {
		t.Errorf("egressgw_config_unserved{kind=server} = %v, want 1", got)
	}

	// The Secret appears: the reload serves a.example.com too.
	env.reload(t, yml+tlsSecretYAML("cred-a", leafA))
	if err := handshake(); err != nil {
		t.Errorf("handshake for a.example.com once its Secret exists: %v", err)
	}
	if got := env.do(t, env.client(ca, nil), "https", "GET", "a.example.com", "/y", nil); got.status != 200 {
		t.Errorf("https://a.example.com once its Secret exists: got %d %q, want 200", got.status, got.body)
	}
	if got := gaugeValue(metrics.Unserved.WithLabelValues("server")); got != 0 {
		t.Errorf("egressgw_config_unserved{kind=server} once the Secret exists = %v, want 0", got)
	}
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	_ = g.Write(&m)
	return m.GetGauge().GetValue()
}
