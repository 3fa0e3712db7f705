package policy

import (
	"fmt"
	"net/netip"
	"testing"
)

// entries10k returns n entries, half exact ("svcN.example.com" on 443) and
// half wildcard ("*.tenantN.example.org" on 443 and 80).
func entries10k(n int) []Entry {
	es := make([]Entry, 0, n)
	for i := range n / 2 {
		es = append(es,
			Entry{Host: fmt.Sprintf("svc%d.example.com", i), Ports: []uint32{443}, Source: fmt.Sprintf("ServiceEntry ns/svc%d", i)},
			Entry{Host: fmt.Sprintf("*.tenant%d.example.org", i), Ports: []uint32{443, 80}, Source: fmt.Sprintf("ServiceEntry ns/tenant%d", i)})
	}
	return es
}

// benchAuthz is a few policies of the usual shape: deny some sources and
// admin paths, allow a list of hosts.
func benchAuthz(tb testing.TB) *Authz {
	a, err := NewAuthz([]AuthzPolicy{
		{Name: "istio-system/deny-quarantine", Action: ActionDeny, Rules: []Rule{
			{From: []Source{{IPBlocks: []netip.Prefix{netip.MustParsePrefix("10.99.0.0/16"), netip.MustParsePrefix("10.98.0.0/16")}}}},
		}},
		{Name: "istio-system/deny-admin", Action: ActionDeny, Rules: []Rule{
			{To: []Operation{{Hosts: []string{"admin.example.com"}, Paths: []string{"/admin/*"}}}},
		}},
		{Name: "istio-system/allow-egress", Action: ActionAllow, Rules: []Rule{
			{To: []Operation{{Hosts: []string{"*.example.com", "*.example.com:*"}}}},
			{From: []Source{{IPBlocks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}, To: []Operation{{Hosts: []string{"*.example.org"}, Ports: []uint32{443}}}},
		}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

var benchQueries = []struct {
	name string
	q    Query
}{
	{"exact", Query{Host: "svc4321.example.com", Port: 443, Source: netip.MustParseAddr("10.1.2.3")}},
	{"wildcard", Query{Host: "a.b.tenant1234.example.org", Port: 443, Source: netip.MustParseAddr("10.1.2.3")}},
	{"miss", Query{Host: "www.unknown.example.net", Port: 443, Source: netip.MustParseAddr("10.1.2.3")}},
	{"http", Query{Host: "svc17.example.com", Port: 443, Source: netip.MustParseAddr("10.1.2.3"), HTTP: true, Method: "GET", Path: "/v1/items"}},
}

func BenchmarkDecide10kEntries(b *testing.B) {
	reg := mustRegistry(b, entries10k(10_000))
	for _, authz := range []struct {
		name string
		a    *Authz
	}{{"noauthz", nil}, {"authz", benchAuthz(b)}} {
		for _, bq := range benchQueries {
			b.Run(authz.name+"/"+bq.name, func(b *testing.B) {
				p := &Policy{Mode: RegistryOnly, Registry: reg, Authz: authz.a}
				b.ReportAllocs()
				for b.Loop() {
					p.Decide(bq.q)
				}
			})
		}
	}
}

func BenchmarkLookup10kEntries(b *testing.B) {
	reg := mustRegistry(b, entries10k(10_000))
	for _, bq := range benchQueries[:3] {
		b.Run(bq.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				reg.Lookup(bq.q.Host, bq.q.Port)
			}
		})
	}
}

func BenchmarkNewRegistry10k(b *testing.B) {
	es := entries10k(10_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewRegistry(es); err != nil {
			b.Fatal(err)
		}
	}
}
