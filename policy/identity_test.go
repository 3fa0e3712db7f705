package policy

import (
	"net/netip"
	"testing"

	"github.com/egressgw/egressgw/identity"
)

var (
	podA = &identity.Pod{Namespace: "team-a", Name: "a-1", ServiceAccount: "sleep", Labels: map[string]string{"app": "sleep"}}
	podB = &identity.Pod{Namespace: "team-b", Name: "b-1", ServiceAccount: "default", Labels: map[string]string{"app": "curl"}}
)

// TestSourceIdentity: from.source namespaces and principals, with Istio's
// string matches and its rule that a source without identity matches no
// value, Not values included.
func TestSourceIdentity(t *testing.T) {
	src := netip.MustParseAddr("10.0.0.1")
	reg := mustRegistry(t, []Entry{{Host: "api.example.com", Ports: []uint32{443}, Source: "ServiceEntry default/api"}})
	q := func(pod *identity.Pod, ids bool) Query {
		return Query{Host: "api.example.com", Port: 443, Source: src, Identities: ids, Pod: pod}
	}
	unknown, noTable := q(nil, true), q(podA, false) // a Pod without Identities is not looked at
	tests := []struct {
		name   string
		action Action
		source Source
		td     string
		q      Query
		want   bool // allowed
	}{
		{"allow namespace", ActionAllow, Source{Namespaces: []string{"team-a"}}, "", q(podA, true), true},
		{"allow namespace other pod", ActionAllow, Source{Namespaces: []string{"team-a"}}, "", q(podB, true), false},
		{"allow namespace unknown source", ActionAllow, Source{Namespaces: []string{"team-a"}}, "", unknown, false},
		{"allow namespace no table", ActionAllow, Source{Namespaces: []string{"team-a"}}, "", noTable, false},
		{"allow namespace prefix", ActionAllow, Source{Namespaces: []string{"team-*"}}, "", q(podB, true), true},
		{"allow namespace suffix", ActionAllow, Source{Namespaces: []string{"*-b"}}, "", q(podB, true), true},
		{"allow namespace any present", ActionAllow, Source{Namespaces: []string{"*"}}, "", q(podB, true), true},
		{"allow namespace any unknown", ActionAllow, Source{Namespaces: []string{"*"}}, "", unknown, false},
		{"allow notNamespaces other", ActionAllow, Source{NotNamespaces: []string{"team-a"}}, "", q(podB, true), true},
		{"allow notNamespaces same", ActionAllow, Source{NotNamespaces: []string{"team-a"}}, "", q(podA, true), false},
		{"allow notNamespaces unknown", ActionAllow, Source{NotNamespaces: []string{"team-a"}}, "", unknown, false},
		{"deny namespace", ActionDeny, Source{Namespaces: []string{"team-a"}}, "", q(podA, true), false},
		{"deny namespace other pod", ActionDeny, Source{Namespaces: []string{"team-a"}}, "", q(podB, true), true},
		{"deny namespace unknown source", ActionDeny, Source{Namespaces: []string{"team-a"}}, "", unknown, true},
		{"deny notNamespaces unknown source", ActionDeny, Source{NotNamespaces: []string{"team-a"}}, "", unknown, true},
		{"deny notNamespaces other", ActionDeny, Source{NotNamespaces: []string{"team-a"}}, "", q(podB, true), false},

		{"allow principal exact", ActionAllow, Source{Principals: []string{"cluster.local/ns/team-a/sa/sleep"}}, "", q(podA, true), true},
		{"allow principal other sa", ActionAllow, Source{Principals: []string{"cluster.local/ns/team-a/sa/sleepy"}}, "", q(podA, true), false},
		{"allow principal shorter", ActionAllow, Source{Principals: []string{"cluster.local/ns/team-a/sa/slee"}}, "", q(podA, true), false},
		{"allow principal prefix", ActionAllow, Source{Principals: []string{"cluster.local/ns/team-a/*"}}, "", q(podA, true), true},
		{"allow principal prefix across parts", ActionAllow, Source{Principals: []string{"cluster.local/ns/te*"}}, "", q(podA, true), true},
		{"allow principal suffix", ActionAllow, Source{Principals: []string{"*/sa/sleep"}}, "", q(podA, true), true},
		{"allow principal suffix other", ActionAllow, Source{Principals: []string{"*/sa/sleep"}}, "", q(podB, true), false},
		{"allow principal suffix whole", ActionAllow, Source{Principals: []string{"*cluster.local/ns/team-a/sa/sleep"}}, "", q(podA, true), true},
		{"allow principal too long", ActionAllow, Source{Principals: []string{"xcluster.local/ns/team-a/sa/sleep"}}, "", q(podA, true), false},
		{"allow principal any", ActionAllow, Source{Principals: []string{"*"}}, "", q(podB, true), true},
		{"allow principal any unknown", ActionAllow, Source{Principals: []string{"*"}}, "", unknown, false},
		{"allow principal trust domain", ActionAllow, Source{Principals: []string{"corp.example/ns/team-a/sa/sleep"}}, "corp.example", q(podA, true), true},
		{"allow principal default domain under another", ActionAllow, Source{Principals: []string{"cluster.local/ns/team-a/sa/sleep"}}, "corp.example", q(podA, true), false},
		{"allow notPrincipals", ActionAllow, Source{NotPrincipals: []string{"cluster.local/ns/team-a/*"}}, "", q(podB, true), true},
		{"allow notPrincipals same", ActionAllow, Source{NotPrincipals: []string{"cluster.local/ns/team-a/*"}}, "", q(podA, true), false},
		{"allow notPrincipals unknown", ActionAllow, Source{NotPrincipals: []string{"cluster.local/ns/team-a/*"}}, "", unknown, false},
		{"deny principal", ActionDeny, Source{Principals: []string{"cluster.local/ns/team-b/sa/default"}}, "", q(podB, true), false},
		{"deny principal unknown", ActionDeny, Source{Principals: []string{"*"}}, "", unknown, true},
		{"namespace and principal both", ActionAllow, Source{Namespaces: []string{"team-a"}, Principals: []string{"*/sa/default"}}, "", q(podA, true), false},
		{"namespace and ipBlocks", ActionAllow, Source{Namespaces: []string{"team-a"}, IPBlocks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "", q(podA, true), true},
		{"namespace and ipBlocks other address", ActionAllow, Source{Namespaces: []string{"team-a"}, IPBlocks: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}}, "", q(podA, true), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAuthzIn(tc.td, []AuthzPolicy{{Name: "istio-system/p", Action: tc.action, Rules: []Rule{{From: []Source{tc.source}}}}})
			if err != nil {
				t.Fatal(err)
			}
			d := (&Policy{Registry: reg, Authz: a}).Decide(tc.q)
			if d.Allow != tc.want {
				t.Errorf("Decide: allow = %v (%s: %s), want %v", d.Allow, d.Rule, d.Reason, tc.want)
			}
		})
	}
}

