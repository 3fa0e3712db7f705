//go:build linux

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseH2load(t *testing.T) {
	const out = `starting benchmark...
spawning thread #0: 16 total client(s). Timing-based test with 0s of warm-up time and 5s of main duration for measurements.
Warm-up started for thread #0.
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 5.00s, 41234.60 req/s, 46.21MB/s
requests: 206173 total, 206237 started, 206173 done, 206150 succeeded, 23 failed, 2 errored, 1 timeout
status codes: 206150 2xx, 3 3xx, 20 4xx, 4 5xx
traffic: 231.06MB (242284321) total, 1.58MB (1653552) headers (space savings 93.73%), 201.34MB (211121152) data
`
	got, err := parseH2load(out)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{requests: 206150, rps: 41234.6, non2xx: 27, sockErrs: 26}
	if got != want {
		t.Errorf("parseH2load = %+v, want %+v", got, want)
	}
	if _, err := parseH2load("h2load: connect failed\n"); err == nil {
		t.Error("parseH2load of output without a rate: no error")
	}
}

func TestH2loadLatencies(t *testing.T) {
	tests := []struct {
		name, log string
		want      []time.Duration
		wantErr   string
	}{
		{"ok", "1733212800000000\t200\t1500\n1733212800000100\t200\t250\n", []time.Duration{1500 * time.Microsecond, 250 * time.Microsecond}, ""},
		{"failed streams skipped", "1\t-1\t9\n2\t200\t10\n", []time.Duration{10 * time.Microsecond}, ""},
		{"short line", "1\t200\n", nil, "line 1: 2 columns"},
		{"bad latency", "1\t200\t1\n1\t200\tx\n", nil, `line 2: latency "x"`},
		{"empty", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h2loadLatencies(strings.NewReader(tt.log))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("latency %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i))
	}
	for _, tt := range []struct {
		q    int
		want time.Duration
	}{{50, 51}, {99, 100}, {100, 100}} {
		if got := percentile(lat, tt.q); got != tt.want {
			t.Errorf("percentile(1..100, %d) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

// TestIngressRoutes checks that every peer gets the same 200 routes.
func TestIngressRoutes(t *testing.T) {
	hs := ingressVHosts("nginx")
	seen := map[string]bool{}
	for _, h := range hs {
		for _, r := range h.Routes {
			seen[r.Host+r.Prefix+" "+r.Tag] = true
		}
	}
	if len(seen) != 200 {
		t.Errorf("%d distinct routes, want 200", len(seen))
	}
	if r := hs[7].Routes[3]; r.Host != "h7.nginx.ingress.bench.test" || r.Prefix != "/p3/" || r.Tag != "h7-p3" {
		t.Errorf("route 7/3 = %+v", r)
	}
	hosts := ingressHostsFile()
	if n := strings.Count(hosts, "\n"); n != len(ingressProxies)*ingressHosts {
		t.Errorf("hosts file: %d lines, want %d", n, len(ingressProxies)*ingressHosts)
	}
	if !strings.Contains(hosts, "127.0.0.43 h49.caddy.ingress.bench.test\n") {
		t.Errorf("hosts file lacks caddy's h49:\n%.300s", hosts)
	}
}

// TestIngressConfigs renders every peer's configuration and has the peer
// itself validate it, where it is installed.
func TestIngressConfigs(t *testing.T) {
	fileLimit = 4096
	w := &world{dir: t.TempDir()}
	f, _, err := w.ingressCerts()
	if err != nil {
		t.Fatal(err)
	}
	render := func(name, text, peer string) string {
		t.Helper()
		path, err := w.renderIngress(name, text, peer, f)
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	yaml, err := os.ReadFile(render("egressgw-ingress/ingress.yaml", ingressEgressgwConf, "egressgw"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: Gateway", "selector: {istio: ingressgateway}", "mode: SIMPLE", "minProtocolVersion: TLSV1_3",
		"location: MESH_INTERNAL", "endpoints: [{address: 127.0.0.13}]", "hosts: [h49.egressgw.ingress.bench.test]",
		"x-route: h49-p3"} {
		if !strings.Contains(string(yaml), want) {
			t.Errorf("egressgw's config lacks %q", want)
		}
	}
	if got := strings.Count(string(yaml), "kind: VirtualService"); got != ingressHosts {
		t.Errorf("%d VirtualServices, want %d", got, ingressHosts)
	}
	if got := strings.Count(string(yaml), "- match:"); got != ingressHosts*ingressPaths {
		t.Errorf("%d http routes, want %d", got, ingressHosts*ingressPaths)
	}
	render("haproxy-ingress.map", ingressHAProxyMap, "haproxy")
	validators := []struct {
		name, tool string
		argv       func() []string
		env        []string
	}{
		{"nginx", "nginx", func() []string {
			return []string{"-t", "-q", "-p", w.dir, "-c", render("nginx-ingress.conf", ingressNginxConf, "nginx"), "-e", w.path("nginx.err")}
		}, nil},
		{"backend", "nginx", func() []string {
			return []string{"-t", "-q", "-p", w.dir, "-c", render("ingress-backend.conf", ingressBackendConf, "direct"), "-e", w.path("nginx.err")}
		}, nil},
		{"haproxy", "haproxy", func() []string {
			return []string{"-c", "-q", "-f", render("haproxy-ingress.cfg", ingressHAProxyConf, "haproxy")}
		}, nil},
		{"caddy", "caddy", func() []string {
			return []string{"validate", "--config", render("Caddyfile", ingressCaddyfile, "caddy"), "--adapter", "caddyfile"}
		}, []string{"HOME=" + w.dir, "XDG_DATA_HOME=" + w.path("caddy-data"), "XDG_CONFIG_HOME=" + w.path("caddy-config")}},
	}
	for _, v := range validators {
		t.Run(v.name, func(t *testing.T) {
			if _, err := exec.LookPath(v.tool); err != nil {
				t.Skipf("%s not installed", v.tool)
			}
			cmd := exec.Command(v.tool, v.argv()...)
			cmd.Env = append(os.Environ(), v.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s: %v:\n%s", strings.Join(cmd.Args, " "), err, out)
			}
		})
	}
}
