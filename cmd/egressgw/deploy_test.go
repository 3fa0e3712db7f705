package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// The manifests of deploy/ as a user gets them: the Kustomize base and
// overlay built by kustomize, the Helm chart rendered by helm template.
// The tools come from scripts/install-kube-tools.sh; scripts/test.sh sets
// EGRESSGW_TOOLS_BIN, and then a missing tool fails the test instead of
// skipping it.

const deployDir = "../../deploy"

func kubeTool(t *testing.T, name string) string {
	t.Helper()
	dir, required := os.LookupEnv("EGRESSGW_TOOLS_BIN")
	if !required {
		dir = "/var/cache/egressgw-tools/bin"
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		if required {
			t.Fatalf("%s: %v (scripts/install-kube-tools.sh installs it)", name, err)
		}
		t.Skipf("%s not installed (bash scripts/install-kube-tools.sh)", name)
	}
	return p
}

// object is one rendered manifest, decoded from YAML into JSON's types.
type object map[string]any

func (o object) id() string {
	md, _ := o["metadata"].(map[string]any)
	return fmt.Sprintf("%v %v/%v", o["kind"], md["namespace"], md["name"])
}

func render(t *testing.T, tool string, args ...string) []object {
	t.Helper()
	cmd := exec.Command(kubeTool(t, tool), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, stderr.String())
	}
	var objs []object
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("%s output, document %d: %v", tool, i+1, err)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
	if len(objs) == 0 {
		t.Fatalf("%s %s rendered nothing", tool, strings.Join(args, " "))
	}
	return objs
}

func kustomize(t *testing.T, dir string) []object {
	return render(t, "kustomize", "build", filepath.Join(deployDir, dir))
}

func helmTemplate(t *testing.T, args ...string) []object {
	return render(t, "helm", append([]string{"template", "egressgw", filepath.Join(deployDir, "helm/egressgw"), "--namespace", "istio-system"}, args...)...)
}

// withoutHelm drops what only Helm adds: its labels.
func withoutHelm(objs []object) map[string]object {
	var clean func(v any) any
	clean = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "labels" || k == "annotations" {
					if m, ok := x.(map[string]any); ok {
						for l := range m {
							if strings.HasPrefix(l, "app.kubernetes.io/") || l == "helm.sh/chart" {
								delete(m, l)
							}
						}
					}
				}
				v[k] = clean(x)
			}
		case []any:
			for i, x := range v {
				v[i] = clean(x)
			}
		}
		return v
	}
	out := map[string]object{}
	for _, o := range objs {
		o = clean(map[string]any(o)).(map[string]any)
		out[o.id()] = o
	}
	return out
}

// TestDeployKustomizeHelmAgree: the Kustomize base and the Helm chart's
// defaults are the same objects (kinds, names, specs), as are the overlay
// with files and the chart given the same files.
func TestDeployKustomizeHelmAgree(t *testing.T) {
	cfg := filepath.Join(deployDir, "config/egress.yaml")
	tests := []struct {
		name       string
		kustomize  string
		helmArgs   []string
		wantKinds  int
		wantObject string
	}{
		{name: "API only", kustomize: "base", wantKinds: 4, wantObject: "DaemonSet istio-system/egressgw"},
		{name: "with files", kustomize: ".", helmArgs: []string{"--set-file", `config.files.egress\.yaml=` + cfg}, wantKinds: 5, wantObject: "ConfigMap istio-system/egressgw-config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, h := withoutHelm(kustomize(t, tt.kustomize)), withoutHelm(helmTemplate(t, tt.helmArgs...))
			if len(k) != tt.wantKinds || k[tt.wantObject] == nil {
				t.Errorf("kustomize rendered %d objects %v, want %d with %s", len(k), keys(k), tt.wantKinds, tt.wantObject)
			}
			for id, ko := range k {
				ho, ok := h[id]
				if !ok {
					t.Errorf("%s: rendered by kustomize, not by helm (helm has %v)", id, keys(h))
					continue
				}
				if !reflect.DeepEqual(ko, ho) {
					kb, _ := json.MarshalIndent(ko, "", " ")
					hb, _ := json.MarshalIndent(ho, "", " ")
					t.Errorf("%s differs:\nkustomize: %s\nhelm:      %s", id, kb, hb)
				}
			}
			for id := range h {
				if k[id] == nil {
					t.Errorf("%s: rendered by helm, not by kustomize", id)
				}
			}
		})
	}
}

func keys(m map[string]object) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func decode[T any](t *testing.T, o object) *T {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", o.id(), err)
	}
	return &v
}

func find(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

// expandEnv is the kubelet's $(VAR) expansion of container args.
func expandEnv(args []string, env map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := env[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		})
	}
	return out
}

