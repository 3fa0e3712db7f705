//go:build e2e && linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// podBAddr is a second address in the pod namespace: the second pod of the
// identity case (egressgw tells pods apart by source address only).
const podBAddr = "10.231.1.3"

// noPodAddr is an address in the pod namespace that no pod holds.
const noPodAddr = "10.231.1.4"

// kubeNamespaces are the two namespaces of the identity case.
const kubeNamespaces = `apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
`

// kubeIdentityConfig: new.example.test exported to team-a only; a Sidecar
// in team-b that lets its pods see only their own namespace's hosts and
// default's api.example.test; an AuthorizationPolicy in team-a that
// denies its pods /admin on api.example.test (team-b's pods are not
// guarded by it); a VirtualService of team-a, exported to team-a only,
// that answers /teapot with a fault; a DestinationRule of team-b, exported
// to team-b only, that sends api.example.test plaintext (tls DISABLE),
// where default's DestinationRule (api-example.yaml) originates TLS.
const kubeIdentityConfig = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: new-host, namespace: team-a}
spec:
  hosts: [new.example.test]
  exportTo: ["."]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: www, namespace: default}
spec:
  hosts: [www.example.test]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: team-b}
spec:
  egress:
  - hosts: ["./*", "default/api.example.test"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: team-a}
spec:
  action: DENY
  rules:
  - to:
    - operation:
        hosts: ["api.example.test"]
        paths: ["/admin"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: teapot, namespace: team-a}
