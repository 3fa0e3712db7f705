package policy

import (
	"testing"

	"github.com/egressgw/egressgw/identity"
)

// TestExportToAndSidecars: what a source sees of the registry, by its
// namespace (exportTo) and its Sidecar (egress hosts, outboundTrafficPolicy).
// A host it does not see gets the answer of an unregistered one.
func TestExportToAndSidecars(t *testing.T) {
	entries := []Entry{
		{Host: "api.example.com", Ports: []uint32{443}, Source: "ServiceEntry team-a/api", Namespace: "team-a", ExportTo: []string{"."}},          // 0
		{Host: "*.example.com", Ports: []uint32{443}, Source: "ServiceEntry istio-system/wild", Namespace: "istio-system"},                        // 1
		{Host: "db.example.net", Ports: []uint32{5432}, Source: "ServiceEntry team-b/db", Namespace: "team-b", ExportTo: []string{"team-a", "."}}, // 2
		{Host: "hidden.example.org", Ports: []uint32{443}, Source: "ServiceEntry team-a/hidden", Namespace: "team-a", ExportTo: []string{"~"}},    // 3
		{Host: "shared.example.org", Ports: []uint32{443}, Source: "ServiceEntry team-a/shared-a", Namespace: "team-a", ExportTo: []string{"."}},  // 4
		{Host: "shared.example.org", Ports: []uint32{443}, Source: "ServiceEntry team-b/shared-b", Namespace: "team-b", ExportTo: []string{"."}},  // 5
		{Host: "open.example.org", Ports: []uint32{443}, Source: "ServiceEntry team-b/open", Namespace: "team-b"},                                 // 6
	}
	reg := mustRegistry(t, entries)
	podC := &identity.Pod{Namespace: "team-c", Name: "c-1", ServiceAccount: "default", Labels: map[string]string{"app": "x"}}
	podCLocked := &identity.Pod{Namespace: "team-c", Name: "c-2", ServiceAccount: "default", Labels: map[string]string{"lock": "yes"}}
	podD := &identity.Pod{Namespace: "team-d", Name: "d-1", ServiceAccount: "default"}
	sidecars, err := NewSidecars([]Sidecar{
		{Name: "team-c/locked", Namespace: "team-c", Selector: map[string]string{"lock": "yes"}, HasMode: true, Mode: RegistryOnly, Hosts: []string{"~/*"}},
		{Name: "team-c/default", Namespace: "team-c", HasMode: true, Mode: AllowAny, Hosts: []string{"team-b/*", "istio-system/www.example.com"}},
		{Name: "team-c/second", Namespace: "team-c", Hosts: []string{"*/*"}}, // a second one without selector: the first wins
		{Name: "team-a/default", Namespace: "team-a"},                        // no egress: every host
		{Name: "istio-system/default", Namespace: "istio-system", Hosts: []string{"./*", "istio-system/*.example.com"}},
	}, "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	p := &Policy{Mode: RegistryOnly, Registry: reg, Sidecars: sidecars}
	q := func(host string, port uint32, pod *identity.Pod) Query {
		return Query{Host: host, Port: port, Identities: true, Pod: pod}
	}
	notReg := Decision{Entry: -1, Rule: ruleRegistryOnly, Reason: reasonNotRegistered}
	reg0 := func(i int) Decision {
		return Decision{Allow: true, Entry: i, Rule: entries[i].Source, Reason: reasonRegistered}
	}
	tests := []struct {
		name string
		q    Query
		want Decision
	}{
		// exportTo ".", with the wildcard behind it for the others (team-a's
		// Sidecar selects every host; team-b falls under the root Sidecar:
		// "./*" and istio-system's *.example.com).
		{"own namespace sees '.'", q("api.example.com", 443, podA), reg0(0)},
		{"other namespace falls back to the wildcard", q("api.example.com", 443, podB), reg0(1)},
		{"unknown source falls back to the wildcard", q("api.example.com", 443, nil), reg0(1)},
		{"no identities: exportTo not enforced", Query{Host: "api.example.com", Port: 443, Pod: podB}, reg0(0)},
		{"exported by name", q("db.example.net", 5432, podA), reg0(2)},
		{"exported by '.'", q("db.example.net", 5432, podB), reg0(2)},
		{"not exported to team-d", q("db.example.net", 5432, podD), notReg},
		{"unknown source sees only '*'", q("db.example.net", 5432, nil), notReg},
		{"not exported, wrong port is unregistered too", q("db.example.net", 443, podD), notReg},
		{"exported, wrong port", q("db.example.net", 443, podA), Decision{Entry: -1, Rule: ruleRegistryOnly, Reason: reasonWrongPort}},
		{"'~' exports nowhere", q("hidden.example.org", 443, podA), notReg},
		{"same host, each namespace its own", q("shared.example.org", 443, podA), reg0(4)},
		{"same host, each namespace its own (b)", q("shared.example.org", 443, podB), reg0(5)},
		{"same host, no one's for team-d", q("shared.example.org", 443, podD), notReg},

		// Sidecars: team-c's default (ALLOW_ANY, team-b/* and one istio-system host).
		{"sidecar selects namespace", q("open.example.org", 443, podC), reg0(6)},
		{"sidecar selects host", q("www.example.com", 443, podC), reg0(1)},
		{"sidecar leaves other host unregistered: ALLOW_ANY passthrough", q("x.example.com", 443, podC),
			Decision{Allow: true, Entry: -1, Rule: "Sidecar team-c/default outboundTrafficPolicy ALLOW_ANY", Reason: reasonAllowAny}},
		{"sidecar ALLOW_ANY for an unregistered host", q("other.net", 443, podC),
			Decision{Allow: true, Entry: -1, Rule: "Sidecar team-c/default outboundTrafficPolicy ALLOW_ANY", Reason: reasonAllowAny}},
		{"selector sidecar wins: nothing, REGISTRY_ONLY", q("open.example.org", 443, podCLocked),
			Decision{Entry: -1, Rule: "Sidecar team-c/locked outboundTrafficPolicy REGISTRY_ONLY", Reason: reasonNotRegistered}},
		// team-d: the root Sidecar: its own namespace and istio-system's *.example.com.
		{"root sidecar: other namespace's host", q("open.example.org", 443, podD), notReg},
		{"root sidecar: istio-system glob", q("x.example.com", 443, podD), reg0(1)},
		{"root sidecar does not apply to unknown sources", q("open.example.org", 443, nil), reg0(6)},
		{"no identities: sidecars not applied", Query{Host: "open.example.org", Port: 443, Pod: podD}, reg0(6)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Decide(tc.q); got != tc.want {
				t.Errorf("Decide = %+v, want %+v", got, tc.want)
			}
		})
	}

	// DNS sees the same: intercepted for a source that sees the host, and
	// the outbound policy that applies to it for the rest.
	for _, tc := range []struct {
		name              string
		pod               *identity.Pod
		intercept, anyOut bool
	}{
		{"DB.example.net.", podA, true, false},
		{"db.example.net", podD, false, false},
		{"db.example.net", nil, false, false},
		{"open.example.org", podC, true, true},
		{"x.example.com.", podC, false, true},
		{"open.example.org", podCLocked, false, false},
		{"api.example.com", podD, true, false}, // the wildcard
	} {
		i, a := p.InterceptsFor(tc.name, tc.pod)
		if i != tc.intercept || a != tc.anyOut {
			t.Errorf("InterceptsFor(%q, %v) = %v, %v; want %v, %v", tc.name, tc.pod, i, a, tc.intercept, tc.anyOut)
		}
	}
}