// TestDeployDaemonSet holds every rendering's DaemonSet to what egressgw
// needs on a node: arguments it accepts, admin on loopback with the probes
// there, the node-local address, --ingress-addr from the node's IP, a
// non-root user with only the capabilities its flags need, and a rolling
// update that does not start a second gateway beside the first.
func TestDeployDaemonSet(t *testing.T) {
	tests := []struct {
		name      string
		objs      func(t *testing.T) []object
		adminHost string // "" : the node's IP
		netAdmin  bool
	}{
		{name: "kustomize base", objs: func(t *testing.T) []object { return kustomize(t, "base") }, adminHost: "127.0.0.1", netAdmin: true},
		{name: "kustomize with files", objs: func(t *testing.T) []object { return kustomize(t, ".") }, adminHost: "127.0.0.1", netAdmin: true},
		{name: "helm defaults", objs: func(t *testing.T) []object { return helmTemplate(t) }, adminHost: "127.0.0.1", netAdmin: true},
		{name: "helm: address set up by the operator, admin on the node IP", objs: func(t *testing.T) []object {
			return helmTemplate(t, "--set", "egressInterface=", "--set", "admin.host=$(HOST_IP)")
		}, adminHost: "", netAdmin: false},
	}
	const hostIP = "10.0.0.7"
	// In a pod: the kubelet sets the API server's address, and --kube reads it.
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := tt.objs(t)
			dss := find(objs, "DaemonSet")
			if len(dss) != 1 {
				t.Fatalf("%d DaemonSets, want 1", len(dss))
			}
			ds := decode[appsv1.DaemonSet](t, dss[0])
			pod := ds.Spec.Template.Spec
			if len(pod.Containers) != 1 || pod.Containers[0].Name != "egressgw" {
				t.Fatalf("containers %+v: want one, egressgw", pod.Containers)
			}
			c := pod.Containers[0]
			env := map[string]string{"POD_NAMESPACE": ds.Namespace}
			for _, e := range c.Env {
				if e.Name == "HOST_IP" {
					if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.hostIP" {
						t.Errorf("HOST_IP from %+v, want the downward API's status.hostIP", e.ValueFrom)
					}
					env["HOST_IP"] = hostIP
				}
				if e.Name == "NODE_NAME" && (e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "spec.nodeName") {
					t.Errorf("NODE_NAME from %+v, want spec.nodeName (--node-name's default, in the Events)", e.ValueFrom)
				}
			}
			args := expandEnv(c.Args, env)
			o, err := parseRun(args)
			if err != nil {
				t.Fatalf("the DaemonSet's arguments %q are refused: %v", args, err)
			}
			if !o.kube || o.kubeconfig != "" {
				t.Errorf("--kube %v, --kubeconfig %q: want the API server through the in-cluster configuration", o.kube, o.kubeconfig)
			}
			if o.namespace != "istio-system" {
				t.Errorf("--namespace %q, want the pod's own, istio-system", o.namespace)
			}
			if o.egressAddr != netip.MustParseAddr("169.254.20.11") {
				t.Errorf("--egress-addr %s, want the node-local 169.254.20.11", o.egressAddr)
			}
			if o.ingressAddr != netip.MustParseAddr(hostIP) {
				t.Errorf("--ingress-addr %s, want the node's IP %s ($(HOST_IP))", o.ingressAddr, hostIP)
			}
			if o.adminPprof {
				t.Error("--admin-pprof is on in a shipped DaemonSet")
			}
			host, portStr, err := net.SplitHostPort(o.adminListen)
			if err != nil {
				t.Fatal(err)
			}
			wantHost := tt.adminHost
			if wantHost == "" {
				wantHost = hostIP
			}
			if host != wantHost {
				t.Errorf("--admin-listen %s: want host %s", o.adminListen, wantHost)
			}
			if !pod.HostNetwork {
				t.Error("hostNetwork is off: the probes' 127.0.0.1 would be the pod's own loopback, and pods' DNS could not reach the node-local address")
			}
			if !o.reusePort || o.adminSocket == "" {
				t.Errorf("--reuse-port %v, --admin-socket %q: a surge pod must listen beside the old one, probed on its own socket", o.reusePort, o.adminSocket)
			}
			for name, p := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
				path := "/readyz"
				if name == "livenessProbe" {
					path = "/healthz"
				}
				want := []string{"/egressgw", "probe", "--admin-socket=" + o.adminSocket, path}
				if p == nil || p.Exec == nil || !slices.Equal(p.Exec.Command, want) {
					t.Errorf("%s: %+v, want exec %q (an httpGet of the shared admin port could be answered by the other pod of an update)", name, p, want)
				}
			}
			for _, cp := range c.Ports {
				t.Errorf("container port %+v: on the host network a hostPort, which keeps the surge pod off the node", cp)
			}
			if a := ds.Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != portStr || a["prometheus.io/path"] != "/metrics" {
				t.Errorf("prometheus annotations %v: want scrape true, port %s, path /metrics", a, portStr)
			}
			if ds.Spec.Template.Labels["istio"] != "egressgateway" || o.labels["istio"] != "egressgateway" {
				t.Errorf("pod labels %v, --labels %v: want istio=egressgateway (users' egress Gateways select it)", ds.Spec.Template.Labels, o.labels)
			}
			// --reuse-port: the new pod starts beside the old one, which
			// stops only once the new one is ready.
			ru := ds.Spec.UpdateStrategy.RollingUpdate
			if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 1 {
				t.Errorf("rollingUpdate %+v: want maxUnavailable 0, maxSurge 1", ru)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
			}
			sc := c.SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 ||
				sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Fatalf("securityContext %+v: want runAsNonRoot, user 65532, readOnlyRootFilesystem", sc)
			}
			// File capabilities are ignored under no_new_privs.
			if sc.AllowPrivilegeEscalation == nil || !*sc.AllowPrivilegeEscalation {
				t.Error("allowPrivilegeEscalation false: the kernel would ignore the binary's file capabilities, and port 53 would be refused")
			}
			wantCaps := []corev1.Capability{"NET_BIND_SERVICE"}
			if tt.netAdmin {
				wantCaps = append(wantCaps, "NET_ADMIN")
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Add, wantCaps) || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("capabilities %+v: want add %v, drop ALL", sc.Capabilities, wantCaps)
			}
			if (o.egressIface != "") != tt.netAdmin {
				t.Errorf("--egress-interface %q with NET_ADMIN %v: the one needs the other", o.egressIface, tt.netAdmin)
			}
			sas := find(objs, "ServiceAccount")
			if len(sas) != 1 || pod.ServiceAccountName != decode[corev1.ServiceAccount](t, sas[0]).Name {
				t.Errorf("serviceAccountName %q: want the ServiceAccount rendered with it", pod.ServiceAccountName)
			}
			for _, b := range find(objs, "ClusterRoleBinding") {
				crb := decode[rbacv1.ClusterRoleBinding](t, b)
				if len(crb.Subjects) != 1 || crb.Subjects[0].Name != pod.ServiceAccountName || crb.Subjects[0].Namespace != ds.Namespace {
					t.Errorf("ClusterRoleBinding subjects %+v: want the ServiceAccount %s/%s", crb.Subjects, ds.Namespace, pod.ServiceAccountName)
				}
			}
		})
	}
}

