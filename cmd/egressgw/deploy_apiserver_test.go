package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/egressgw/egressgw/internal/kubetest"
)

// egressgwSA is the gateway's identity on the API server.
const egressgwSA = "system:serviceaccount:istio-system:egressgw"

// writeObjects writes rendered objects as one YAML stream and returns its path.
func writeObjects(t *testing.T, name string, objs []object) string {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	p := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDeployOnAPIServer applies deploy/'s manifests to a real
// kube-apiserver (internal/kubetest): every rendering and example passes
// server-side dry run (the API server's own validation and defaulting),
// the base is then applied for real, and the gateway's ServiceAccount may
// do exactly what the gateway does (kubectl auth can-i), nothing more.
func TestDeployOnAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	c.ApplyIstioCRDs(t)
	for _, ns := range []string{"istio-system", "team-a"} {
		c.Kubectl(t, "create", "namespace", ns)
	}
	cfg := filepath.Join(deployDir, "config/egress.yaml")
	renderings := map[string]string{
		"kustomize-base":  writeObjects(t, "kustomize-base", kustomize(t, "base")),
		"kustomize-files": writeObjects(t, "kustomize-files", kustomize(t, ".")),
		"helm-defaults":   writeObjects(t, "helm-defaults", helmTemplate(t)),
		"helm-options": writeObjects(t, "helm-options", helmTemplate(t, "--set-file", `config.files.egress\.yaml=`+cfg,
			"--set", "networkPolicy.namespaces={team-a}", "--set", "rbac.secretNames={client-credential}",
			"--set", "egressInterface=", "--set", "admin.host=$(HOST_IP)", "--set", "dnsPolicy=Default")),
	}
	t.Run("dry-run=server", func(t *testing.T) {
		files := []struct{ name, path, ns string }{
			{"the example pod", filepath.Join(deployDir, "examples/pod-dnsconfig.yaml"), ""},
			{"the NetworkPolicy", filepath.Join(deployDir, "examples/networkpolicy.yaml"), "team-a"},
			{"CoreDNS forwarding", filepath.Join(deployDir, "examples/coredns-forward.yaml"), ""},
			{"kube-dns stubDomains", filepath.Join(deployDir, "examples/kube-dns-stubdomains.yaml"), ""},
			{"deploy/config (Istio resources, on Istio's CRDs)", cfg, ""},
		}
		for name, p := range renderings {
			files = append(files, struct{ name, path, ns string }{name, p, ""})
		}
		for _, f := range files {
			args := []string{"apply", "--dry-run=server", "-f", f.path}
			if f.ns != "" {
				args = append(args, "-n", f.ns)
			}
			if out, err := c.KubectlErr("", args...); err != nil {
				t.Errorf("%s: kubectl %s: %v\n%s", f.name, strings.Join(args, " "), err, out)
			}
		}
	})

	c.Kubectl(t, "apply", "-f", renderings["kustomize-base"])
	if got := c.Kubectl(t, "-n", "istio-system", "get", "daemonset", "egressgw", "-o", "jsonpath={.spec.template.spec.serviceAccountName}"); got != "egressgw" {
		t.Fatalf("applied DaemonSet's serviceAccountName %q, want egressgw", got)
	}

	canI := func(t *testing.T, want bool, args ...string) {
		t.Helper()
		argv := append([]string{"auth", "can-i", "--as=" + egressgwSA}, args...)
		out, err := c.KubectlErr("", argv...)
		got := strings.TrimSpace(out) == "yes"
		if got != want || (err != nil && want) {
			t.Errorf("kubectl %s: %q (%v), want %v", strings.Join(argv, " "), strings.TrimSpace(out), err, map[bool]string{true: "yes", false: "no"}[want])
		}
	}
	t.Run("can-i", func(t *testing.T) {
		for _, res := range []string{"serviceentries.networking.istio.io", "destinationrules.networking.istio.io",
			"gateways.networking.istio.io", "virtualservices.networking.istio.io", "sidecars.networking.istio.io",
			"authorizationpolicies.security.istio.io", "services", "endpointslices.discovery.k8s.io", "pods", "namespaces", "secrets"} {
			for _, verb := range []string{"list", "watch"} {
				canI(t, true, verb, res, "--all-namespaces")
			}
		}
		canI(t, true, "create", "events", "-n", "team-a")
		canI(t, true, "patch", "events", "-n", "team-a")
		// What it must not do: write anything but Events, read what it does not use.
		for _, no := range [][]string{
			{"create", "secrets", "-n", "istio-system"},
			{"get", "secrets", "-n", "istio-system"},
			{"list", "configmaps", "--all-namespaces"},
			{"update", "serviceentries.networking.istio.io", "-n", "team-a"},
			{"create", "serviceentries.networking.istio.io", "-n", "team-a"},
			{"delete", "pods", "-n", "team-a"},
			{"list", "endpoints", "--all-namespaces"},
			{"get", "nodes"},
			{"create", "pods/exec", "-n", "team-a"},
			{"impersonate", "serviceaccounts", "--all-namespaces"},
		} {
			canI(t, false, no...)
		}
	})

	// rbac.secretNames: the Helm chart's ClusterRole replaces the base's.
	// The API server authorizes a list/watch of a listed name selected by
	// field (what the gateway's Secret informers send), and no other.
	t.Run("secretNames", func(t *testing.T) {
		c.Kubectl(t, "apply", "-f", renderings["helm-options"])
		c.Kubectl(t, "-n", "istio-system", "create", "secret", "generic", "client-credential", "--from-literal=k=v")
		c.Kubectl(t, "-n", "istio-system", "create", "secret", "generic", "other", "--from-literal=k=v")
		canI(t, true, "list", "secrets/client-credential", "-n", "istio-system")
		canI(t, true, "watch", "secrets/client-credential", "-n", "istio-system")
		canI(t, false, "list", "secrets/other", "-n", "istio-system")
		canI(t, false, "list", "secrets", "-n", "istio-system")
		as := "--as=" + egressgwSA
		out, err := c.KubectlErr("", "-n", "istio-system", "get", "secrets", "--field-selector=metadata.name=client-credential", "-o", "name", as)
		if err != nil || strings.TrimSpace(out) != "secret/client-credential" {
			t.Errorf("list of client-credential selected by field, as the gateway: %q, %v; want it listed", out, err)
		}
		if out, err := c.KubectlErr("", "-n", "istio-system", "get", "secrets", "--field-selector=metadata.name=other", "-o", "name", as); err == nil || !strings.Contains(err.Error(), "forbidden") {
			t.Errorf("list of another Secret selected by field, as the gateway: %q, %v; want forbidden", out, err)
		}
		if out, err := c.KubectlErr("", "-n", "istio-system", "get", "secrets", "-o", "name", as); err == nil || !strings.Contains(err.Error(), "forbidden") {
			t.Errorf("list of every Secret, as the gateway: %q, %v; want forbidden", out, err)
		}
	})
}
