package config

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/egressgw/egressgw/policy"
	"github.com/egressgw/egressgw/route"
)

func mustLoad(t *testing.T, opts Options, paths ...string) *Snapshot {
	t.Helper()
	s, err := Load(paths, opts)
	if err != nil {
		t.Fatalf("Load(%v): %v", paths, err)
	}
	return s
}

func entryByHost(t *testing.T, s *Snapshot, host string) *Entry {
	t.Helper()
	for i := range s.Entries {
		if s.Entries[i].Host == host {
			return &s.Entries[i]
		}
	}
	t.Fatalf("no entry for %s; have %v", host, hosts(s))
	return nil
}

func hosts(s *Snapshot) []string {
	var hs []string
	for _, e := range s.Entries {
		hs = append(hs, e.Host)
	}
	return hs
}

func port(t *testing.T, e *Entry, n uint32) *Port {
	t.Helper()
	p, ok := e.Port(n)
	if !ok {
		t.Fatalf("%s has no port %d", e.Host, n)
	}
	return p
}

func hasWarning(s *Snapshot, sub string) bool {
	return slices.ContainsFunc(s.Warnings, func(w string) bool { return strings.Contains(w, sub) })
}

func TestLoadBasic(t *testing.T) {
	s := mustLoad(t, Options{}, "testdata/basic.yaml")
	if got, want := hosts(s), []string{"api.example.test", "*.wild.example.test", "db.example.test", "my-ext.default.svc.cluster.local"}; !slices.Equal(got, want) {
		t.Fatalf("hosts = %v, want %v", got, want)
	}
	api := entryByHost(t, s, "api.example.test")
	if api.Source != "ServiceEntry default/api" || api.Resolution != ResolutionDNS || api.Namespace != "default" {
		t.Errorf("api = %+v", api)
	}
	if got := []uint32{api.Ports[0].Number, api.Ports[1].Number}; !slices.Equal(got, []uint32{80, 443}) {
		t.Errorf("ports not sorted: %v", got)
	}
	p80 := port(t, api, 80)
	if p80.TargetPort != 8443 || p80.Protocol != ProtocolHTTP || p80.Cluster != "outbound|80||api.example.test" || p80.Name != "http-port" {
		t.Errorf("port 80 = %+v", p80)
	}
	if p := port(t, api, 443); p.TargetPort != 443 || p.Protocol != ProtocolTLS || p.TLS != nil {
		t.Errorf("port 443 = %+v", p)
	}
	if p := port(t, api, 443); p.Pool != (PoolSettings{ConnectTimeout: 10 * time.Second, IdleTimeout: time.Hour}) {
		t.Errorf("default pool = %+v", p.Pool)
	}

	wild := entryByHost(t, s, "*.wild.example.test")
	if wild.Resolution != ResolutionNone || wild.Namespace != "team-a" {
		t.Errorf("wild = %+v", wild)
	}
	for n, want := range map[uint32]Protocol{443: ProtocolTLS, 9000: ProtocolHTTP, 9001: ProtocolAuto} {
		if got := port(t, wild, n).Protocol; got != want {
			t.Errorf("wild port %d protocol = %d, want %d (inferred from name)", n, got, want)
		}
	}
	if got := port(t, wild, 443).Cluster; got != "outbound|443||*.wild.example.test" {
		t.Errorf("cluster = %q", got)
	}

	db := entryByHost(t, s, "db.example.test")
	if db.Resolution != ResolutionStatic || len(db.Endpoints) != 1 || db.Endpoints[0].Address != "192.0.2.10" || db.Endpoints[0].Ports["tcp-postgres"] != 15432 {
		t.Errorf("db = %+v", db)
	}

	ext := entryByHost(t, s, "my-ext.default.svc.cluster.local")
	if ext.Target != "ext.example.test" || ext.Resolution != ResolutionDNS || ext.Source != "Service default/my-ext (ExternalName)" {
		t.Errorf("ext = %+v", ext)
	}
	if p := port(t, ext, 80); p.Protocol != ProtocolHTTP || p.TargetPort != 80 {
		t.Errorf("ext port 80 = %+v (name http)", p)
	}
	if p := port(t, ext, 8443); p.Protocol != ProtocolTLS {
		t.Errorf("ext port 8443 = %+v (appProtocol https)", p)
	}

	wantListeners := []Listener{{Port: 80}, {Port: 443}, {Port: 5432, Kind: ListenerTCP, TCPEntry: 2}, {Port: 8443}, {Port: 9000}, {Port: 9001}}
	if !slices.Equal(s.Listeners, wantListeners) {
		t.Errorf("listeners = %+v, want %+v", s.Listeners, wantListeners)
	}
	for _, w := range []string{
		"testdata/basic.yaml: Gateway istio-system/istio-egressgateway: spec.selector: not applied: selector map[istio:egressgateway] matches neither the ingress labels map[app:istio-ingressgateway istio:ingressgateway] nor the egress labels map[]",
		"testdata/basic.yaml: ServiceEntry data/db: spec.addresses: not used",
	} {
		if !hasWarning(s, w) {
			t.Errorf("missing warning %q in %q", w, s.Warnings)
		}
	}
	if len(s.Resources) != 6 || !slices.Equal(s.Files, []string{"testdata/basic.yaml"}) {
		t.Errorf("resources = %+v, files = %v", s.Resources, s.Files)
	}
	if s.Policy == nil || s.Policy.Registry == nil {
		t.Fatalf("policy = %+v", s.Policy)
	}
	if i, ok := s.Policy.Registry.Lookup("en.wild.example.test", 443); !ok || i != 1 {
		t.Errorf("Lookup(en.wild.example.test:443) = %d, %v; want 1 (index-aligned)", i, ok)
	}
	// The VirtualService (bound to mesh) routes its host's HTTP port.
	l := s.Routes.Listener(route.Egress, 80)
	if l == nil || len(l.HTTP) != 1 || l.HTTP[0].Host != "api.example.test" || len(l.HTTP[0].Routes) != 1 {
		t.Fatalf("egress port 80 routes = %+v", l)
	}
	if r := l.HTTP[0].Routes[0]; r.Timeout != 3*time.Second || s.Clusters[r.Action.Destinations[0].Cluster].Name != "outbound|80||api.example.test" {
		t.Errorf("route = %+v, clusters %+v", r, s.Clusters)
	}
}

