//go:build e2e && linux

package e2e

import (
	"strings"
	"testing"
	"time"
)

// Cases where the gateway must refuse or fail, and say why: REGISTRY_ONLY,
// AuthorizationPolicy, untrusted upstream, upstream down.

// testRegistryOnly is case 3 (egress-control, step 2): an unregistered host
// is refused at DNS, TLS and HTTP, and nothing reaches it.
func testRegistryOnly(t *testing.T, tp *topology, gw *gateway) {
	const host = "other.example.test" // nginx serves it; nothing registers it
	mark := tp.nginxMark(t)
	t.Run("dns_blocked", func(t *testing.T) {
		wantBlockedName(t, tp, host)
		r := tp.podCurl("http://" + host + "/case3?id=registry-dns")
		if r.code != 6 { // CURLE_COULDNT_RESOLVE_HOST
			t.Errorf("got curl exit %d, want 6 (could not resolve host)\n%s", r.code, r)
		}
	})
	t.Run("tls_refused", func(t *testing.T) {
		r := tp.podCurl("--cacert", tp.pki.caFile, "--resolve", host+":443:"+egressAddr, "https://"+host+"/case3?id=registry-tls")
		if r.code != 35 { // CURLE_SSL_CONNECT_ERROR
			t.Errorf("got curl exit %d, want 35 (TLS handshake failed)\n%s", r.code, r)
		}
	})
	t.Run("http_403", func(t *testing.T) {
		r := tp.podCurl("--resolve", host+":80:"+egressAddr, "http://"+host+"/case3?id=registry-http")
		wantResponse(t, r, 403, "outboundTrafficPolicy REGISTRY_ONLY")
	})
	// A request that does arrive, so nginx has logged everything before it.
	tp.podCurl("http://api.example.test/case3?id=sentinel-registry")
	tp.nginxSaw(t, "id=sentinel-registry")
	tp.nginxNever(t, mark, "traffic for "+host, func(e nginxEntry) bool {
		return e.SNI == host || e.Host == host || strings.Contains(e.Request, "id=registry-")
	})
}

// testAuthzDeny is case 4: an AuthorizationPolicy DENY on /admin paths of an
// originated host.
func testAuthzDeny(t *testing.T, tp *topology, gw *gateway) {
	mark := tp.nginxMark(t)
	// Paths are normalized as Istio's default (BASE) does before matching:
	// dot segments resolved, percent-encoded unreserved characters decoded.
	denied := []struct{ name, path string }{
		{"exact", "/admin"},
		{"subpath", "/admin/users?id=authz-sub"},
		{"dot_segments", "/public/../admin?id=authz-dots"},
		{"percent_encoded", "/%61dmin?id=authz-pct"},
		{"percent_encoded_dots", "/public/%2e%2e/admin?id=authz-pctdots"},
	}
	for _, d := range denied {
		t.Run("deny_"+d.name, func(t *testing.T) {
			r := tp.podCurl("--path-as-is", "http://api.example.test"+d.path)
			wantResponse(t, r, 403, "AuthorizationPolicy default/deny-admin")
		})
	}
	t.Run("allow_other_paths", func(t *testing.T) {
		for _, p := range []string{"/public?id=authz-allowed", "/administrator?id=authz-prefix"} {
			r := tp.podCurl("http://api.example.test" + p)
			wantResponse(t, r, 200, "api.example.test sni=api.example.test", "uri="+p)
		}
	})
	tp.nginxSaw(t, "id=authz-allowed")
	tp.nginxNever(t, mark, "a denied /admin request", func(e nginxEntry) bool {
		return strings.Contains(e.Request, "admin") && !strings.Contains(e.Request, "/administrator")
	})
	t.Run("access_log", func(t *testing.T) {
		if recs := gw.logRecords("deny-admin"); len(recs) == 0 {
			t.Errorf("no JSON log line names the rule deny-admin; log:\n%s", tail(gw.proc.log(), 3000))
		}
	})
}

// testUntrustedUpstream is case 8: origination to a certificate the gateway
// does not trust.
func testUntrustedUpstream(t *testing.T, tp *topology, gw *gateway) {
	mark := tp.nginxMark(t)
	r := tp.podCurl("http://untrusted.example.test/case8?id=untrusted")
	wantResponse(t, r, 502, "unknown authority")
	tp.podCurl("http://api.example.test/case8?id=untrusted-sentinel")
	tp.nginxSaw(t, "id=untrusted-sentinel")
	tp.nginxNever(t, mark, "a request over an unverified connection", func(e nginxEntry) bool {
		return strings.Contains(e.Request, "id=untrusted") && !strings.Contains(e.Request, "sentinel")
	})
}

// testUpstreamDown is case 9: the upstream refuses, or never answers.
func testUpstreamDown(t *testing.T, tp *topology, gw *gateway) {
	t.Run("connection_refused", func(t *testing.T) {
		start := time.Now()
		r := tp.podCurl("http://down.example.test/case9?id=down")
		wantResponse(t, r, 503, "connection refused")
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("503 took %v; a refused connection should fail fast", d)
		}
	})
	t.Run("connect_timeout", func(t *testing.T) {
		start := time.Now()
		r := tp.podCurl("http://timeout.example.test/case9?id=timeout")
		wantResponse(t, r, 503, "timeout")
		// DestinationRule connectTimeout is 1s.
		if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
			t.Errorf("503 took %v; want about the 1s connectTimeout", d)
		}
	})
}
