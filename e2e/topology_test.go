//go:build e2e && linux

package e2e

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
)

// TestTopology checks the world the gateway will live in, without the
// gateway: the internet answers from the node, and the pod cannot get out.
func TestTopology(t *testing.T) {
	tp := env(t)

	t.Run("nginx serves every TLS site to the node", func(t *testing.T) {
		for _, s := range tlsSites {
			if s.untrusted || s.mutual {
				continue
			}
			r := tp.curl(tp.node, "--cacert", tp.pki.caFile, "--resolve", s.name+":443:"+internetAddr, "https://"+s.name+"/topology")
			if r.code != 0 || r.status != 200 || !strings.HasPrefix(r.body, s.name+" sni="+s.name) {
				t.Errorf("%s: got exit %d status %d body %q, want 200 from the site itself\n%s", s.name, r.code, r.status, r.body, r)
			}
		}
	})

	t.Run("untrusted site fails verification with the CA", func(t *testing.T) {
		r := tp.curl(tp.node, "--cacert", tp.pki.caFile, "--resolve", "untrusted.example.test:443:"+internetAddr, "https://untrusted.example.test/")
		if r.code != 60 { // CURLE_PEER_FAILED_VERIFICATION
			t.Errorf("got exit %d, want 60 (certificate verification failed)\n%s", r.code, r)
		}
	})

	t.Run("mTLS site requires the client certificate", func(t *testing.T) {
		base := []string{"--cacert", tp.pki.caFile, "--resolve", "mtls.example.test:443:" + internetAddr, "https://mtls.example.test/"}
		r := tp.curl(tp.node, base...)
		if r.status != 400 || !strings.Contains(r.body, "No required SSL certificate") {
			t.Errorf("without a client certificate: got status %d body %q, want 400 No required SSL certificate\n%s", r.status, r.body, r)
		}
		r = tp.curl(tp.node, append([]string{"--cert", tp.pki.clientCert, "--key", tp.pki.clientKey}, base...)...)
		if r.status != 200 || !strings.Contains(r.body, "CN="+clientCN) {
			t.Errorf("with the client certificate: got status %d body %q, want 200 naming CN=%s\n%s", r.status, r.body, clientCN, r)
		}
	})

	t.Run("nginx serves plain HTTP on 80", func(t *testing.T) {
		r := tp.curl(tp.node, "-H", "Host: anything.example.test", "http://"+internetAddr+"/topology")
		if want := plainSite + " host=anything.example.test"; r.status != 200 || !strings.HasPrefix(r.body, want) {
			t.Errorf("got status %d body %q, want 200 %q\n%s", r.status, r.body, want, r)
		}
	})

	t.Run("dnsmasq answers the node", func(t *testing.T) {
		for _, name := range []string{"api.example.test", "de.wiki.example.test", "other.example.test"} {
			r := tp.dig(tp.node, "+short", "@"+internetAddr, name)
			if got := strings.TrimSpace(r.stdout); got != internetAddr {
				t.Errorf("%s: got %q, want %s\n%s", name, got, internetAddr, r)
			}
		}
	})

	t.Run("node does not forward", func(t *testing.T) {
		r := tp.execIn(tp.node, defaultTimeout, "sysctl", "-n", "net.ipv4.ip_forward")
		if got := strings.TrimSpace(r.stdout); got != "0" {
			t.Errorf("net.ipv4.ip_forward in the node: got %q, want 0\n%s", got, r)
		}
	})

	t.Run("pod resolves through the egress address", func(t *testing.T) {
		r := tp.execIn(tp.pod, defaultTimeout, "cat", "/etc/resolv.conf")
		if !strings.Contains(r.stdout, "nameserver "+egressAddr) || strings.Count(r.stdout, "nameserver") != 1 {
			t.Errorf("pod resolv.conf: got %q, want only nameserver %s\n%s", r.stdout, egressAddr, r)
		}
	})

	t.Run("pod reaches the node", func(t *testing.T) {
		// Nothing listens on port 9: a refusal proves the packets arrive.
		err := tp.dialFrom(tp.pod, "tcp", net.JoinHostPort(egressAddr, "9"))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s:9 from the pod: got %v, want connection refused", egressAddr, err)
		}
	})

	t.Run("pod cannot reach the internet directly", func(t *testing.T) {
		mark := tp.nginxMark(t)
		r := tp.curl(tp.pod, "--connect-timeout", "1", "http://"+internetAddr+"/direct")
		if r.code == 0 {
			t.Errorf("pod reached %s without the gateway: status %d body %q", internetAddr, r.status, r.body)
		}
		tp.nginxNever(t, mark, "a request straight from the pod", func(e nginxEntry) bool { return e.Remote == podAddr })
	})
}
