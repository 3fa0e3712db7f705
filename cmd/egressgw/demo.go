package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/egressgw/egressgw/policy"
)

// demo runs everything on loopback: an "external" HTTPS server with its own
// CA, an upstream DNS server, the gateway, and a client that goes through
// DNS interception, TLS origination, passthrough and refusals (policy,
// and netguard's of a name that resolves to loopback).
func demo(out io.Writer) error {
	dir, err := os.MkdirTemp("", "egressgw-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	step := func(format string, a ...any) { fmt.Fprintf(out, "\n==> "+format+"\n", a...) }
	say := func(format string, a ...any) { fmt.Fprintf(out, "    "+format+"\n", a...) }

	step("Starting an \"external\" HTTPS server for api.demo.test and www.demo.test, with a certificate from its own CA")
	ca, err := newDemoCA(dir, "api.demo.test", "www.demo.test")
	if err != nil {
		return err
	}
	site, err := startDemoSite(ca)
	if err != nil {
		return err
	}
	defer site.Close()
	say("listening on %s", site.Addr())

	step("Starting the upstream DNS server (the \"internet\" resolver): *.demo.test -> 127.0.0.1")
	upstream, err := startDemoDNS()
	if err != nil {
		return err
	}
	defer upstream.Shutdown()

	step("Starting a \"httpbin\" Service behind the gateway, for ingress")
	httpbin, err := startDemoHTTPBin()
	if err != nil {
		return err
	}
	defer httpbin.Close()
	say("listening on %s", httpbin.Addr())

	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	_, sitePort, _ := net.SplitHostPort(site.Addr().String())
	_, binPort, _ := net.SplitHostPort(httpbin.Addr().String())
	cfg := demoConfig{HTTPPort: ports[0], TLSPort: ports[1], SitePort: sitePort, CA: ca.caFile, IngressPort: ports[3], HTTPBinPort: binPort}
	if err := writeDemoConfig(filepath.Join(dir, "egress.yaml"), cfg); err != nil {
		return err
	}
	if err := writeDemoIngress(filepath.Join(dir, "ingress.yaml"), cfg); err != nil {
		return err
	}
	for _, f := range []string{"egress.yaml", "ingress.yaml"} {
		step("Gateway configuration (Istio YAML, %s):", filepath.Join(dir, f))
		yml, _ := os.ReadFile(filepath.Join(dir, f))
		for _, line := range strings.Split(strings.TrimSpace(string(yml)), "\n") {
			say("%s", line)
		}
	}

	dnsAddr := net.JoinHostPort("127.0.0.1", ports[2])
	o := &options{configs: []string{dir}, egressAddr: netip.MustParseAddr("127.0.0.1"), dnsListen: dnsAddr,
		dnsUpstream: upstream.PacketConn.LocalAddr().String(), mode: policy.RegistryOnly, modeName: "REGISTRY_ONLY",
		adminListen: "127.0.0.1:0", clusterDomain: "cluster.local", namespace: "istio-system",
		labels: map[string]string{"istio": "egressgateway"}, ingressAddr: netip.MustParseAddr("127.0.0.1"),
		ingressLabels: map[string]string{"istio": "ingressgateway"}}
	step("Starting egressgw: DNS interceptor on %s, egress listeners on 127.0.0.1:%s (HTTP) and :%s (TLS)", dnsAddr, cfg.HTTPPort, cfg.TLSPort)
	dlog := demoLogger(out)
	gw, err := start(o, dlog, dlog.Named("access"))
	if err != nil {
		return err
	}
	defer gw.shutdown()

	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, dnsAddr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	step("A pod resolves api.demo.test through the interceptor")
	addrs, err := res.LookupHost(ctx, "api.demo.test")
	say("api.demo.test -> %v (the gateway, not the real server)", addrs)
	if err != nil {
		return err
	}
	step("A pod resolves evil.demo.test, which no ServiceEntry registers")
	m := new(dns.Msg)
	m.SetQuestion("evil.demo.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	if r, err := dns.Exchange(m, dnsAddr); err == nil {
		say("rcode %s; %s", dns.RcodeToString[r.Rcode], edeText(r))
	}

	client := demoClient(res, ca.pool)
	step("Plain HTTP to http://api.demo.test:%s/hello: the gateway originates TLS (DestinationRule SIMPLE)", cfg.HTTPPort)
	if err := demoGet(ctx, client, "http://api.demo.test:"+cfg.HTTPPort+"/hello", say); err != nil {
		return err
	}
	step("HTTPS to https://www.demo.test:%s/: passed through by SNI, never decrypted", cfg.TLSPort)
	if err := demoGet(ctx, client, "https://www.demo.test:"+cfg.TLSPort+"/", say); err != nil {
		return err
	}
	step("http://api.demo.test:%s/admin: denied by an AuthorizationPolicy", cfg.HTTPPort)
	if err := demoGet(ctx, client, "http://api.demo.test:"+cfg.HTTPPort+"/admin", say); err != nil {
		return err
	}
	step("Plain HTTP with Host evil.demo.test sent straight to the gateway: denied (REGISTRY_ONLY)")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+cfg.HTTPPort+"/", nil)
	req.Host = "evil.demo.test"
	if resp, err := client.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		say("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	step("http://x.rebind.demo.test:%s/: a wildcard's name that the upstream DNS resolves to 127.0.0.1 (DNS rebinding): refused before dialling", cfg.HTTPPort)
	rreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://x.rebind.demo.test:"+cfg.HTTPPort+"/", nil)
	resp, err := client.Do(rreq)
	if err != nil {
		return fmt.Errorf("GET x.rebind.demo.test: %w", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	say("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	if resp.StatusCode != http.StatusForbidden {
		return fmt.Errorf("a name resolving to loopback was not refused: %s", resp.Status)
	}
	step("TLS with SNI evil.demo.test sent straight to the gateway: refused with a TLS alert")
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+cfg.TLSPort, &tls.Config{ServerName: "evil.demo.test", RootCAs: ca.pool})
	if err == nil {
		conn.Close()
		return fmt.Errorf("TLS to an unregistered host was not refused")
	}
	say("handshake failed: %v", err)
	client.CloseIdleConnections() // lets the gateway drain at once

	ingress := &http.Client{Timeout: 10 * time.Second}
	step("Ingress (the first seed's Gateway and VirtualService): Host httpbin.example.com, /status/200 to the httpbin Service")
	if err := demoIngress(ctx, ingress, cfg.IngressPort, "/status/200", http.StatusOK, say); err != nil {
		return err
	}
	step("Ingress: /headers, which no route of the VirtualService matches: a 404 that says so")
	if err := demoIngress(ctx, ingress, cfg.IngressPort, "/headers", http.StatusNotFound, say); err != nil {
		return err
	}
	ingress.CloseIdleConnections()
	step("Done. Every request above has one access log line (\"request\" / \"connection\") with its decision and rule.")
	return nil
}

func demoGet(ctx context.Context, c *http.Client, url string, say func(string, ...any)) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	say("%s %s", resp.Proto, resp.Status)
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		c := resp.TLS.PeerCertificates[0]
		say("certificate seen by the client: subject %q, issuer %q (the server's own)", c.Subject.CommonName, c.Issuer.CommonName)
	}
	say("body: %s", strings.TrimSpace(string(b)))
	return nil
}