func TestSourceIdentityErrors(t *testing.T) {
	_, err := NewAuthz([]AuthzPolicy{{Name: "ns/p", Action: ActionAllow, Rules: []Rule{{From: []Source{{Namespaces: []string{"a*b"}, Principals: []string{""}}}}}}})
	want := "AuthorizationPolicy ns/p rules[0].from[0].source.namespaces[0]: \"a*b\": \"*\" is only allowed at the start or the end\n" +
		"AuthorizationPolicy ns/p rules[0].from[0].source.principals[0]: \"\": empty value"
	if err == nil || err.Error() != want {
		t.Errorf("NewAuthz error = %v, want %s", err, want)
	}
}

// TestScopedAuthz: a policy in a workload's namespace applies to requests
// from that namespace's pods that its selector matches, never to another
// namespace's or an unknown source's; gateway-wide policies apply to all.
func TestScopedAuthz(t *testing.T) {
	reg := mustRegistry(t, []Entry{
		{Host: "api.example.com", Ports: []uint32{443}, Source: "ServiceEntry default/api"},
		{Host: "www.example.org", Ports: []uint32{443}, Source: "ServiceEntry default/org"},
	})
	hostsOp := func(h ...string) []Rule { return []Rule{{To: []Operation{{Hosts: h}}}} }
	denyA := AuthzPolicy{Name: "team-a/deny-api", Action: ActionDeny, Rules: hostsOp("api.example.com"), Scope: "team-a"}
	allowA := AuthzPolicy{Name: "team-a/allow-org", Action: ActionAllow, Rules: hostsOp("www.example.org"), Scope: "team-a"}
	allowCurl := AuthzPolicy{Name: "team-b/allow-curl-api", Action: ActionAllow, Rules: hostsOp("api.example.com"), Scope: "team-b", Selector: map[string]string{"app": "curl"}}
	allowOtherSel := AuthzPolicy{Name: "team-b/allow-web", Action: ActionAllow, Rules: hostsOp("www.example.org"), Scope: "team-b", Selector: map[string]string{"app": "web"}}
	rootSel := AuthzPolicy{Name: "istio-system/deny-curl", Action: ActionDeny, Rules: hostsOp("www.example.org"), Scope: "*", Selector: map[string]string{"app": "curl"}}
	gatewayAllow := AuthzPolicy{Name: "istio-system/allow-api", Action: ActionAllow, Rules: hostsOp("api.example.com")}
	q := func(host string, pod *identity.Pod) Query {
		return Query{Host: host, Port: 443, Identities: true, Pod: pod}
	}
	tests := []struct {
		name     string
		policies []AuthzPolicy
		q        Query
		want     bool
		rule     string
	}{
		{"deny in own namespace", []AuthzPolicy{denyA}, q("api.example.com", podA), false, "AuthorizationPolicy team-a/deny-api rules[0]"},
		{"deny of another namespace", []AuthzPolicy{denyA}, q("api.example.com", podB), true, "ServiceEntry default/api"},
		{"deny unknown source", []AuthzPolicy{denyA}, q("api.example.com", nil), true, "ServiceEntry default/api"},
		{"without identities a namespace's policy is gateway-wide", []AuthzPolicy{denyA}, Query{Host: "api.example.com", Port: 443}, false, "AuthorizationPolicy team-a/deny-api rules[0]"},
		{"without identities a selector's policy does not apply", []AuthzPolicy{allowCurl}, Query{Host: "www.example.org", Port: 443}, true, "ServiceEntry default/org"},
		{"allow in own namespace", []AuthzPolicy{allowA}, q("www.example.org", podA), true, "AuthorizationPolicy team-a/allow-org rules[0]"},
		{"allow in own namespace, other host", []AuthzPolicy{allowA}, q("api.example.com", podA), false, "AuthorizationPolicy"},
		{"allow of another namespace leaves the rest alone", []AuthzPolicy{allowA}, q("api.example.com", podB), true, "ServiceEntry default/api"},
		{"allow selected pod", []AuthzPolicy{allowCurl}, q("api.example.com", podB), true, "AuthorizationPolicy team-b/allow-curl-api rules[0]"},
		{"allow selected pod, other host", []AuthzPolicy{allowCurl}, q("www.example.org", podB), false, "AuthorizationPolicy"},
		{"allow selecting other pods", []AuthzPolicy{allowOtherSel}, q("api.example.com", podB), true, "ServiceEntry default/api"},
		{"root selector deny", []AuthzPolicy{rootSel}, q("www.example.org", podB), false, "AuthorizationPolicy istio-system/deny-curl rules[0]"},
		{"root selector other pod", []AuthzPolicy{rootSel}, q("www.example.org", podA), true, "ServiceEntry default/org"},
		{"gateway-wide and scoped allow, scoped matches", []AuthzPolicy{gatewayAllow, allowA}, q("www.example.org", podA), true, "AuthorizationPolicy team-a/allow-org rules[0]"},
		{"gateway-wide allow, no scoped for pod", []AuthzPolicy{gatewayAllow, allowA}, q("www.example.org", podB), false, "AuthorizationPolicy"},
		{"gateway-wide allow applies to unknown", []AuthzPolicy{gatewayAllow, allowA}, q("www.example.org", nil), false, "AuthorizationPolicy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAuthz(tc.policies)
			if err != nil {
				t.Fatal(err)
			}
			d := (&Policy{Registry: reg, Authz: a}).Decide(tc.q)
			if d.Allow != tc.want || d.Rule != tc.rule {
				t.Errorf("Decide = allow %v by %q (%s), want allow %v by %q", d.Allow, d.Rule, d.Reason, tc.want, tc.rule)
			}
		})
	}
}

