//go:build e2e && linux

package e2e

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
)

// TestIngressTopology checks the ingress world without the gateway: the
// node reaches every backend, the outside reaches the node's ingress
// address and nothing of the backends.
func TestIngressTopology(t *testing.T) {
	tp := ingressEnv(t)
	w := tp.ingress

	t.Run("node reaches httpbin", func(t *testing.T) {
		for _, path := range []string{"/status/418", "/headers"} {
			r := tp.curl(tp.node, fmt.Sprintf("http://%s:%d%s", httpbinAddr, httpbinPort, path))
			want := map[string]int{"/status/418": 418, "/headers": 200}[path]
			if r.status != want {
				t.Errorf("GET %s: got status %d, want %d\n%s", path, r.status, want, r)
			}
		}
	})

	t.Run("node reaches every nginx backend", func(t *testing.T) {
		for _, b := range backends {
			marker := "id=topo-" + b.name
			r := tp.curl(tp.node, fmt.Sprintf("http://%s:%d/topology?%s", b.addr, b.port, marker))
			want := b.status
			if want == 0 {
				want = 200
			}
			if r.status != want || !strings.HasPrefix(r.body, b.name+" host=") {
				t.Errorf("%s: got status %d body %q, want %d from %s itself\n%s", b.name, r.status, r.body, want, b.name, r)
			}
			if e := w.backendSaw(t, marker); e.Remote != nodeBackAddr || e.Server != b.name {
				t.Errorf("%s: nginx saw %+v, want server %s and remote %s", b.name, e, b.name, nodeBackAddr)
			}
		}
	})

	t.Run("node reaches the passthrough site with its own certificate", func(t *testing.T) {
		r := tp.curl(tp.node, "--cacert", tp.pki.caFile, "--resolve", passthroughHost+":443:"+v1Addr, "https://"+passthroughHost+"/topology")
		if r.status != 200 || !strings.HasPrefix(r.body, passthroughHost+" backend sni="+passthroughHost) {
			t.Errorf("got status %d body %q, want 200 from %s\n%s", r.status, r.body, passthroughHost, r)
		}
	})

	t.Run("fail-once backend fails the first request only", func(t *testing.T) {
		u := fmt.Sprintf("http://%s:%d/topology-fail-once", failOnceAddr, failOncePort)
		for i, want := range []int{503, 200, 200} {
			if r := tp.curl(tp.node, u); r.status != want {
				t.Errorf("request %d: got status %d, want %d\n%s", i+1, r.status, want, r)
			}
		}
	})

	t.Run("tcp backend greets and echoes", func(t *testing.T) {
		r := tp.execIn(tp.node, defaultTimeout, "sh", "-c", fmt.Sprintf("printf 'ping\\n' | nc -q 1 -w 3 %s %d", tcpAddr, tcpPort))
		if !strings.Contains(r.stdout, "tcp-backend hello\necho: ping") {
			t.Errorf("got %q, want the greeting and the echo\n%s", r.stdout, r)
		}
	})

	t.Run("the internet serves httpbin.org and edition.cnn.com", func(t *testing.T) {
		for name, want := range map[string]string{"httpbin.org": internetHttpbinAddr, "edition.cnn.com": internetAddr} {
			if r := tp.dig(tp.node, "+short", "@"+internetAddr, name); strings.TrimSpace(r.stdout) != want {
				t.Errorf("%s: got %q, want %s\n%s", name, strings.TrimSpace(r.stdout), want, r)
			}
		}
		if r := tp.curl(tp.node, "http://"+internetHttpbinAddr+"/status/418"); r.status != 418 {
			t.Errorf("httpbin.org: got status %d, want 418\n%s", r.status, r)
		}
	})

	t.Run("outside reaches the ingress address", func(t *testing.T) {
		// Nothing listens on port 9: a refusal proves the packets arrive.
		err := tp.dialFrom(w.out, "tcp", net.JoinHostPort(ingressAddr, "9"))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s:9 from outside: got %v, want connection refused", ingressAddr, err)
		}
	})

	t.Run("outside reaches nothing of the backends", func(t *testing.T) {
		before := len(mustNginxLog(t, w))
		for _, addr := range []string{
			net.JoinHostPort(httpbinAddr, fmt.Sprint(httpbinPort)),
			net.JoinHostPort(v1Addr, "8081"),
			net.JoinHostPort(v1Addr, "443"),
			net.JoinHostPort(tcpAddr, fmt.Sprint(tcpPort)),
		} {
			if err := tp.dialFrom(w.out, "tcp", addr); err == nil {
				t.Errorf("outside connected to %s without the gateway", addr)
			}
		}
		r := tp.curl(w.out, "--connect-timeout", "1", fmt.Sprintf("http://%s:8081/direct?id=topo-direct", v1Addr))
		if r.code == 0 {
			t.Errorf("outside reached %s without the gateway: status %d body %q", v1Addr, r.status, r.body)
		}
		for _, e := range mustNginxLog(t, w)[before:] {
			if e.Remote == outsideAddr || strings.Contains(e.Request, "topo-direct") {
				t.Errorf("a backend saw a request from outside: %+v", e)
			}
		}
	})

	t.Run("backends have no way out", func(t *testing.T) {
		err := tp.dialFrom(w.back, "tcp", net.JoinHostPort(outsideAddr, "9"))
		if err == nil || errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s:9 from the backends: got %v, want unreachable", outsideAddr, err)
		}
	})
}

func mustNginxLog(t *testing.T, w *ingressWorld) []nginxEntry {
	t.Helper()
	entries, err := w.backendsNginxLog()
	if err != nil {
		t.Fatal(err)
	}
	return entries
}
