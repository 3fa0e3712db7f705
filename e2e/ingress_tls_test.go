//go:build e2e && linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestIngressTLS covers the TLS pains of issue 12 (testdata/ingress/routes/
// tls-features.yaml): the certificate for a client that sends no SNI, and
// 421 for a request whose Host belongs to another server than the
// connection's SNI on a certificate two servers share.
func TestIngressTLS(t *testing.T) {
	tp := ingressEnv(t)
	p := tp.ingress.pki
	gw := tp.startIngress(t, "tls", tp.configSet(t, map[string][]string{
		"services.yaml": {"ingress/services/backends.yaml"},
		"secrets.yaml": {"ingress/secrets/default-credential.yaml", "ingress/secrets/features-credential.yaml",
			"ingress/secrets/httpbin-credential.yaml", "ingress/secrets/helloworld-credential.yaml", "ingress/secrets/wild-credential.yaml"},
		"tls-features.yaml": {"ingress/routes/tls-features.yaml", "ingress/routes/backends-subsets.yaml"},
	}))
	ca1 := p.caFile[1]

	t.Run("no_sni", func(t *testing.T) {
		cases := []struct {
			name string
			port int
			sni  string
			cert string
		}{
			{"star_server_is_the_default", 8443, "", "default"},
			{"sni_still_chooses", 8443, "features.example.com", "features"},
			{"only_server_of_the_port", 8444, "", "features"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantServedCertificate(t, tp, c.port, c.sni, ca1, p.certFile(c.cert))
			})
		}
		t.Run("ambiguous_fails_unrecognized_name", func(t *testing.T) {
			_, err := tp.ingressHandshake(8445, "", rootsFrom(t, ca1))
			if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
				t.Errorf("handshake without SNI on port 8445 (two servers, neither *): got %v, want the alert unrecognized_name", err)
			}
			// The access log reaches the file within its flush interval (1 s).
			err = poll(5*time.Second, 100*time.Millisecond, func() error {
				for _, line := range gw.proc.logLines("sni") {
					if strings.Contains(line, "8445") || strings.Contains(strings.ToLower(line), "unrecognized") {
						return nil
					}
				}
				return fmt.Errorf("not yet")
			})
			if err != nil {
				t.Errorf("no log line says why the handshake without SNI failed; log:\n%s", tail(gw.proc.log(), 3000))
			}
		})
		t.Run("curl_without_sni", func(t *testing.T) {
			// curl sends no SNI to an IP address.
			r := tp.outsideCurl("--cacert", ca1, "-k", "https://"+ingressAddr+":8443/nosni?id=nosni")
			wantResponse(t, r, 200, "v1 host="+ingressAddr)
		})
	})

	t.Run("misdirected_421", func(t *testing.T) {
		const a, b = "a.wild.example.com", "b.wild.example.com"
		for _, proto := range []string{"--http1.1", "--http2"} {
			t.Run(strings.TrimPrefix(proto, "--"), func(t *testing.T) {
				// The connection's SNI is a; its Host (HTTP/2 :authority) b.
				r := tp.ingressCurl("https://"+a+":8446/x?id=misdirected", proto, "--cacert", ca1, "-H", "Host: "+b+":8446")
				wantResponse(t, r, 421)
				r = tp.ingressCurl("https://"+a+":8446/x?id=wild-a", proto, "--cacert", ca1)
				wantResponse(t, r, 200, "v1 host="+a)
				r = tp.ingressCurl("https://"+b+":8446/x?id=wild-b", proto, "--cacert", ca1)
				wantResponse(t, r, 200, "v2 host="+b)
			})
		}
		if n := tp.ingress.backendCount(t, "id=misdirected"); len(n) != 0 {
			t.Errorf("a misdirected request reached a backend: %v", n)
		}
	})
}
