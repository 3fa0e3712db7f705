package config

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/egressgw/egressgw/route"
)

const vsExportYAML = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*/*.ingress.example.com"]
`

// vsDoc is a VirtualService in namespace ns for host, bound to gateways
// (none: mesh) with exportTo (none: unset), its one route adding header
// X-VS: name.
func vsDoc(name, ns, host, gateways, exportTo string) string {
	y := "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n  hosts: [" + host + "]\n"
	if gateways != "" {
		y += "  gateways: [" + gateways + "]\n"
	}
	if exportTo != "" {
		y += "  exportTo: [" + exportTo + "]\n"
	}
	return y + "  http: [{headers: {request: {set: {X-VS: " + name + "}}}, route: [{destination: {host: api.example.com}}]}]\n"
}

// TestVirtualServiceExportToGateway: a Gateway-bound VirtualService is
// bound only when it is exported to the gateway's namespace (Options.Namespace).
func TestVirtualServiceExportToGateway(t *testing.T) {
	const gw = "istio-system/gw"
	for _, tc := range []struct {
		name, ns, exportTo, gwNamespace string
		bound                           bool
	}{
		{"unset", "default", "", "", true},
		{"star", "default", `"*"`, "", true},
		{"gateway namespace named", "default", "team-a, istio-system", "", true},
		{"dot in the gateway namespace", "istio-system", `"."`, "", true},
		{"dot elsewhere", "default", `"."`, "", false},
		{"other namespace only", "default", "team-a", "", false},
		{"nowhere", "istio-system", `"~"`, "", false},
		{"--namespace moves the gateway", "default", "egress", "egress", true},
		{"--namespace elsewhere", "default", "istio-system", "egress", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadYAML(t, Options{Namespace: tc.gwNamespace}, vsExportYAML+vsDoc("vs", tc.ns, "a.ingress.example.com", gw, tc.exportTo))
			if err != nil {
				t.Fatal(err)
			}
			res := s.Routes.Listener(route.Ingress, 8080).Lookup(&route.Request{Host: "a.ingress.example.com", Port: 8080, Method: "GET", Path: "/", Header: http.Header{}})
			if got := res.Route != nil; got != tc.bound {
				t.Errorf("bound = %v (%+v), want %v", got, res, tc.bound)
			}
			want := "VirtualService " + tc.ns + "/vs: spec.exportTo: not bound to Gateway " + gw + ": exported to ["
			if got := hasWarning(s, want); got == tc.bound {
				t.Errorf("warning %q present = %v, want %v; warnings:\n%s", want, got, !tc.bound, strings.Join(s.Warnings, "\n"))
			}
		})
	}
}

// TestVirtualServiceExportToMesh: a mesh VirtualService's routes carry its
// exportTo, "." resolved, and no warning says it is not enforced.
func TestVirtualServiceExportToMesh(t *testing.T) {
	for _, tc := range []struct {
		name, ns, exportTo string
		want               *route.Export
	}{
		{"unset", "team-a", "", nil},
		{"star among others", "team-a", `team-b, "*"`, nil},
		{"dot", "team-a", `"."`, &route.Export{Namespaces: []string{"team-a"}}},
		{"dot and a namespace", "team-a", `team-b, ".", team-b`, &route.Export{Namespaces: []string{"team-b", "team-a"}}},
		{"nowhere", "team-a", `"~"`, &route.Export{Namespaces: []string{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadYAML(t, Options{}, vsExportYAML+vsDoc("vs", tc.ns, "api.example.com", "", tc.exportTo))
			if err != nil {
				t.Fatal(err)
			}
			res := s.Routes.Listener(route.Egress, 80).Lookup(&route.Request{Host: "api.example.com", Port: 80, Method: "GET", Path: "/", Header: http.Header{}, Gateway: route.Mesh})
			if res.Route == nil {
				t.Fatalf("no route: %+v", res)
			}
			got := res.Route.Export
			if (got == nil) != (tc.want == nil) || got != nil && !slices.Equal(got.Namespaces, tc.want.Namespaces) {
				t.Errorf("Export = %+v, want %+v", got, tc.want)
			}
			if hasWarning(s, "not enforced") {
				t.Errorf("a warning still says exportTo is not enforced:\n%s", strings.Join(s.Warnings, "\n"))
			}
		})
	}
}
