package main

import (
	"bytes"
	"cmp"
	"fmt"
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
		name      string
		args      []string
		wantErr   string
		wantCIDRs string
		// the DNS forwarding bounds; 0 for the defaults
		wantMax, wantPerSource int
	}{
		{name: "minimal", args: []string{"--config", "x.yaml", "--dns-upstream", "10.0.0.2"}},
		{name: "no config", args: []string{"--dns-upstream", "10.0.0.2"}, wantErr: "--config is required"},
		{name: "bad policy", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--outbound-policy", "deny"}, wantErr: "want REGISTRY_ONLY or ALLOW_ANY"},
		{name: "path normalization", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--path-normalization", "DECODE_AND_MERGE_SLASHES"}},
		{name: "bad path normalization", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--path-normalization", "FULL"}, wantErr: "--path-normalization: path normalization \"FULL\": want NONE, BASE"},
		{name: "bad body idle timeout", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--body-idle-timeout", "0s"}, wantErr: "want a positive duration"},
		{name: "bad egress addr", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--egress-addr", "gw"}, wantErr: "not an IP address"},
		{name: "bad labels", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--labels", "istio"}, wantErr: "is not k=v"},
		{name: "bad upstream", args: []string{"--config", "x", "--dns-upstream", "dns.example"}, wantErr: "want IP or IP:port"},
		{name: "allow-cidrs", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--allow-cidrs", "10.0.0.0/8, fd00::/8", "--allow-cidrs", "192.168.1.1"},
			wantCIDRs: "[10.0.0.0/8 fd00::/8 192.168.1.1/32]"},
		{name: "bad allow-cidrs", args: []string{"--config", "x", "--dns-upstream", "10.0.0.2", "--allow-cidrs", "10.0.0.0/8,10.0.0/8"},
			wantErr: `--allow-cidrs: "10.0.0/8" is not a CIDR`},
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
			if got := fmt.Sprint(o.allowCIDRs); tt.wantCIDRs != "" && got != tt.wantCIDRs {
				t.Errorf("allowCIDRs = %s, want %s", got, tt.wantCIDRs)
			}
		})
	}
}

func TestParseRunAdmin(t *testing.T) {
	base := []string{"--config", "x.yaml", "--dns-upstream", "10.0.0.2", "--egress-addr", "169.254.20.11"}
	tests := []struct {
		name      string
		args      []string
		wantErr   string
		wantPprof bool
	}{
		{name: "default loopback admin", args: nil},
		{name: "loopback admin, pprof on", args: []string{"--admin-listen", "127.0.0.1:15000", "--admin-pprof"}, wantPprof: true},
		{name: "host name taken as given", args: []string{"--admin-listen", "localhost:15000"}},
		{name: "admin on the egress address", args: []string{"--admin-listen", "169.254.20.11:15000"},
			wantErr: "--admin-listen 169.254.20.11:15000 is on --egress-addr 169.254.20.11, which every pod may reach"},
		{name: "admin on every address", args: []string{"--admin-listen", "0.0.0.0:15000"},
			wantErr: "binds every address, --egress-addr 169.254.20.11 among them, which every pod may reach"},
		{name: "admin on every address, no host", args: []string{"--admin-listen", ":15000"}, wantErr: "binds every address"},
		{name: "admin on every IPv6 address", args: []string{"--admin-listen", "[::]:15000"}, wantErr: "binds every address"},
		{name: "operator means it", args: []string{"--admin-listen", "169.254.20.11:15000", "--admin-on-egress-addr"}},
		{name: "not host:port", args: []string{"--admin-listen", "15000"}, wantErr: "want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseRun(append(append([]string(nil), base...), tt.args...))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "--admin-on-egress-addr") && !strings.Contains(tt.wantErr, "host:port") {
					t.Errorf("err = %v: does not name the flag that allows it", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.adminPprof != tt.wantPprof {
				t.Errorf("adminPprof = %v, want %v", o.adminPprof, tt.wantPprof)
			}
		})
	}
}

func TestParseRunIdentityFlags(t *testing.T) {
	base := []string{"--config", "x.yaml", "--dns-upstream", "10.0.0.2"}
	tests := []struct {
		args           []string
		wantErr        string
		wantTD, wantNS string
	}{
		{args: nil, wantTD: "cluster.local", wantNS: "istio-system"},
		{args: []string{"--trust-domain", "corp.example", "--root-namespace", "istio-config"}, wantTD: "corp.example", wantNS: "istio-config"},
		{args: []string{"--trust-domain", ""}, wantErr: `--trust-domain "": want a domain such as cluster.local`},
		{args: []string{"--trust-domain", "a/b"}, wantErr: `--trust-domain "a/b": want a domain`},
		{args: []string{"--root-namespace", "Istio_System"}, wantErr: `--root-namespace "Istio_System": not a namespace name`},
	}
	for _, tt := range tests {
		o, err := parseRun(append(append([]string(nil), base...), tt.args...))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: error %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if o.trustDomain != tt.wantTD || o.rootNamespace != tt.wantNS {
			t.Errorf("%v: trust domain %q, root namespace %q; want %q, %q", tt.args, o.trustDomain, o.rootNamespace, tt.wantTD, tt.wantNS)
		}
		if opts := (&gateway{opts: o}).configOptions(); opts.TrustDomain != tt.wantTD || opts.RootNamespace != tt.wantNS {
			t.Errorf("%v: config.Options %+v do not carry them", tt.args, opts)
		}
	}
}
