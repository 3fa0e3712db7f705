//go:build e2e && linux

package e2e

import (
	"fmt"
	"testing"
)

// The seeds' ingress YAML (testdata/ingress/seeds, from /work/shared/seeds)
// against the gateway, with the results the articles show.

const ingressBase = "http://" + ingressAddr // the task's http://$INGRESS_HOST:$INGRESS_PORT

// want404 checks a 404 whose body says what was missing (issue 12: host,
// path and the Gateway, and which of server, VirtualService or route).
func want404(t *testing.T, r curlResult, host, path string, names ...string) {
	t.Helper()
	wantResponse(t, r, 404, append([]string{host, path}, names...)...)
}

// TestIngressSeed000 is seed 000 (Istio's ingress-control in an article):
// host + prefix routes, 404 otherwise, then "*" hosts.
func TestIngressSeed000(t *testing.T) {
	tp := ingressEnv(t)
	gw := tp.startIngress(t, "seed000", tp.configSet(t, map[string][]string{
		"services.yaml": {"ingress/services/httpbin.yaml"},
		"seed000.yaml":  {"ingress/seeds/000-gateway.yaml", "ingress/seeds/000-virtualservice.yaml"},
	}))

	t.Run("status_200", func(t *testing.T) {
		// curl -I -HHost:httpbin.example.com http://$INGRESS_HOST:$INGRESS_PORT/status/200
		r := tp.outsideCurl("-I", "-HHost:httpbin.example.com", ingressBase+"/status/200?id=seed000-status")
		wantResponse(t, r, 200)
		wantIngressLog(t, gw, ingressLine{host: "httpbin.example.com", path: "/status/200", status: 200,
			gateway: "default/httpbin-gateway", virtualService: "default/httpbin", route: "spec.http[0]"})
	})
	t.Run("delay_prefix", func(t *testing.T) {
		r := tp.outsideCurl("-HHost:httpbin.example.com", ingressBase+"/delay/0?id=seed000-delay")
		wantResponse(t, r, 200, `"url"`)
	})
	t.Run("headers_404_no_route", func(t *testing.T) {
		r := tp.outsideCurl("-I", "-HHost:httpbin.example.com", ingressBase+"/headers")
		if r.status != 404 {
			t.Errorf("HEAD /headers: got status %d, want 404\n%s", r.status, r)
		}
		r = tp.outsideCurl("-HHost:httpbin.example.com", ingressBase+"/headers?id=seed000-404")
		want404(t, r, "httpbin.example.com", "/headers", "VirtualService default/httpbin", "httpbin-gateway")
		wantIngressLog(t, gw, ingressLine{host: "httpbin.example.com", path: "/headers", status: 404, gateway: "default/httpbin-gateway"})
	})
	t.Run("prefix_is_not_a_substring", func(t *testing.T) {
		r := tp.outsideCurl("-HHost:httpbin.example.com", ingressBase+"/xstatus/200")
		want404(t, r, "httpbin.example.com", "/xstatus/200", "VirtualService default/httpbin")
	})
	t.Run("other_host_404_no_server", func(t *testing.T) {
		r := tp.outsideCurl("-HHost:other.example.com", ingressBase+"/status/200?id=seed000-nohost")
		want404(t, r, "other.example.com", "/status/200", "Gateway")
	})
	t.Run("host_with_port", func(t *testing.T) {
		r := tp.outsideCurl("-HHost:httpbin.example.com:80", ingressBase+"/status/200")
		wantResponse(t, r, 200)
	})

	// The article's kubectl apply of the "*" Gateway and VirtualService:
	// same names, so they replace the first two.
	gw.apply(t, "seed000.yaml", tp.renderDocs(t, "ingress/seeds/000-wildcard.yaml"))
	t.Run("star_headers", func(t *testing.T) {
		// http://127.0.0.1:31380/headers in a browser: any Host.
		r := tp.outsideCurl(ingressBase + "/headers?id=seed000-star")
		wantResponse(t, r, 200)
		if h := httpbinHeaders(t, r); h["Host"] != ingressAddr {
			t.Errorf("httpbin saw Host %q, want %s\n%s", h["Host"], ingressAddr, r)
		}
		wantIngressLog(t, gw, ingressLine{host: ingressAddr, path: "/headers", status: 200,
			gateway: "default/httpbin-gateway", virtualService: "default/httpbin"})
		r = tp.outsideCurl("-HHost:anything.example.net", ingressBase+"/headers")
		wantResponse(t, r, 200)
		if h := httpbinHeaders(t, r); h["Host"] != "anything.example.net" {
			t.Errorf("httpbin saw Host %q, want anything.example.net\n%s", h["Host"], r)
		}
	})
	t.Run("star_status_now_404", func(t *testing.T) {
		r := tp.outsideCurl("-HHost:httpbin.example.com", ingressBase+"/status/200")
		want404(t, r, "httpbin.example.com", "/status/200", "VirtualService default/httpbin")
	})
}

