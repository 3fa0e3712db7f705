package policy

import (
	"net/netip"
	"testing"
)

func TestDecide(t *testing.T) {
	entries := []Entry{
		{Host: "api.example.com", Ports: []uint32{443}, Source: "ServiceEntry default/api"},                                       // 0
		{Host: "*.example.com", Ports: []uint32{443}, Source: "ServiceEntry default/wild"},                                        // 1
		{Host: "db.default.svc.cluster.local", Ports: []uint32{5432}, AuthzHost: "db.example.net.", Source: "Service default/db"}, // 2: ExternalName
	}
	denyAdmin := AuthzPolicy{Name: "istio-system/deny-admin", Action: ActionDeny, Rules: []Rule{
		{To: []Operation{{Hosts: []string{"admin.example.com"}}}},
		{To: []Operation{{Paths: []string{"/admin/*"}}}},
	}}
	allowAPI := AuthzPolicy{Name: "istio-system/allow-api", Action: ActionAllow, Rules: []Rule{
		{To: []Operation{{Hosts: []string{"api.example.com", "admin.example.com"}}}},
		{To: []Operation{{Hosts: []string{"db.example.net"}}}},
		{To: []Operation{{Hosts: []string{"unregistered.org"}}}},
	}}
	allowNothing := AuthzPolicy{Name: "ns/allow-nothing", Action: ActionAllow}
	denyNothing := AuthzPolicy{Name: "ns/deny-nothing", Action: ActionDeny}
	src := netip.MustParseAddr("10.0.0.1")
	tlsq := func(host string, port uint32) Query { return Query{Host: host, Port: port, Source: src} }
	httpq := func(host, path string) Query {
		return Query{Host: host, Port: 443, Source: src, HTTP: true, Method: "GET", Path: path}
	}

	tests := []struct {
		name     string
		mode     Mode
		policies []AuthzPolicy
		q        Query
		want     Decision
	}{
		{"registered exact", RegistryOnly, nil, tlsq("api.example.com", 443),
			Decision{Allow: true, Entry: 0, Rule: "ServiceEntry default/api", Reason: reasonRegistered}},
		{"registered wildcard", RegistryOnly, nil, tlsq("www.example.com", 443),
			Decision{Allow: true, Entry: 1, Rule: "ServiceEntry default/wild", Reason: reasonRegistered}},
		{"registry only unregistered", RegistryOnly, nil, tlsq("other.org", 443),
			Decision{Entry: -1, Rule: "outboundTrafficPolicy REGISTRY_ONLY", Reason: "host is not registered by any ServiceEntry or ExternalName Service"}},
		{"registry only wrong port", RegistryOnly, nil, tlsq("api.example.com", 8443),
			Decision{Entry: -1, Rule: "outboundTrafficPolicy REGISTRY_ONLY", Reason: "host is registered, but not on this port"}},
		{"registry only no host", RegistryOnly, nil, tlsq("", 443),
			Decision{Entry: -1, Rule: "outboundTrafficPolicy REGISTRY_ONLY", Reason: reasonNotRegistered}},
		{"unknown mode is registry only", Mode(9), nil, tlsq("other.org", 443),
			Decision{Entry: -1, Rule: "outboundTrafficPolicy REGISTRY_ONLY", Reason: reasonNotRegistered}},
		{"allow any unregistered", AllowAny, nil, tlsq("other.org", 443),
			Decision{Allow: true, Entry: -1, Rule: "outboundTrafficPolicy ALLOW_ANY", Reason: reasonAllowAny}},
		{"allow any registered", AllowAny, nil, tlsq("api.example.com", 443),
			Decision{Allow: true, Entry: 0, Rule: "ServiceEntry default/api", Reason: reasonRegistered}},

		{"deny rule", RegistryOnly, []AuthzPolicy{denyAdmin}, tlsq("admin.example.com", 443),
			Decision{Entry: 1, Rule: "AuthorizationPolicy istio-system/deny-admin rules[0]", Reason: "denied by an AuthorizationPolicy DENY rule"}},
		{"deny before allow", RegistryOnly, []AuthzPolicy{allowAPI, denyAdmin}, tlsq("admin.example.com", 443),
			Decision{Entry: 1, Rule: "AuthorizationPolicy istio-system/deny-admin rules[0]", Reason: reasonDenyRule}},
		{"deny path over allow host", RegistryOnly, []AuthzPolicy{allowAPI, denyAdmin}, httpq("api.example.com", "/admin/users"),
			Decision{Entry: 0, Rule: "AuthorizationPolicy istio-system/deny-admin rules[1]", Reason: reasonDenyRule}},
		{"deny path rule ignores its path for tls", RegistryOnly, []AuthzPolicy{denyAdmin}, tlsq("api.example.com", 443),
			Decision{Entry: 0, Rule: "AuthorizationPolicy istio-system/deny-admin rules[1]", Reason: reasonDenyRule}},
		{"allow rule", RegistryOnly, []AuthzPolicy{denyAdmin, allowAPI}, httpq("api.example.com", "/v1"),
			Decision{Allow: true, Entry: 0, Rule: "AuthorizationPolicy istio-system/allow-api rules[0]", Reason: reasonAllowRule}},
		{"no allow rule matches", RegistryOnly, []AuthzPolicy{allowAPI}, tlsq("www.example.com", 443),
			Decision{Entry: 1, Rule: "AuthorizationPolicy", Reason: "no ALLOW AuthorizationPolicy rule matches"}},
		{"allow nothing", RegistryOnly, []AuthzPolicy{allowNothing}, tlsq("api.example.com", 443),
			Decision{Entry: 0, Rule: "AuthorizationPolicy", Reason: reasonNoAllowRule}},
		{"allow nothing beside allow", RegistryOnly, []AuthzPolicy{allowNothing, allowAPI}, tlsq("api.example.com", 443),
			Decision{Allow: true, Entry: 0, Rule: "AuthorizationPolicy istio-system/allow-api rules[0]", Reason: reasonAllowRule}},
		{"deny nothing", RegistryOnly, []AuthzPolicy{denyNothing}, tlsq("api.example.com", 443),
			Decision{Allow: true, Entry: 0, Rule: "ServiceEntry default/api", Reason: reasonRegistered}},
		{"registry checked before authz", RegistryOnly, []AuthzPolicy{allowAPI}, tlsq("unregistered.org", 443),
			Decision{Entry: -1, Rule: "outboundTrafficPolicy REGISTRY_ONLY", Reason: reasonNotRegistered}},
		{"allow any then allow rule", AllowAny, []AuthzPolicy{allowAPI}, tlsq("unregistered.org", 443),
			Decision{Allow: true, Entry: -1, Rule: "AuthorizationPolicy istio-system/allow-api rules[2]", Reason: reasonAllowRule}},
		{"allow any then no allow rule", AllowAny, []AuthzPolicy{allowAPI}, tlsq("other.org", 443),
			Decision{Entry: -1, Rule: "AuthorizationPolicy", Reason: reasonNoAllowRule}},

		{"authz host of ExternalName", RegistryOnly, []AuthzPolicy{allowAPI}, tlsq("db.default.svc.cluster.local", 5432),
			Decision{Allow: true, Entry: 2, Rule: "AuthorizationPolicy istio-system/allow-api rules[1]", Reason: reasonAllowRule}},
		{"authz host replaces the requested host", RegistryOnly, []AuthzPolicy{{Name: "ns/deny-svc", Action: ActionDeny, Rules: []Rule{
			{To: []Operation{{Hosts: []string{"*.svc.cluster.local"}}}}}}}, tlsq("db.default.svc.cluster.local", 5432),
			Decision{Allow: true, Entry: 2, Rule: "Service default/db", Reason: reasonRegistered}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Policy{Mode: tt.mode, Registry: mustRegistry(t, entries)}
			if tt.policies != nil {
				var err error
				if p.Authz, err = NewAuthz(tt.policies); err != nil {
					t.Fatal(err)
				}
			}
			if got := p.Decide(tt.q); got != tt.want {
				t.Errorf("Decide(%+v)\n got %+v\nwant %+v", tt.q, got, tt.want)
			}
		})
	}
}

