package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/egressgw/egressgw/internal/pki"
	"github.com/egressgw/egressgw/route"
)

// describeRoutes renders the route table and clusters as lines a test can
// compare: servers, virtual hosts with their VirtualServices, routes with
// their destinations' cluster names, TLS and TCP routes.
func describeRoutes(s *Snapshot) []string {
	var out []string
	dests := func(ds []route.Destination) string {
		var parts []string
		for _, d := range ds {
			p := s.Clusters[d.Cluster].Name
			if d.Weight != 0 {
				p += fmt.Sprintf(" %d", d.Weight)
			}
			if m := s.Clusters[d.Cluster].Missing; m != "" {
				p += " (missing: " + m + ")"
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, ", ")
	}
	for _, l := range s.Routes.Listeners() {
		at := fmt.Sprintf("%s %d", l.Side, l.Port)
		for _, sv := range l.Servers {
			line := fmt.Sprintf("%s server %s [%s] %s", at, sv.Name(), strings.Join(sv.Hosts, " "), describeServer(sv))
			if sv.HTTPSRedirect {
				line += " httpsRedirect"
			}
			out = append(out, line)
		}
		for _, vh := range l.HTTP {
			via := "mesh"
			if vh.Server != nil {
				via = vh.Server.Name()
			}
			out = append(out, fmt.Sprintf("%s vhost %s via %s [%s]", at, vh.Host, via, strings.Join(vh.VirtualServices, " ")))
			for _, r := range vh.Routes {
				what := "-> " + dests(r.Action.Destinations)
				switch r.Action.Kind {
				case route.ActionRedirect:
					what = "redirect"
				case route.ActionDirect:
					what = fmt.Sprintf("direct %d", r.Action.Direct.Status)
				}
				out = append(out, fmt.Sprintf("%s   %s %s %s", at, r.VirtualService, r.Field, what))
			}
		}
		for _, r := range l.TLS {
			out = append(out, fmt.Sprintf("%s tls %s %s sni [%s] via [%s] -> %s", at, r.VirtualService, r.Field, strings.Join(r.SNIHosts, " "), strings.Join(r.Gateways, " "), dests(r.Destinations)))
		}
		for _, r := range l.TCP {
			out = append(out, fmt.Sprintf("%s tcp %s %s port %d -> %s", at, r.VirtualService, r.Field, r.Port, dests(r.Destinations)))
		}
	}
	return out
}

func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("routes:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// writeSeed003 copies seed003.yaml into a directory with the certificate
// files it names and the Secret of its credentialName.
func writeSeed003(t *testing.T) string {
	t.Helper()
	ca, err := pki.NewCA("seed CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("uk.bookinfo.com")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yaml, err := os.ReadFile("testdata/ingress/seed003.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml = append(yaml, secretYAML("some-config-namespace", "bookinfo-secret", map[string][]byte{"tls.crt": leaf.CertPEM, "tls.key": leaf.KeyPEM})...)
	for name, b := range map[string][]byte{"seed003.yaml": yaml, "certs/servercert.pem": leaf.CertPEM, "certs/privatekey.pem": leaf.KeyPEM} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSeedRoutes(t *testing.T) {
	const backends = "testdata/ingress/backends.yaml"
	for _, tc := range []struct {
		name  string
		opts  Options
		files func(t *testing.T) []string
		want  []string
		warns []string
	}{
		{"000 host and prefixes", Options{}, func(*testing.T) []string { return []string{backends, "testdata/ingress/seed000.yaml"} }, []string{
			"ingress 80 server Gateway default/httpbin-gateway spec.servers[0] [httpbin.example.com] plaintext HTTP",
			"ingress 80 vhost httpbin.example.com via Gateway default/httpbin-gateway spec.servers[0] [default/httpbin]",
			"ingress 80   default/httpbin spec.http[0] -> outbound|8000||httpbin.default.svc.cluster.local",
		}, nil},
		{"001 subset v1", Options{}, func(*testing.T) []string { return []string{"testdata/ingress/seed001.yaml"} }, []string{
			"ingress 80 server Gateway default/istio-ingress-gateway spec.servers[0] [www.service1.io] plaintext HTTP",
			"ingress 80 vhost www.service1.io via Gateway default/istio-ingress-gateway spec.servers[0] [default/k8s-combat-istio-http-vs]",
			"ingress 80   default/k8s-combat-istio-http-vs spec.http[0] -> outbound|8081|v1|k8s-combat-service-istio-mesh.default.svc.cluster.local",
		}, nil},
		{"002 two gateways on port 80", Options{}, func(*testing.T) []string { return []string{"testdata/ingress/seed002.yaml"} }, []string{
			"ingress 80 server Gateway default/hello-web-gateway spec.servers[0] [*.hello-web.com] plaintext HTTP",
			"ingress 80 server Gateway default/wudebao-web-gateway spec.servers[0] [*.wudebao-web.com] plaintext HTTP",
			"ingress 80 vhost www.hello-web.com via Gateway default/hello-web-gateway spec.servers[0] [default/hello-web]",
			"ingress 80   default/hello-web spec.http[0] -> outbound|12345||hello-web.default.svc.cluster.local",
			"ingress 80 vhost www.wudebao-web.com via Gateway default/wudebao-web-gateway spec.servers[0] [default/wudebao-web]",
			"ingress 80   default/wudebao-web spec.http[0] -> outbound|54321||wudebao-web.default.svc.cluster.local",
		}, nil},
		{"003 redirect, files, credential, namespaces, mongo", Options{IngressLabels: map[string]string{"app": "my-gateway-controller"}},
			func(t *testing.T) []string { return []string{filepath.Join(writeSeed003(t), "seed003.yaml")} }, []string{
				"ingress 80 server Gateway some-config-namespace/my-gateway spec.servers[0] [uk.bookinfo.com eu.bookinfo.com] plaintext HTTP httpsRedirect",
				"ingress 80 vhost uk.bookinfo.com via Gateway some-config-namespace/my-gateway spec.servers[0] [bookinfo-namespace/bookinfo ns1/ns1-any]",
				"ingress 80   bookinfo-namespace/bookinfo spec.http[0] -> outbound|9080||productpage.bookinfo-namespace.svc.cluster.local",
				"ingress 80   ns1/ns1-any spec.http[0] -> outbound|9080||productpage.bookinfo-namespace.svc.cluster.local",
				"ingress 80 vhost eu.bookinfo.com via Gateway some-config-namespace/my-gateway spec.servers[0] [bookinfo-namespace/bookinfo ns1/ns1-any]",
				"ingress 80   bookinfo-namespace/bookinfo spec.http[0] -> outbound|9080||productpage.bookinfo-namespace.svc.cluster.local",
				"ingress 80   ns1/ns1-any spec.http[0] -> outbound|9080||productpage.bookinfo-namespace.svc.cluster.local",
				"ingress 443 server Gateway some-config-namespace/my-gateway spec.servers[1] [uk.bookinfo.com eu.bookinfo.com] TLS SIMPLE (files certs/servercert.pem certs/privatekey.pem)",
				"ingress 443 vhost uk.bookinfo.com via Gateway some-config-namespace/my-gateway spec.servers[1] [bookinfo-namespace/bookinfo ns1/ns1-any]",
				"ingress 443   bookinfo-namespace/bookinfo spec.http[0] -> outbound|9080||productpage.bookinfo-namespace.svc.cluster.local",
				"ingress 443   ns1/ns1-any spec.http[0] -> outbound|9080||productpage.bookinfo-namespace.svc.cluster.local",
				"ingress 443 vhost eu.bookinfo.com via Gateway some-config-namespace/my-gateway spec.servers[1] [bookinfo-namespace/bookinfo ns1/ns1-any]",
				"ingress 443   bookinfo-namespace/bookinfo spec.http[0] -> outbound|9080||productpage.bookinfo-namespace.svc.cluster.local",
				"ingress 443   ns1/ns1-any spec.http[0] -> outbound|9080||productpage.bookinfo-namespace.svc.cluster.local",
				"ingress 2379 server Gateway some-config-namespace/my-gateway spec.servers[4] [*] plaintext TCP",
				"ingress 2379 tcp some-config-namespace/mongo spec.tcp[0].match[0] port 2379 -> outbound|27017||mongo.backend.svc.cluster.local",
				"ingress 9080 server Gateway some-config-namespace/my-gateway spec.servers[3] [* foo.bar.com] plaintext HTTP",
				"ingress 9080 vhost * via Gateway some-config-namespace/my-gateway spec.servers[3] [ns1/ns1-any]",
				"ingress 9080   ns1/ns1-any spec.http[0] -> outbound|9080||productpage.bookinfo-namespace.svc.cluster.local",
				"ingress 9443 server Gateway some-config-namespace/my-gateway spec.servers[2] [*.bookinfo.com] TLS SIMPLE (Secret some-config-namespace/bookinfo-secret)",
				"ingress 9443 vhost uk.bookinfo.com via Gateway some-config-namespace/my-gateway spec.servers[2] [bookinfo-namespace/bookinfo]",
				"ingress 9443   bookinfo-namespace/bookinfo spec.http[0] -> outbound|9080||productpage.bookinfo-namespace.svc.cluster.local",
				"ingress 9443 vhost eu.bookinfo.com via Gateway some-config-namespace/my-gateway spec.servers[2] [bookinfo-namespace/bookinfo]",
				"ingress 9443   bookinfo-namespace/bookinfo spec.http[0] -> outbound|9080||productpage.bookinfo-namespace.svc.cluster.local",
			}, []string{
				// ns3/foo: foo.bar.com is admitted on 9080 for ns2 only;
				// only the MONGO server's "*" admits it, where http does not apply.
				"VirtualService ns3/foo: spec.http: not applied on Gateway some-config-namespace/my-gateway spec.servers[4]: it is a TCP server",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustLoad(t, tc.opts, tc.files(t)...)
			diffLines(t, describeRoutes(s), tc.want)
			for _, w := range tc.warns {
				if !hasWarning(s, w) {
					t.Errorf("missing warning %q in\n%s", w, strings.Join(s.Warnings, "\n"))
				}
			}
		})
	}
}