// TestDeployHelmRefuses: values that would give a gateway that cannot
// start fail helm template with a message naming them.
func TestDeployHelmRefuses(t *testing.T) {
	cmd := exec.Command(kubeTool(t, "helm"), "template", "egressgw", filepath.Join(deployDir, "helm/egressgw"), "--set", "kube.enabled=false")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "kube.enabled=false leaves the gateway no configuration") {
		t.Errorf("helm template --set kube.enabled=false: %v\n%s\nwant a refusal naming kube.enabled and config.files", err, out)
	}
}

// TestDeployRBAC: the ClusterRole grants exactly the reads the gateway's
// informers need and Events, nothing more; rbac.secretNames narrows Secrets.
func TestDeployRBAC(t *testing.T) {
	want := map[string][]string{
		"networking.istio.io/serviceentries":      {"list", "watch"},
		"networking.istio.io/destinationrules":    {"list", "watch"},
		"networking.istio.io/gateways":            {"list", "watch"},
		"networking.istio.io/virtualservices":     {"list", "watch"},
		"networking.istio.io/sidecars":            {"list", "watch"},
		"security.istio.io/authorizationpolicies": {"list", "watch"},
		"/services":                       {"list", "watch"},
		"/pods":                           {"list", "watch"},
		"/namespaces":                     {"list", "watch"},
		"discovery.k8s.io/endpointslices": {"list", "watch"},
		"/secrets":                        {"list", "watch"},
		"/events":                         {"create", "patch"},
	}
	tests := []struct {
		name        string
		objs        func(t *testing.T) []object
		secretNames []string
	}{
		{name: "kustomize base", objs: func(t *testing.T) []object { return kustomize(t, "base") }},
		{name: "helm defaults", objs: func(t *testing.T) []object { return helmTemplate(t) }},
		{name: "helm with secretNames", objs: func(t *testing.T) []object {
			return helmTemplate(t, "--set", "rbac.secretNames={client-credential,egress-ca}")
		}, secretNames: []string{"client-credential", "egress-ca"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crs := find(tt.objs(t), "ClusterRole")
			if len(crs) != 1 {
				t.Fatalf("%d ClusterRoles, want 1", len(crs))
			}
			got := map[string][]string{}
			for _, r := range decode[rbacv1.ClusterRole](t, crs[0]).Rules {
				if len(r.NonResourceURLs) > 0 {
					t.Errorf("rule %+v: non-resource URLs are not needed", r)
				}
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						key := g + "/" + res
						if g == "*" || res == "*" || slices.Contains(r.Verbs, "*") {
							t.Errorf("rule %+v: a wildcard", r)
						}
						got[key] = append(got[key], r.Verbs...)
						wantNames := []string(nil)
						if res == "secrets" {
							wantNames = tt.secretNames
						}
						if !slices.Equal(r.ResourceNames, wantNames) {
							t.Errorf("%s: resourceNames %v, want %v", key, r.ResourceNames, wantNames)
						}
					}
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ClusterRole grants\n%v\nwant exactly\n%v", got, want)
			}
		})
	}
}

