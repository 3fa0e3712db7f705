//go:build e2e && linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// setPodResolvConf gives the pod namespace this resolv.conf until t ends.
func (tp *topology) setPodResolvConf(t *testing.T, content string) {
	t.Helper()
	resolv := filepath.Join("/etc/netns", tp.pod, "resolv.conf")
	saved, err := os.ReadFile(resolv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.WriteFile(resolv, saved, 0o644) })
	if err := os.WriteFile(resolv, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// kubeletResolvConf is the resolv.conf the kubelet writes for a pod with
// dnsPolicy None: its dnsConfig's nameservers, search list and options.
func kubeletResolvConf(dc *corev1.PodDNSConfig) string {
	var b strings.Builder
	for _, ns := range dc.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(dc.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dc.Searches, " "))
	}
	var opts []string
	for _, o := range dc.Options {
		if o.Value != nil {
			opts = append(opts, o.Name+":"+*o.Value)
		} else {
			opts = append(opts, o.Name)
		}
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.String()
}

// TestPodDNSConfig points the pod at the gateway the per-pod way the README
// gives, with deploy/examples/pod-dnsconfig.yaml's dnsConfig as the kubelet
// would write it, and the gateway run as the DaemonSet runs it (the
// node-local address on its own interface): the pod's own resolver, no
// --resolve and no @server, reaches a registered host through the gateway,
// and an unregistered one does not resolve.
func TestPodDNSConfig(t *testing.T) {
	tp := env(t)
	data, err := os.ReadFile("../deploy/examples/pod-dnsconfig.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(data, &pod); err != nil {
		t.Fatalf("deploy/examples/pod-dnsconfig.yaml: %v", err)
	}
	if pod.Spec.DNSPolicy != corev1.DNSNone || pod.Spec.DNSConfig == nil || len(pod.Spec.DNSConfig.Nameservers) != 1 || pod.Spec.DNSConfig.Nameservers[0] != nodeLocalAddr {
		t.Fatalf("the example pod: dnsPolicy %q, dnsConfig %+v; want None with the one nameserver %s", pod.Spec.DNSPolicy, pod.Spec.DNSConfig, nodeLocalAddr)
	}
	tp.setPodResolvConf(t, kubeletResolvConf(pod.Spec.DNSConfig))
	t.Cleanup(func() { tp.execIn(tp.node, defaultTimeout, "ip", "link", "del", "egressgw0") })
	tp.startGatewaySpec(t, gatewayBinary(t, tp), gatewaySpec{name: "pod-dnsconfig", mode: "REGISTRY_ONLY",
		args: []string{"--egress-addr", nodeLocalAddr, "--egress-interface", "egressgw0"}})

	if r := tp.execIn(tp.pod, defaultTimeout, "getent", "ahostsv4", "api.example.test"); !strings.HasPrefix(strings.TrimSpace(r.stdout), nodeLocalAddr) {
		t.Errorf("the pod's resolver: api.example.test, want %s\n%s", nodeLocalAddr, r)
	}
	wantResponse(t, tp.podCurl("http://api.example.test/pod-dnsconfig"), 200, "api.example.test sni=api.example.test")
	if r := tp.podCurl("http://other.example.test/"); r.status == 200 || !strings.Contains(r.stderr, "Could not resolve host") {
		t.Errorf("an unregistered host through the pod's resolver: want it unresolved\n%s", r)
	}
}
