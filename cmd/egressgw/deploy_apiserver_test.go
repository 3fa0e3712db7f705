package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/egressgw/egressgw/internal/kubetest"
	"github.com/egressgw/egressgw/kube"
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

	// The DaemonSet's pod as the DaemonSet controller would create it
	// (there is no controller manager here): admitted by the API server,
	// priority class and all; Pod Security's baseline level refuses it
	// (host network, NET_ADMIN), which the README says.
	t.Run("pod admission", func(t *testing.T) {
		ds := decode[appsv1.DaemonSet](t, find(kustomize(t, "base"), "DaemonSet")[0])
		pod := map[string]any{"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": "egressgw-node-1", "labels": ds.Spec.Template.Labels, "annotations": ds.Spec.Template.Annotations},
			"spec":     ds.Spec.Template.Spec}
		p := writeObjects(t, "pod", []object{pod})
		if out, err := c.KubectlErr("", "apply", "--dry-run=server", "-n", "istio-system", "-f", p); err != nil {
			t.Errorf("the DaemonSet's pod in istio-system: %v\n%s", err, out)
		}
		c.Kubectl(t, "create", "namespace", "baseline")
		c.Kubectl(t, "label", "namespace", "baseline", "pod-security.kubernetes.io/enforce=baseline")
		out, err := c.KubectlErr("", "apply", "--dry-run=server", "-n", "baseline", "-f", p)
		if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
			t.Errorf("the DaemonSet's pod in a namespace enforcing baseline: %q, %v; want refused by PodSecurity", out, err)
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

// TestDeployGatewayAsServiceAccount runs egressgw with the DaemonSet's own
// arguments and the token of its ServiceAccount, against a real API
// server with the base applied: the RBAC must let the informers make
// their first full list (else /readyz never turns ready), a ServiceEntry
// applied with kubectl must be served, a credentialName's Secret must be
// read through its field-selected watch, and an invalid resource must get
// its Warning Event (create on events).
func TestDeployGatewayAsServiceAccount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the DaemonSet's gateway binds DNS on port 53")
	}
	c := kubetest.Start(t)
	c.ApplyIstioCRDs(t)
	c.Kubectl(t, "create", "namespace", "istio-system")
	c.Kubectl(t, "create", "namespace", "team-a")
	c.Kubectl(t, "apply", "-f", writeObjects(t, "kustomize-base", kustomize(t, "base")))
	c.Kubectl(t, "-n", "istio-system", "create", "secret", "generic", "client-credential",
		"--from-literal=ca.crt=not-a-certificate")

	token := strings.TrimSpace(c.Kubectl(t, "-n", "istio-system", "create", "token", "egressgw"))
	ca, err := c.CA()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "egressgw.kubeconfig")
	if err := kubetest.WriteKubeconfig(kubeconfig, c.URL, ca, token); err != nil {
		t.Fatal(err)
	}

	ds := decode[appsv1.DaemonSet](t, find(kustomize(t, "base"), "DaemonSet")[0])
	addr := fmt.Sprintf("127.%d.%d.%d", 60+os.Getpid()%100, os.Getpid()/100%250, 30)
	args := expandEnv(ds.Spec.Template.Spec.Containers[0].Args, map[string]string{"HOST_IP": addr, "POD_NAMESPACE": "istio-system"})
	var kept []string
	for _, a := range args {
		if !strings.HasPrefix(a, "--egress-interface") { // the node-local interface is TestEgressInterface's (e2e)
			kept = append(kept, a)
		}
	}
	// The node's addresses become loopback ones; the API server is the test's.
	kept = append(kept, "--egress-addr="+addr, "--admin-listen="+addr+":15000", "--dns-upstream=127.0.0.1:1",
		"--kubeconfig="+kubeconfig, "--node-name=node-1")
	o, err := parseRun(kept)
	if err != nil {
		t.Fatalf("arguments %q: %v", kept, err)
	}
	g, err := start(o, zap.NewNop(), zap.NewNop())
	if err != nil {
		t.Fatalf("start with the DaemonSet's arguments: %v", err)
	}
	t.Cleanup(func() { _ = g.shutdown() })

	c.Apply(t, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: github, namespace: team-a}
spec:
  hosts: [api.github.com]
  resolution: DNS
  ports: [{number: 443, name: https, protocol: HTTPS}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: broken, namespace: team-a}
spec:
  hosts: [other.example.test]
  resolution: DNS
  ports: [{number: 443, name: https, protocol: FOO}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: github, namespace: team-a}
spec:
  host: api.github.com
  trafficPolicy:
    tls: {mode: SIMPLE, credentialName: client-credential}
`)
	client := &http.Client{Timeout: 2 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get("http://" + addr + ":15000" + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var status int
	var body, events string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		status, body = get("/readyz")
		_, dump := get("/config_dump")
		events, _ = c.KubectlErr("", "-n", "team-a", "get", "events", "--field-selector", "involvedObject.name=broken,reason="+kube.ReasonInvalid, "-o", "name")
		if status == http.StatusOK && strings.Contains(dump, "api.github.com") && strings.TrimSpace(events) != "" &&
			strings.Contains(dump, "client-credential") {
			return
		}
	}
	t.Errorf("as the DaemonSet's ServiceAccount after 60 s: /readyz %d %q; Warning Event on the broken ServiceEntry: %q; "+
		"want ready, api.github.com and the client-credential Secret in /config_dump, and the Event", status, body, events)
	_, dump := get("/config_dump")
	t.Logf("/config_dump:\n%s", dump)
}
