package config

import (
	"strings"
	"testing"
)

// drDoc is a DestinationRule name in ns for host with exportTo (none:
// unset), originating TLS (so that its choice shows in the port).
func drDoc(ns, name, host, exportTo string) string {
	y := "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n  host: \"" + host + "\"\n"
	if exportTo != "" {
		y += "  exportTo: [" + exportTo + "]\n"
	}
	return y + "  trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, sni: " + ns + "-" + name + "}}\n"
}

const drEntryYAML = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: svc}
spec:
  hosts: [api.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
`

// TestDestinationRuleExportTo: the DestinationRule each source namespace
// gets, in Istio's order (its own namespace's, then the entry's namespace's
// exported to it, then the root namespace's exported to it), and the
// choice made without a pod table (Entry.Ports: exportTo ignored).
func TestDestinationRuleExportTo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drs   string
		files string            // the rule of Entry.Ports, "" none
		want  map[string]string // source namespace ("" unknown) -> rule, "" none
	}{
		{"own namespace's private rule first",
			drDoc("svc", "all", "api.example.com", "") + drDoc("team-a", "mine", "api.example.com", `"."`),
			"svc/all", map[string]string{"team-a": "team-a/mine", "team-b": "svc/all", "": "svc/all", "svc": "svc/all"}},
		{"entry namespace's rule exported to one namespace, then the root's",
			drDoc("svc", "to-b", "api.example.com", "team-b") + drDoc("mesh-root", "root", "api.example.com", ""),
			"svc/to-b", map[string]string{"team-b": "svc/to-b", "team-a": "mesh-root/root", "": "mesh-root/root", "svc": "mesh-root/root"}},
		{"root's private rule: root's clients only",
			drDoc("mesh-root", "root", "api.example.com", `"."`),
			"mesh-root/root", map[string]string{"mesh-root": "mesh-root/root", "team-a": "", "": ""}},
		{"own namespace's public rule over the entry namespace's",
			drDoc("svc", "to-a", "api.example.com", `team-a, "."`) + drDoc("team-a", "star", "api.example.com", `"*"`),
			"svc/to-a", map[string]string{"team-a": "team-a/star", "svc": "svc/to-a", "team-b": "", "": ""}}, // team-a's rule is no one else's: Istio looks in the client's, the entry's and the root namespace only
		{"the most specific rule of a namespace hides a wider one when not exported",
			drDoc("svc", "exact", "api.example.com", "team-b") + drDoc("svc", "wide", "*.example.com", ""),
			"svc/exact", map[string]string{"team-b": "svc/exact", "team-a": "", "": ""}},
		{"exported nowhere",
			drDoc("svc", "none", "api.example.com", `"~"`),
			"svc/none", map[string]string{"svc": "", "team-a": "", "": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadYAML(t, Options{RootNamespace: "mesh-root"}, drEntryYAML+tc.drs)
			if err != nil {
				t.Fatal(err)
			}
			e := &s.Entries[0]
			if got := sniOf(e.Ports); got != sni(tc.files) {
				t.Errorf("files-only choice: sni %q, want %q", got, sni(tc.files))
			}
			if e.Views == nil {
				t.Fatal("no per-source views")
			}
			for ns, rule := range tc.want {
				v := e.Views.View(ns)
				if got := sniOf(e.Views.Ports[v]); got != sni(rule) {
					t.Errorf("source namespace %q: sni %q (%s), want %q (%s)", ns, got, e.Views.Rules[v], sni(rule), rule)
				}
				wantRule := ""
				if rule != "" {
					wantRule = "DestinationRule " + rule
				}
				if e.Views.Rules[v] != wantRule {
					t.Errorf("source namespace %q: rule %q, want %q", ns, e.Views.Rules[v], wantRule)
				}
			}
			if hasWarning(s, "not enforced") {
				t.Errorf("a warning still says exportTo is not enforced:\n%s", strings.Join(s.Warnings, "\n"))
			}
		})
	}
}

// TestDestinationRuleExportToCommonCase: rules all exported everywhere
// compile as before: no per-source views.
func TestDestinationRuleExportToCommonCase(t *testing.T) {
	s, err := loadYAML(t, Options{}, drEntryYAML+drDoc("svc", "all", "api.example.com", "")+drDoc("team-a", "star", "api.example.com", `"*"`))
	if err != nil {
		t.Fatal(err)
	}
	if e := &s.Entries[0]; e.Views != nil || sniOf(e.Ports) != "svc-all" {
		t.Errorf("views %+v, sni %q: want none and svc-all", e.Views, sniOf(e.Ports))
	}
}

// sni is the SNI drDoc gives rule "ns/name"; "" for none.
func sni(rule string) string { return strings.Replace(rule, "/", "-", 1) }

func sniOf(ps []Port) string {
	if len(ps) == 0 || ps[0].TLS == nil {
		return ""
	}
	return ps[0].TLS.SNI
}

// TestDestinationRuleExportToClusters: a route destination's cluster gets
// the port of each view, with the subset of the rule the view sees; a
// view whose rule lacks the subset misses the cluster, saying so.
func TestDestinationRuleExportToClusters(t *testing.T) {
	y := drEntryYAML + `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: all, namespace: svc}
