package policy

import "testing"

// TestZeroAllocs checks that Decide and Lookup never allocate: the hot path
// runs once per connection or request.
func TestZeroAllocs(t *testing.T) {
	reg := mustRegistry(t, entries10k(1000))
	mixed := []Query{
		{Host: "SVC7.Example.COM.", Port: 443}, // upper case and a trailing dot
		{Host: "svc7.example.com", Port: 80},   // registered, wrong port
	}
	for _, authz := range []*Authz{nil, benchAuthz(t)} {
		for _, mode := range []Mode{RegistryOnly, AllowAny} {
			p := &Policy{Mode: mode, Registry: reg, Authz: authz}
			for _, bq := range benchQueries {
				mixed = append(mixed, bq.q)
			}
			for _, q := range mixed {
				if n := testing.AllocsPerRun(100, func() { p.Decide(q) }); n != 0 {
					t.Errorf("mode %d, authz %v: Decide(%+v) allocates %v times, want 0", mode, authz != nil, q, n)
				}
				if n := testing.AllocsPerRun(100, func() { reg.Lookup(q.Host, q.Port) }); n != 0 {
					t.Errorf("Lookup(%q, %d) allocates %v times, want 0", q.Host, q.Port, n)
				}
				if n := testing.AllocsPerRun(100, func() { reg.Intercepts(q.Host) }); n != 0 {
					t.Errorf("Intercepts(%q) allocates %v times, want 0", q.Host, n)
				}
			}
		}
	}
}
