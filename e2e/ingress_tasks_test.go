//go:build e2e && linux

package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Istio's ingress tasks (testdata/ingress/tasks, from /work/shared/istio-tasks
// with expectations.md): ingress-control, secure-ingress and
// ingress-sni-passthrough, their YAML unchanged, step by step.

const taskDir = "ingress/tasks/"

// TestIngressControl is Istio's ingress-control task: /status/200 routed,
// /headers 404 until the "*" Gateway and VirtualService replace the first.
func TestIngressControl(t *testing.T) {
	tp := ingressEnv(t)
	gw := tp.startIngress(t, "ingress-control", tp.configSet(t, map[string][]string{
		"services.yaml":        {"ingress/services/httpbin.yaml"},
		"ingress-control.yaml": {taskDir + "ingress-control/01-gateway-httpbin-gateway.yaml", taskDir + "ingress-control/02-virtualservice-httpbin.yaml"},
	}))
	t.Run("status_200", func(t *testing.T) {
		// curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"
		r := tp.outsideCurl("-s", "-I", "-HHost:httpbin.example.com", ingressBase+":80/status/200?id=ic-200")
		wantResponse(t, r, 200)
		wantIngressLog(t, gw, ingressLine{host: "httpbin.example.com", path: "/status/200", status: 200, gateway: "default/httpbin-gateway", virtualService: "default/httpbin", route: "spec.http[0]"})
	})
	t.Run("headers_404", func(t *testing.T) {
		r := tp.outsideCurl("-s", "-I", "-HHost:httpbin.example.com", ingressBase+":80/headers")
		wantResponse(t, r, 404)
		r = tp.outsideCurl("-s", "-HHost:httpbin.example.com", ingressBase+":80/headers?id=ic-404")
		want404(t, r, "httpbin.example.com", "/headers", "VirtualService default/httpbin", "httpbin-gateway")
		wantIngressLog(t, gw, ingressLine{host: "httpbin.example.com", path: "/headers", status: 404, gateway: "default/httpbin-gateway"})
	})
	gw.apply(t, "ingress-control.yaml", tp.renderDocs(t,
		taskDir+"ingress-control/03-gateway-httpbin-gateway.yaml", taskDir+"ingress-control/04-virtualservice-httpbin.yaml"))
	t.Run("star_headers_200", func(t *testing.T) {
		// curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/headers"
		r := tp.outsideCurl("-s", "-I", ingressBase+":80/headers?id=ic-star")
		wantResponse(t, r, 200)
		wantIngressLog(t, gw, ingressLine{host: ingressAddr, path: "/headers", status: 200, gateway: "default/httpbin-gateway", virtualService: "default/httpbin"})
	})
}

