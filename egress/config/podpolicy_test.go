package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/egressgw/egressgw/identity"
	"github.com/egressgw/egressgw/policy"
)

// loadYAML writes yml to a file and loads it.
func loadYAML(t *testing.T, opts Options, yml string) (*Snapshot, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load([]string{dir}, opts)
}

const podPolicyYAML = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a-only, namespace: team-a}
spec:
  hosts: [a.example.com]
  exportTo: ["."]
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: shared, namespace: team-b}
spec:
  hosts: [shared.example.com, b.example.com]
  exportTo: [team-a, "."]
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: public, namespace: default}
spec:
  hosts: [public.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-quarantine, namespace: mesh-root}
spec:
  action: DENY
  rules: [{from: [{source: {namespaces: ["quarantine"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-shared, namespace: team-b}
spec:
  action: ALLOW
  rules: [{to: [{operation: {hosts: [shared.example.com]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: curl-no-public, namespace: team-a}
spec:
  selector: {matchLabels: {app: curl}}
  action: DENY
  rules: [{to: [{operation: {hosts: [public.example.com]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: principal, namespace: mesh-root}
spec:
  action: DENY
  rules: [{from: [{source: {principals: ["corp.example/ns/team-a/sa/robot"]}}]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: team-c}
spec:
  outboundTrafficPolicy: {mode: ALLOW_ANY}
  egress: [{hosts: ["default/*"]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: second, namespace: team-c}
spec:
  egress: [{hosts: ["*/*"]}]
`

// TestPodPolicyCompiled: what the configuration means per source pod once
// compiled: exportTo, AuthorizationPolicies scoped by namespace and
// selector and on namespaces and principals (trust domain from Options),
// Sidecars.
func TestPodPolicyCompiled(t *testing.T) {
	snap, err := loadYAML(t, Options{RootNamespace: "mesh-root", TrustDomain: "corp.example"}, podPolicyYAML)
	if err != nil {
		t.Fatal(err)
	}
	pod := func(ns, sa string, labels map[string]string) *identity.Pod {
		return &identity.Pod{Namespace: ns, Name: ns + "-pod", ServiceAccount: sa, Labels: labels}
	}
	a, curl, robot := pod("team-a", "default", nil), pod("team-a", "default", map[string]string{"app": "curl"}), pod("team-a", "robot", nil)
	b, c, q := pod("team-b", "default", nil), pod("team-c", "default", nil), pod("quarantine", "default", nil)
	tests := []struct {
		host string
		pod  *identity.Pod
		ids  bool
		want bool
		rule string
	}{
		{"a.example.com", a, true, true, "ServiceEntry team-a/a-only"},
		{"a.example.com", b, true, false, "outboundTrafficPolicy REGISTRY_ONLY"},
		{"a.example.com", nil, true, false, "outboundTrafficPolicy REGISTRY_ONLY"},
		// Files only: exportTo not enforced, and team-b's policy without
		// selector applies gateway-wide, as before pods were known.
		{"shared.example.com", nil, false, true, "AuthorizationPolicy team-b/only-shared rules[0]"},
		{"a.example.com", nil, false, false, "AuthorizationPolicy"},
		{"b.example.com", a, true, true, "ServiceEntry team-b/shared"},
		{"b.example.com", c, true, true, "Sidecar team-c/default outboundTrafficPolicy ALLOW_ANY"}, // not exported: passthrough under the Sidecar's ALLOW_ANY
		{"b.example.com", b, true, false, "AuthorizationPolicy"},                                   // team-b's ALLOW lists only shared
		{"shared.example.com", b, true, true, "AuthorizationPolicy team-b/only-shared rules[0]"},
		{"public.example.com", a, true, true, "ServiceEntry default/public"},
		{"public.example.com", curl, true, false, "AuthorizationPolicy team-a/curl-no-public rules[0]"},
		{"public.example.com", q, true, false, "AuthorizationPolicy mesh-root/deny-quarantine rules[0]"},
		{"public.example.com", robot, true, false, "AuthorizationPolicy mesh-root/principal rules[0]"},
		{"public.example.com", c, true, true, "ServiceEntry default/public"},
		{"other.example.net", c, true, true, "Sidecar team-c/default outboundTrafficPolicy ALLOW_ANY"},
		{"other.example.net", a, true, false, "outboundTrafficPolicy REGISTRY_ONLY"},
	}
	for _, tc := range tests {
		d := snap.Policy.Decide(policy.Query{Host: tc.host, Port: 443, Identities: tc.ids, Pod: tc.pod})
		if d.Allow != tc.want || d.Rule != tc.rule {
			t.Errorf("%s from %v (identities %v): allow %v by %q (%s), want allow %v by %q", tc.host, tc.pod, tc.ids, d.Allow, d.Rule, d.Reason, tc.want, tc.rule)
		}
	}
	want := "c.yaml: Sidecar team-c/second: not applied: Sidecar team-c/default is namespace team-c's Sidecar without workloadSelector already (Istio allows one, and takes the oldest)"
	if !slices.ContainsFunc(snap.Warnings, func(w string) bool { return strings.HasSuffix(w, want) }) {
		t.Errorf("warnings %q, want one ending %q", snap.Warnings, want)
	}
}

func TestPodPolicyErrorsAndWarnings(t *testing.T) {
	yml := `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bad-export, namespace: team-a}
spec:
  hosts: [a.example.com]
  exportTo: ["~", "Team_B"]
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s, namespace: team-a}
spec:
  workloadSelector: {labels: {}}
  ingress: [{port: {number: 80, protocol: HTTP, name: http}, defaultEndpoint: "127.0.0.1:8080"}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: proxy.example.com}}
  egress:
  - port: {number: 443, protocol: TLS, name: tls}
    bind: 127.0.0.2
    captureMode: NONE
    hosts: ["example.com", "a*/x.example.com", "./bad_host", "./*"]
  - {}
`
	_, err := loadYAML(t, Options{}, yml)
	if err == nil {
		t.Fatal("Load succeeded, want errors")
	}
	for _, want := range []string{
		`ServiceEntry team-a/bad-export: spec.exportTo[0]: "~" (exported nowhere) must be the only value`,
		`ServiceEntry team-a/bad-export: spec.exportTo[1]: "Team_B" is not "*", ".", "~" or a namespace name`,
		`Sidecar team-a/s: spec.workloadSelector.labels: must not be empty`,
		`Sidecar team-a/s: spec.egress[0].hosts[0]: "example.com" must be "namespace/host"`,
		`Sidecar team-a/s: spec.egress[0].hosts[1]: "a*/x.example.com": the namespace must be "*", ".", "~" or a name`,
		`Sidecar team-a/s: spec.egress[0].hosts[2]: "./bad_host": `,
		`Sidecar team-a/s: spec.egress[1].hosts: at least one host is required`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
	// The fields egressgw does not apply are named in warnings.
	yml = `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s, namespace: team-a}
spec:
  ingress: [{port: {number: 80, protocol: HTTP, name: http}, defaultEndpoint: "127.0.0.1:8080"}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: proxy.example.com}}
  egress:
  - port: {number: 443, protocol: TLS, name: tls}
    bind: 127.0.0.2
    captureMode: NONE
    hosts: ["./*"]
`
	snap, err := loadYAML(t, Options{}, yml)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"spec.ingress: not applied", "spec.outboundTrafficPolicy.egressProxy: not applied",
		"spec.egress[0].port: not applied", "spec.egress[0].bind: not applied", "spec.egress[0].captureMode: not applied"} {
		if !slices.ContainsFunc(snap.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
			t.Errorf("warnings %q, want one with %q", snap.Warnings, want)
		}
	}
}
