package balance

import (
	"fmt"
	"testing"
)

// TestZeroAllocs checks that a pick and its request allocate nothing, with
// no endpoint ejected (the common path) and with one ejected.
func TestZeroAllocs(t *testing.T) {
	for _, p := range []Policy{RoundRobin, LeastRequest, Random, ConsistentHash} {
		for _, ejected := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/ejected=%v", p, ejected), func(t *testing.T) {
				s := New(8, Config{Policy: p, Outlier: Outlier{Consecutive5xx: 1, MaxEjectionPercent: 50}})
				if ejected {
					fail(s, 2, 1)
				}
				key := HashString("user-1")
				if got := testing.AllocsPerRun(1000, func() {
					i := s.Pick(key)
					s.Begin(i)
					s.End(i, Outcome{Status: 200})
				}); got != 0 {
					t.Errorf("Pick+Begin+End allocates %v times, want 0", got)
				}
				if got := testing.AllocsPerRun(1000, func() { _ = HashString("JSESSIONID-0123456789") }); got != 0 {
					t.Errorf("HashString allocates %v times, want 0", got)
				}
			})
		}
	}
}
