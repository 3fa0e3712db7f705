//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

// The ingress part's configurations: every peer serves the same 200
// routes (ingressHosts hosts x ingressPaths path prefixes, each adding its
// own response header x-route) on port 80 and, with TLS 1.3 only and the
// same ECDSA P-256 certificate, on port 443 (HTTP/1.1 and HTTP/2 by ALPN),
// all to the one plaintext backend, which it keeps connections to; a
// request no route matches gets 404. Access logs are off everywhere.

const (
	ingressHosts   = 50
	ingressPaths   = 4
	ingressBodyLen = 1024 // bytes the backend answers
)

// ingressDomain is the domain of peer's hosts: h0.<domain> ... h49.<domain>.
// Each peer has its own, pointed at its address by the hosts file, so that
// a TLS client's SNI and Host reach that peer.
func ingressDomain(peer string) string { return peer + ".ingress.bench.test" }

// ingressHost is host i of peer.
func ingressHost(peer string, i int) string { return "h" + strconv.Itoa(i) + "." + ingressDomain(peer) }

// ingressRoute is one route: a host, a path prefix and the value of the
// header it adds.
type ingressRoute struct{ Host, Prefix, Tag string }

// ingressPath is path prefix j, with the slash that ends it.
func ingressPath(j int) string { return "/p" + strconv.Itoa(j) + "/" }

// ingressVHost is a host with its routes, in the order of ingressPath.
type ingressVHost struct {
	Name   string // short name: h7
	Host   string
	Routes []ingressRoute
}

func ingressVHosts(peer string) []ingressVHost {
	hs := make([]ingressVHost, ingressHosts)
	for i := range hs {
		hs[i] = ingressVHost{Name: "h" + strconv.Itoa(i), Host: ingressHost(peer, i)}
		for j := range ingressPaths {
			hs[i].Routes = append(hs[i].Routes, ingressRoute{Host: hs[i].Host, Prefix: ingressPath(j), Tag: routeTag(i, j)})
		}
	}
	return hs
}

// routeTag is the x-route value route (host i, path j) adds.
func routeTag(i, j int) string { return "h" + strconv.Itoa(i) + "-p" + strconv.Itoa(j) }

// ingressHostsFile is the hosts file's lines for every peer's hosts.
func ingressHostsFile() string {
	var b strings.Builder
	for _, peer := range ingressProxies {
		for i := range ingressHosts {
			fmt.Fprintf(&b, "%s %s\n", ingressAddrs[peer], ingressHost(peer, i))
		}
	}
	return b.String()
}

// ingressBackendConf is the backend: one nginx worker on the upstream CPU
// answering every request with ingressBodyLen bytes.
const ingressBackendConf = `
{{template "nginx" .}}
	server {
		listen {{.Backend}}:80 reuseport backlog=65535;
		location / { default_type text/plain; return 200 "{{.Body}}"; }
	}
}
`

// ingressNginxConf: a server block per host, a prefix location per route
// with add_header; a keepalive upstream pool; a default server answering
// 404.
const ingressNginxConf = `
{{template "nginx" .}}
	ssl_protocols TLSv1.3;
	ssl_certificate {{.Cert}};
	ssl_certificate_key {{.Key}};
	upstream backend { server {{.Backend}}:80; keepalive 128; keepalive_requests 100000000; }
	proxy_http_version 1.1;
	proxy_set_header Connection "";
	server {
		listen {{.Addr}}:80 reuseport backlog=65535 default_server;
		listen {{.Addr}}:443 ssl http2 reuseport backlog=65535 default_server;
		return 404;
	}
{{- range .VHosts}}
	server {
		listen {{$.Addr}}:80;
		listen {{$.Addr}}:443 ssl http2;
		server_name {{.Host}};
{{- range .Routes}}
		location {{.Prefix}} { proxy_pass http://backend; add_header x-route {{.Tag}}; }
{{- end}}
		location / { return 404; }
	}
{{- end}}
}
`

// ingressHAProxyConf: one frontend on both ports; the route is the entry
// of a map file whose key (host and path prefix) begins the request's
// host and path (map_beg on base, HAProxy's way to hold many routes), its
// value the header; no entry answers 404. Connections to the backend are
// kept and reused.
const ingressHAProxyConf = `
global
	nbthread 1
	maxconn {{.HAConns}}
defaults
	mode http
	timeout connect 5s
	timeout client 600s
	timeout server 600s
	timeout http-keep-alive 600s
frontend ingress
	bind {{.Addr}}:80
	bind {{.Addr}}:443 ssl crt {{.CertKey}} alpn h2,http/1.1 ssl-min-ver TLSv1.3
	http-request set-var(txn.route) base,map_beg({{.Map}})
	http-request return status 404 unless { var(txn.route) -m found }
	http-response set-header x-route %[var(txn.route)]
	default_backend backend
backend backend
	http-reuse always
	server b {{.Backend}}:80 pool-max-conn 128
`