func demoClient(res *net.Resolver, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, Resolver: res}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     d.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
}

func edeText(r *dns.Msg) string {
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return fmt.Sprintf("Extended DNS Error %d (%s): %s", e.InfoCode, dns.ExtendedErrorCodeToString[e.InfoCode], e.ExtraText)
			}
		}
	}
	return "no Extended DNS Error"
}

func demoLogger(out io.Writer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.TimeKey = ""
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(out), zap.InfoLevel)
	return zap.New(core)
}

func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		_, p, _ := net.SplitHostPort(l.Addr().String())
		out = append(out, p)
	}
	return out, nil
}

type demoConfig struct{ HTTPPort, TLSPort, SitePort, CA, IngressPort, HTTPBinPort string }

// demoIngress sends GET path with Host httpbin.example.com to the ingress port and checks the status.
func demoIngress(ctx context.Context, c *http.Client, port, path string, want int, say func(string, ...any)) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+path, nil)
	req.Host = "httpbin.example.com"
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s through ingress: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	say("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s through ingress: %s, want %d", path, resp.Status, want)
	}
	return nil
}

// demoIngressYAML is the first seed's Gateway and VirtualService as the
// article writes them (only the port differs: the demo runs unprivileged),
// and the ServiceEntry that stands for the httpbin Service off Kubernetes.
var demoIngressYAML = template.Must(template.New("ingress").Parse(`apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway # use Istio default gateway implementation
  servers:
  - port:
      number: {{.IngressPort}}
      name: http
      protocol: HTTP
    hosts:
    - "httpbin.example.com"
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
---
# Off Kubernetes, the httpbin Service is a ServiceEntry with its endpoint.
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: httpbin
spec:
  hosts: [httpbin.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports:
  - {number: 8000, name: http, protocol: HTTP, targetPort: {{.HTTPBinPort}}}
`))

func writeDemoIngress(path string, c demoConfig) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return demoIngressYAML.Execute(f, c)
}

var demoYAML = template.Must(template.New("demo").Parse(`# The "external" server is on loopback: an address written as a STATIC
# endpoint is trusted, while a name that resolves to loopback at request
# time is refused (see *.rebind.demo.test).
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: api-demo
spec:
  hosts: [api.demo.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports:
  - {number: {{.HTTPPort}}, name: http, protocol: HTTP, targetPort: {{.SitePort}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: api-demo
spec:
  host: api.demo.test
  trafficPolicy:
    tls:
      mode: SIMPLE
      caCertificates: {{.CA}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: www-demo
spec:
  hosts: [www.demo.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports:
  - {number: {{.TLSPort}}, name: tls, protocol: TLS, targetPort: {{.SitePort}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: rebind-demo
spec:
  hosts: ["*.rebind.demo.test"]
  location: MESH_EXTERNAL
  ports:
  - {number: {{.HTTPPort}}, name: http, protocol: HTTP, targetPort: {{.SitePort}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: no-admin
  namespace: istio-system
spec:
  action: DENY
  rules:
  - to:
    - operation:
        hosts: [api.demo.test]
        paths: ["/admin", "/admin/*"]
`))

func writeDemoConfig(path string, c demoConfig) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return demoYAML.Execute(f, c)
}