spec:
  host: api.example.com
  subsets: [{name: v1, trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, sni: svc-all-v1}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mine, namespace: team-a}
spec:
  host: api.example.com
  exportTo: ["."]
  trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, sni: team-a-mine}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: svc}
spec:
  hosts: [api.example.com]
  http:
  - {match: [{uri: {prefix: /v1}}], route: [{destination: {host: api.example.com, subset: v1}}]}
  - {route: [{destination: {host: api.example.com}}]}
`
	s, err := loadYAML(t, Options{}, y)
	if err != nil {
		t.Fatal(err)
	}
	e := &s.Entries[0]
	if e.Views == nil {
		t.Fatal("no per-source views")
	}
	clusterOf := func(subset string) *Cluster {
		for i := range s.Clusters {
			if s.Clusters[i].Subset == subset {
				return &s.Clusters[i]
			}
		}
		t.Fatalf("no cluster for subset %q in %+v", subset, s.Clusters)
		return nil
	}
	for _, tc := range []struct {
		subset, ns, sni, missing string
	}{
		{"", "team-a", "team-a-mine", ""},
		{"", "team-b", "", ""},
		{"v1", "team-b", "svc-all-v1", ""},
		{"v1", "team-a", "", "subset v1 of api.example.com is not defined by DestinationRule team-a/mine"},
	} {
		cl := clusterOf(tc.subset)
		if len(cl.Views) != len(e.Views.Ports) {
			t.Fatalf("cluster %s: %d views, want %d", cl.Name, len(cl.Views), len(e.Views.Ports))
		}
		cv := cl.Views[e.Views.View(tc.ns)]
		got := sniOf([]Port{cv.Port})
		if cv.Missing != "" {
			got = "" // a missing view's port is not used
		}
		if got != tc.sni || !strings.Contains(cv.Missing, tc.missing) || (tc.missing == "") != (cv.Missing == "") {
			t.Errorf("cluster %s from %s: sni %q, missing %q; want %q, %q", cl.Name, tc.ns, got, cv.Missing, tc.sni, tc.missing)
		}
		if cv.Missing == "" && cv.Port.Cluster != cl.Name {
			t.Errorf("cluster %s from %s: port's cluster name %q", cl.Name, tc.ns, cv.Port.Cluster)
		}
	}
}

// TestDestinationRuleExportToGatewayView: the destinations of
// Gateway-bound routes get the rule the gateway's namespace
// (Options.Namespace) sees.
func TestDestinationRuleExportToGatewayView(t *testing.T) {
	for _, tc := range []struct {
		name, gwNamespace, drs, want string
	}{
		{"the gateway's private rule", "", drDoc("istio-system", "gw", "api.example.com", `"."`), "istio-system/gw"},
		{"a rule exported to the gateway's namespace", "egress", drDoc("svc", "to-gw", "api.example.com", "egress"), "svc/to-gw"},
		{"a rule not exported to it", "", drDoc("svc", "to-a", "api.example.com", "team-a"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadYAML(t, Options{Namespace: tc.gwNamespace, RootNamespace: "mesh-root"}, drEntryYAML+tc.drs)
			if err != nil {
				t.Fatal(err)
			}
			v := s.Entries[0].Views
			if v == nil {
				t.Fatal("no per-source views")
			}
			if got := sniOf(v.Ports[v.Gateway]); got != sni(tc.want) {
				t.Errorf("gateway view: sni %q (%s), want %q (%s)", got, v.Rules[v.Gateway], sni(tc.want), tc.want)
			}
		})
	}
}
