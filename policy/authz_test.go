package policy

import (
	"net/netip"
	"testing"
)

func TestNewAuthzErrors(t *testing.T) {
	pol := func(ops ...Operation) []AuthzPolicy {
		return []AuthzPolicy{{Name: "ns/p", Action: ActionDeny, Rules: []Rule{{To: ops}}}}
	}
	tests := []struct {
		name string
		ps   []AuthzPolicy
		err  string
	}{
		{"ok", pol(Operation{Hosts: []string{"a.com", "*.a.com", "a.*", "*", "A.com:*", "a.com:443", "[::1]:80"},
			Paths: []string{"/x", "/x/*", "*.css", "*"}, Methods: []string{"GET"}, Ports: []uint32{443}}), ""},
		{"empty host", pol(Operation{Hosts: []string{""}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.hosts[0]: "": empty value`},
		{"inner star host", pol(Operation{NotHosts: []string{"a.*.com"}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.notHosts[0]: "a.*.com": "*" is only allowed at the start or the end`},
		{"two stars", pol(Operation{Hosts: []string{"*.a.*"}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.hosts[0]: "*.a.*": "*" is only allowed at the start or the end`},
		{"bad host port", pol(Operation{Hosts: []string{"a.com:http"}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.hosts[0]: "a.com:http": port "http": must be 1..65535 or "*"`},
		{"host port 0", pol(Operation{Hosts: []string{"a.com:0"}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.hosts[0]: "a.com:0": port "0": must be 1..65535 or "*"`},
		{"only port", pol(Operation{Hosts: []string{":443"}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.hosts[0]: ":443": empty value`},
		{"bare ipv6", pol(Operation{Hosts: []string{"::1"}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.hosts[0]: "::1": an IPv6 address must be in brackets`},
		{"url host", pol(Operation{Hosts: []string{"a.com/x"}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.hosts[0]: "a.com/x": not a host name`},
		{"port 0", pol(Operation{Ports: []uint32{0}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.ports[0]: 0: must be 1..65535`},
		{"not port big", pol(Operation{NotPorts: []uint32{70000}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.notPorts[0]: 70000: must be 1..65535`},
		{"empty method", pol(Operation{Methods: []string{""}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.methods[0]: "": empty value`},
		{"relative path", pol(Operation{Paths: []string{"x/y"}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.paths[0]: "x/y": must start with "/" or "*"`},
		{"path template", pol(Operation{NotPaths: []string{"/a/{*}"}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.notPaths[0]: "/a/{*}": path templates are not supported`},
		{"inner star path", pol(Operation{Paths: []string{"/a/*/b"}}),
			`AuthorizationPolicy ns/p rules[0].to[0].operation.paths[0]: "/a/*/b": "*" is only allowed at the start or the end`},
		{"empty operation", pol(Operation{Ports: []uint32{80}}, Operation{}),
			`AuthorizationPolicy ns/p rules[0].to[1].operation: must not be empty`},
		{"empty source", []AuthzPolicy{{Name: "ns/s", Rules: []Rule{{}, {From: []Source{{}}}}}},
			`AuthorizationPolicy ns/s rules[1].from[0].source: must not be empty`},
		{"invalid prefix", []AuthzPolicy{{Name: "ns/s", Rules: []Rule{{From: []Source{{NotIPBlocks: []netip.Prefix{{}}}}}}}},
			`AuthorizationPolicy ns/s rules[0].from[0].source.notIpBlocks[0]: invalid Prefix: invalid prefix`},
		{"unknown action", []AuthzPolicy{{Name: "ns/a", Action: 7}}, `AuthorizationPolicy ns/a: unknown action 7`},
		{"unnamed", []AuthzPolicy{{Action: 7}}, `AuthorizationPolicy policies[0]: unknown action 7`},
		{"every problem", []AuthzPolicy{
			{Name: "ns/a", Rules: []Rule{{To: []Operation{{Ports: []uint32{0}, Hosts: []string{""}}}}}},
			{Name: "ns/b", Action: ActionDeny, Rules: []Rule{{}, {To: []Operation{{Paths: []string{"x"}}}}}},
		}, `AuthorizationPolicy ns/a rules[0].to[0].operation.hosts[0]: "": empty value` + "\n" +
			`AuthorizationPolicy ns/a rules[0].to[0].operation.ports[0]: 0: must be 1..65535` + "\n" +
			`AuthorizationPolicy ns/b rules[1].to[0].operation.paths[0]: "x": must start with "/" or "*"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAuthz(tt.ps)
			if got := errString(err); got != tt.err {
				t.Errorf("NewAuthz error =\n%s\nwant\n%s", got, tt.err)
			}
			if (a == nil) == (tt.err == "") {
				t.Errorf("NewAuthz returned %v with error %v", a, err)
			}
		})
	}
}

func TestRuleNames(t *testing.T) {
	a, err := NewAuthz([]AuthzPolicy{
		{Name: "ns/d", Action: ActionDeny, Rules: []Rule{{}, {}}},
		{Name: "ns/a", Action: ActionAllow},
		{Name: "ns/b", Action: ActionAllow, Rules: []Rule{{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range append(a.deny, a.allow...) {
		got = append(got, r.name)
	}
	want := []string{"AuthorizationPolicy ns/d rules[0]", "AuthorizationPolicy ns/d rules[1]", "AuthorizationPolicy ns/b rules[0]"}
	if len(got) != len(want) {
		t.Fatalf("rule names = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rule %d name = %q, want %q", i, got[i], want[i])
		}
	}
	if !a.hasAllow {
		t.Errorf("hasAllow = false, want true")
	}
}

// TestRuleMatch checks every field and its Not form, through Decide, with a
// single ALLOW rule and with the same rule as a single DENY rule.
func TestRuleMatch(t *testing.T) {
	pfx := netip.MustParsePrefix
	http := func(host, method, path string) Query {
		return Query{Host: host, Port: 80, Source: netip.MustParseAddr("10.1.2.3"), HTTP: true, Method: method, Path: path}
	}
	tls := func(host string) Query {
		return Query{Host: host, Port: 443, Source: netip.MustParseAddr("10.1.2.3")}
	}
	from := func(q Query, src string) Query { q.Source = netip.MustParseAddr(src); return q }
	to := func(o ...Operation) Rule { return Rule{To: o} }
	tests := []struct {
		name      string
		rule      Rule
		q         Query
		allowRule bool // the rule matches as an ALLOW rule
		denyRule  bool // the rule matches as a DENY rule
	}{
		{"empty rule", Rule{}, tls("a.com"), true, true},

		{"ipBlocks in", Rule{From: []Source{{IPBlocks: []netip.Prefix{pfx("10.0.0.0/8")}}}}, tls("a.com"), true, true},
		{"ipBlocks out", Rule{From: []Source{{IPBlocks: []netip.Prefix{pfx("192.168.0.0/16")}}}}, tls("a.com"), false, false},
		{"ipBlocks unmasked", Rule{From: []Source{{IPBlocks: []netip.Prefix{pfx("10.9.9.9/8")}}}}, tls("a.com"), true, true},
		{"ipBlocks v4-mapped source", Rule{From: []Source{{IPBlocks: []netip.Prefix{pfx("10.0.0.0/8")}}}},
			from(tls("a.com"), "::ffff:10.1.2.3"), true, true},
		{"ipBlocks v6", Rule{From: []Source{{IPBlocks: []netip.Prefix{pfx("fd00::/8")}}}}, from(tls("a.com"), "fd00::1"), true, true},
		{"ipBlocks no source", Rule{From: []Source{{IPBlocks: []netip.Prefix{pfx("0.0.0.0/0")}}}}, Query{Host: "a.com", Port: 443}, false, false},
		{"notIpBlocks in", Rule{From: []Source{{NotIPBlocks: []netip.Prefix{pfx("10.1.0.0/16")}}}}, tls("a.com"), false, false},
		{"notIpBlocks out", Rule{From: []Source{{NotIPBlocks: []netip.Prefix{pfx("10.2.0.0/16")}}}}, tls("a.com"), true, true},
		{"ipBlocks and notIpBlocks", Rule{From: []Source{{IPBlocks: []netip.Prefix{pfx("10.0.0.0/8")}, NotIPBlocks: []netip.Prefix{pfx("10.1.2.3/32")}}}},
			tls("a.com"), false, false},
		{"second source", Rule{From: []Source{{IPBlocks: []netip.Prefix{pfx("1.0.0.0/8")}}, {IPBlocks: []netip.Prefix{pfx("10.1.2.0/24")}}}},
			tls("a.com"), true, true},
		{"from and to both needed", Rule{From: []Source{{IPBlocks: []netip.Prefix{pfx("10.0.0.0/8")}}}, To: []Operation{{Ports: []uint32{80}}}},
			tls("a.com"), false, false},

		{"hosts exact", to(Operation{Hosts: []string{"a.com"}}), tls("a.com"), true, true},
		{"hosts exact case", to(Operation{Hosts: []string{"A.Com"}}), tls("a.COM"), true, true},
		{"hosts trailing dot", to(Operation{Hosts: []string{"a.com"}}), tls("a.com."), true, true},
		{"hosts exact miss", to(Operation{Hosts: []string{"a.com"}}), tls("b.a.com"), false, false},
		{"hosts suffix", to(Operation{Hosts: []string{"*.a.com"}}), tls("x.y.a.com"), true, true},
		{"hosts suffix needs label", to(Operation{Hosts: []string{"*.a.com"}}), tls("a.com"), false, false},
		{"hosts prefix", to(Operation{Hosts: []string{"api.*"}}), tls("api.example.org"), true, true},
		{"hosts prefix miss", to(Operation{Hosts: []string{"api.*"}}), tls("apix.org"), false, false},
		{"hosts any", to(Operation{Hosts: []string{"*"}}), tls("z.org"), true, true},
		{"hosts second value", to(Operation{Hosts: []string{"b.com", "a.com"}}), tls("a.com"), true, true},
		{"hosts :*", to(Operation{Hosts: []string{"a.com:*"}}), tls("a.com"), true, true},
		{"hosts :port same", to(Operation{Hosts: []string{"a.com:443"}}), tls("a.com"), true, true},
		{"hosts :port other", to(Operation{Hosts: []string{"a.com:8443"}}), tls("a.com"), false, false},
		{"hosts *.suffix:*", to(Operation{Hosts: []string{"*.a.com:*"}}), tls("b.a.com"), true, true},
		{"notHosts in", to(Operation{NotHosts: []string{"*.com"}}), tls("a.com"), false, false},
		{"notHosts out", to(Operation{NotHosts: []string{"*.org"}}), tls("a.com"), true, true},
		{"notHosts :port", to(Operation{NotHosts: []string{"a.com:443"}}), tls("a.com"), false, false},
		{"notHosts :other port", to(Operation{NotHosts: []string{"a.com:80"}}), tls("a.com"), true, true},

		{"ports in", to(Operation{Ports: []uint32{80, 443}}), tls("a.com"), true, true},
		{"ports out", to(Operation{Ports: []uint32{80}}), tls("a.com"), false, false},
		{"notPorts in", to(Operation{NotPorts: []uint32{443}}), tls("a.com"), false, false},
		{"notPorts out", to(Operation{NotPorts: []uint32{80}}), tls("a.com"), true, true},

		{"methods in", to(Operation{Methods: []string{"GET", "HEAD"}}), http("a.com", "GET", "/"), true, true},
		{"methods out", to(Operation{Methods: []string{"POST"}}), http("a.com", "GET", "/"), false, false},
		{"methods case-sensitive", to(Operation{Methods: []string{"get"}}), http("a.com", "GET", "/"), false, false},
		{"notMethods in", to(Operation{NotMethods: []string{"GET"}}), http("a.com", "GET", "/"), false, false},
		{"notMethods out", to(Operation{NotMethods: []string{"DELETE"}}), http("a.com", "GET", "/"), true, true},

		{"paths exact", to(Operation{Paths: []string{"/admin"}}), http("a.com", "GET", "/admin"), true, true},
		{"paths exact miss", to(Operation{Paths: []string{"/admin"}}), http("a.com", "GET", "/admin/x"), false, false},
		{"paths prefix", to(Operation{Paths: []string{"/admin/*"}}), http("a.com", "GET", "/admin/x/y"), true, true},
		{"paths prefix dir", to(Operation{Paths: []string{"/admin/*"}}), http("a.com", "GET", "/admin/"), true, true},
		{"paths prefix bare", to(Operation{Paths: []string{"/admin/*"}}), http("a.com", "GET", "/admin"), false, false},
		{"paths suffix", to(Operation{Paths: []string{"*.css"}}), http("a.com", "GET", "/s/x.css"), true, true},
		{"paths any", to(Operation{Paths: []string{"*"}}), http("a.com", "GET", "/"), true, true},
		{"notPaths in", to(Operation{NotPaths: []string{"/healthz"}}), http("a.com", "GET", "/healthz"), false, false},
		{"notPaths out", to(Operation{NotPaths: []string{"/healthz"}}), http("a.com", "GET", "/"), true, true},

		// HTTP-only fields for TLS/TCP: an ALLOW operation using them does
		// not match; a DENY operation ignores them and matches on the rest.
		{"tcp methods", to(Operation{Methods: []string{"GET"}}), tls("a.com"), false, true},
		{"tcp notMethods", to(Operation{NotMethods: []string{"GET"}}), tls("a.com"), false, true},
		{"tcp paths", to(Operation{Paths: []string{"/admin/*"}}), tls("a.com"), false, true},
		{"tcp notPaths", to(Operation{NotPaths: []string{"/healthz"}}), tls("a.com"), false, true},
		{"tcp paths and host", to(Operation{Hosts: []string{"a.com"}, Paths: []string{"/x"}}), tls("a.com"), false, true},
		{"tcp paths and other host", to(Operation{Hosts: []string{"b.com"}, Paths: []string{"/x"}}), tls("a.com"), false, false},
		{"tcp second operation", to(Operation{Paths: []string{"/x"}}, Operation{Ports: []uint32{443}}), tls("a.com"), true, true},
		{"tcp method fields on http query", to(Operation{Methods: []string{"GET"}}), http("a.com", "POST", "/"), false, false},

		{"all fields", to(Operation{Hosts: []string{"a.com"}, Ports: []uint32{80}, Methods: []string{"GET"}, Paths: []string{"/x/*"}}),
			http("a.com", "GET", "/x/1"), true, true},
		{"all fields one off", to(Operation{Hosts: []string{"a.com"}, Ports: []uint32{80}, Methods: []string{"GET"}, Paths: []string{"/x/*"}}),
			http("a.com", "PUT", "/x/1"), false, false},
	}
	reg := mustRegistry(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				action Action
				want   bool // the rule matches
			}{{ActionAllow, tt.allowRule}, {ActionDeny, tt.denyRule}} {
				az, err := NewAuthz([]AuthzPolicy{{Name: "ns/p", Action: c.action, Rules: []Rule{tt.rule}}})
				if err != nil {
					t.Fatal(err)
				}
				p := &Policy{Mode: AllowAny, Registry: reg, Authz: az}
				d := p.Decide(tt.q)
				matched := d.Rule == "AuthorizationPolicy ns/p rules[0]"
				if matched != c.want {
					t.Errorf("action %d: Decide(%+v) = %+v; rule matched = %v, want %v", c.action, tt.q, d, matched, c.want)
				}
				if wantAllow := (c.action == ActionAllow) == c.want; d.Allow != wantAllow {
					t.Errorf("action %d: Decide(%+v).Allow = %v, want %v", c.action, tt.q, d.Allow, wantAllow)
				}
			}
		})
	}
}
