//go:build e2e && linux

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestIngressRoutes drives each route feature of issue 12 on the plain-HTTP
// Gateway "features" (testdata/ingress/routes/features.yaml).
func TestIngressRoutes(t *testing.T) {
	tp := ingressEnv(t)
	gw := tp.startIngress(t, "routes", tp.configSet(t, map[string][]string{
		"services.yaml": {"ingress/services/httpbin.yaml", "ingress/services/backends.yaml",
			"ingress/services/fail-once.yaml", "ingress/services/flaky.yaml", "ingress/routes/backends-subsets.yaml"},
		"features.yaml": {"ingress/routes/features.yaml"},
	}), "--trusted-proxies", outsideAddr+"/32")
	// fail-once remembers paths for the world's life: a run of its own.
	run := fmt.Sprint(time.Now().UnixNano())

	t.Run("weights", func(t *testing.T) {
		const n = 100
		for i := range n {
			r := tp.ingressCurl(fmt.Sprintf("http://weights.features.test/w?id=weights-%s-%d", run, i))
			if r.status != 200 {
				t.Fatalf("request %d: got status %d, want 200\n%s", i, r.status, r)
			}
		}
		got := tp.ingress.backendCount(t, "id=weights-"+run+"-")
		// 80/20 of 100: generous bounds (the binomial's deviation is 4).
		if got["v1"]+got["v2"] != n || got["v1"] < 60 || got["v1"] > 95 {
			t.Errorf("backends saw %v, want %d requests split about 80/20 between v1 and v2", got, n)
		}
		wantIngressLog(t, gw, ingressLine{host: "weights.features.test", path: "/w", status: 200, gateway: "default/features", virtualService: "default/weights", route: "split-80-20"})
	})

	t.Run("rewrite_uri", func(t *testing.T) {
		r := tp.ingressCurl("http://rewrite.features.test/old/page?id=rewrite-uri")
		wantResponse(t, r, 200, "v1 host=rewrite.features.test uri=/new/page?id=rewrite-uri")
		wantIngressLog(t, gw, ingressLine{host: "rewrite.features.test", status: 200, route: "rewrite-uri"})
	})
	t.Run("rewrite_authority", func(t *testing.T) {
		r := tp.ingressCurl("http://rewrite.features.test/authority?id=rewrite-authority")
		wantResponse(t, r, 200, "v1 host=rewritten.features.test uri=/authority?id=rewrite-authority")
	})

	t.Run("redirect", func(t *testing.T) {
		r := tp.ingressCurl("http://redirect.features.test/moved", "-i")
		wantResponse(t, r, 301)
		wantHeader(t, r, "Location", "other.features.test/elsewhere")
		r = tp.ingressCurl("http://redirect.features.test/moved-308", "-i")
		wantResponse(t, r, 308)
		wantHeader(t, r, "Location", "redirect.features.test/there")
		if n := tp.ingress.backendCount(t, "/moved"); len(n) != 0 {
			t.Errorf("a redirected request reached a backend: %v", n)
		}
	})

	t.Run("direct_response", func(t *testing.T) {
		r := tp.ingressCurl("http://direct.features.test/anything?id=direct")
		wantResponse(t, r, 503, "down for maintenance, said the gateway")
		wantIngressLog(t, gw, ingressLine{host: "direct.features.test", status: 503, virtualService: "default/direct", route: "maintenance"})
	})

	t.Run("headers_request", func(t *testing.T) {
		r := tp.ingressCurl("http://headers.features.test/headers?id=headers-req", "-H", "X-Set: from-client", "-H", "X-Remove: please")
		wantResponse(t, r, 200)
		h := httpbinHeaders(t, r)
		for k, want := range map[string]string{"X-Set": "set-by-gateway", "X-Add": "added-by-gateway"} {
			if h[k] != want {
				t.Errorf("httpbin saw %s %q, want %q\n%s", k, h[k], want, r)
			}
		}
		if v, ok := h["X-Remove"]; ok {
			t.Errorf("httpbin saw X-Remove %q; the route removes it\n%s", v, r)
		}
	})
	t.Run("headers_response", func(t *testing.T) {
		// httpbin sets X-Resp-Remove as asked; the route removes it.
		r := tp.ingressCurl("http://headers.features.test/response-headers?X-Resp-Remove=gone", "-D", "-", "-o", "/dev/null")
		if r.status != 200 {
			t.Fatalf("got status %d, want 200\n%s", r.status, r)
		}
		wantHeader(t, r, "X-Resp-Set", "resp-set-by-gateway")
		wantHeader(t, r, "X-Resp-Add", "resp-added-by-gateway")
		if v, ok := header(r.stdout, "X-Resp-Remove"); ok {
			t.Errorf("response has X-Resp-Remove %q; the route removes it\n%s", v, r)
		}
	})

	t.Run("fault_abort", func(t *testing.T) {
		r := tp.ingressCurl("http://fault.features.test/abort/get?id=fault-abort")
		wantResponse(t, r, 418, "VirtualService default/fault spec.http[0]") // the route, by VirtualService and field
		wantIngressLog(t, gw, ingressLine{host: "fault.features.test", path: "/abort/get", status: 418, virtualService: "default/fault", route: "abort-route"})
	})
	t.Run("fault_delay", func(t *testing.T) {
		// A 3s delay: a client that gives up after 1s has no answer, one
		// that waits gets httpbin's.
		r := tp.ingressCurl("http://fault.features.test/anything/slow-short?id=fault-delay-short", "--max-time", "1")
		if r.code != 28 || r.status != 0 { // CURLE_OPERATION_TIMEDOUT
			t.Errorf("with --max-time 1: got exit %d status %d, want exit 28 and no answer (the route delays 3s)\n%s", r.code, r.status, r)
		}
		r = tp.ingressCurl("http://fault.features.test/anything/slow-long?id=fault-delay", "--max-time", "15")
		wantResponse(t, r, 200, `"url"`)
		wantIngressLog(t, gw, ingressLine{host: "fault.features.test", path: "/anything/slow-long", status: 200, route: "delay-route"})
	})

	t.Run("timeout", func(t *testing.T) {
		r := tp.ingressCurl("http://timeout.features.test/delay/3?id=timeout")
		wantResponse(t, r, 504, "VirtualService default/timeout spec.http[0]")
		wantIngressLog(t, gw, ingressLine{host: "timeout.features.test", path: "/delay/3", status: 504, virtualService: "default/timeout", route: "timeout-route"})
	})

	t.Run("retries", func(t *testing.T) {
		cases := []struct {
			name, prefix string
			status       int
			body         string
		}{
			{"explicit", "/explicit", 200, "attempt 2 of /explicit/%s ok"},
			{"istio_default", "/default", 200, "attempt 2 of /default/%s ok"}, // 503 is among Istio's default retryOn
			{"attempts_0", "/none", 503, "attempt 1 of /none/%s failed"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := tp.ingressCurl("http://retries.features.test" + c.prefix + "/" + run)
				wantResponse(t, r, c.status, fmt.Sprintf(c.body, run))
			})
		}
	})

	t.Run("outlier_ejection", func(t *testing.T) {
		// Round robin over a good and an always-503 endpoint, ejected
		// after one 5xx: at most a few failures, then only the good one.
		const streak, most = 10, 40
		var statuses []int
		ok := 0
		for i := 0; i < most && ok < streak; i++ {
			r := tp.ingressCurl(fmt.Sprintf("http://outlier.features.test/o?id=outlier-%s-%d", run, i))
			statuses = append(statuses, r.status)
			if r.status == 200 && strings.HasPrefix(r.body, "v1 ") {
				ok++
			} else {
				ok = 0
			}
		}
		failed := 0
		for _, s := range statuses {
			if s != 200 {
				failed++
			}
		}
		if ok < streak || failed > 3 {
			t.Errorf("statuses %v: want at most 3 failures, then %d answers in a row from v1 (the failing endpoint ejected)", statuses, streak)
		}
		if got := tp.ingress.backendCount(t, "id=outlier-"+run+"-"); got["failing"] > 3 {
			t.Errorf("backends saw %v, want the failing endpoint at most 3 times", got)
		}
	})

	t.Run("trusted_proxies", func(t *testing.T) {
		const u = "http://secure.example.org/headers?show_env=1" // show_env: httpbin hides X-Forwarded-* otherwise
		r := tp.ingressCurl(u, "-i")
		wantResponse(t, r, 301)
		wantHeader(t, r, "Location", "https://secure.example.org/headers")
		// From a trusted proxy that terminated TLS: not redirected, and
		// X-Forwarded-For is appended to.
		r = tp.ingressCurl(u, "-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-For: 192.0.2.7")
		wantResponse(t, r, 200)
		h := httpbinHeaders(t, r)
		if got, want := splitList(h["X-Forwarded-For"]), []string{"192.0.2.7", outsideAddr}; !slices.Equal(got, want) {
			t.Errorf("httpbin saw X-Forwarded-For %q, want %v appended to\n%s", h["X-Forwarded-For"], want, r)
		}
		if h["X-Forwarded-Proto"] != "https" {
			t.Errorf("httpbin saw X-Forwarded-Proto %q, want https\n%s", h["X-Forwarded-Proto"], r)
		}
		// From an address that is not a trusted proxy: redirected all the same.
		r = tp.ingressCurl(u, "-i", "--interface", outsideAddr2, "-H", "X-Forwarded-Proto: https")
		wantResponse(t, r, 301)
	})
}

// splitList splits a comma-separated header value (or values joined by
// the backend) into its trimmed elements.
func splitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
