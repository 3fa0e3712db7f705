package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const extService = `
kind: Service
apiVersion: v1
metadata: {name: my-ext, namespace: default}
spec:
  type: ExternalName
  externalName: api.ext.test
  ports: [{name: http, port: 80}, {name: http-alt, port: 8080}]
---
`

// extEntry is the YAML of ServiceEntry ext/name for host (a YAML scalar)
// with resolution and one port (a YAML flow map), and any more lines of
// its spec between the two.
func extEntry(name, host, resolution, port string, more ...string) string {
	var sb strings.Builder
	sb.WriteString("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: " + name + ", namespace: ext}\n")
	sb.WriteString("spec:\n  hosts: [" + host + "]\n  resolution: " + resolution + "\n")
	for _, l := range more {
		sb.WriteString("  " + l + "\n")
	}
	sb.WriteString("  ports: [" + port + "]\n")
	return sb.String()
}

// extRule is the YAML of DestinationRule ns/name for host (a YAML scalar)
// with trafficPolicy (a YAML flow map).
func extRule(ns, name, host, trafficPolicy string) string {
	return "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: " + name + ", namespace: " + ns + "}\n" +
		"spec:\n  host: " + host + "\n  trafficPolicy: " + trafficPolicy + "\n"
}

// extDocs puts YAML documents one after the other, to follow extService.
func extDocs(docs ...string) string { return "\n" + strings.Join(docs, "---\n") }

// TestExternalNameToServiceEntry: an ExternalName Service whose
// externalName is a ServiceEntry host takes, on the ports the ServiceEntry
// declares, its targetPort and protocol together with the DestinationRule
// settings of that host's port (issue 11: TLS was originated to port 80).
func TestExternalNameToServiceEntry(t *testing.T) {
	type want struct {
		port       uint32
		name       string // "" for the Service's own
		targetPort uint32
		protocol   Protocol
		http2      bool
		tls        string // the TLS source, "" for plaintext
	}
	tests := []struct {
		name           string
		yaml           string
		want           []want
		wantWarning    string
		wantResolution Resolution // NONE stands for DNS, the default: the externalName resolved
		wantEndpoints  int
	}{
		{name: "exact host, port-level TLS", yaml: extDocs(
			extEntry("api", "api.ext.test", "DNS", "{number: 80, name: http, protocol: HTTP, targetPort: 443}"),
			extRule("ext", "api", "api.ext.test", "{portLevelSettings: [{port: {number: 80}, tls: {mode: SIMPLE}}]}")),
			want: []want{
				{port: 80, targetPort: 443, protocol: ProtocolHTTP, tls: "DestinationRule ext/api portLevelSettings[0].tls"},
				{port: 8080, targetPort: 8080, protocol: ProtocolHTTP}, // not a port of the ServiceEntry: the Service's own
			}},
		{name: "wildcard host, rule-level TLS, HTTP2", yaml: extDocs(
			extEntry("wild", `"*.ext.test"`, "NONE", "{number: 80, name: grpc, protocol: GRPC, targetPort: 8443}"),
			extRule("ext", "wild", `"*.ext.test"`, "{tls: {mode: SIMPLE}}")),
			want: []want{
				{port: 80, targetPort: 8443, protocol: ProtocolHTTP, http2: true, tls: "DestinationRule ext/wild trafficPolicy.tls"},
				{port: 8080, targetPort: 8080, protocol: ProtocolHTTP, tls: "DestinationRule ext/wild trafficPolicy.tls"},
			}},
		{name: "exact host over wildcard", yaml: extDocs(
			extEntry("wild", `"*.ext.test"`, "NONE", "{number: 80, name: http, protocol: HTTP, targetPort: 9999}"),
			extEntry("api", "api.ext.test", "DNS", "{number: 80, name: http, protocol: HTTP, targetPort: 443}")),
			want: []want{{port: 80, targetPort: 443, protocol: ProtocolHTTP}}},
		{name: "ServiceEntry without TLS: the Service's own rule does not apply on its ports", yaml: extDocs(
			extEntry("api", "api.ext.test", "DNS", "{number: 80, name: http, protocol: HTTP, targetPort: 8000}"),
			extRule("default", "own", "my-ext.default.svc.cluster.local", "{tls: {mode: SIMPLE}}")),
			want: []want{
				{port: 80, targetPort: 8000, protocol: ProtocolHTTP},
				{port: 8080, targetPort: 8080, protocol: ProtocolHTTP, tls: "DestinationRule default/own trafficPolicy.tls"},
			}, wantWarning: "DestinationRule default/own: spec.host: not applied to port 80 of Service default/my-ext (ExternalName): its externalName api.ext.test is registered by ServiceEntry ext/api"},
		{name: "STATIC ServiceEntry: its endpoints and port names", yaml: extDocs(
			extEntry("api", "api.ext.test", "STATIC", "{number: 80, name: web, protocol: HTTP, targetPort: 443}", "endpoints: [{address: 10.0.0.5, ports: {web: 9443}}]")),
			want: []want{{port: 80, name: "web", targetPort: 443, protocol: ProtocolHTTP}}, wantResolution: ResolutionStatic, wantEndpoints: 1},
		{name: "no ServiceEntry: the Service's ports", yaml: extDocs(
			extRule("ext", "api", "api.ext.test", "{tls: {mode: SIMPLE}}")),
			want: []want{
				{port: 80, targetPort: 80, protocol: ProtocolHTTP, tls: "DestinationRule ext/api trafficPolicy.tls"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "ext.yaml")
			if err := os.WriteFile(f, []byte(extService+tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			s := mustLoad(t, Options{ClusterDomain: "cluster.local", Namespace: "istio-system"}, f)
			ext := entryByHost(t, s, "my-ext.default.svc.cluster.local")
			if ext.Target != "api.ext.test" {
				t.Errorf("target = %q, want api.ext.test", ext.Target)
			}
			wantRes := tt.wantResolution
			if wantRes == ResolutionNone {
				wantRes = ResolutionDNS
			}
			if ext.Resolution != wantRes || len(ext.Endpoints) != tt.wantEndpoints {
				t.Errorf("resolution %d with %d endpoints, want %d with %d", ext.Resolution, len(ext.Endpoints), wantRes, tt.wantEndpoints)
			}
			for _, w := range tt.want {
				p := port(t, ext, w.port)
				if w.name != "" && p.Name != w.name {
					t.Errorf("port %d: name %q, want %q (endpoint ports are chosen by it)", w.port, p.Name, w.name)
				}
				tlsSource := ""
				if p.TLS != nil {
					tlsSource = p.TLS.Source
				}
				if p.TargetPort != w.targetPort || p.Protocol != w.protocol || p.HTTP2 != w.http2 || tlsSource != w.tls {
					t.Errorf("port %d: got targetPort %d, protocol %d, http2 %v, TLS %q; want %d, %d, %v, %q",
						w.port, p.TargetPort, p.Protocol, p.HTTP2, tlsSource, w.targetPort, w.protocol, w.http2, w.tls)
				}
			}
			if tt.wantWarning != "" && !hasWarning(s, tt.wantWarning) {
				t.Errorf("missing warning %q in\n%s", tt.wantWarning, strings.Join(s.Warnings, "\n"))
			}
		})
	}
}