func TestDecideNil(t *testing.T) {
	q := Query{Host: "a.com", Port: 443}
	tests := []struct {
		name string
		p    *Policy
		want Decision
	}{
		{"nil policy", nil, Decision{Entry: -1, Rule: ruleRegistryOnly, Reason: reasonNotRegistered}},
		{"nil registry", &Policy{}, Decision{Entry: -1, Rule: ruleRegistryOnly, Reason: reasonNotRegistered}},
		{"nil registry allow any", &Policy{Mode: AllowAny}, Decision{Allow: true, Entry: -1, Rule: ruleAllowAny, Reason: reasonAllowAny}},
		{"empty authz", &Policy{Mode: AllowAny, Authz: &Authz{}}, Decision{Allow: true, Entry: -1, Rule: ruleAllowAny, Reason: reasonAllowAny}},
		// The ingress policy: no registry, its own rule for what it lets through.
		{"default rule", &Policy{Mode: AllowAny, DefaultRule: "Gateway route", DefaultReason: "routed"}, Decision{Allow: true, Entry: -1, Rule: "Gateway route", Reason: "routed"}},
		{"default rule under authz", &Policy{Mode: AllowAny, Authz: &Authz{}, DefaultRule: "Gateway route", DefaultReason: "routed"}, Decision{Allow: true, Entry: -1, Rule: "Gateway route", Reason: "routed"}},
		{"default rule not for registry only", &Policy{DefaultRule: "Gateway route"}, Decision{Entry: -1, Rule: ruleRegistryOnly, Reason: reasonNotRegistered}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Decide(q); got != tt.want {
				t.Errorf("Decide(%+v)\n got %+v\nwant %+v", q, got, tt.want)
			}
		})
	}
}