// identityPolicy is benchAuthz's shape with policies on namespaces and
// principals, scoped policies, exportTo and Sidecars.
func identityPolicy(tb testing.TB) *Policy {
	es := entries10k(1000)
	for i := range es {
		es[i].Namespace = "team-a"
		if i%2 == 0 {
			es[i].ExportTo = []string{".", "team-b"}
		}
	}
	a, err := NewAuthz([]AuthzPolicy{
		{Name: "istio-system/deny-ns", Action: ActionDeny, Rules: []Rule{{From: []Source{{Namespaces: []string{"quarantine-*"}}}}}},
		{Name: "team-a/allow", Action: ActionAllow, Scope: "team-a", Selector: map[string]string{"app": "sleep"}, Rules: []Rule{
			{From: []Source{{Principals: []string{"cluster.local/ns/team-a/*"}}}, To: []Operation{{Hosts: []string{"*.example.com"}}}},
		}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	sc, err := NewSidecars([]Sidecar{{Name: "team-b/default", Namespace: "team-b", HasMode: true, Mode: AllowAny, Hosts: []string{"team-a/*.example.com"}}}, "istio-system")
	if err != nil {
		tb.Fatal(err)
	}
	return &Policy{Mode: RegistryOnly, Registry: mustRegistry(tb, es), Authz: a, Sidecars: sc}
}

func TestZeroAllocsIdentity(t *testing.T) {
	p := identityPolicy(t)
	for _, pod := range []*identity.Pod{podA, podB, nil} {
		for _, bq := range benchQueries {
			q := bq.q
			q.Identities, q.Pod = true, pod
			if n := testing.AllocsPerRun(100, func() { p.Decide(q) }); n != 0 {
				t.Errorf("Decide(%+v) allocates %v times, want 0", q, n)
			}
			if n := testing.AllocsPerRun(100, func() { p.InterceptsFor(q.Host, pod) }); n != 0 {
				t.Errorf("InterceptsFor(%q, %v) allocates %v times, want 0", q.Host, pod, n)
			}
		}
	}
}

func BenchmarkDecideIdentity(b *testing.B) {
	p := identityPolicy(b)
	for _, pod := range []*identity.Pod{podA, podB, nil} {
		name := "unknown"
		if pod != nil {
			name = pod.Namespace
		}
		for _, bq := range benchQueries {
			q := bq.q
			q.Identities, q.Pod = true, pod
			b.Run(name+"/"+bq.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					p.Decide(q)
				}
			})
		}
	}
}