// TestIngressSecure is Istio's secure-ingress task: SIMPLE with a
// credentialName for one host, the credential rotated (the next handshake
// gets it, an open connection is kept), two hosts by SNI, then MUTUAL.
func TestIngressSecure(t *testing.T) {
	tp := ingressEnv(t)
	p := tp.ingress.pki
	gw := tp.startIngress(t, "secure-ingress", tp.configSet(t, map[string][]string{
		"services.yaml":   {"ingress/services/httpbin.yaml", "ingress/services/helloworld.yaml"},
		"secrets.yaml":    {"ingress/secrets/httpbin-credential.yaml"},
		"gateway.yaml":    {taskDir + "secure-ingress/01-gateway-mygateway.yaml"},
		"httpbin-vs.yaml": {taskDir + "secure-ingress/02-virtualservice-httpbin.yaml"},
	}))
	// curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST"
	//   --cacert example_certs1/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
	teapot := func(ca string, args ...string) curlResult {
		return tp.ingressCurl("https://httpbin.example.com:443/status/418?id=si-teapot",
			append([]string{"-v", "-HHost:httpbin.example.com", "--cacert", ca}, args...)...)
	}

	t.Run("single_host", func(t *testing.T) {
		// HTTP/1.1 is served on the same path as plaintext, HTTP/2 by the HTTP/2 server: both, as curl negotiates them.
		for _, proto := range []string{"--http1.1", "--http2"} {
			r := teapot(p.caFile[1], proto)
			wantResponse(t, r, 418, "teapot")
		}
		wantIngressLog(t, gw, ingressLine{host: "httpbin.example.com", path: "/status/418", status: 418, gateway: "default/mygateway", virtualService: "default/httpbin"})
		wantServedCertificate(t, tp, 443, "httpbin.example.com", p.caFile[1], p.certFile("httpbin1"))
	})

	t.Run("rotation", func(t *testing.T) {
		kept, err := tp.keptConn(443, "httpbin.example.com", p.caFile[1])
		if err != nil {
			t.Fatalf("open a connection before the rotation: %v", err)
		}
		defer kept.Close()
		if status, err := kept.get("/status/200"); err != nil || status != 200 {
			t.Fatalf("GET /status/200 on the kept connection: status %d, %v; want 200", status, err)
		}
		gw.apply(t, "secrets.yaml", tp.renderDocs(t, "ingress/secrets/httpbin-credential-rotated.yaml"))
		// The next handshake gets the new certificate (bounded: the swap
		// follows the reload).
		var r curlResult
		err = poll(10*time.Second, 200*time.Millisecond, func() error {
			if r = teapot(p.caFile[2]); r.status != 418 {
				return fmt.Errorf("status %d", r.status)
			}
			return nil
		})
		if err != nil {
			t.Errorf("with the new CA: %v, want 418\n%s", err, r)
		}
		wantServedCertificate(t, tp, 443, "httpbin.example.com", p.caFile[2], p.certFile("httpbin2"))
		// The old CA no longer verifies the gateway (the task's _verify_failure).
		if r := teapot(p.caFile[1]); r.code == 0 || r.status != 0 {
			t.Errorf("with the old CA: got exit %d status %d, want a failed handshake\n%s", r.code, r.status, r)
		}
		if status, err := kept.get("/status/200"); err != nil || status != 200 {
			t.Errorf("GET /status/200 on the connection opened before the rotation: status %d, %v; want 200 (not dropped)", status, err)
		}
	})

	t.Run("multiple_hosts", func(t *testing.T) {
		// The task re-creates httpbin-credential with example_certs1 and adds helloworld-credential.
		gw.apply(t, "secrets.yaml", tp.renderDocs(t, "ingress/secrets/httpbin-credential.yaml", "ingress/secrets/helloworld-credential.yaml"))
		gw.apply(t, "gateway.yaml", tp.renderDocs(t, taskDir+"secure-ingress/03-gateway-mygateway.yaml"))
		gw.apply(t, "helloworld-vs.yaml", tp.renderDocs(t, taskDir+"secure-ingress/04-virtualservice-helloworld.yaml"))
		// curl -v -HHost:helloworld.example.com --resolve ... https://helloworld.example.com:$SECURE_INGRESS_PORT/hello
		var r curlResult
		err := poll(10*time.Second, 200*time.Millisecond, func() error {
			r = tp.ingressCurl("https://helloworld.example.com:443/hello?id=si-hello", "-v", "-HHost:helloworld.example.com", "--cacert", p.caFile[1])
			if r.status != 200 {
				return fmt.Errorf("status %d", r.status)
			}
			return nil
		})
		if err != nil {
			t.Errorf("helloworld: %v, want 200\n%s", err, r)
		}
		wantResponse(t, r, 200, "helloworld host=helloworld.example.com uri=/hello")
		wantIngressLog(t, gw, ingressLine{host: "helloworld.example.com", path: "/hello", status: 200, gateway: "default/mygateway", virtualService: "default/helloworld"})
		wantResponse(t, teapot(p.caFile[1]), 418, "teapot")
		wantServedCertificate(t, tp, 443, "helloworld.example.com", p.caFile[1], p.certFile("helloworld1"))
		wantServedCertificate(t, tp, 443, "httpbin.example.com", p.caFile[1], p.certFile("httpbin1"))
	})

	t.Run("mutual", func(t *testing.T) {
		// The task re-creates httpbin-credential with ca.crt, then applies the MUTUAL Gateway.
		gw.apply(t, "secrets.yaml", tp.renderDocs(t, "ingress/secrets/httpbin-credential-mutual.yaml", "ingress/secrets/helloworld-credential.yaml"))
		gw.apply(t, "gateway.yaml", tp.renderDocs(t, taskDir+"secure-ingress/05-gateway-mygateway.yaml"))
		var r curlResult
		err := poll(10*time.Second, 200*time.Millisecond, func() error {
			if r = teapot(p.caFile[1]); r.code == 0 {
				return fmt.Errorf("without a client certificate: status %d", r.status)
			}
			return nil
		})
		// TLS 1.3: the client's side of the handshake ends before the server
		// has checked the (missing) certificate, so curl may fail sending (55)
		// or receiving (56) before it reads the alert; no response either way.
		if err != nil || r.status != 0 || !(strings.Contains(r.stderr, "certificate required") || r.code == 55 || r.code == 56) {
			t.Errorf("without a client certificate: got exit %d status %d, want a failed handshake (tlsv13 alert certificate required)\n%s", r.code, r.status, r)
		}
		// curl ... --cert example_certs1/client.example.com.crt --key example_certs1/client.example.com.key
		for _, proto := range []string{"--http1.1", "--http2"} {
			r = teapot(p.caFile[1], proto, "--cert", p.certFile("client1"), "--key", p.keyFile("client1"))
			wantResponse(t, r, 418, "teapot")
		}
		r = teapot(p.caFile[1], "--cert", p.certFile("client2"), "--key", p.keyFile("client2"))
		if r.code == 0 || r.status != 0 {
			t.Errorf("with a client certificate of another CA: got exit %d status %d, want a failed handshake\n%s", r.code, r.status, r)
		}
	})
}

