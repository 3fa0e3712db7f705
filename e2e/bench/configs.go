//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

// Each peer gets its documented way of doing the job, with its access log
// off: keep-alive to the upstream, certificate verification against the
// bench CA with the name the upstream's certificate carries, SNI sent.

// nginxCommon is what both nginx configs start with: one worker, enough
// connections, no access log, keep-alive without limits, files in the run's
// directory. It leaves the http block open.
const nginxCommon = `{{define "nginx"}}worker_processes 1;
worker_rlimit_nofile {{.Files}};
pid {{.Dir}}/{{.Self}}.pid;
events { worker_connections {{.Conns}}; multi_accept on; }
http {
	access_log off;
	client_body_temp_path {{.Dir}}/tmp; proxy_temp_path {{.Dir}}/tmp;
	fastcgi_temp_path {{.Dir}}/tmp; uwsgi_temp_path {{.Dir}}/tmp; scgi_temp_path {{.Dir}}/tmp;
	keepalive_requests 100000000;
	keepalive_timeout 600s;{{end}}`

// upstreamNginxConf is the one HTTPS upstream, on CPU 1. It offers HTTP/2
// by ALPN, as public APIs do; a proxy that asks for it gets it.
const upstreamNginxConf = `
{{template "nginx" .}}
	ssl_protocols TLSv1.2 TLSv1.3;
	server {
		listen {{.Upstream}}:443 ssl http2 reuseport backlog=65535;
		ssl_certificate {{.Cert}};
		ssl_certificate_key {{.Key}};
		location = /big { alias {{.Big}}; }
		location / { default_type text/plain; return 200 "{{.Hello}}"; }
	}
}
`

// proxyNginxConf: proxy_pass https:// with verification and a keepalive
// upstream pool for origination; stream with ssl_preread for passthrough.
const proxyNginxConf = `
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
{{template "nginx" .}}
	upstream origin { server {{.Upstream}}:443; keepalive 128; keepalive_requests 100000000; }
	server {
		listen {{.Nginx}}:80 reuseport backlog=65535;
		location / {
			proxy_pass https://origin;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
			proxy_ssl_verify on;
			proxy_ssl_trusted_certificate {{.CA}};
			proxy_ssl_server_name on;
			proxy_ssl_name {{.Origin}};
			proxy_ssl_session_reuse on;
		}
	}
}
stream {
	map $ssl_preread_server_name $backend { {{.PtNginx}} {{.Upstream}}:443; }
	server {
		listen {{.Nginx}}:443 reuseport backlog=65535;
		ssl_preread on;
		proxy_pass $backend;
		proxy_timeout 600s;
	}
}
`

// haproxyConf: HTTP mode with "ssl verify required" and SNI for origination,
// HTTP/2 to the upstream when offered (as egressgw does; it made HAProxy
// faster here, nginx's proxy_pass has no HTTP/2); TCP mode routing on
// req.ssl_sni for passthrough, splicing.
const haproxyConf = `
global
	nbthread 1
	maxconn {{.HAConns}}
	tune.ssl.default-dh-param 2048
defaults
	timeout connect 5s
	timeout client 600s
	timeout server 600s
	timeout http-keep-alive 600s
frontend origination
	mode http
	bind {{.HAProxy}}:80
	default_backend origin
backend origin
	mode http
	http-reuse always
	server up {{.Upstream}}:443 ssl verify required ca-file {{.CA}} sni str({{.Origin}}) verifyhost {{.Origin}} alpn h2,http/1.1 pool-max-conn 128
frontend passthrough
	mode tcp
	option splice-auto
	bind {{.HAProxy}}:443
	tcp-request inspect-delay 5s
	tcp-request content accept if { req.ssl_hello_type 1 }
	use_backend pt if { req.ssl_sni -i {{.PtHAProxy}} }
backend pt
	mode tcp
	option splice-auto
	server up {{.Upstream}}:443
`

// corefile answers the registered zone itself and forwards the rest.
const corefile = `
.:53 {
	bind {{.CoreDNS}}
	template IN A {{.RegZone}} {
		answer "{{"{{"}} .Name {{"}}"}} 30 IN A {{.RegAnswer}}"
	}
	forward . {{.UpDNS}}:53
}
`

// egressgwConf registers the same three things: origination of
// api.bench.test:80 to the upstream's 443 (over HTTP/2, as HAProxy's; and
// as h1.bench.test over HTTP/1.1), passthrough of pt-egressgw.bench.test,
// and the DNS zone.
const egressgwConf = `
{{- range .Origins}}
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: {{.Name}}, namespace: bench}
spec:
  hosts: [{{.Host}}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}]
  endpoints: [{address: {{$.Upstream}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: {{.Name}}, namespace: bench}
spec:
  host: {{.Host}}
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: {{$.CA}}, sni: {{$.Origin}}}
{{- if .H2}}
    connectionPool: {http: {h2UpgradePolicy: UPGRADE}}
{{- end}}
---
{{- end}}
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: passthrough, namespace: bench}
spec:
  hosts: [{{.PtEgressgw}}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 443, name: tls, protocol: TLS}]
  endpoints: [{address: {{.Upstream}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dns, namespace: bench}
spec:
  hosts: ["*.{{.RegZone}}"]
  location: MESH_EXTERNAL
  ports: [{number: 443, name: tls, protocol: TLS}]
`

// render writes a template filled with the world's names to dir/name.
func (w *world) render(name, text string) (string, error) {
	data := map[string]any{
		"Files": strconv.Itoa(fileLimit), "Conns": strconv.Itoa(fileLimit - 200), // nginx counts each client and upstream socket
		// HAProxy wants two descriptors per connection and one pipe per four.
		"HAConns": strconv.Itoa(fileLimit*2/5 - 100),
		"Dir":     w.dir, "CA": w.caFile, "Cert": w.cert, "Key": w.key, "Big": w.bigFile, "Hello": `hello from the upstream\n`,
		"Upstream": upstreamAddr, "UpDNS": upDNSAddr, "Nginx": nginxAddr, "HAProxy": haproxyAddr, "CoreDNS": corednsAddr,
		"Origin": originName, "RegZone": regZone, "RegAnswer": regAnswer,
		"PtNginx": ptName("nginx"), "PtHAProxy": ptName("haproxy"), "PtEgressgw": ptName("egressgw"),
	}
	// The origination upstream, as egressgw registers it twice: over
	// HTTP/2 (as HAProxy's) and over HTTP/1.1 (Istio's default for HTTP).
	data["Origins"] = []struct {
		Name, Host string
		H2         bool
	}{{"origin", originName, true}, {"origin-h1", originH1Name, false}}
	data["Self"] = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	t, err := template.New(name).Parse(nginxCommon + text)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(w.dir, "tmp"), 0o755); err != nil {
		return "", err
	}
	path := w.path(name)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := t.Execute(f, data); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// writeEgressgwConfig renders the gateway's config into a directory of its
// own, which the reload phase adds files to.
func (w *world) writeEgressgwConfig() (string, error) {
	dir := w.path("egressgw-config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path, err := w.render("egressgw-config/bench.yaml", egressgwConf)
	if err != nil {
		return "", err
	}
	return filepath.Dir(path), nil
}
