package egress

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/policy"
)

// denyAdmin refuses /admin and everything under it on the h1 test host,
// as Istio's documentation advises writing such a rule.
const denyAdmin = `
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: istio-system}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin", "/admin/*"]}}]}]
`

// newCanonEnv starts the origin handler behind a gateway whose Config
// mod adjusts, with the h1 test host and the denyAdmin rule.
func newCanonEnv(t *testing.T, mod func(*Config)) *h1Env {
	t.Helper()
	org := &h1Origin{Server: httptest.NewServer(http.HandlerFunc(origin))}
	t.Cleanup(org.Close)
	dir := t.TempDir()
	gw := freePort(t)
	var sb strings.Builder
	if err := h1YAML.Execute(&sb, map[string]string{"GW": gw, "Origin": port("https://" + org.Listener.Addr().String()), "Protocol": "HTTP", "Name": "http"}); err != nil {
		t.Fatal(err)
	}
	sb.WriteString(denyAdmin)
	if err := os.WriteFile(filepath.Join(dir, "egress.yaml"), []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Load([]string{dir}, config.Options{ClusterDomain: "cluster.local", Namespace: "istio-system", Mode: policy.RegistryOnly})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	cfg := Config{EgressAddr: netip.MustParseAddr("127.0.0.1"), Resolver: loopbackResolver{},
		Log: zap.NewNop(), Metrics: NewMetrics(prometheus.NewRegistry())}
	if mod != nil {
		mod(&cfg)
	}
	eng := New(cfg)
	if err := eng.Update(snap); err != nil {
		t.Fatalf("update: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	})
	return &h1Env{eng: eng, addr: "127.0.0.1:" + gw, origin: org}
}

// TestH1CanonicalHost: the Host is decided on and forwarded in one
// canonical form; an invalid one is refused with 400 naming the problem.
func TestH1CanonicalHost(t *testing.T) {
	env := newCanonEnv(t, nil)
	gw := port("https://" + env.addr)
	for _, tt := range []struct {
		host   string
		status int
		want   string // the Host the upstream saw, or a part of the refusal
	}{
		{h1Host, 200, h1Host},
		{strings.ToUpper(h1Host), 200, h1Host},
		{h1Host + ".", 200, h1Host},
		{h1Host + ":" + gw, 200, h1Host + ":" + gw},
		{"Up.Example.Test.:" + gw, 200, h1Host + ":" + gw},
		{h1Host + ":9999", 200, h1Host + ":" + gw}, // the port the client addressed
		{h1Host + "..", 400, "has an empty label"},
		{"up..example.test", 400, "has an empty label"},
		{strings.Repeat("a", 64) + ".example.test", 400, "over 63"},
		{"up_x!.example.test", 400, `not a letter, digit, '-', '_' or '.': "!"`},
		{h1Host + ":http", 400, "is not a number"},
		{h1Host + ":70000", 400, "out of range"},
	} {
		c := env.dial(t)
		c.send("GET /headers HTTP/1.1\r\nHost: " + tt.host + "\r\n\r\n")
		resp, body := c.response(http.MethodGet)
		if resp.StatusCode != tt.status {
			t.Errorf("Host %q: %d %q, want %d", tt.host, resp.StatusCode, body, tt.status)
			continue
		}
		if tt.status != 200 {
			if !strings.Contains(body, "invalid Host header: ") || !strings.Contains(body, tt.want) {
				t.Errorf("Host %q: refused with %q, want it to say %q", tt.host, body, tt.want)
			}
			c.expectClosed()
			continue
		}
		var seen h1Seen
		if err := json.Unmarshal([]byte(body), &seen); err != nil {
			t.Fatalf("Host %q: %v in %q", tt.host, err, body)
		}
		if seen.Host != tt.want {
			t.Errorf("Host %q: the upstream saw %q, want %q", tt.host, seen.Host, tt.want)
		}
	}
}

// TestH1PathBypass: the forms that might reach /admin past a DENY rule on
// /admin and /admin/*. The policy decides on the normalized path and the
// upstream gets that same path; a form Istio (Envoy) would let through as
// a different path reaches the upstream as that different path.
func TestH1PathBypass(t *testing.T) {
	tests := []struct {
		level  PathNormalization
		target string
		status int
		sent   string // what the upstream got, for a 200; a part of the refusal for a 400
	}{
		{PathDefault, "/admin", 403, ""},
		{PathDefault, `/\admin`, 403, ""},          // '\' is '/', then "//" merged
		{PathDefault, "//admin", 403, ""},          // merged
		{PathDefault, "/public/../admin", 403, ""}, // dot segments removed
		{PathDefault, "/%2e%2e/admin", 403, ""},    // %2e is an unreserved '.', decoded
		{PathDefault, "/%61dmin", 403, ""},         // %61 is an unreserved 'a', decoded
		{PathDefault, "/admin#x", 403, ""},         // the fragment is dropped
		{PathDefault, "/admin/", 403, ""},          // "/admin/*"
		{PathDefault, "/admin/./x", 403, ""},
		{PathDefault, "/#/admin", 200, "/"},                                            // all of it is fragment
		{PathDefault, "/%2561dmin", 200, "/%2561dmin"},                                 // decoded once: "%61dmin" is not "admin"
		{PathDefault, "/..;/admin", 200, "/..;/admin"},                                 // "..;" is not a dot segment
		{PathDefault, "/;/admin", 200, "/;/admin"},                                     // nor is ";"
		{PathDefault, "/ADMIN", 200, "/ADMIN"},                                         // paths are case-sensitive
		{PathDefault, "/%41DMIN", 200, "/ADMIN"},                                       // and so after decoding
		{PathDefault, "/admin%20", 200, "/admin%20"},                                   // a different segment
		{PathDefault, "/admin%2fx", 403, ""},                                           // an encoded slash is decided on both ways, the stricter wins
		{PathDefault, "/%5cadmin", 403, ""},                                            // likewise an encoded '\'
		{PathDefault, "/public%2fx", 200, "/public%2Fx"},                               // and is forwarded as it came
		{PathDefault, "/ａｄｍｉｎ", 200, "/%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E"}, // not NFKC-folded
		{PathDefault, "/%zz", 400, "invalid URL escape"},
		{PathDefault, "/%00", 400, "%00 in the path"},
		{PathDecodeAndMergeSlashes, "/admin%2fx", 403, ""},
		{PathDecodeAndMergeSlashes, "/x/..%2Fadmin", 403, ""},
		{PathDecodeAndMergeSlashes, "/%5cadmin", 403, ""},
		{PathBase, "//admin", 200, "//admin"}, // Istio's BASE does not merge: CVE-2021-31920
		{PathBase, "/public/../admin", 403, ""},
		{PathNone, "/public/../admin", 200, "/public/../admin"},
	}
	envs := map[PathNormalization]*h1Env{}
	for _, tt := range tests {
		env := envs[tt.level]
		if env == nil {
			level := tt.level
			env = newCanonEnv(t, func(c *Config) { c.PathNormalization = level })
			envs[tt.level] = env
		}
		c := env.dial(t)
		c.send("GET " + tt.target + " HTTP/1.1\r\nHost: " + h1Host + "\r\n\r\n")
		resp, body := c.response(http.MethodGet)
		got := resp.Header.Get("X-Uri")
		switch {
		case resp.StatusCode != tt.status:
			t.Errorf("%v %s: %d %q (upstream got %q), want %d", tt.level, tt.target, resp.StatusCode, body, got, tt.status)
		case tt.status == 200 && got != tt.sent:
			t.Errorf("%v %s: the upstream got %q, want %q", tt.level, tt.target, got, tt.sent)
		case tt.status == 400 && !strings.Contains(body, tt.sent):
			t.Errorf("%v %s: refused with %q, want it to say %q", tt.level, tt.target, body, tt.sent)
		case tt.status == 403 && resp.Header.Get("X-Egressgw-Rule") == "":
			t.Errorf("%v %s: 403 without the rule named", tt.level, tt.target)
		}
	}
}

// TestCanonicalEveryPath: every way a request leaves the gateway (the
// HTTP/1.1 pool, an HTTP/2 upstream, and the ReverseProxy that serves
// h2c clients) sends the canonical Host and the normalized path.
func TestCanonicalEveryPath(t *testing.T) {
	const target = "/p/..//%68eaders#frag" // "/headers", %68 being an unreserved 'h'
	for _, tt := range []struct {
		name string
		env  func(t *testing.T) *h1Env
		h2c  bool
	}{
		{"HTTP/1.1 upstream", func(t *testing.T) *h1Env { return newH1Env(t, http.HandlerFunc(origin), h1Options{}) }, false},
		{"HTTP/2 upstream", func(t *testing.T) *h1Env { return newH2Env(t, http.HandlerFunc(origin), h2Upstreams[0], false) }, false},
		{"h2c client", func(t *testing.T) *h1Env { return newH1Env(t, http.HandlerFunc(origin), h1Options{}) }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env(t)
			gw := port("https://" + env.addr)
			host := "UP.Example.TEST.:" + gw
			var status int
			var body string
			if tt.h2c {
				tr := &http.Transport{Protocols: new(http.Protocols)}
				tr.Protocols.SetUnencryptedHTTP2(true)
				defer tr.CloseIdleConnections()
				req, _ := http.NewRequest(http.MethodGet, "http://"+env.addr+"/", nil)
				req.URL.Path, req.URL.RawPath = "/p/..//headers", "/p/..//%68eaders"
				req.Host = host
				resp, err := (&http.Client{Transport: tr, Timeout: h1Wait}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.Proto != "HTTP/2.0" {
					t.Fatalf("the client spoke %s, want HTTP/2.0", resp.Proto)
				}
				status, body = resp.StatusCode, string(b)
			} else {
				c := env.dial(t)
				c.send("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
				resp, b := c.response(http.MethodGet)
				status, body = resp.StatusCode, b
			}
			var seen h1Seen
			if err := json.Unmarshal([]byte(body), &seen); status != http.StatusOK || err != nil {
				t.Fatalf("got %d %q (%v), want 200 from /headers", status, body, err)
			}
			if want := h1Host + ":" + gw; seen.Host != want {
				t.Errorf("the upstream saw Host %q, want %q", seen.Host, want)
			}
		})
	}
}
