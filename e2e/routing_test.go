//go:build e2e && linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Cases that must reach the upstream: origination, passthrough,
// ExternalName, wildcard hosts, mutual TLS.

// testTLSOrigination is case 1 (Istio egress-tls-origination, step 2): the pod
// sends plain HTTP to port 80, the gateway originates TLS to 443.
func testTLSOrigination(t *testing.T, tp *topology, gw *gateway) {
	wantResolves(t, tp, "api.example.test")
	r := tp.podCurl("-v", "http://api.example.test/case1?id=origination")
	wantResponse(t, r, 200, "api.example.test sni=api.example.test")
	if !strings.Contains(r.stderr, "Connected to api.example.test ("+egressAddr+") port 80") {
		t.Errorf("curl did not connect to the egress address on port 80\n%s", r)
	}
	e := tp.nginxSaw(t, "id=origination")
	if e.SSLProtocol == "" || e.SNI != "api.example.test" || e.Port != "443" || e.Server != "api.example.test" {
		t.Errorf("nginx saw %+v; want TLS (ssl_protocol set) on 443 with SNI api.example.test", e)
	}
	if e.Host != "api.example.test" {
		t.Errorf("nginx saw Host %q, want api.example.test", e.Host)
	}
	t.Run("host_header_forms", func(t *testing.T) {
		// Istio matches the host with or without the port, in any case.
		for _, h := range []string{"api.example.test:80", "API.Example.TEST"} {
			r := tp.podCurl("-H", "Host: "+h, "http://api.example.test/case1?id=hostform")
			wantResponse(t, r, 200, "api.example.test sni=api.example.test")
		}
	})
	t.Run("access_log", func(t *testing.T) {
		if recs := gw.logRecords("api.example.test", "200"); len(recs) == 0 {
			t.Errorf("no JSON log line names api.example.test with 200; log:\n%s", tail(gw.proc.log(), 3000))
		}
	})
}

// testPassthrough is case 2 (egress-control, step 4): the pod speaks TLS and
// must see the upstream's own certificate.
func testPassthrough(t *testing.T, tp *topology, gw *gateway) {
	wantResolves(t, tp, "www.example.test")
	r := tp.podCurl("-v", "--cacert", tp.pki.caFile, "https://www.example.test/case2?id=passthrough")
	wantResponse(t, r, 200, "www.example.test sni=www.example.test")
	if !strings.Contains(r.stderr, "CN=www.example.test") || !strings.Contains(r.stderr, "CN="+caName) {
		t.Errorf("curl -v does not show subject CN=www.example.test and issuer CN=%s\n%s", caName, r)
	}
	wantSiteCertificate(t, tp, "www.example.test")
	e := tp.nginxSaw(t, "id=passthrough")
	if e.SNI != "www.example.test" || e.SSLProtocol == "" {
		t.Errorf("nginx saw %+v; want TLS with SNI www.example.test", e)
	}
}

// testExternalName is case 5 (egress-kubernetes-services, steps 1-3).
func testExternalName(t *testing.T, tp *topology, gw *gateway) {
	const name = "my-api.default.svc.cluster.local"
	wantResolves(t, tp, name)
	r := tp.podCurl("http://" + name + "/headers?id=externalname")
	wantResponse(t, r, 200, plainSite+" host="+name)
	e := tp.nginxSaw(t, "id=externalname")
	if e.Host != name || e.Server != plainSite || e.Port != "80" || e.SSLProtocol != "" {
		t.Errorf("nginx saw %+v; want plain HTTP on 80 to %s with Host %s", e, plainSite, name)
	}
}

// testWildcard is case 6 (wildcard-egress-hosts, step 1).
func testWildcard(t *testing.T, tp *topology, gw *gateway) {
	for _, host := range []string{"en.wiki.example.test", "de.wiki.example.test"} {
		t.Run(strings.SplitN(host, ".", 2)[0], func(t *testing.T) {
			wantResolves(t, tp, host)
			marker := "id=wildcard-" + host
			r := tp.podCurl("--cacert", tp.pki.caFile, "https://"+host+"/case6?"+marker)
			wantResponse(t, r, 200, host+" sni="+host)
			wantSiteCertificate(t, tp, host)
			if e := tp.nginxSaw(t, marker); e.SNI != host {
				t.Errorf("nginx saw SNI %q, want %s", e.SNI, host)
			}
		})
	}
	t.Run("parent_not_matched", func(t *testing.T) {
		wantBlockedName(t, tp, "wiki.example.test") // *.wiki.example.test does not cover it
	})
}