// ingressHAProxyMap is the map file: "host/prefix tag" per route.
const ingressHAProxyMap = `{{range .VHosts}}{{range .Routes}}{{.Host}}{{.Prefix}} {{.Tag}}
{{end}}{{end}}`

// ingressCaddyfile: a site per host and scheme (Caddy takes no TLS
// policy on an http:// site), the certificate from
// files (no automatic HTTPS), a handle per route with header and
// reverse_proxy (keeping as many idle connections to the backend as the
// others), 404 otherwise; HTTP/1.1 and HTTP/2 only (no HTTP/3 listener),
// no admin endpoint.
const ingressCaddyfile = `{
	admin off
	auto_https off
	default_bind {{.Addr}}
	servers {
		protocols h1 h2
	}
}
(tls) {
	tls {{.Cert}} {{.Key}} {
		protocols tls1.3
	}
}
(backend) {
	reverse_proxy {{.Backend}}:80 {
		transport http {
			keepalive_idle_conns_per_host 128
		}
	}
}
{{- define "caddyroutes"}}
{{- range .Routes}}
	handle {{.Prefix}}* {
		header x-route {{.Tag}}
		import backend
	}
{{- end}}
	handle {
		respond 404
	}
{{- end}}
{{- range .VHosts}}
http://{{.Host}} {
{{- template "caddyroutes" .}}
}
https://{{.Host}} {
	import tls
{{- template "caddyroutes" .}}
}
{{- end}}
`

// ingressEgressgwConf is the same as Istio YAML: two Gateways for the
// ingress gateway's pods (port 80; port 443 SIMPLE from files, TLS 1.3),
// a VirtualService per host with a route per prefix setting the response
// header, and the backend as a MESH_INTERNAL ServiceEntry.
const ingressEgressgwConf = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress-http, namespace: bench}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.{{.Domain}}"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress-https, namespace: bench}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*.{{.Domain}}"]
    tls: {mode: SIMPLE, serverCertificate: {{.Cert}}, privateKey: {{.Key}}, minProtocolVersion: TLSV1_3}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: backend, namespace: bench}
spec:
  hosts: [{{.BackendHost}}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: {{.Backend}}}]
{{- range .VHosts}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: {{.Name}}, namespace: bench}
spec:
  hosts: [{{.Host}}]
  gateways: [ingress-http, ingress-https]
  http:
{{- range .Routes}}
  - match: [{uri: {prefix: {{.Prefix}}}}]
    route: [{destination: {host: {{$.BackendHost}}, port: {number: 80}}}]
    headers: {response: {set: {x-route: {{.Tag}}}}}
{{- end}}
{{- end}}
`

// ingressBackendHost is the backend's name in egressgw's ServiceEntry.
const ingressBackendHost = "backend.bench.svc.cluster.local"

// ingressFiles are the certificate files of the ingress part.
type ingressFiles struct {
	cert, key string // ECDSA P-256 leaf for every peer's hosts
	certKey   string // both in one file, for HAProxy
}

// renderIngress writes template text, filled with the data of peer (its
// address, domain, routes) and the ingress files, to dir/name.
func (w *world) renderIngress(name, text, peer string, f ingressFiles) (string, error) {
	data := map[string]any{
		"Files": strconv.Itoa(fileLimit), "Conns": strconv.Itoa(fileLimit - 200),
		"HAConns": strconv.Itoa(fileLimit*2/5 - 100),
		"Dir":     w.dir, "Self": strings.TrimSuffix(filepath.Base(name), filepath.Ext(name)),
		"Cert": f.cert, "Key": f.key, "CertKey": f.certKey,
		"Backend": ingBackendAddr, "BackendHost": ingressBackendHost, "Body": strings.Repeat("x", ingressBodyLen),
		"Addr": ingressAddrs[peer], "Domain": ingressDomain(peer), "VHosts": ingressVHosts(peer),
		"Map": w.path(peer + "-ingress.map"),
	}
	t, err := template.New(name).Parse(nginxCommon + text)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(w.path(name)), 0o755); err != nil {
		return "", err
	}
	if err := os.MkdirAll(w.path("tmp"), 0o755); err != nil {
		return "", err
	}
	path := w.path(name)
	out, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := t.Execute(out, data); err != nil {
		out.Close()
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return path, out.Close()
}
