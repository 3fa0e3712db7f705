package config

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/egressgw/egressgw/route"
)

// FuzzRoutes compiles arbitrary YAML holding Gateways and VirtualServices
// (seeded with the seeds', the tasks' and the error cases' documents): no
// panic, and either problems or a snapshot whose route table answers
// lookups, each destination a valid cluster index.
func FuzzRoutes(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/ingress/*.yaml")
	seeds = append(seeds, "testdata/errors/routes.yaml")
	for _, name := range seeds {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &report{}
		var objs []*object
		decodeFile("fuzz.yaml", data, r, func(o *object) { objs = append(objs, o) })
		s := newCompiler(Options{Labels: map[string]string{"istio": "egressgateway"}}.withDefaults(), r, nil).compile(objs)
		if len(r.problems) > 0 {
			return
		}
		check := func(ds []route.Destination) {
			for _, d := range ds {
				if d.Cluster < 0 || d.Cluster >= len(s.Clusters) {
					t.Fatalf("destination cluster %d of %d", d.Cluster, len(s.Clusters))
				}
			}
		}
		for _, l := range s.Routes.Listeners() {
			for _, vh := range l.HTTP {
				for _, rt := range vh.Routes {
					check(rt.Action.Destinations)
					if rt.Mirror != nil {
						check([]route.Destination{{Cluster: rt.Mirror.Cluster}})
					}
				}
				for _, gw := range []string{route.Mesh, ""} {
					req := &route.Request{Host: vh.Host, Port: l.Port, Method: "GET", Path: "/", Header: http.Header{}, Gateway: gw}
					if res := l.Lookup(req); res.Miss != route.Found {
						res.Explain(vh.Host, "GET /", l)
					}
				}
			}
			for _, tr := range l.TLS {
				check(tr.Destinations)
			}
			for _, tr := range l.TCP {
				check(tr.Destinations)
			}
		}
	})
}