// TestIngressSNIPassthrough is Istio's ingress-sni-passthrough task: a
// PASSTHROUGH server routes by SNI to nginx, which terminates TLS itself.
func TestIngressSNIPassthrough(t *testing.T) {
	tp := ingressEnv(t)
	gw := tp.startIngress(t, "sni-passthrough", tp.configSet(t, map[string][]string{
		"services.yaml":        {"ingress/services/my-nginx.yaml"},
		"sni-passthrough.yaml": {taskDir + "ingress-sni-passthrough/03-gateway-mygateway.yaml", taskDir + "ingress-sni-passthrough/04-virtualservice-nginx.yaml"},
	}))
	// curl -v --resolve "nginx.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" --cacert example_certs/example.com.crt
	//   "https://nginx.example.com:$SECURE_INGRESS_PORT"
	r := tp.ingressCurl("https://"+passthroughHost+":443/?id=sni-pass", "-v", "--cacert", tp.pki.caFile)
	wantResponse(t, r, 200, passthroughHost+" backend sni="+passthroughHost)
	for _, s := range []string{"subject: CN=" + passthroughHost, "SSL certificate verify ok."} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("curl -v does not show %q\n%s", s, r)
		}
	}
	wantHeader(t, r, "Server", "nginx/")
	wantServedCertificate(t, tp, 443, passthroughHost, tp.pki.caFile, tp.ingress.passthroughCert)
	if e := tp.ingress.backendSaw(t, "id=sni-pass"); e.SNI != passthroughHost || e.SSLProtocol == "" || e.Remote != nodeBackAddr {
		t.Errorf("nginx saw %+v; want TLS it terminated itself, SNI %s, from the node", e, passthroughHost)
	}
	wantIngressLog(t, gw, ingressLine{msg: "connection", sni: passthroughHost, gateway: "default/mygateway", virtualService: "default/nginx"})
	t.Run("other_sni_refused", func(t *testing.T) {
		if _, err := tp.ingressHandshake(443, "other.example.com", rootsFrom(t, tp.pki.caFile)); err == nil {
			t.Errorf("a handshake with SNI other.example.com succeeded; no server admits it")
		}
	})
}

// keptConn is a TLS connection from outside, kept open across a change.
type keptConn struct {
	*tls.Conn
	br   *bufio.Reader
	host string
}

// keptConn opens a TLS connection (HTTP/1.1) from outside to the ingress
// address on port with SNI host, trusting caFile.
func (tp *topology) keptConn(port int, host, caFile string) (*keptConn, error) {
	roots := rootsFromFile(caFile)
	var c *tls.Conn
	err := inNetns(tp.ingress.out, func() (err error) {
		d := &net.Dialer{Timeout: 3 * time.Second}
		c, err = tls.DialWithDialer(d, "tcp", net.JoinHostPort(ingressAddr, fmt.Sprint(port)),
			&tls.Config{ServerName: host, RootCAs: roots, NextProtos: []string{"http/1.1"}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &keptConn{Conn: c, br: bufio.NewReader(c), host: host}, nil
}

// get sends GET path on the kept connection and returns the status (bounded).
func (k *keptConn) get(path string) (int, error) {
	k.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(k, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, k.host); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