func TestReplaceAndList(t *testing.T) {
	s := mustLoad(t, Options{}, "testdata/replace.yaml", "testdata/list.yaml")
	want := []string{"api2.example.test", "other.example.test", "one.example.test", "two.example.test"}
	if got := hosts(s); !slices.Equal(got, want) {
		t.Fatalf("hosts = %v, want %v (later document replaces the earlier, in place)", got, want)
	}
	if _, ok := s.Entries[0].Port(80); ok {
		t.Errorf("replaced entry kept its old port 80")
	}
}

func TestLoadDirectory(t *testing.T) {
	s := mustLoad(t, Options{}, "testdata/dir")
	if got := hosts(s); !slices.Equal(got, []string{"a.example.test", "b.example.test"}) {
		t.Errorf("hosts = %v (hidden files and non-YAML must be skipped)", got)
	}

	// A Kubernetes ConfigMap volume: files are symlinks into ..data, itself a
	// symlink to a hidden timestamped directory.
	dir := t.TempDir()
	ts := filepath.Join(dir, "..2024_01_01_00_00_00.000000001")
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	se, err := os.ReadFile("testdata/dir/a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "se.yaml"), se, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/se.yaml", filepath.Join(dir, "se.yaml")); err != nil {
		t.Fatal(err)
	}
	s = mustLoad(t, Options{}, dir)
	if got := hosts(s); !slices.Equal(got, []string{"a.example.test"}) {
		t.Errorf("ConfigMap mount: hosts = %v, want the file read once", got)
	}
	if len(s.Files) != 1 {
		t.Errorf("files = %v", s.Files)
	}
}

