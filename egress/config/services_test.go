package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// k8sService is the YAML of Service default/name (kubectl get -o yaml
// shape) with a selector or none, and ports (a YAML flow sequence).
func k8sService(name string, selector bool, ports string) string {
	sel := ""
	if selector {
		sel = "  selector: {app: " + name + "}\n"
	}
	return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: default}\nspec:\n  type: ClusterIP\n  clusterIP: 10.96.0.10\n" +
		sel + "  ports: " + ports + "\n"
}

// k8sSlice is the YAML of EndpointSlice default/name of Service svc, with
// ports and endpoints (YAML flow sequences) and more labels (a flow map's
// inside, "" for none).
func k8sSlice(name, svc, ports, endpoints, labels string) string {
	if labels != "" {
		labels = ", " + labels
	}
	return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " + name + "\n  namespace: default\n" +
		"  labels: {kubernetes.io/service-name: " + svc + labels + "}\naddressType: IPv4\nports: " + ports + "\nendpoints: " + endpoints + "\n"
}

// k8sEndpoints is the YAML of Endpoints default/name with subsets (a YAML
// flow sequence).
func k8sEndpoints(name, subsets string) string {
	return "apiVersion: v1\nkind: Endpoints\nmetadata: {name: " + name + ", namespace: default}\nsubsets: " + subsets + "\n"
}

// ingressTo is an ingress Gateway on port 80 for "*" and a VirtualService
// routing everything to destination (a YAML flow map).
func ingressTo(destination string) string {
	return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: default}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: ` + destination + `}]}]
