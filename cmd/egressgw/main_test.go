package main

import (
	"bytes"
	"cmp"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/egressgw/egressgw/dnsproxy"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: broken, namespace: team-a}
spec:
  hosts: ["*"]
  ports: [{number: 0, name: http, protocol: HTTP}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		paths    []string
		wantCode int
		wantOut  []string
	}{
		{name: "shipped example", paths: []string{"../../deploy/config"}, wantCode: 0, wantOut: []string{"ok: 4 resources, 2 registered hosts"}},
		{name: "broken file names file, resource and field", paths: []string{bad}, wantCode: 1,
			wantOut: []string{bad + ": ServiceEntry team-a/broken: spec.hosts[0]", "spec.ports[0].number"}},
		{name: "missing file", paths: []string{filepath.Join(dir, "nope.yaml")}, wantCode: 1, wantOut: []string{"nope.yaml"}},
		{name: "no paths", paths: nil, wantCode: 2, wantOut: []string{"usage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := check(tt.paths, &out, &errOut)
			all := out.String() + errOut.String()
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tt.wantCode, all)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(all, w) {
					t.Errorf("output does not contain %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestParseRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		// the DNS forwarding bounds; 0 for the defaults
		wantMax, wantPerSource int
	}{
		{name: "minimal", args: []string{"--config", "x.yaml", "--dns-upstream", "10.0.0.2"}},
		{name: "no config", args: []string{"--dns-upstream", "10.0.0.2"}, wantErr: "--config is required"},
		{name: "bad policy", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--outbound-policy", "deny"}, wantErr: "want REGISTRY_ONLY or ALLOW_ANY"},
		{name: "bad egress addr", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--egress-addr", "gw"}, wantErr: "not an IP address"},
		{name: "bad labels", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--labels", "istio"}, wantErr: "is not k=v"},
		{name: "bad upstream", args: []string{"--config", "x", "--dns-upstream", "dns.example"}, wantErr: "want IP or IP:port"},
		{name: "forward max 0", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--dns-forward-max", "0"}, wantErr: "--dns-forward-max 0: want at least 1"},
		{name: "per source above the whole", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--dns-forward-max", "100", "--dns-forward-max-per-source", "200"}, wantErr: "--dns-forward-max-per-source 200: want 1 to --dns-forward-max (100)"},
		{name: "forward bounds", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--dns-forward-max", "100", "--dns-forward-max-per-source", "10"}, wantMax: 100, wantPerSource: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseRun(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.dnsUpstream != "10.0.0.2:53" || o.dnsListen != "127.0.0.1:53" || o.labels["istio"] != "egressgateway" {
				t.Errorf("defaults not applied: %+v", o)
			}
			wantMax, wantPerSource := cmp.Or(tt.wantMax, dnsproxy.DefaultForwardMax), cmp.Or(tt.wantPerSource, dnsproxy.DefaultForwardMaxPerSource)
			if o.dnsForwardMax != wantMax || o.dnsPerSource != wantPerSource {
				t.Errorf("DNS forwarding bounds %d and %d, want %d and %d", o.dnsForwardMax, o.dnsPerSource, wantMax, wantPerSource)
			}
		})
	}
}
