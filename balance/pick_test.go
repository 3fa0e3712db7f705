package balance

import (
	"fmt"
	"slices"
	"testing"
)

func TestPolicyString(t *testing.T) {
	for p, want := range map[Policy]string{RoundRobin: "ROUND_ROBIN", LeastRequest: "LEAST_REQUEST", Random: "RANDOM", ConsistentHash: "CONSISTENT_HASH", 9: "Policy(9)"} {
		if got := p.String(); got != want {
			t.Errorf("Policy(%d).String() = %q, want %q", p, got, want)
		}
	}
}

func TestPickSmallSets(t *testing.T) {
	if got := New(0, Config{}).Pick(1); got != -1 {
		t.Errorf("empty Set: Pick = %d, want -1", got)
	}
	s := New(1, Config{Outlier: Outlier{Consecutive5xx: 1, MaxEjectionPercent: 100}})
	fail(s, 0, 1)
	if got := s.Ejected(); !slices.Equal(got, []int{0}) {
		t.Fatalf("Ejected = %v, want [0]", got)
	}
	if got := s.Pick(1); got != 0 {
		t.Errorf("one endpoint, ejected: Pick = %d, want 0 (panic mode)", got)
	}
}

// TestDistribution checks that each policy spreads picks about evenly
// over the endpoints in service, and never onto an ejected one. Counts are
// checked within bounds, never exactly.
func TestDistribution(t *testing.T) {
	const n, picks = 5, 10000
	for _, tc := range []struct {
		policy Policy
		eject  []int // endpoints failed before picking
	}{
		{policy: RoundRobin},
		{policy: Random},
		{policy: LeastRequest},
		{policy: ConsistentHash},
		{policy: RoundRobin, eject: []int{1}},
		{policy: Random, eject: []int{1}},
		{policy: LeastRequest, eject: []int{1}},
		{policy: ConsistentHash, eject: []int{1}},
		{policy: RoundRobin, eject: []int{0, 4}},
		{policy: LeastRequest, eject: []int{0, 4}},
	} {
		t.Run(fmt.Sprintf("%v/ejected%v", tc.policy, tc.eject), func(t *testing.T) {
			clock := &fakeClock{}
			s := New(n, Config{Policy: tc.policy, Rand: fixedRand(1), Now: clock.Now,
				Outlier: Outlier{Consecutive5xx: 3, MaxEjectionPercent: 100}})
			for _, i := range tc.eject {
				fail(s, i, 3)
			}
			if got := s.Ejected(); !slices.Equal(got, tc.eject) {
				t.Fatalf("Ejected = %v, want %v", got, tc.eject)
			}
			got := counts(s, picks, func(j int) uint64 { return HashString(fmt.Sprintf("user-%d", j)) })
			share := float64(picks) / float64(n-len(tc.eject))
			for i, c := range got {
				if slices.Contains(tc.eject, i) {
					if c != 0 {
						t.Errorf("endpoint %d (ejected) picked %d times, want 0", i, c)
					}
					continue
				}
				if float64(c) < 0.8*share || float64(c) > 1.2*share {
					t.Errorf("endpoint %d picked %d times of %d, want within 20%% of %.0f (all: %v)", i, c, picks, share, got)
				}
			}
		})
	}
}

// TestLeastRequestPrefersIdle checks the power of two choices: of two
// endpoints the one with fewer active requests is taken.
func TestLeastRequestPrefersIdle(t *testing.T) {
	t.Run("two endpoints, one busy", func(t *testing.T) {
		s := New(2, Config{Policy: LeastRequest, Rand: fixedRand(2)})
		s.Begin(0)
		for range 100 {
			if got := s.Pick(0); got != 1 {
				t.Fatalf("Pick = %d, want 1 (endpoint 0 has a request, 1 none)", got)
			}
		}
	})
	t.Run("one idle of four", func(t *testing.T) {
		s := New(4, Config{Policy: LeastRequest, Rand: fixedRand(3)})
		for i := range 3 {
			for range 10 {
				s.Begin(i)
			}
		}
		idle := 0
		const picks = 2000
		for range picks {
			if s.Pick(0) == 3 {
				idle++
			}
		}
		// It is one of the two candidates half of the time (3 pairs of 6),
		// and then always taken; at random it would be a quarter.
		if idle < picks*40/100 || idle > picks*60/100 {
			t.Errorf("idle endpoint picked %d times of %d, want about half", idle, picks)
		}
	})
	t.Run("requests that never end spread evenly", func(t *testing.T) {
		s := New(5, Config{Policy: LeastRequest, Rand: fixedRand(4)})
		for range 1000 {
			s.Begin(s.Pick(0))
		}
		lo, hi := s.Active(0), s.Active(0)
		for i := range 5 {
			lo, hi = min(lo, s.Active(i)), max(hi, s.Active(i))
		}
		if hi-lo > 10 {
			t.Errorf("active requests range from %d to %d, want within 10 of each other", lo, hi)
		}
	})
}