`
}

// dialled lists where a cluster's connections go: "address:port" per
// endpoint, as the engine dials them (the endpoint's port of the cluster
// port's name, else the target port).
func dialled(cl *Cluster) []string {
	var out []string
	for _, ep := range cl.Entry.Endpoints {
		p := cl.EntryPort.TargetPort
		if n, ok := ep.Ports[cl.EntryPort.Name]; ok {
			p = n
		}
		out = append(out, fmt.Sprintf("%s:%d", ep.Address, p))
	}
	return out
}

// TestServiceDestinations: a route to a Kubernetes Service goes to its
// ready endpoints, at the EndpointSlice port that carries the Service
// port's name (issue 13).
func TestServiceDestinations(t *testing.T) {
	httpbin := k8sService("httpbin", true, "[{name: http, port: 8000, targetPort: web}]")
	twoPorts := k8sService("api", true, "[{name: http, port: 80, targetPort: 8080}, {name: admin, port: 9000, targetPort: 9090}]")
	tests := []struct {
		name        string
		docs        []string
		cluster     string   // the route's cluster name
		want        []string // dialled endpoints
		wantMissing string   // substring of Cluster.Missing; "" for none
		wantWarning string
		registered  bool                         // a selectorless Service with endpoints: egress, registered
		podLabels   map[string]map[string]string // Options.PodLabels by "namespace/name"; nil: none
	}{
		{name: "port by number, targetPort by name, only ready endpoints", docs: []string{httpbin,
			k8sSlice("httpbin-abc", "httpbin", "[{name: http, port: 8080, protocol: TCP}]",
				"[{addresses: [10.1.0.1], conditions: {ready: true}}, {addresses: [10.1.0.2]}, {addresses: [10.1.0.3], conditions: {ready: false}},"+
					" {addresses: [10.1.0.4], conditions: {ready: false, serving: true, terminating: true}}]", ""),
			ingressTo("{host: httpbin, port: {number: 8000}}")},
			cluster: "outbound|8000||httpbin.default.svc.cluster.local", want: []string{"10.1.0.1:8080", "10.1.0.2:8080"}},
		{name: "single-port Service, no port given", docs: []string{httpbin,
			k8sSlice("httpbin-abc", "httpbin", "[{name: http, port: 8080}]", "[{addresses: [10.1.0.1]}]", ""),
			ingressTo("{host: httpbin.default.svc.cluster.local}")},
			cluster: "outbound|8000||httpbin.default.svc.cluster.local", want: []string{"10.1.0.1:8080"}},
		{name: "second port by number, endpoint port by name", docs: []string{twoPorts,
			k8sSlice("api-1", "api", "[{name: http, port: 8080}, {name: admin, port: 9090}]", "[{addresses: [10.1.0.1]}, {addresses: [10.1.0.2]}]", ""),
			ingressTo("{host: api, port: {number: 9000}}")},
			cluster: "outbound|9000||api.default.svc.cluster.local", want: []string{"10.1.0.1:9090", "10.1.0.2:9090"}},
		{name: "multi-slice: each slice's port for its endpoints", docs: []string{httpbin,
			k8sSlice("httpbin-a", "httpbin", "[{name: http, port: 8080}]", "[{addresses: [10.1.0.2]}]", ""),
			k8sSlice("httpbin-b", "httpbin", "[{name: http, port: 8081}]", "[{addresses: [10.1.0.1]}, {addresses: [10.1.0.3], conditions: {ready: false}}]", ""),
			ingressTo("{host: httpbin}")},
			cluster: "outbound|8000||httpbin.default.svc.cluster.local", want: []string{"10.1.0.1:8081", "10.1.0.2:8080"}},
		{name: "endpoints without the port's name do not serve it", docs: []string{twoPorts,
			k8sSlice("api-1", "api", "[{name: http, port: 8080}]", "[{addresses: [10.1.0.1]}]", ""),
			k8sSlice("api-2", "api", "[{name: http, port: 8080}, {name: admin, port: 9090}]", "[{addresses: [10.1.0.2]}]", ""),
			ingressTo("{host: api, port: {number: 9000}}")},
			cluster: "outbound|9000||api.default.svc.cluster.local", want: []string{"10.1.0.2:9090"}},
		{name: "Endpoints (v1): addresses, not notReadyAddresses", docs: []string{httpbin,
			k8sEndpoints("httpbin", "[{addresses: [{ip: 10.2.0.1}, {ip: 10.2.0.2}], notReadyAddresses: [{ip: 10.2.0.3}], ports: [{name: http, port: 8080}]}]"),
			ingressTo("{host: httpbin}")},
			cluster: "outbound|8000||httpbin.default.svc.cluster.local", want: []string{"10.2.0.1:8080", "10.2.0.2:8080"}},
		{name: "Endpoints mirrored into an EndpointSlice: endpoints once", docs: []string{k8sService("legacy", false, "[{name: http, port: 80}]"),
			k8sEndpoints("legacy", "[{addresses: [{ip: 10.3.0.1}, {ip: 10.3.0.2}], ports: [{name: http, port: 8080}]}]"),
			k8sSlice("legacy-xyz", "legacy", "[{name: http, port: 8080}]", "[{addresses: [10.3.0.1]}, {addresses: [10.3.0.2]}]",
				"endpointslice.kubernetes.io/managed-by: endpointslicemirroring-controller.k8s.io"),
			ingressTo("{host: legacy}")},
			cluster: "outbound|80||legacy.default.svc.cluster.local", want: []string{"10.3.0.1:8080", "10.3.0.2:8080"}, registered: true},
		{name: "EndpointSlices win over Endpoints (the controller writes both)", docs: []string{httpbin,
			k8sEndpoints("httpbin", "[{addresses: [{ip: 10.2.0.9}], ports: [{name: http, port: 8080}]}]"),
			k8sSlice("httpbin-abc", "httpbin", "[{name: http, port: 8080}]", "[{addresses: [10.1.0.1]}]",
				"endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io"),
			ingressTo("{host: httpbin}")},
			cluster: "outbound|8000||httpbin.default.svc.cluster.local", want: []string{"10.1.0.1:8080"}},
		{name: "one address in two slices is one endpoint", docs: []string{httpbin,
			k8sSlice("httpbin-a", "httpbin", "[{name: http, port: 8080}]", "[{addresses: [10.1.0.1]}]", ""),
			k8sSlice("httpbin-b", "httpbin", "[{name: http, port: 8080}]", "[{addresses: [10.1.0.1]}]", ""),
			ingressTo("{host: httpbin}")},
			cluster: "outbound|8000||httpbin.default.svc.cluster.local", want: []string{"10.1.0.1:8080"}},
		{name: "one address with other ports (host network) is another endpoint", docs: []string{httpbin,
			k8sSlice("httpbin-a", "httpbin", "[{name: http, port: 8080}]", "[{addresses: [10.1.0.1]}]", ""),
			k8sSlice("httpbin-b", "httpbin", "[{name: http, port: 8081}]", "[{addresses: [10.1.0.1]}]", ""),
			ingressTo("{host: httpbin}")},
			cluster: "outbound|8000||httpbin.default.svc.cluster.local", want: []string{"10.1.0.1:8080", "10.1.0.1:8081"}},
		{name: "no ready endpoints: 503 naming the Service", docs: []string{httpbin,
			k8sSlice("httpbin-abc", "httpbin", "[{name: http, port: 8080}]", "[{addresses: [10.1.0.1], conditions: {ready: false}}]", ""),
			ingressTo("{host: httpbin}")},
			cluster: "outbound|8000||httpbin.default.svc.cluster.local", wantMissing: "Service default/httpbin has no ready endpoints for port 8000"},
		{name: "no EndpointSlice at all", docs: []string{httpbin, ingressTo("{host: httpbin}")},
			cluster: "outbound|8000||httpbin.default.svc.cluster.local", wantMissing: "Service default/httpbin has no ready endpoints for port 8000"},
		{name: "subset without labels: every endpoint, its policy applied", docs: []string{httpbin,
			k8sSlice("httpbin-abc", "httpbin", "[{name: http, port: 8080}]", "[{addresses: [10.1.0.1]}]", ""),
			"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: httpbin, namespace: default}\nspec:\n  host: httpbin\n" +
				"  subsets: [{name: all}, {name: v1, labels: {version: v1}}]\n",
			ingressTo("{host: httpbin, subset: all}")},
			cluster: "outbound|8000|all|httpbin.default.svc.cluster.local", want: []string{"10.1.0.1:8080"}},
		{name: "subset with labels: the labels of the pods the slice names", docs: []string{httpbin,
			k8sSlice("httpbin-abc", "httpbin", "[{name: http, port: 8080}]",
				"[{addresses: [10.1.0.1], targetRef: {kind: Pod, name: httpbin-v1}}, {addresses: [10.1.0.2], targetRef: {kind: Pod, name: httpbin-v2, namespace: default}}, {addresses: [10.1.0.3], targetRef: {kind: Pod, name: gone}}]", ""),
			"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: httpbin, namespace: default}\nspec:\n  host: httpbin\n" +
				"  subsets: [{name: v1, labels: {version: v1}}]\n",
			ingressTo("{host: httpbin, subset: v1}")},
			podLabels: map[string]map[string]string{"default/httpbin-v1": {"app": "httpbin", "version": "v1"}, "default/httpbin-v2": {"app": "httpbin", "version": "v2"}},
			cluster:   "outbound|8000|v1|httpbin.default.svc.cluster.local", want: []string{"10.1.0.1:8080"}},
		{name: "subset with labels: pod labels are not read", docs: []string{httpbin,
			k8sSlice("httpbin-abc", "httpbin", "[{name: http, port: 8080}]", "[{addresses: [10.1.0.1]}]", ""),
			"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: httpbin, namespace: default}\nspec:\n  host: httpbin\n" +
				"  subsets: [{name: v1, labels: {version: v1}}]\n",
			ingressTo("{host: httpbin, subset: v1}")},
			cluster:     "outbound|8000|v1|httpbin.default.svc.cluster.local",
			wantMissing: "subset v1 of httpbin.default.svc.cluster.local selects no endpoint (labels map[version:v1]: Service endpoints carry no pod labels in egressgw)",
			wantWarning: "its labels are matched against pod labels, which egressgw does not read for Service endpoints"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "svc.yaml")
			writeTestFile(t, f, strings.Join(tc.docs, "---\n"))
			opts := Options{}
			if tc.podLabels != nil {
				opts.PodLabels = func(ns, name string) map[string]string { return tc.podLabels[ns+"/"+name] }
			}
			s := mustLoad(t, opts, f)
			var cl *Cluster
			for i := range s.Clusters {
				if s.Clusters[i].Name == tc.cluster {
					cl = &s.Clusters[i]
				}
			}
			if cl == nil {
				t.Fatalf("no cluster %s in %v", tc.cluster, describeRoutes(s))
			}
			if tc.wantMissing != "" {
				if !strings.Contains(cl.Missing, tc.wantMissing) {
					t.Errorf("Missing = %q, want it to contain %q", cl.Missing, tc.wantMissing)
				}
			} else if cl.Missing != "" {
				t.Errorf("Missing = %q, want none", cl.Missing)
			}
			if got := dialled(cl); cl.Missing == "" && !slices.Equal(got, tc.want) {
				t.Errorf("endpoints = %v, want %v", got, tc.want)
			}
			if tc.wantWarning != "" && !hasWarning(s, tc.wantWarning) {
				t.Errorf("missing warning %q in\n%s", tc.wantWarning, strings.Join(s.Warnings, "\n"))
			}
			if tc.registered {
				if e := entryByHost(t, s, tc.cluster[strings.LastIndex(tc.cluster, "|")+1:]); len(e.Endpoints) != len(tc.want) {
					t.Errorf("registered entry has %d endpoints, want %d", len(e.Endpoints), len(tc.want))
				}
			} else if len(s.Entries) != 0 {
				t.Errorf("entries = %v, want none: Services in the cluster are not registered (DNS does not answer them)", hosts(s))
			}
		})
	}
}

// TestSelectorlessServiceIsEgress: a Service without selector whose
// Endpoints list ready addresses (Istio's my-wikipedia) is registered on its
// ports with STATIC resolution to them; one without ready endpoints is not.
func TestSelectorlessServiceIsEgress(t *testing.T) {
	f := filepath.Join(t.TempDir(), "svc.yaml")
	writeTestFile(t, f, strings.Join([]string{
		k8sService("my-wikipedia", false, "[{protocol: TCP, port: 443, name: tls}]"),
		k8sEndpoints("my-wikipedia", "[{addresses: [{ip: 198.35.26.96}, {ip: 208.80.153.224}], ports: [{port: 443, name: tls}]}]"),
		k8sService("idle", false, "[{port: 443, name: tls}]"),
		k8sEndpoints("idle", "[{notReadyAddresses: [{ip: 198.51.100.7}], ports: [{port: 443, name: tls}]}]"),
		k8sService("pods", true, "[{port: 443, name: tls}]"),
		k8sSlice("pods-1", "pods", "[{name: tls, port: 8443}]", "[{addresses: [10.1.0.1]}]", ""),
		k8sEndpoints("orphan", "[{addresses: [{ip: 198.51.100.8}], ports: [{port: 443}]}]"),
		// A controller's endpoints for pods, without selector: in the cluster.
		k8sService("pod-managed", false, "[{port: 443, name: tls}]"),
		k8sSlice("pod-managed-1", "pod-managed", "[{name: tls, port: 8443}]", "[{addresses: [10.1.0.9], targetRef: {kind: Pod, name: p-1, namespace: default}}]", ""),
		// The API server's Service: in the cluster.
		"apiVersion: v1\nkind: Service\nmetadata: {name: kubernetes, namespace: default}\nspec:\n  clusterIP: 10.96.0.1\n  ports: [{name: https, port: 443, targetPort: 6443}]\n",
		k8sSlice("kubernetes", "kubernetes", "[{name: https, port: 6443}]", "[{addresses: [192.168.1.10]}]", ""),
		"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: my-wikipedia, namespace: default}\nspec:\n" +
			"  host: my-wikipedia.default.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}}\n",
	}, "---\n"))
	s := mustLoad(t, Options{}, f)
	if got, want := hosts(s), []string{"my-wikipedia.default.svc.cluster.local"}; !slices.Equal(got, want) {
		t.Fatalf("registered hosts = %v, want %v", got, want)
	}
	e := entryByHost(t, s, "my-wikipedia.default.svc.cluster.local")
	if e.Resolution != ResolutionStatic || e.Source != "Service default/my-wikipedia (selectorless, endpoints)" {
		t.Errorf("entry = %s resolution %v, want Service default/my-wikipedia (selectorless, endpoints), STATIC", e.Source, e.Resolution)
	}
	p := port(t, e, 443)
	if p.Protocol != ProtocolTLS || p.TLS != nil {
		t.Errorf("port 443: protocol %v, TLS %v; want TLS passthrough, no origination (DestinationRule DISABLE)", p.Protocol, p.TLS)
	}
	cl := Cluster{Entry: *e, EntryPort: *p}
	if got, want := dialled(&cl), []string{"198.35.26.96:443", "208.80.153.224:443"}; !slices.Equal(got, want) {
		t.Errorf("endpoints = %v, want %v", got, want)
	}
	if !hasListener(s, 443) {
		t.Errorf("no listener on 443: %v", s.Listeners)
	}
	for _, w := range []string{
		"Service default/idle: not registered for egress: none of its endpoints is ready",
		"Endpoints default/orphan: not applied: no Service default/orphan is loaded",
	} {
		if !hasWarning(s, w) {
			t.Errorf("missing warning %q in\n%s", w, strings.Join(s.Warnings, "\n"))
		}
	}
	if hasWarning(s, "DestinationRule default/my-wikipedia") {
		t.Errorf("the DestinationRule should apply: %q", s.Warnings)
	}
}

// TestServiceEntryTakesPrecedence: a ServiceEntry registering a Service's
// name keeps it; the Service (with endpoints or not) is not applied, and a
// warning names both.
func TestServiceEntryTakesPrecedence(t *testing.T) {
	f := filepath.Join(t.TempDir(), "svc.yaml")
	writeTestFile(t, f, strings.Join([]string{
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se, namespace: default}\nspec:\n" +
			"  hosts: [my-wikipedia.default.svc.cluster.local, httpbin.default.svc.cluster.local]\n  resolution: STATIC\n" +
			"  endpoints: [{address: 192.0.2.1}]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n",
		k8sService("my-wikipedia", false, "[{port: 443, name: tls}]"),
		k8sEndpoints("my-wikipedia", "[{addresses: [{ip: 198.51.100.1}], ports: [{port: 443, name: tls}]}]"),
		k8sService("httpbin", true, "[{port: 443, name: tls}]"),
		ingressTo("{host: httpbin}"),
	}, "---\n"))
	s := mustLoad(t, Options{}, f)
	if got, want := hosts(s), []string{"my-wikipedia.default.svc.cluster.local", "httpbin.default.svc.cluster.local"}; !slices.Equal(got, want) {
		t.Errorf("registered hosts = %v, want %v (the ServiceEntry's, once each)", got, want)
	}
	for _, w := range []string{
		"Service default/my-wikipedia: not applied: ServiceEntry default/se registers its name my-wikipedia.default.svc.cluster.local, and takes precedence",
		"Service default/httpbin: not applied: ServiceEntry default/se registers its name httpbin.default.svc.cluster.local",
	} {
		if !hasWarning(s, w) {
			t.Errorf("missing warning %q in\n%s", w, strings.Join(s.Warnings, "\n"))
		}
	}
	for _, cl := range s.Clusters {
		if cl.Host == "httpbin.default.svc.cluster.local" && (cl.Missing != "" || cl.Entry.Source != "ServiceEntry default/se") {
			t.Errorf("cluster %s: entry %q missing %q, want the ServiceEntry's", cl.Name, cl.Entry.Source, cl.Missing)
		}
	}
}

// TestClusterServicesQuiet: what every cluster has (kube-dns with UDP and
// TCP ports, a headless Service without ports) loads without a warning,
// as it will from the API server; the TCP port is a destination.
func TestClusterServicesQuiet(t *testing.T) {
	f := filepath.Join(t.TempDir(), "svc.yaml")
	writeTestFile(t, f, strings.Join([]string{
		"apiVersion: v1\nkind: Service\nmetadata: {name: kube-dns, namespace: kube-system}\nspec:\n  clusterIP: 10.96.0.10\n" +
			"  selector: {k8s-app: kube-dns}\n  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}, {name: metrics, port: 9153}]\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: default}\nspec:\n  clusterIP: None\n  selector: {app: db}\n",
		"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: kube-dns-1, namespace: kube-system, labels: {kubernetes.io/service-name: kube-dns}}\n" +
			"addressType: IPv4\nports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53}, {name: metrics, port: 9153}]\nendpoints: [{addresses: [10.244.0.5]}]\n",
		ingressTo("{host: kube-dns.kube-system.svc.cluster.local, port: {number: 53}}"),
	}, "---\n"))
	s := mustLoad(t, Options{}, f)
	if len(s.Warnings) != 0 {
		t.Errorf("warnings:\n%s", strings.Join(s.Warnings, "\n"))
	}
	for _, cl := range s.Clusters {
		if got := dialled(&cl); cl.Missing != "" || !slices.Equal(got, []string{"10.244.0.5:53"}) {
			t.Errorf("cluster %s: endpoints %v (missing %q), want [10.244.0.5:53]", cl.Name, got, cl.Missing)
		}
	}
}

// TestIstioTaskKubernetesServices loads Istio's egress-kubernetes-services
// task unchanged: my-httpbin (ExternalName) and my-wikipedia (selectorless,
// Endpoints) are both registered.
func TestIstioTaskKubernetesServices(t *testing.T) {
	s := mustLoad(t, Options{}, filepath.Join(istioTasks(t), "egress-kubernetes-services.yaml"))
	want := []string{"my-httpbin.default.svc.cluster.local", "my-wikipedia.default.svc.cluster.local"}
	if got := hosts(s); !slices.Equal(got, want) {
		t.Fatalf("hosts = %v, want %v", got, want)
	}
	if len(s.Warnings) != 0 {
		t.Errorf("warnings: %q", s.Warnings)
	}
}

// TestMeshVirtualServiceForClusterService: a VirtualService bound to mesh
// for a Service in the cluster opens no egress listener (pods reach the
// Service through kube-proxy) and says so.
func TestMeshVirtualServiceForClusterService(t *testing.T) {
	f := filepath.Join(t.TempDir(), "svc.yaml")
	writeTestFile(t, f, strings.Join([]string{
		k8sService("reviews", true, "[{name: http, port: 9080}]"),
		k8sSlice("reviews-1", "reviews", "[{name: http, port: 9080}]", "[{addresses: [10.1.0.1]}]", ""),
		"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, namespace: default}\nspec:\n" +
			"  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews}}]}]\n",
	}, "---\n"))
	s := mustLoad(t, Options{}, f)
	want := "VirtualService default/reviews: spec.hosts: not applied to mesh traffic for reviews.default.svc.cluster.local: Service default/reviews is in the cluster, where pods reach it through kube-proxy, not egressgw"
	if !hasWarning(s, want) {
		t.Errorf("missing warning %q in\n%s", want, strings.Join(s.Warnings, "\n"))
	}
	if len(s.Listeners) != 0 {
		t.Errorf("listeners = %v, want none", s.Listeners)
	}
}
