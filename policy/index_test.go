package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestLookupLarge checks Lookup against naiveLookup on a registry large
// enough for the hash table to have collisions and long probe sequences.
func TestLookupLarge(t *testing.T) {
	es := entries10k(2000)
	es = append(es,
		Entry{Host: "svc7.example.com", Ports: []uint32{8443}}, // a second entry for a host
		Entry{Host: "*.example.com", Ports: []uint32{443}},
		Entry{Host: "*.b.tenant3.example.org", Ports: []uint32{80}},
		Entry{Host: "a.io", Ports: []uint32{443}},
		Entry{Host: "*.io", Ports: []uint32{80}},
		Entry{Host: "*.example", Ports: []uint32{443}},         // keys of 8 and 16 bytes
		Entry{Host: "*.abcdefg.hijklmn", Ports: []uint32{443}}, // and names that end with them
		Entry{Host: "abcdefg.hijklmn", Ports: []uint32{80}})
	r := mustRegistry(t, es)
	rng := rand.New(rand.NewPCG(3, 4))
	labels := []string{"a", "b", "svc7", "io", "example", "com", "org", "tenant3", "tenant999", "x-y", "A", "SVC7", "Example",
		"abcdefg", "hijklmn", "abcdefghijklmnop"}
	for range 3000 {
		var name string
		switch rng.IntN(3) {
		case 0:
			name = fmt.Sprintf("svc%d.example.com", rng.IntN(1100))
		case 1:
			name = fmt.Sprintf("%s.tenant%d.example.org", labels[rng.IntN(len(labels))], rng.IntN(1100))
		default:
			parts := make([]string, 1+rng.IntN(4))
			for i := range parts {
				parts[i] = labels[rng.IntN(len(labels))]
			}
			name = strings.Join(parts, ".")
		}
		if rng.IntN(4) == 0 {
			name = strings.ToUpper(name)
		}
		for _, port := range []uint32{80, 443, 8443} {
			got, ok := r.Lookup(name, port)
			if want := naiveLookup(es, name, port); got != want || ok != (want >= 0) {
				t.Fatalf("Lookup(%q, %d) = %d, %v; want %d", name, port, got, ok, want)
			}
		}
	}
}