func TestDestinationRules(t *testing.T) {
	s := mustLoad(t, Options{}, "testdata/dr.yaml")
	api := entryByHost(t, s, "api.example.test")

	p80 := port(t, api, 80) // portLevelSettings replaces trafficPolicy entirely
	if p80.TLS == nil || p80.TLS.SNI != "port80.example.test" || p80.TLS.InsecureSkipVerify || !slices.Equal(p80.TLS.SubjectAltNames, []string{"api.example.test"}) {
		t.Fatalf("port 80 TLS = %+v", p80.TLS)
	}
	if p80.TLS.Source != "DestinationRule apps/api portLevelSettings[0].tls" || p80.TLS.Mutual || p80.TLS.Fingerprint == "" {
		t.Errorf("port 80 TLS = %+v", p80.TLS)
	}
	if p80.Pool.ConnectTimeout != 10*time.Second || p80.Pool.IdleTimeout != time.Hour || p80.Pool.MaxRequestsPerConnection != 0 {
		t.Errorf("port 80 pool = %+v, want defaults (not inherited from trafficPolicy)", p80.Pool)
	}
	p8080 := port(t, api, 8080) // no port-level settings: trafficPolicy
	if p8080.TLS == nil || p8080.TLS.SNI != "top.example.test" || !p8080.TLS.InsecureSkipVerify || p8080.TLS.Source != "DestinationRule apps/api trafficPolicy.tls" {
		t.Errorf("port 8080 TLS = %+v", p8080.TLS)
	}
	if want := (PoolSettings{ConnectTimeout: 3 * time.Second, IdleTimeout: 30 * time.Second, MaxRequestsPerConnection: 1}); p8080.Pool != want {
		t.Errorf("port 8080 pool = %+v, want %+v", p8080.Pool, want)
	}
	if p := port(t, api, 443); p.TLS != nil {
		t.Errorf("port 443 TLS = %+v, want nil (DISABLE)", p.TLS)
	}
	if p80.TLS.Fingerprint == p8080.TLS.Fingerprint {
		t.Errorf("different settings, same fingerprint")
	}

	// Wildcard rule applies to a host without an exact one.
	if p := port(t, entryByHost(t, s, "other.example.test"), 80); p.TLS == nil || p.TLS.SNI != "wild.example.test" {
		t.Errorf("other.example.test TLS = %+v, want the *.example.test rule", p.TLS)
	}
	// Short name resolves in the rule's namespace; it wins over the externalName host.
	if p := port(t, entryByHost(t, s, "ext.apps.svc.cluster.local"), 80); p.TLS == nil || p.TLS.SNI != "short.example.test" {
		t.Errorf("ext TLS = %+v, want the short-name rule", p.TLS)
	}
	// A rule on the externalName host applies when there is none for the service.
	if p := port(t, entryByHost(t, s, "ext2.apps.svc.cluster.local"), 80); p.TLS == nil || p.TLS.SNI != "upstream2.example.test" {
		t.Errorf("ext2 TLS = %+v, want the externalName-host rule", p.TLS)
	}
	for _, w := range []string{
		"DestinationRule apps/mesh: spec.trafficPolicy.tls.mode: ISTIO_MUTUAL not applied",
		"DestinationRule apps/nothing: spec.host: not applied: nothing.example.net matches no ServiceEntry host or Service",
		"DestinationRule elsewhere/api-elsewhere: spec.host: not applied: for every entry api.example.test covers, another DestinationRule takes precedence",
	} {
		if !hasWarning(s, w) {
			t.Errorf("missing warning %q in\n%s", w, strings.Join(s.Warnings, "\n"))
		}
	}
}

func TestDestinationRuleNamespacePreference(t *testing.T) {
	yaml := `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: apps}
spec:
  hosts: [api.example.test]
  ports: [{number: 80, name: http}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: first, namespace: other}
spec:
  host: api.example.test
  trafficPolicy: {tls: {mode: SIMPLE, sni: first.example.test}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: gw, namespace: gw-ns}
spec:
  host: api.example.test
  trafficPolicy: {tls: {mode: SIMPLE, sni: gateway.example.test}}
`
	f := filepath.Join(t.TempDir(), "dr.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ns, want string }{{"gw-ns", "gateway.example.test"}, {"istio-system", "first.example.test"}} {
		s := mustLoad(t, Options{Namespace: tc.ns}, f)
		if got := s.Entries[0].Ports[0].TLS.SNI; got != tc.want {
			t.Errorf("gateway namespace %s: SNI = %q, want %q", tc.ns, got, tc.want)
		}
	}
}