spec:
  hosts: [api.example.test]
  exportTo: ["."]
  http:
  - match: [{uri: {prefix: /teapot}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: api.example.test}}]
  - route: [{destination: {host: api.example.test}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: plaintext, namespace: team-b}
spec:
  host: api.example.test
  exportTo: ["."]
  trafficPolicy: {tls: {mode: DISABLE}}
`

// TestKubePodIdentity: two pods in different namespaces, told apart by
// their addresses through the API server's Pods, get different answers
// under exportTo, a Sidecar and a namespace's AuthorizationPolicy, from
// DNS and from the traffic path; the access log names each one's
// namespace and pod; an address no pod holds is "unknown pod".
func TestKubePodIdentity(t *testing.T) {
	tp := env(t)
	for _, a := range []string{podBAddr, noPodAddr} {
		if err := runHost("ip", "-n", tp.pod, "addr", "add", a+"/24", "dev", "eth0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = runHost("ip", "-n", tp.pod, "addr", "del", a+"/24", "dev", "eth0") })
	}
	kw := startKube(t, tp)
	kw.apply(t, kubeNamespaces)
	kw.addPod(t, "team-a", "sleep-a", podAddr)
	kw.addPod(t, "team-b", "sleep-b", podBAddr)
	kw.apply(t, tp.renderTestdata(t, "config/api-example.yaml"))
	kw.apply(t, kubeIdentityConfig)
	gw := tp.startGatewaySpec(t, gatewayBinary(t, tp), gatewaySpec{name: "kube-identity", mode: "REGISTRY_ONLY",
		configs: map[string]string{"README.yaml": "# this gateway's configuration comes from the API server\n"},
		args:    []string{"--kubeconfig", kw.kubeconfig}})

	digFrom := func(src, name string) string {
		return tp.dig(tp.pod, "-b", src, "@"+egressAddr, name, "A").stdout
	}
	curlFrom := func(src string, args ...string) curlResult {
		return tp.podCurl(append([]string{"--interface", src}, args...)...)
	}
	answered := func(out string) bool {
		return strings.Contains(out, "status: NOERROR") && strings.Contains(out, egressAddr)
	}
	blockedAnswer := func(out string) bool {
		return strings.Contains(out, "status: NXDOMAIN") && strings.Contains(out, "EDE: 15 (Blocked)")
	}

	t.Run("exportTo", func(t *testing.T) {
		within(t, 10*time.Second, "team-a's pod resolves its namespace's host", func() error {
			if out := digFrom(podAddr, "new.example.test"); !answered(out) {
				return fmt.Errorf("%s", out)
			}
			return nil
		})
		if out := digFrom(podBAddr, "new.example.test"); !blockedAnswer(out) {
			t.Errorf("team-b's pod: want NXDOMAIN with EDE Blocked for a host not exported to it\n%s", out)
		}
		wantResponse(t, curlFrom(podAddr, "--cacert", tp.pki.caFile, "https://new.example.test/who-a"), 200, "new.example.test")
		if r := curlFrom(podBAddr, "--cacert", tp.pki.caFile, "--resolve", "new.example.test:443:"+egressAddr, "https://new.example.test/who-b"); r.status == 200 {
			t.Errorf("team-b's pod reached a host not exported to it: %s", r)
		}
	})
	t.Run("sidecar_egress_hosts", func(t *testing.T) {
		if out := digFrom(podAddr, "www.example.test"); !answered(out) {
			t.Errorf("team-a's pod (no Sidecar): www.example.test not answered\n%s", out)
		}
		if out := digFrom(podBAddr, "www.example.test"); !blockedAnswer(out) {
			t.Errorf("team-b's pod: www.example.test is outside its Sidecar's egress hosts; want it blocked\n%s", out)
		}
		if out := digFrom(podBAddr, "api.example.test"); !answered(out) {
			t.Errorf("team-b's pod: api.example.test is in its Sidecar's egress hosts; want it answered\n%s", out)
		}
	})
	t.Run("namespace_authorization_policy", func(t *testing.T) {
		wantResponse(t, curlFrom(podAddr, "http://api.example.test/admin"), 403, "AuthorizationPolicy team-a/no-admin")
		// team-b's pod is not guarded by team-a's policy: forwarded, and
		// answered by the upstream (a 400: its own DestinationRule sends
		// plaintext to the TLS port, see destination_rule_export_to).
		if r := curlFrom(podBAddr, "http://api.example.test/admin"); r.status == 403 || !strings.Contains(r.body, "plain HTTP request was sent to HTTPS port") {
			t.Errorf("team-b's pod: want /admin forwarded, not refused by team-a's AuthorizationPolicy\n%s", r)
		}
	})
	t.Run("virtual_service_export_to", func(t *testing.T) {
		if r := curlFrom(podAddr, "http://api.example.test/teapot"); r.status != 418 {
			t.Errorf("team-a's pod: team-a's VirtualService applies, want 418 from its fault\n%s", r)
		}
		// team-b does not see it: its request is forwarded as registered
		// (here in plaintext: its DestinationRule, below).
		if r := curlFrom(podBAddr, "http://api.example.test/teapot"); r.status == 418 {
			t.Errorf("team-b's pod got team-a's fault, a VirtualService not exported to it\n%s", r)
		}
	})
	t.Run("destination_rule_export_to", func(t *testing.T) {
		// team-a sees default's DestinationRule: TLS originated to 443.
		wantResponse(t, curlFrom(podAddr, "http://api.example.test/origination"), 200, "api.example.test sni=api.example.test")
		// team-b's own rule comes first (Istio's order): plaintext to the
		// TLS port, which nginx refuses.
		if r := curlFrom(podBAddr, "http://api.example.test/plaintext"); r.status != 400 || !strings.Contains(r.body, "plain HTTP request was sent to HTTPS port") {
			t.Errorf("team-b's pod: want its own DestinationRule's plaintext (nginx's 400)\n%s", r)
		}
	})
	t.Run("unknown_pod", func(t *testing.T) {
		// The gateway-wide answer: new.example.test is exported to team-a
		// only, www.example.test to every namespace.
		if out := digFrom(noPodAddr, "new.example.test"); !blockedAnswer(out) {
			t.Errorf("an address no pod holds: want new.example.test blocked\n%s", out)
		}
		wantResponse(t, curlFrom(noPodAddr, "--cacert", tp.pki.caFile, "https://www.example.test/who-unknown"), 200, "www.example.test")
	})
	t.Run("access_log_names_the_pod", func(t *testing.T) {
		within(t, 4*time.Second, "access lines naming each pod", func() error {
			for _, want := range [][]string{
				{`"sni":"new.example.test"`, `"source_namespace":"team-a"`, `"source_pod":"sleep-a"`},
				{`"path":"/admin"`, `"source_namespace":"team-b"`, `"source_pod":"sleep-b"`},
				{`"sni":"www.example.test"`, `"source_pod":"unknown pod"`},
			} {
				if len(gw.proc.logLines(want...)) == 0 {
					return fmt.Errorf("no access line with %q", want)
				}
			}
			return nil
		})
	})
}