func TestExportToSidecarErrors(t *testing.T) {
	_, err := NewRegistry([]Entry{
		{Host: "a.com", Ports: []uint32{443}, Source: "ServiceEntry ns/a", Namespace: "ns", ExportTo: []string{"~", "."}},
		{Host: "b.com", Ports: []uint32{443}, Source: "ServiceEntry ns/b", Namespace: "ns", ExportTo: []string{"a/b"}},
	})
	want := "ServiceEntry ns/a: exportTo: [0]: \"~\" must be the only value\n" +
		"ServiceEntry ns/b: exportTo: [0]: \"a/b\": not \"*\", \".\", \"~\" or a namespace name"
	if err == nil || err.Error() != want {
		t.Errorf("NewRegistry error = %v, want %s", err, want)
	}
	_, err = NewSidecars([]Sidecar{{Name: "ns/s", Namespace: "ns", Hosts: []string{"example.com", "a*/x.com"}}}, "istio-system")
	want = "Sidecar ns/s: egress hosts[0]: \"example.com\": must be \"namespace/host\"\n" +
		"Sidecar ns/s: egress hosts[1]: \"a*/x.com\": the namespace must be \"*\", \".\", \"~\" or a name"
	if err == nil || err.Error() != want {
		t.Errorf("NewSidecars error = %v, want %s", err, want)
	}
}