func TestAuthorizationPolicies(t *testing.T) {
	yaml := `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.test]
  ports: [{number: 80, name: http}]
  resolution: DNS
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: egressgateway}}
  action: DENY
  rules:
  - from: [{source: {ipBlocks: ["10.0.0.0/8", "192.0.2.1"], notIpBlocks: ["10.1.0.0/16"]}}]
    to: [{operation: {hosts: [api.example.test], ports: ["80"], paths: ["/admin/*"], methods: [POST]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: other-gateway, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: by-ref, namespace: istio-system}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: egress}]
  rules: [{}]
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: allow-all, namespace: istio-system}
spec:
  rules: [{}]
`
	f := filepath.Join(t.TempDir(), "ap.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s := mustLoad(t, Options{Labels: map[string]string{"istio": "egressgateway", "app": "egressgw"}}, f)
	if hasWarning(s, "AuthorizationPolicy istio-system/other-gateway: spec.selector: not applied") ||
		!hasWarning(s, "AuthorizationPolicy istio-system/by-ref: spec.targetRefs: not applied") {
		t.Errorf("warnings = %q", s.Warnings)
	}
	// other-gateway selects the ingress gateway: it decides ingress, not egress.
	d := s.IngressPolicy.Decide(policy.Query{Host: "api.example.test", Port: 80, Source: mustAddr("192.0.2.9")})
	if d.Allow || !strings.Contains(d.Rule, "istio-system/other-gateway") {
		t.Errorf("ingress: %+v, want denied by other-gateway", d)
	}
	if d := s.Policy.Decide(policy.Query{Host: "api.example.test", Port: 80, Source: mustAddr("192.0.2.9")}); !d.Allow {
		t.Errorf("egress: %+v, want allowed (other-gateway selects ingress)", d)
	}
	d = s.Policy.Decide(policy.Query{Host: "api.example.test", Port: 80, Source: mustAddr("10.2.3.4"), HTTP: true, Method: "POST", Path: "/admin/x"})
	if d.Allow || !strings.Contains(d.Rule, "istio-system/deny-admin") {
		t.Errorf("POST /admin from 10.2.3.4: %+v, want denied by deny-admin", d)
	}
	d = s.Policy.Decide(policy.Query{Host: "api.example.test", Port: 80, Source: mustAddr("10.1.3.4"), HTTP: true, Method: "POST", Path: "/admin/x"})
	if !d.Allow {
		t.Errorf("POST /admin from 10.1.3.4 (notIpBlocks): %+v, want allowed by allow-all", d)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		file string
		want []string // lines of the error, each exactly
	}{
		{"serviceentry.yaml", []string{
			"ServiceEntry default/no-hosts: spec.hosts: at least one host is required",
			`ServiceEntry default/star: spec.hosts[0]: "*" is not a valid host: a lone "*" is not allowed; use "*.example.com"`,
			`ServiceEntry default/bad-host: spec.hosts[0]: "bad_host.example.test" is not a valid host: label "bad_host" has character '_' (letters, digits and '-' only)`,
			`ServiceEntry default/bad-host: spec.hosts[1]: "a.*.example.test" is not a valid host: "*" is only allowed as the whole first label, as in "*.example.com"`,
			"ServiceEntry default/wild-dns: spec.resolution: DNS resolution cannot be used for wildcard hosts (omit resolution, i.e. NONE, to dial the requested host)",
			"ServiceEntry default/ports: spec.ports[0].number: 0 is not a valid port (1-65535)",
			"ServiceEntry default/ports: spec.ports[1].number: 70000 is not a valid port (1-65535)",
			"ServiceEntry default/ports: spec.ports[3].number: port 80 is already declared by spec.ports[2]",
			`ServiceEntry default/ports: spec.ports[4].protocol: "UDP" is not supported (use HTTP, HTTP2, GRPC, HTTPS, TLS, TCP, MONGO, MYSQL or REDIS)`,
			"ServiceEntry default/ports: spec.ports[5].targetPort: 70000 is not a valid port (0-65535)",
			"ServiceEntry default/no-ports: spec.ports: at least one port is required",
			`ServiceEntry default/static: spec.endpoints[0].address: "backend.example.test" is not an IP address (STATIC resolution needs IP endpoints; use DNS for host names)`,
			"ServiceEntry default/static-empty: spec.endpoints: STATIC resolution needs at least one endpoint",
			`ServiceEntry default/typo: spec: unknown field "hsots"`,
			`ServiceEntry default/bad-enum: spec: invalid value for enum field resolution: "DSN"`,
			"ServiceEntry default/version: apiVersion: networking.istio.io/v2 is not supported (use networking.istio.io/v1, v1beta1, v1alpha3)",
		}},
		{"destinationrule.yaml", []string{
			"DestinationRule default/mutual-no-cert: spec.trafficPolicy.tls.clientCertificate: MUTUAL needs a client certificate: set clientCertificate and privateKey, or credentialName",
			"DestinationRule default/mutual-no-cert: spec.trafficPolicy.tls.privateKey: MUTUAL needs a private key: set clientCertificate and privateKey, or credentialName",
			"DestinationRule default/missing-files: spec.trafficPolicy.portLevelSettings[0].tls.caCertificates: open testdata/errors/no-such-ca.pem: no such file or directory",
			"DestinationRule istio-system/missing-secret: spec.trafficPolicy.portLevelSettings[0].tls.credentialName: Secret istio-system/client-credential not found",
			"DestinationRule default/no-port: spec.trafficPolicy.connectionPool.tcp.connectTimeout: must be a positive duration",
			"DestinationRule default/no-port: spec.trafficPolicy.portLevelSettings[0].port.number: required",
			`DestinationRule default/typo: spec: unknown field "snii"`,
		}},
		{"tcp.yaml", []string{
			"ServiceEntry b/y: spec.ports[0]: TCP port 5432 is claimed by ServiceEntry a/x (db1.example.test) and ServiceEntry b/y (db2.example.test); egressgw cannot tell TCP connections apart by destination (Istio allocates a VIP per ServiceEntry); use HTTP/TLS or separate ports",
			"ServiceEntry a/wild: spec.ports[0]: TCP port 6379 needs one destination, but *.redis.example.test is a wildcard host: use an exact host or STATIC endpoints",
		}},
		{"authz.yaml", []string{
			"AuthorizationPolicy istio-system/audit: spec.action: AUDIT is not supported (use ALLOW or DENY)",
			`AuthorizationPolicy istio-system/identity: spec.rules[0].from[0].source.serviceAccounts: is not supported: use principals ("<trustDomain>/ns/<namespace>/sa/<serviceAccount>", the source pod's, known by its address) or namespaces`,
			`AuthorizationPolicy istio-system/identity: spec.rules[0].from[0].source.ipBlocks[0]: "10.0.0.0/33" is not an IP address or CIDR`,
			`AuthorizationPolicy istio-system/identity: spec.rules[0].to[0].operation.ports[0]: "http" is not a port number (1-65535)`,
			"AuthorizationPolicy istio-system/identity: spec.rules[0].when: when conditions are not supported",
			"AuthorizationPolicy istio-system/remote: spec.rules[0].from[0].source.remoteIpBlocks: needs the original client IP, which egressgw does not see: use ipBlocks",
			`AuthorizationPolicy istio-system/typo: spec: unknown field "hostz"`,
			`AuthorizationPolicy team-a/glob: spec.rules[0].from[0].source.notNamespaces[0]: "*team*": "*" is only allowed at the start or the end`,
			`AuthorizationPolicy team-a/glob: spec.rules[0].from[0].source.principals[0]: "cluster.local/*/sa/curl": "*" is only allowed at the start or the end`,
		}},
		{"syntax.yaml", []string{
			"document 2 (line 9): yaml: line 12: did not find expected key",
			"document 3 (line 15): apiVersion and kind are required",
			"document 4 (line 18): not a Kubernetes resource (want a mapping with apiVersion, kind and metadata)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := "testdata/errors/" + tc.file
			s, err := Load([]string{path}, Options{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Load: snapshot %v, error %v; want *Error", s != nil, err)
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, path+": "+w)
			}
			got := strings.Split(e.Error(), "\n")
			if !slices.Equal(got, want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if len(e.Problems) != len(got) || e.Problems[0].File != path {
				t.Errorf("problems = %+v", e.Problems)
			}
		})
	}
}

func TestProblemString(t *testing.T) {
	p := Problem{File: "cfg/se.yaml", Resource: "ServiceEntry default/cnn", Field: "spec.ports[0].number", Msg: "0 is not a valid port (1-65535)"}
	if got, want := p.String(), "cfg/se.yaml: ServiceEntry default/cnn: spec.ports[0].number: 0 is not a valid port (1-65535)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := (Problem{File: "x.yaml", Msg: "boom"}).String(); got != "x.yaml: boom" {
		t.Errorf("String() = %q", got)
	}
}

func TestIstioTaskFiles(t *testing.T) {
	dir := istioTasks(t)
	for _, name := range []string{"egress-control.yaml", "egress-gateway.yaml", "egress-kubernetes-services.yaml", "wildcard-egress-hosts.yaml"} {
		t.Run(name, func(t *testing.T) {
			mustLoad(t, Options{Labels: map[string]string{"istio": "egressgateway"}}, filepath.Join(dir, name))
		})
	}
	// common-problems.yaml is a set of independent cases (two of them
	// define a Gateway for "*" on 443 with different TLS: an IST0145
	// conflict when loaded together). Each case loads alone; the two the
	// docs give as silent no-ops in Istio are warnings naming both sides.
	pk := newTestPKI(t)
	tmp := t.TempDir()
	cases := commonProblemCases(t, filepath.Join(dir, "common-problems.yaml"))
	for _, tc := range []struct{ name, warn string }{
		{`"Gateway with TLS termination" + VirtualService tls route`, "VirtualService default/httpbin: spec.tls: not applied on Gateway istio-system/gateway spec.servers[0]: it terminates TLS and routes HTTP"},
		{`"Gateway with TLS passthrough" + VirtualService http route`, "VirtualService default/virtual-service: spec.http: not applied on Gateway default/gateway spec.servers[0]: it is a PASSTHROUGH server"},
	} {
		yaml, ok := cases[tc.name]
		if !ok {
			t.Fatalf("common-problems.yaml has no case %s (cases: %v)", tc.name, slices.Sorted(maps.Keys(cases)))
		}
		f := writeCase(t, tmp, yaml+secretYAML("istio-system", "sds-credential", map[string][]byte{"tls.crt": pk.certPEM, "tls.key": pk.keyPEM}))
		if s := mustLoad(t, Options{}, f); !hasWarning(s, tc.warn) {
			t.Errorf("%s: missing warning %q in\n%s", tc.name, tc.warn, strings.Join(s.Warnings, "\n"))
		}
	}
	for name, yaml := range cases {
		if _, err := Load([]string{writeCase(t, tmp, yaml)}, Options{}); err != nil && !strings.Contains(err.Error(), "sds-credential not found") {
			t.Errorf("common-problems.yaml case %s: %v", name, err)
		}
	}

	// The docs leave shell variables in place.
	_, err := Load([]string{filepath.Join(dir, "http-proxy.yaml")}, Options{})
	if err == nil || !strings.Contains(err.Error(), `ServiceEntry default/proxy: spec: invalid value for uint32 field number: "$PROXY_PORT"`) {
		t.Errorf("http-proxy.yaml: %v", err)
	}
}

// commonProblemCases splits common-problems.yaml into its "# @case"
// groups (a case's documents share the text before " | ").
func commonProblemCases(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		i := strings.Index(doc, "# @case ")
		if i < 0 {
			continue
		}
		line, _, _ := strings.Cut(doc[i+len("# @case "):], "\n")
		name, _, _ := strings.Cut(line, " (")
		name, _, _ = strings.Cut(name, " |")
		cases[name] += "---\n" + doc + "\n"
	}
	return cases
}

func writeCase(t *testing.T, dir, yaml string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "case*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(yaml); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// TestServicesNotRegistered: an ExternalName Service without ports and a
// Service in the cluster (without endpoints) register no host.
func TestServicesNotRegistered(t *testing.T) {
	yaml := `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.test]
  ports: [{number: 80, name: http}]
  resolution: DNS
---
kind: Service
apiVersion: v1
metadata: {name: no-ports, namespace: apps}
spec: {type: ExternalName, externalName: up.example.test}
---
kind: Service
apiVersion: v1
metadata: {name: cluster-ip}
spec:
  ports: [{port: 443, name: tls}]
`
	f := filepath.Join(t.TempDir(), "svc.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s := mustLoad(t, Options{}, f)
	if got := hosts(s); !slices.Equal(got, []string{"api.example.test"}) {
		t.Errorf("hosts = %v", got)
	}
	for _, w := range []string{
		f + ": Service apps/no-ports: spec.ports: not registered",
	} {
		if !hasWarning(s, w) {
			t.Errorf("missing warning %q in %q", w, s.Warnings)
		}
	}
}
