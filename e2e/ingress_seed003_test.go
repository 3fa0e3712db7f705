//go:build e2e && linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestIngressSeed003 is seed 003's Gateway: httpsRedirect on 80, SIMPLE
// from files on 443, credentialName on 9443 with a namespaced wildcard
// host, namespaced hosts on 9080, and a MONGO (TCP) server on 2379.
func TestIngressSeed003(t *testing.T) {
	tp := ingressEnv(t)
	p := tp.ingress.pki
	// The article's certificate paths, pointed at this run's files.
	gateway := strings.NewReplacer(
		"/etc/certs/servercert.pem", p.certFile("bookinfo"),
		"/etc/certs/privatekey.pem", p.keyFile("bookinfo"),
	).Replace(tp.renderDocs(t, "ingress/seeds/003-gateway.yaml"))
	configs := tp.configSet(t, map[string][]string{
		"services.yaml": {"ingress/services/bookinfo.yaml", "ingress/services/tcp-backend.yaml"},
		"secrets.yaml":  {"ingress/secrets/bookinfo-secret.yaml"},
		"routes.yaml":   {"ingress/routes/seed003.yaml"},
	})
	configs["seed003.yaml"] = gateway
	gw := tp.startIngress(t, "seed003", configs, "--ingress-labels", "app=my-gateway-controller")
	ca1 := p.caFile[1]
	const gwName = "some-config-namespace/my-gateway"

	t.Run("https_redirect", func(t *testing.T) {
		for _, host := range []string{"uk.bookinfo.com", "eu.bookinfo.com"} {
			marker := "id=seed003-redirect-" + host
			r := tp.ingressCurl("http://"+host+"/productpage?"+marker, "-i")
			wantResponse(t, r, 301)
			wantHeader(t, r, "Location", "https://"+host+"/productpage")
			wantIngressLog(t, gw, ingressLine{host: host, path: "/productpage", status: 301, gateway: gwName})
		}
		if n := tp.ingress.backendCount(t, "id=seed003-redirect"); len(n) != 0 {
			t.Errorf("a redirected request reached a backend: %v", n)
		}
	})

	t.Run("simple_from_files", func(t *testing.T) {
		r := tp.ingressCurl("https://uk.bookinfo.com/productpage-tls?id=seed003-443", "--cacert", ca1)
		wantResponse(t, r, 200, "bookinfo host=uk.bookinfo.com uri=/productpage-tls")
		wantIngressLog(t, gw, ingressLine{host: "uk.bookinfo.com", path: "/productpage-tls", status: 200, gateway: gwName,
			virtualService: "bookinfo-namespace/bookinfo", route: "bookinfo"})
		wantServedCertificate(t, tp, 443, "eu.bookinfo.com", p.caFile[1], p.certFile("bookinfo"))
	})

	t.Run("credential_name_namespaced_wildcard", func(t *testing.T) {
		for _, host := range []string{"uk.bookinfo.com", "www.bookinfo.com"} {
			r := tp.ingressCurl("https://"+host+":9443/reviews?id=seed003-9443", "--cacert", ca1)
			wantResponse(t, r, 200, "bookinfo host="+host)
		}
		wantServedCertificate(t, tp, 9443, "www.bookinfo.com", p.caFile[1], p.certFile("bookinfo-wild"))
		// other/x-bookinfo is not in bookinfo-namespace: not bound here.
		r := tp.ingressCurl("https://x.bookinfo.com:9443/reviews?id=seed003-9443-other", "--cacert", ca1)
		want404(t, r, "x.bookinfo.com", "/reviews", "VirtualService", "my-gateway")
	})

	t.Run("namespaced_hosts", func(t *testing.T) {
		cases := []struct {
			host   string
			status int
		}{
			{"www.ns1.example", 200}, // ns1/*
			{"foo.bar.com", 200},     // ns2/foo.bar.com
			{"other.ns2.example", 404},
		}
		for _, c := range cases {
			r := tp.ingressCurl(fmt.Sprintf("http://%s:9080/details?id=seed003-9080", c.host))
			if c.status == 404 {
				want404(t, r, c.host, "/details", "VirtualService")
			} else {
				wantResponse(t, r, 200, "bookinfo host="+c.host)
			}
		}
	})

	t.Run("mongo_tcp", func(t *testing.T) {
		r := tp.execIn(tp.ingress.out, defaultTimeout, "sh", "-c", fmt.Sprintf("printf 'ping\\n' | nc -q 1 -w 3 %s 2379", ingressAddr))
		if !strings.Contains(r.stdout, "tcp-backend hello\necho: ping") {
			t.Errorf("port 2379: got %q, want the TCP backend's greeting and echo\n%s", r.stdout, r)
		}
		wantIngressLog(t, gw, ingressLine{msg: "connection", upstream: tcpAddr, gateway: gwName, virtualService: "default/mongo"})
	})
}
