//go:build e2e && linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// kubeDNSAddr is the cluster DNS's address in the test (kube-dns's
// Service IP in a cluster): on the node, on the pod's link.
const kubeDNSAddr = "10.231.1.10"

// coreDNSBinary is the CoreDNS scripts/install-kube-tools.sh builds. With
// EGRESSGW_TOOLS_BIN set (scripts/test.sh sets it) a missing one fails.
func coreDNSBinary(t *testing.T) string {
	t.Helper()
	dir, required := os.LookupEnv("EGRESSGW_TOOLS_BIN")
	if !required {
		dir = "/var/cache/egressgw-tools/bin"
	}
	p := filepath.Join(dir, "coredns")
	if _, err := os.Stat(p); err != nil {
		if required || os.Getenv("CI") == "true" {
			t.Fatalf("coredns: %v (scripts/install-kube-tools.sh builds it)", err)
		}
		t.Skipf("coredns: %v (scripts/install-kube-tools.sh builds it)", err)
	}
	return p
}

// TestClusterDNS points the pod at the gateway the cluster-wide way the
// README gives: its resolver is the cluster DNS (dnsPolicy ClusterFirst),
// CoreDNS running deploy/examples/coredns-forward.yaml's Corefile
// unchanged but for where it binds and how it reaches the API server, which
// forwards every name outside the cluster to the gateway on the node-local
// address. A registered host resolves to the gateway and is forwarded, an
// unregistered one does not resolve, and a Service's name is still
// answered by CoreDNS from the API server.
func TestClusterDNS(t *testing.T) {
	tp := env(t)
	coredns := coreDNSBinary(t)
	data, err := os.ReadFile("../deploy/examples/coredns-forward.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(data, &cm); err != nil {
		t.Fatalf("deploy/examples/coredns-forward.yaml: %v", err)
	}
	corefile := cm.Data["Corefile"]
	if !strings.Contains(corefile, "forward . "+nodeLocalAddr) {
		t.Fatalf("the example Corefile does not forward to %s:\n%s", nodeLocalAddr, corefile)
	}
	kw := startKube(t, tp)
	kw.apply(t, `apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  clusterIP: 10.96.77.7
  selector: {app: httpbin}
  ports: [{name: http, port: 8000}]
`)
	// Where a pod of the cluster would differ: CoreDNS binds the kube-dns
	// address, and reaches the API server through a kubeconfig.
	corefile = strings.Replace(corefile, ".:53 {", ".:53 {\n    bind "+kubeDNSAddr, 1)
	corefile = strings.Replace(corefile, "kubernetes cluster.local in-addr.arpa ip6.arpa {",
		"kubernetes cluster.local in-addr.arpa ip6.arpa {\n        kubeconfig "+kw.c.Kubeconfig+" kubetest", 1)
	corefile = strings.Replace(corefile, "prometheus :9153", "prometheus "+kubeDNSAddr+":9153", 1)
	corefilePath := filepath.Join(tp.dir, "Corefile")
	if err := os.WriteFile(corefilePath, []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := tp.execIn(tp.node, defaultTimeout, "ip", "addr", "add", kubeDNSAddr+"/32", "dev", "eth0"); r.code != 0 {
		t.Fatal(r)
	}
	t.Cleanup(func() { tp.execIn(tp.node, defaultTimeout, "ip", "addr", "del", kubeDNSAddr+"/32", "dev", "eth0") })
	t.Cleanup(func() { tp.execIn(tp.node, defaultTimeout, "ip", "link", "del", "egressgw0") })
	tp.startGatewaySpec(t, gatewayBinary(t, tp), gatewaySpec{name: "cluster-dns", mode: "REGISTRY_ONLY",
		args: []string{"--egress-addr", nodeLocalAddr, "--egress-interface", "egressgw0"}})
	cd, err := startProc("coredns", filepath.Join(tp.dir, "coredns.log"), "ip", "netns", "exec", tp.node, coredns, "-conf", corefilePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cd.stop(syscall.SIGTERM, 5*time.Second)
		if t.Failed() {
			t.Logf("coredns log:\n%s", tail(cd.log(), 3000))
		}
	})
	if err := poll(30*time.Second, 200*time.Millisecond, func() error {
		if cd.exited() {
			return fmt.Errorf("coredns exited (%s): %s: %w", cd.exitStatus(), tail(cd.log(), 2000), errGiveUp)
		}
		r := tp.dig(tp.pod, "+short", "@"+kubeDNSAddr, "httpbin.default.svc.cluster.local", "A")
		if strings.TrimSpace(r.stdout) != "10.96.77.7" {
			return fmt.Errorf("CoreDNS not answering the Service yet: %s", r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tp.setPodResolvConf(t, "nameserver "+kubeDNSAddr+"\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n")

	if r := tp.execIn(tp.pod, defaultTimeout, "getent", "ahostsv4", "api.example.test"); !strings.HasPrefix(strings.TrimSpace(r.stdout), nodeLocalAddr) {
		t.Errorf("through the cluster DNS: api.example.test, want the gateway's %s\n%s", nodeLocalAddr, r)
	}
	wantResponse(t, tp.podCurl("http://api.example.test/cluster-dns"), 200, "api.example.test sni=api.example.test")
	if r := tp.podCurl("http://other.example.test/"); r.status == 200 || !strings.Contains(r.stderr, "Could not resolve host") {
		t.Errorf("an unregistered host through the cluster DNS: want it unresolved\n%s", r)
	}
	if r := tp.dig(tp.pod, "@"+kubeDNSAddr, "other.example.test", "A"); !strings.Contains(r.stdout, "status: NXDOMAIN") {
		t.Errorf("the gateway's refusal through CoreDNS: want NXDOMAIN\n%s", r)
	}
	if r := tp.execIn(tp.pod, defaultTimeout, "getent", "ahostsv4", "httpbin"); !strings.HasPrefix(strings.TrimSpace(r.stdout), "10.96.77.7") {
		t.Errorf("a Service's short name through the cluster DNS: want its ClusterIP 10.96.77.7\n%s", r)
	}
}
