//go:build e2e && linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// Istio's egress-kubernetes-services task, its YAML unchanged
// (testdata/ingress/tasks/egress-kubernetes-services), and the ingress
// task with its destination as a Kubernetes Service and EndpointSlice
// (issue 13).

// wikipediaEndpoints points the task's Endpoints, wikipedia's addresses,
// at the e2e internet namespace, as other cases point the tasks' certificate
// paths at this run's files: nginx (serving my-wikipedia.default.svc.cluster.local
// and en.wikipedia.org on 443) and the namespace's second address, where
// nothing listens on 443 (the gateway's dial goes on to the next endpoint).
func wikipediaEndpoints(doc string) string {
	return strings.NewReplacer("198.35.26.96", internetAddr, "208.80.153.224", internetHttpbinAddr).Replace(doc)
}

// TestIngressEgressKubernetesServices is Istio's egress-kubernetes-services
// task: an ExternalName Service (my-httpbin -> httpbin.org, DestinationRule
// DISABLE) and a Service without selector with Endpoints outside the
// cluster (my-wikipedia), both egress through the gateway.
func TestIngressEgressKubernetesServices(t *testing.T) {
	tp := ingressEnv(t)
	const d = egressTaskDir + "egress-kubernetes-services/"
	task := tp.renderDocs(t, d+"01-service-my-httpbin.yaml", d+"02-destinationrule-my-httpbin.yaml", d+"03-service-my-wikipedia.yaml") +
		"\n---\n" + wikipediaEndpoints(tp.renderDocs(t, d+"04-endpoints-my-wikipedia.yaml")) +
		"\n---\n" + tp.renderDocs(t, d+"05-destinationrule-my-wikipedia.yaml")
	gw := tp.startIngress(t, "egress-kubernetes-services", map[string]string{"task.yaml": task})
	const wiki = "my-wikipedia.default.svc.cluster.local"

	t.Run("external_name_host_kept", func(t *testing.T) {
		wantResolves(t, tp, "my-httpbin.default.svc.cluster.local")
		// kubectl exec "$SOURCE_POD" -c curl -- curl -sS my-httpbin.default.svc.cluster.local/headers
		r := tp.podCurl("-sS", "http://my-httpbin.default.svc.cluster.local/headers")
		wantResponse(t, r, 200)
		if got := httpbinHeaders(t, r)["Host"]; got != "my-httpbin.default.svc.cluster.local" {
			t.Errorf("httpbin.org saw Host %q, want my-httpbin.default.svc.cluster.local (kept as sent)", got)
		}
	})
	t.Run("selectorless_service_name_answered", func(t *testing.T) {
		// The Service's name is egress: DNS answers it with the gateway.
		wantResolves(t, tp, wiki)
	})
	t.Run("selectorless_service_tls_passthrough", func(t *testing.T) {
		// The task's curl -sS https://.../wiki/Main_Page, to the Service by its
		// name (the client's SNI): passed through to the endpoints.
		r := tp.podCurl("-sS", "--cacert", tp.pki.caFile, "https://"+wiki+"/wiki/Main_Page?id=k8s-wiki")
		wantResponse(t, r, 200, wiki+" sni="+wiki)
		if e := tp.nginxSaw(t, "id=k8s-wiki"); e.SNI != wiki || e.SSLProtocol == "" || e.Remote != nodeUpAddr {
			t.Errorf("nginx saw %+v; want the pod's TLS (SNI %s) passed through from the node", e, wiki)
		}
		wantSiteCertificate(t, tp, wiki)
		wantIngressLog(t, gw, ingressLine{direction: "egress", msg: "connection", sni: wiki})
	})
	t.Run("other_sni_decided_as_its_host", func(t *testing.T) {
		// The task's --resolve en.wikipedia.org:443:<the Service's address>: the
		// gateway routes TLS by SNI (it cannot tell which name the client
		// resolved), so en.wikipedia.org is decided as itself: not registered,
		// refused under REGISTRY_ONLY (README: where egressgw differs).
		mark := tp.nginxMark(t)
		r := tp.podCurl("-sS", "--cacert", tp.pki.caFile, "--resolve", "en.wikipedia.org:443:"+egressAddr, "https://en.wikipedia.org/wiki/Main_Page?id=k8s-enwiki")
		if r.code != 35 { // CURLE_SSL_CONNECT_ERROR: the gateway's access_denied alert
			t.Errorf("got curl exit %d, want 35 (refused in the handshake)\n%s", r.code, r)
		}
		tp.podCurl("-sS", "--cacert", tp.pki.caFile, "https://"+wiki+"/?id=k8s-sentinel")
		tp.nginxSaw(t, "id=k8s-sentinel")
		tp.nginxNever(t, mark, "en.wikipedia.org", func(e nginxEntry) bool { return e.SNI == "en.wikipedia.org" })
	})
}

// TestIngressControlKubernetesService is Istio's ingress-control task with
// its destination httpbin as a Kubernetes Service (targetPort by name) and
// its EndpointSlice instead of a ServiceEntry: routed to the ready pod, the
// not-ready one never tried, the Service's name not answered by DNS (pods
// reach it through kube-proxy).
func TestIngressControlKubernetesService(t *testing.T) {
	tp := ingressEnv(t)
	gw := tp.startIngress(t, "ingress-control-k8s", tp.configSet(t, map[string][]string{
		"services.yaml":        {"ingress/services/httpbin-k8s.yaml"},
		"ingress-control.yaml": {taskDir + "ingress-control/01-gateway-httpbin-gateway.yaml", taskDir + "ingress-control/02-virtualservice-httpbin.yaml"},
	}))
	for i := range 3 {
		// curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"
		r := tp.outsideCurl("-s", "-I", "-HHost:httpbin.example.com", ingressBase+fmt.Sprintf(":80/status/200?id=ick8s-%d", i))
		wantResponse(t, r, 200)
	}
	wantIngressLog(t, gw, ingressLine{host: "httpbin.example.com", path: "/status/200", status: 200,
		gateway: "default/httpbin-gateway", virtualService: "default/httpbin", route: "spec.http[0]"})
	r := tp.outsideCurl("-s", "-I", "-HHost:httpbin.example.com", ingressBase+":80/headers")
	wantResponse(t, r, 404)
	rd := tp.dig(tp.pod, "@"+egressAddr, "httpbin.default.svc.cluster.local", "A")
	if strings.Contains(rd.stdout, egressAddr) && strings.Contains(rd.stdout, "ANSWER SECTION") {
		t.Errorf("dig httpbin.default.svc.cluster.local answered with the gateway; an in-cluster Service is not egress\n%s", rd)
	}
}
