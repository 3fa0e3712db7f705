package egress

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/identity"
	"github.com/egressgw/egressgw/internal/pki"
	"github.com/egressgw/egressgw/policy"
	"github.com/egressgw/egressgw/route"
)

// exportToYAML: api.example.test has a mesh VirtualService of team-a,
// exported to team-a only, that aborts with 418, then one of default for
// every namespace that sets X-VS; only.example.test has one of team-a
// only, setting X-VS; secure.example.test (plain HTTP registered, an HTTPS
// site behind it) has a DestinationRule of team-a, exported to team-a
// only, that originates TLS, and routed.example.test a mesh route to it
// for every namespace; pass.example.test (TLS passthrough) has a
// mesh tls route of team-a only, to a host no entry registers.
const exportToYAML = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: sites, namespace: default}
spec:
  hosts: [api.example.test, only.example.test, routed.example.test]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{HTTP}}, name: http, protocol: HTTP, targetPort: {{SITE}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: secure, namespace: default}
spec:
  hosts: [secure.example.test]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{HTTP}}, name: http, protocol: HTTP, targetPort: {{TLSSITE}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api-a, namespace: team-a}
spec:
  hosts: [api.example.test]
  exportTo: ["."]
  http: [{fault: {abort: {httpStatus: 418, percentage: {value: 100}}}, route: [{destination: {host: api.example.test}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.test]
  http: [{headers: {request: {set: {X-VS: default/api}}}, route: [{destination: {host: api.example.test}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: only-a, namespace: team-a}
spec:
  hosts: [only.example.test]
  exportTo: [team-a]
  http: [{headers: {request: {set: {X-VS: team-a/only-a}}}, route: [{destination: {host: only.example.test}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: routed, namespace: default}
spec:
  hosts: [routed.example.test]
  http: [{route: [{destination: {host: secure.example.test}}]}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pass, namespace: default}
spec:
  hosts: [pass.example.test]
  resolution: DNS
  location: MESH_INTERNAL
  ports: [{number: {{TLS}}, name: tls, protocol: TLS, targetPort: {{TLSSITE}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pass-a, namespace: team-a}
spec:
  hosts: [pass.example.test]
  exportTo: ["."]
  tls: [{match: [{sniHosts: [pass.example.test]}], route: [{destination: {host: nowhere.example.test}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: secure-a, namespace: team-a}
spec:
  host: secure.example.test
  exportTo: ["."]
  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: {{CA}}}}
`

// startExportToEngine serves exportToYAML; identities nil: no pod table.
func startExportToEngine(t *testing.T, identities func() *identity.Table) *podEngine {
	t.Helper()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "site host=%s x-vs=[%s]", r.Host, r.Header.Get("X-VS"))
	}))
	t.Cleanup(site.Close)
	ca, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("secure.example.test", "secure.example.test", "pass.example.test")
	if err != nil {
		t.Fatal(err)
	}
	tlsSite := newSite(t, leaf, nil)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pe := &podEngine{httpPort: freePort(t), tlsPort: freePort(t), ca: ca}
	yml := strings.NewReplacer("{{HTTP}}", pe.httpPort, "{{TLS}}", pe.tlsPort, "{{SITE}}", port(strings.TrimPrefix(site.URL, "http://")), "{{TLSSITE}}", port(tlsSite.URL), "{{CA}}", caFile).Replace(exportToYAML)
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Load([]string{dir}, config.Options{Mode: policy.RegistryOnly})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range snap.Warnings {
		if strings.Contains(w, "exportTo") {
			t.Errorf("warning: %s", w)
		}
	}
	pe.metrics = NewMetrics(prometheus.NewRegistry())
	pe.eng = New(Config{EgressAddr: netip.MustParseAddr("127.0.0.1"), Resolver: loopbackResolver{}, Log: zap.NewNop(),
		AccessLog: zap.NewNop(), Metrics: pe.metrics, StdlibPaths: stdlibInTests, Identities: identities})
	if err := pe.eng.Update(snap); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = pe.eng.Shutdown(ctx)
	})
	return pe
}

// TestExportToEngine: a mesh VirtualService and a DestinationRule exported
// to team-a apply to team-a's pod only: team-b's pod and an unknown source
// skip the VirtualService (to the next one for the host, or to the host's
// plain forwarding) and send plain HTTP where team-a's is originated to
// TLS, as Istio would. Without a pod table exportTo is not enforced.
func TestExportToEngine(t *testing.T) {
	const (
		plain    = "site host=api.example.test x-vs=[default/api]" // default's VirtualService
		abort    = "fault injected by VirtualService team-a/api-a spec.http[0]"
		onlyA    = "site host=only.example.test x-vs=[team-a/only-a]"
		onlyOff  = "site host=only.example.test x-vs=[]"                     // forwarded as registered
		tlsOK    = "site / host=secure.example.test sni=secure.example.test" // originated by the DestinationRule
		noTLS    = "Client sent an HTTP request to an HTTPS server"          // plaintext to the HTTPS port
		routedOK = "site / host=routed.example.test sni=secure.example.test" // the route's destination, TLS originated
	)
	type want struct {
		status int
		body   string
	}
	tests := []struct {
		name   string
		from   netip.Addr
		host   string
		scoped want // with the pod table
		nopods want // without one (files only)
	}{
		{"vs exported: team-a", podAddrA, "api.example.test", want{418, abort}, want{418, abort}},
		{"vs not exported: team-b takes the next", podAddrB, "api.example.test", want{200, plain}, want{418, abort}},
		{"vs not exported: unknown source", noPodAddr, "api.example.test", want{200, plain}, want{418, abort}},
		{"only vs exported: team-a", podAddrA, "only.example.test", want{200, onlyA}, want{200, onlyA}},
		{"only vs not exported: plain forwarding", podAddrB, "only.example.test", want{200, onlyOff}, want{200, onlyA}},
		{"dr exported: team-a originates TLS", podAddrA, "secure.example.test", want{200, tlsOK}, want{200, tlsOK}},
		{"dr not exported: team-b sends plaintext", podAddrB, "secure.example.test", want{400, noTLS}, want{200, tlsOK}},
		{"dr not exported: unknown source", noPodAddr, "secure.example.test", want{400, noTLS}, want{200, tlsOK}},
		{"route destination, dr exported: team-a", podAddrA, "routed.example.test", want{200, routedOK}, want{200, routedOK}},
		{"route destination, dr not exported: team-b", podAddrB, "routed.example.test", want{400, noTLS}, want{200, routedOK}},
	}
	for _, pods := range []bool{true, false} {
		var ids func() *identity.Table
		if pods {
			ids = func() *identity.Table { return podTable }
		}
		pe := startExportToEngine(t, ids)
		for _, h2c := range []bool{false, true} {
			for _, tc := range tests {
				w := tc.scoped
				if !pods {
					w = tc.nopods
				}
				t.Run(fmt.Sprintf("%s/pods=%v/h2c=%v", tc.name, pods, h2c), func(t *testing.T) {
					status, body := pe.get(t, tc.from, tc.host, h2c)
					if status != w.status || !strings.Contains(body, w.body) {
						t.Errorf("GET %s from %s: %d %q, want %d with %q", tc.host, tc.from, status, body, w.status, w.body)
					}
				})
			}
		}
		// TLS passthrough: team-a's tls route sends pass.example.test
		// nowhere (the handshake fails); the others' connections pass
		// through to the site, as without the route.
		for _, tc := range []struct {
			from   netip.Addr
			routed bool
		}{{podAddrA, true}, {podAddrB, !pods}, {noPodAddr, !pods}} {
			d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: tc.from.AsSlice()}}
			c, err := tls.DialWithDialer(d, "tcp", "127.0.0.1:"+pe.tlsPort, &tls.Config{ServerName: "pass.example.test", RootCAs: pe.ca.Pool()})
			if err == nil {
				c.Close()
			}
			if routed := err != nil; routed != tc.routed || routed && !strings.Contains(err.Error(), "internal error") {
				t.Errorf("pods=%v: TLS to pass.example.test from %s: error %v, want the tls route applied %v (an internal error alert)", pods, tc.from, err, tc.routed)
			}
		}
	}
}

// TestExportToClusterChoice: a route destination's upstream is the one of
// the DestinationRule the client sees: a pod's namespace for a mesh route,
// the gateway's own namespace (--namespace) for a Gateway-bound one, and
// without a pod table the rule chosen ignoring exportTo.
func TestExportToClusterChoice(t *testing.T) {
	const yml = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.test]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: to-b, namespace: default}
spec:
  host: api.example.test
  exportTo: [team-b]
  trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, sni: default-rule}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: gw, namespace: istio-system}
spec:
  host: api.example.test
  exportTo: ["."]
  trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, sni: gateway-rule}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: team-a}
spec:
  host: api.example.test
  exportTo: ["."]
  trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, sni: team-a-rule}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.test]
  http: [{route: [{destination: {host: api.example.test}}]}]
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Load([]string{dir}, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{EgressAddr: netip.MustParseAddr("127.0.0.1"), Resolver: loopbackResolver{}, Log: zap.NewNop(), AccessLog: zap.NewNop(),
		Metrics: NewMetrics(prometheus.NewRegistry())})
	st, err := eng.buildState(snap)
	if err != nil {
		t.Fatal(err)
	}
	d := &route.Destination{Cluster: 0}
	podA, podB := podTable.Lookup(podAddrA), podTable.Lookup(podAddrB)
	for _, tc := range []struct {
		name string
		cl   client
		want string // SNI of the upstream's TLS, "" plaintext
	}{
		{"gateway-bound", client{gateway: true}, "gateway-rule"},
		{"team-a's pod", client{pod: podA, known: true}, "team-a-rule"},
		{"team-b's pod", client{pod: podB, known: true}, "default-rule"},
		{"unknown pod", client{known: true}, ""},
		{"no pod table", client{}, "default-rule"}, // as before: the entry's namespace's rule first
	} {
		u := st.clusterFor(d, &tc.cl)
		if u == nil {
			t.Fatalf("%s: no upstream: %s", tc.name, st.missingFor(d, &tc.cl))
		}
		got := ""
		if u.port.TLS != nil {
			got = u.port.TLS.SNI
		}
		if got != tc.want {
			t.Errorf("%s: upstream SNI %q, want %q", tc.name, got, tc.want)
		}
	}
}