// TestDeployExamples: the ways pods are pointed at the gateway name the
// DaemonSet's address, and Helm's NetworkPolicy is the example's.
func TestDeployExamples(t *testing.T) {
	read := func(name string) object {
		b, err := os.ReadFile(filepath.Join(deployDir, "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		var o object
		if err := yaml.Unmarshal(b, &o); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return o
	}
	const addr = "169.254.20.11" // TestDeployDaemonSet holds the DaemonSet to it

	pod := decode[corev1.Pod](t, read("pod-dnsconfig.yaml"))
	if pod.Spec.DNSPolicy != corev1.DNSNone || pod.Spec.DNSConfig == nil || !slices.Equal(pod.Spec.DNSConfig.Nameservers, []string{addr}) {
		t.Errorf("pod-dnsconfig.yaml: dnsPolicy %q nameservers %v, want None and [%s]", pod.Spec.DNSPolicy, pod.Spec.DNSConfig, addr)
	}

	cm := decode[corev1.ConfigMap](t, read("coredns-forward.yaml"))
	if cm.Namespace != "kube-system" || cm.Name != "coredns" || !regexp.MustCompile(`(?m)^\s*forward \. `+regexp.QuoteMeta(addr)+`\b`).MatchString(cm.Data["Corefile"]) {
		t.Errorf("coredns-forward.yaml: %s/%s with Corefile\n%s\nwant kube-system/coredns forwarding . to %s", cm.Namespace, cm.Name, cm.Data["Corefile"], addr)
	}
	if strings.Contains(cm.Data["Corefile"], "/etc/resolv.conf") {
		t.Error("coredns-forward.yaml still forwards to /etc/resolv.conf")
	}

	kd := decode[corev1.ConfigMap](t, read("kube-dns-stubdomains.yaml"))
	var stubs map[string][]string
	var upstream []string
	if err := json.Unmarshal([]byte(kd.Data["stubDomains"]), &stubs); err != nil {
		t.Errorf("kube-dns-stubdomains.yaml stubDomains: %v", err)
	}
	if err := json.Unmarshal([]byte(kd.Data["upstreamNameservers"]), &upstream); err != nil || !slices.Equal(upstream, []string{addr}) {
		t.Errorf("kube-dns-stubdomains.yaml upstreamNameservers %v (%v), want [%s]", upstream, err, addr)
	}
	for zone, ns := range stubs {
		if !slices.Equal(ns, []string{addr}) {
			t.Errorf("stubDomains[%s] = %v, want [%s]", zone, ns, addr)
		}
	}

	np := decode[networkingv1.NetworkPolicy](t, read("networkpolicy.yaml"))
	if len(np.Spec.Egress) == 0 || len(np.Spec.Egress[0].To) == 0 || np.Spec.Egress[0].To[0].IPBlock == nil || np.Spec.Egress[0].To[0].IPBlock.CIDR != addr+"/32" {
		t.Errorf("networkpolicy.yaml egress %+v: want the first rule to %s/32", np.Spec.Egress, addr)
	}
	hnps := find(helmTemplate(t, "--set", "networkPolicy.namespaces={team-a,team-b}"), "NetworkPolicy")
	if len(hnps) != 2 {
		t.Fatalf("helm networkPolicy.namespaces of two: %d NetworkPolicies", len(hnps))
	}
	for i, o := range hnps {
		h := decode[networkingv1.NetworkPolicy](t, o)
		if wantNS := []string{"team-a", "team-b"}[i]; h.Namespace != wantNS || h.Name != np.Name {
			t.Errorf("helm NetworkPolicy %s/%s, want %s/%s", h.Namespace, h.Name, wantNS, np.Name)
		}
		if !reflect.DeepEqual(h.Spec, np.Spec) {
			t.Errorf("helm NetworkPolicy spec\n%+v\nwant the example's\n%+v", h.Spec, np.Spec)
		}
	}
}
