package balance

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (c *fakeClock) Now() time.Time          { return epoch.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fixedRand is a deterministic Rand: a PCG seeded with seed, safe for
// concurrent use.
func fixedRand(seed uint64) func(uint32) uint32 {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	var mu sync.Mutex
	return func(n uint32) uint32 {
		mu.Lock()
		defer mu.Unlock()
		return r.Uint32N(n)
	}
}

// report ends k requests on endpoint i with outcome o.
func report(s *Set, i, k int, o Outcome) {
	for range k {
		s.Begin(i)
		s.End(i, o)
	}
}

// fail ejects endpoint i of a Set whose Consecutive5xx is c (if the
// maximum percentage allows).
func fail(s *Set, i, c int) { report(s, i, c, Outcome{Status: 500}) }

// counts picks k times (with Begin and End around each, a success) and
// returns how often each endpoint was picked.
func counts(s *Set, k int, key func(j int) uint64) []int {
	got := make([]int, s.Len())
	for j := range k {
		i := s.Pick(key(j))
		got[i]++
		s.Begin(i)
		s.End(i, Outcome{Status: 200})
	}
	return got
}