// testMutualOrigination is case 7 (egress-tls-origination, steps 5-7).
func testMutualOrigination(t *testing.T, tp *topology, gw *gateway) {
	t.Run("client_certificate_sent", func(t *testing.T) {
		r := tp.podCurl("http://mtls.example.test/case7?id=mtls")
		wantResponse(t, r, 200, "mtls.example.test sni=mtls.example.test", "CN="+clientCN)
		e := tp.nginxSaw(t, "id=mtls")
		if !strings.Contains(e.ClientDN, "CN="+clientCN) || e.SSLProtocol == "" || e.SNI != "mtls.example.test" {
			t.Errorf("nginx saw %+v; want TLS with SNI mtls.example.test and client DN CN=%s", e, clientCN)
		}
	})
	t.Run("without_client_certificate", func(t *testing.T) {
		// Originated SIMPLE to the same site: nginx answers 400 itself.
		r := tp.podCurl("http://mtls-nocert.example.test/case7?id=mtls-nocert")
		wantResponse(t, r, 400, "No required SSL certificate")
		if e := tp.nginxSaw(t, "id=mtls-nocert"); e.ClientDN != "" || e.Status != "400" {
			t.Errorf("nginx saw %+v; want status 400 and no client DN", e)
		}
	})
}

// testHTTP2Origination is case 9b: a DestinationRule with h2UpgradePolicy
// UPGRADE has the gateway speak HTTP/2 over TLS to the upstream while the
// pod speaks HTTP/1.1, for single, concurrent and body-carrying requests.
func testHTTP2Origination(t *testing.T, tp *topology, gw *gateway) {
	wantResolves(t, tp, "h2.example.test")
	r := tp.podCurl("-v", "http://h2.example.test/case9b?id=h2-get")
	wantResponse(t, r, 200, "h2.example.test sni=h2.example.test host=h2.example.test")
	if !strings.Contains(r.stderr, "< HTTP/1.1 200") {
		t.Errorf("the pod did not get an HTTP/1.1 response\n%s", r)
	}
	if e := tp.nginxSaw(t, "id=h2-get"); !strings.HasSuffix(e.Request, "HTTP/2.0") || e.SNI != "h2.example.test" {
		t.Errorf("nginx saw %+v; want the request over HTTP/2.0 with SNI h2.example.test", e)
	}

	t.Run("concurrent", func(t *testing.T) {
		const n = 10
		results := make(chan curlResult, n)
		for i := range n {
			go func() { results <- tp.podCurl(fmt.Sprintf("http://h2.example.test/case9b?id=h2-par-%d", i)) }()
		}
		for range n {
			wantResponse(t, <-results, 200, "h2.example.test")
		}
		for i := range n {
			if e := tp.nginxSaw(t, fmt.Sprintf("id=h2-par-%d ", i)); !strings.HasSuffix(e.Request, "HTTP/2.0") {
				t.Errorf("nginx saw %+v; want HTTP/2.0", e)
			}
		}
	})

	t.Run("request_body", func(t *testing.T) {
		// 1 MiB: more than nginx's initial HTTP/2 window, so the body
		// moves with the upstream's WINDOW_UPDATEs.
		body := filepath.Join(t.TempDir(), "body")
		if err := os.WriteFile(body, bytes.Repeat([]byte("0123456789abcdef"), 1<<16), 0o644); err != nil {
			t.Fatal(err)
		}
		r := tp.podCurl("--data-binary", "@"+body, "http://h2.example.test/case9b?id=h2-post")
		wantResponse(t, r, 200, "h2.example.test")
		if e := tp.nginxSaw(t, "id=h2-post"); e.Request != "POST /case9b?id=h2-post HTTP/2.0" || e.Status != "200" {
			t.Errorf("nginx saw %+v; want POST over HTTP/2.0 answered 200", e)
		}
	})

	t.Run("access_log", func(t *testing.T) {
		if recs := gw.logRecords("h2.example.test", "200"); len(recs) == 0 {
			t.Errorf("no JSON log line names h2.example.test with 200; log:\n%s", tail(gw.proc.log(), 3000))
		}
	})
}
