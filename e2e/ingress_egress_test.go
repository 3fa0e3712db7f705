//go:build e2e && linux

package e2e

import (
	"strings"
	"testing"
)

// Istio's egress-gateway tasks, their YAML unchanged (testdata/ingress/
// tasks): Gateways on the egress labels and VirtualServices bound to mesh
// and to the egress gateway, from the pod to the internet's nginx (which
// serves edition.cnn.com) and httpbin (httpbin.org).

const egressTaskDir = taskDir

// startEgressTask runs a gateway (REGISTRY_ONLY) with the task's documents
// in one file, task.yaml.
func (tp *topology) startEgressTask(t *testing.T, name string, docs ...string) *gateway {
	t.Helper()
	return tp.startIngress(t, name, map[string]string{"task.yaml": tp.renderDocs(t, docs...)})
}

// TestIngressEgressGateway is Istio's egress-gateway task: HTTP through the
// egress Gateway (mesh -> gateway -> edition.cnn.com:80), then HTTPS passed
// through it by SNI.
func TestIngressEgressGateway(t *testing.T) {
	tp := ingressEnv(t)
	const d = egressTaskDir + "egress-gateway/"
	gw := tp.startEgressTask(t, "egress-gateway",
		d+"01-serviceentry-cnn.yaml", d+"02-gateway-istio-egressgateway.yaml",
		d+"03-destinationrule-egressgateway-for-cnn.yaml", d+"04-virtualservice-direct-cnn-through-egress-gateway.yaml")

	t.Run("http", func(t *testing.T) {
		wantResolves(t, tp, "edition.cnn.com")
		// curl -sSL -o /dev/null -D - http://edition.cnn.com/politics
		r := tp.podCurl("-sSL", "-o", "/dev/null", "-D", "-", "http://edition.cnn.com/politics?id=egw-http")
		if r.status != 200 || !strings.Contains(r.stdout, "HTTP/1.1 200") {
			t.Errorf("got status %d, want HTTP/1.1 200\n%s", r.status, r)
		}
		e := tp.nginxSaw(t, "id=egw-http")
		if e.Host != "edition.cnn.com" || e.Port != "80" || e.SSLProtocol != "" || e.Remote != nodeUpAddr {
			t.Errorf("nginx saw %+v; want plain HTTP on 80 with Host edition.cnn.com from the node", e)
		}
		wantIngressLog(t, gw, ingressLine{direction: "egress", host: "edition.cnn.com", path: "/politics", status: 200,
			gateway: "default/istio-egressgateway", virtualService: "default/direct-cnn-through-egress-gateway"})
	})

	gw.apply(t, "task.yaml", tp.renderDocs(t,
		d+"05-serviceentry-cnn.yaml", d+"06-gateway-istio-egressgateway.yaml",
		d+"07-destinationrule-egressgateway-for-cnn.yaml", d+"08-virtualservice-direct-cnn-through-egress-gateway.yaml"))
	t.Run("https_passthrough", func(t *testing.T) {
		// curl -sSL -o /dev/null -D - https://edition.cnn.com/politics
		r := tp.podCurl("-sSL", "--cacert", tp.pki.caFile, "-o", "/dev/null", "-D", "-", "https://edition.cnn.com/politics?id=egw-https")
		if r.status != 200 || !strings.Contains(r.stdout, "HTTP/2 200") {
			t.Errorf("got status %d, want HTTP/2 200\n%s", r.status, r)
		}
		wantSiteCertificate(t, tp, "edition.cnn.com")
		if e := tp.nginxSaw(t, "id=egw-https"); e.SNI != "edition.cnn.com" || e.SSLProtocol == "" {
			t.Errorf("nginx saw %+v; want TLS from the pod with SNI edition.cnn.com", e)
		}
		wantIngressLog(t, gw, ingressLine{direction: "egress", msg: "connection", sni: "edition.cnn.com",
			virtualService: "default/direct-cnn-through-egress-gateway"})
	})
}

// TestIngressEgressGatewayTLSOrigination is Istio's
// egress-gateway-tls-origination task: the pod's plain HTTP on port 80 is
// accepted as the ISTIO_MUTUAL leg, the egress Gateway's route sends it to
// port 443, where a DestinationRule originates TLS.
func TestIngressEgressGatewayTLSOrigination(t *testing.T) {
	tp := ingressEnv(t)
	const d = egressTaskDir + "egress-gateway-tls-origination/"
	gw := tp.startEgressTask(t, "egress-gateway-tls-origination",
		d+"01-serviceentry-cnn.yaml", d+"02-gateway-istio-egressgateway.yaml",
		d+"03-destinationrule-egressgateway-for-cnn.yaml", d+"04-virtualservice-direct-cnn-through-egress-gateway.yaml",
		d+"05-destinationrule-originate-tls-for-edition-cnn-com.yaml")
	wantResolves(t, tp, "edition.cnn.com")
	// curl -sSL -o /dev/null -D - http://edition.cnn.com/politics
	r := tp.podCurl("-sSL", "-o", "/dev/null", "-D", "-", "http://edition.cnn.com/politics?id=egw-orig")
	if r.status != 200 || !strings.Contains(r.stdout, "HTTP/1.1 200") {
		t.Errorf("got status %d, want HTTP/1.1 200 as the first and only response\n%s", r.status, r)
	}
	e := tp.nginxSaw(t, "id=egw-orig")
	if e.SSLProtocol == "" || e.SNI != "edition.cnn.com" || e.Port != "443" || e.Host != "edition.cnn.com" {
		t.Errorf("nginx saw %+v; want TLS originated to 443 with SNI and Host edition.cnn.com", e)
	}
	wantIngressLog(t, gw, ingressLine{direction: "egress", host: "edition.cnn.com", path: "/politics", status: 200,
		gateway: "default/istio-egressgateway", virtualService: "default/direct-cnn-through-egress-gateway"})
}

// TestIngressEgressControlTimeout is egress-control's route rule on an
// external host: httpbin.org/delay/5 answers 200, then 504 (naming the
// route) once a VirtualService sets timeout 3s.
func TestIngressEgressControlTimeout(t *testing.T) {
	tp := ingressEnv(t)
	const d = egressTaskDir + "egress-control/"
	gw := tp.startEgressTask(t, "egress-control", d+"01-serviceentry-httpbin-ext.yaml")
	// time curl -o /dev/null -sS -w "%{http_code}\n" http://httpbin.org/delay/5
	delay5 := func(marker string) curlResult {
		return tp.podCurl("--max-time", "15", "http://httpbin.org/delay/5?id="+marker)
	}
	wantResolves(t, tp, "httpbin.org")
	if r := delay5("egc-baseline"); r.status != 200 {
		t.Errorf("without the VirtualService: got status %d, want 200\n%s", r.status, r)
	}
	gw.apply(t, "task.yaml", tp.renderDocs(t, d+"01-serviceentry-httpbin-ext.yaml", d+"03-virtualservice-httpbin-ext.yaml"))
	r := delay5("egc-timeout")
	wantResponse(t, r, 504, "spec.http[0]") // the unnamed route, by its field
	wantIngressLog(t, gw, ingressLine{direction: "egress", host: "httpbin.org", path: "/delay/5", status: 504, virtualService: "default/httpbin-ext"})
}