// TestIngressSeed001 is seed 001: every request of www.service1.io goes to
// subset v1 (DestinationRule subsets by endpoint labels), none to v2.
func TestIngressSeed001(t *testing.T) {
	tp := ingressEnv(t)
	gw := tp.startIngress(t, "seed001", tp.configSet(t, map[string][]string{
		"services.yaml": {"ingress/services/k8s-combat.yaml"},
		"seed001.yaml":  {"ingress/seeds/001-gateway.yaml", "ingress/seeds/001-virtualservice.yaml", "ingress/seeds/001-destinationrule.yaml"},
	}), "--ingress-labels", "app=istio-ingressgateway,istio=ingressgateway")

	const n = 20
	for i := range n {
		// curl http://www.service1.io/ping, with www.service1.io at the gateway
		r := tp.ingressCurl(fmt.Sprintf("http://www.service1.io/ping?id=seed001-%d", i))
		wantResponse(t, r, 200, "v1 host=www.service1.io uri=/ping")
		if t.Failed() {
			break
		}
	}
	wantIngressLog(t, gw, ingressLine{host: "www.service1.io", path: "/ping", status: 200,
		gateway: "default/istio-ingress-gateway", virtualService: "default/k8s-combat-istio-http-vs", route: "default"})
	if got := tp.ingress.backendCount(t, "id=seed001-"); got["v1"] != n || got["v2"] != 0 {
		t.Errorf("backends saw %v, want all %d requests on v1 and none on v2", got, n)
	}
}

// TestIngressSeed002 is seed 002: two Gateways on port 80 (*.hello-web.com,
// *.wudebao-web.com), each with a VirtualService of one exact path, routed
// by Host on the same address and port.
func TestIngressSeed002(t *testing.T) {
	tp := ingressEnv(t)
	gw := tp.startIngress(t, "seed002", tp.configSet(t, map[string][]string{
		"services.yaml":            {"ingress/services/hello-web.yaml", "ingress/services/wudebao-web.yaml"},
		"hello-web-gateway.yaml":   {"ingress/seeds/002-hello-web-gateway.yaml"},
		"wudebao-web-gateway.yaml": {"ingress/seeds/002-wudebao-web-gateway.yaml"},
	}))

	cases := []struct {
		name, host, path string
		status           int
		body             []string
		log              ingressLine
	}{
		// curl 172.31.36.68:31380/hello -H "Host: www.hello-web.com"
		{"hello", "www.hello-web.com", "/hello", 200, []string{"hello-web host=www.hello-web.com uri=/hello"},
			ingressLine{status: 200, gateway: "default/hello-web-gateway", virtualService: "default/hello-web"}},
		// curl 172.31.36.68:31380/wudebao -H "Host: www.wudebao-web.com"
		{"wudebao", "www.wudebao-web.com", "/wudebao", 200, []string{"wudebao-web host=www.wudebao-web.com uri=/wudebao"},
			ingressLine{status: 200, gateway: "default/wudebao-web-gateway", virtualService: "default/wudebao-web"}},
		{"path_of_the_other_host", "www.wudebao-web.com", "/hello", 404, []string{"VirtualService default/wudebao-web"},
			ingressLine{status: 404, gateway: "default/wudebao-web-gateway"}},
		{"exact_not_prefix", "www.hello-web.com", "/hello/more", 404, []string{"VirtualService default/hello-web"},
			ingressLine{status: 404}},
		{"admitted_host_without_virtualservice", "api.hello-web.com", "/hello", 404, []string{"hello-web-gateway", "VirtualService"},
			ingressLine{status: 404, gateway: "default/hello-web-gateway"}},
		{"host_of_no_gateway", "www.example.com", "/hello", 404, []string{"Gateway"}, ingressLine{status: 404}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			marker := "id=seed002-" + c.name
			r := tp.outsideCurl("-v", "-H", "Host: "+c.host, ingressBase+c.path+"?"+marker)
			if c.status == 404 {
				want404(t, r, c.host, c.path, c.body...)
			} else {
				wantResponse(t, r, c.status, c.body...)
			}
			c.log.host, c.log.path = c.host, c.path
			wantIngressLog(t, gw, c.log)
		})
	}
	if got := tp.ingress.backendCount(t, "id=seed002-"); got["hello-web"] != 1 || got["wudebao-web"] != 1 {
		t.Errorf("backends saw %v, want one request each on hello-web and wudebao-web", got)
	}
}
