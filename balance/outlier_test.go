package balance

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// TestEjection checks which runs of outcomes eject an endpoint.
func TestEjection(t *testing.T) {
	var (
		ok       = Outcome{Status: 200}
		notFound = Outcome{Status: 404}
		s500     = Outcome{Status: 500}
		s503     = Outcome{Status: 503}
		s504     = Outcome{Status: 504}
		refused  = Outcome{ConnectFailed: true}
		reset    = Outcome{Reset: true}
		gone     = Outcome{} // the client went away: says nothing
	)
	rep := func(o Outcome, k int) []Outcome { return slices.Repeat([]Outcome{o}, k) }
	cat := func(runs ...[]Outcome) []Outcome { return slices.Concat(runs...) }
	five := Outlier{Consecutive5xx: 5, MaxEjectionPercent: 100}
	gw3 := Outlier{ConsecutiveGatewayErrors: 3, MaxEjectionPercent: 100}
	for _, tc := range []struct {
		name     string
		outlier  Outlier
		outcomes []Outcome
		want     bool
	}{
		{"5 of 500", five, rep(s500, 5), true},
		{"4 of 500", five, rep(s500, 4), false},
		{"a success resets the count", five, cat(rep(s500, 4), rep(ok, 1), rep(s500, 4)), false},
		{"a 404 is a success", five, cat(rep(s500, 4), rep(notFound, 1), rep(s500, 4)), false},
		{"no outcome does not reset", five, cat(rep(s500, 4), rep(gone, 1), rep(s500, 1)), true},
		{"no outcome does not count", five, rep(gone, 20), false},
		{"connect failures count as 5xx", five, rep(refused, 5), true},
		{"resets count as 5xx", five, rep(reset, 5), true},
		{"mixed 5xx", five, cat(rep(s500, 2), rep(s503, 2), rep(refused, 1)), true},
		{"3 gateway errors", gw3, cat(rep(s503, 1), rep(s504, 1), rep(refused, 1)), true},
		{"resets are gateway errors", gw3, rep(reset, 3), true},
		{"a 500 breaks a run of gateway errors", gw3, cat(rep(s503, 2), rep(s500, 1), rep(s503, 2)), false},
		{"500s are not gateway errors", gw3, rep(s500, 10), false},
		{"detection off", Outlier{}, rep(s500, 100), false},
		{"detector 5xx off, gateway on", Outlier{ConsecutiveGatewayErrors: 2, MaxEjectionPercent: 100}, rep(s500, 100), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(10, Config{Outlier: tc.outlier})
			for _, o := range tc.outcomes {
				report(s, 0, 1, o)
			}
			var want []int
			if tc.want {
				want = []int{0}
			}
			if got := s.Ejected(); !slices.Equal(got, want) {
				t.Fatalf("after %v: Ejected = %v, want %v", tc.outcomes, got, want)
			}
			for range 100 {
				if i := s.Pick(0); tc.want && i == 0 {
					t.Fatalf("Pick = 0, the ejected endpoint")
				}
			}
		})
	}
}

// TestEjectionTime checks how long each ejection lasts on a fake clock:
// BaseEjection times the number of ejections in a row, at most
// max(MaxEjection, BaseEjection), the multiplier falling by one per
// Interval spent in service.
func TestEjectionTime(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		name    string
		outlier Outlier
		healthy []time.Duration // time in service before each ejection after the first
		want    []time.Duration // each ejection's length
	}{
		{"defaults, in a row", Outlier{Consecutive5xx: 1, MaxEjectionPercent: 100},
			[]time.Duration{0, 0, 0}, []time.Duration{30 * s, 60 * s, 90 * s, 120 * s}},
		{"capped at 300s", Outlier{Consecutive5xx: 1, MaxEjectionPercent: 100, BaseEjection: 100 * s},
			[]time.Duration{0, 0, 0}, []time.Duration{100 * s, 200 * s, 300 * s, 300 * s}},
		{"base above the cap", Outlier{Consecutive5xx: 1, MaxEjectionPercent: 100, BaseEjection: 400 * s},
			[]time.Duration{0}, []time.Duration{400 * s, 400 * s}},
		{"decay by interval", Outlier{Consecutive5xx: 1, MaxEjectionPercent: 100, Interval: 10 * s},
			// 2 in a row (x2), 1 interval in service (x2), 2 more (x1), 10 more (x1)
			[]time.Duration{0, 10 * s, 29 * s, 100 * s}, []time.Duration{30 * s, 60 * s, 60 * s, 30 * s, 30 * s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			set := New(2, Config{Outlier: tc.outlier, Now: clock.Now})
			for k, want := range tc.want {
				if k > 0 {
					clock.Advance(tc.healthy[k-1])
				}
				fail(set, 0, 1)
				if got := set.Ejected(); !slices.Equal(got, []int{0}) {
					t.Fatalf("ejection %d: Ejected = %v, want [0]", k+1, got)
				}
				clock.Advance(want - 1)
				if got := set.Ejected(); !slices.Equal(got, []int{0}) {
					t.Fatalf("ejection %d: %v in: Ejected = %v, want [0] until %v", k+1, want-1, got, want)
				}
				clock.Advance(1)
				if got := set.Pick(0); got != 0 && set.Pick(0) != 0 {
					t.Fatalf("ejection %d: %v in: endpoint 0 not picked, want it back", k+1, want)
				}
				if got := set.ejected.Load(); got != 0 {
					t.Fatalf("ejection %d: %v in: %d endpoints still counted out after a Pick, want 0 (back on the path of no ejections)", k+1, want, got)
				}
				if got := set.Ejected(); len(got) != 0 {
					t.Fatalf("ejection %d: %v in: Ejected = %v, want none", k+1, want, got)
				}
			}
		})
	}
}

// TestMaxEjectionPercent checks Envoy's rule: an endpoint is ejected only
// if, with it, at most MaxEjectionPercent of the Set is out.
func TestMaxEjectionPercent(t *testing.T) {
	for _, tc := range []struct {
		n, failing int
		outlier    Outlier
		want       int // endpoints ejected
	}{
		{n: 10, failing: 3, outlier: Outlier{MaxEjectionPercent: 10}, want: 1},
		{n: 10, failing: 3, outlier: Outlier{}, want: 1}, // 0: Envoy's default 10%
		{n: 10, failing: 3, outlier: Outlier{MaxEjectionPercent: 20}, want: 2},
		{n: 5, failing: 2, outlier: Outlier{MaxEjectionPercent: 10}, want: 0},
		{n: 5, failing: 2, outlier: Outlier{MaxEjectionPercent: 10, AlwaysEjectOne: true}, want: 1},
		{n: 4, failing: 3, outlier: Outlier{MaxEjectionPercent: 50}, want: 2},
		{n: 3, failing: 3, outlier: Outlier{MaxEjectionPercent: 100}, want: 3},
		{n: 3, failing: 3, outlier: Outlier{MaxEjectionPercent: 250}, want: 3},
	} {
		t.Run(fmt.Sprintf("%d of %d, %+v", tc.failing, tc.n, tc.outlier), func(t *testing.T) {
			tc.outlier.Consecutive5xx = 2
			s := New(tc.n, Config{Outlier: tc.outlier})
			for i := range tc.failing {
				fail(s, i, 2)
			}
			if got := len(s.Ejected()); got != tc.want {
				t.Errorf("%d endpoints ejected (%v), want %d", got, s.Ejected(), tc.want)
			}
		})
	}
}

// TestPanicAllEjected checks that with every endpoint ejected, picks go to
// all of them (Envoy's panic mode) rather than to none.
func TestPanicAllEjected(t *testing.T) {
	for _, p := range []Policy{RoundRobin, LeastRequest, Random, ConsistentHash} {
		t.Run(p.String(), func(t *testing.T) {
			s := New(3, Config{Policy: p, Rand: fixedRand(5), Outlier: Outlier{Consecutive5xx: 1, MaxEjectionPercent: 100}})
			for i := range 3 {
				fail(s, i, 1)
			}
			if got := s.Ejected(); !slices.Equal(got, []int{0, 1, 2}) {
				t.Fatalf("Ejected = %v, want [0 1 2]", got)
			}
			got := make([]int, 3)
			for j := range 300 {
				got[s.Pick(HashString(fmt.Sprint(j)))]++
			}
			for i, c := range got {
				if c == 0 {
					t.Errorf("endpoint %d never picked with all ejected (%v), want all in use", i, got)
				}
			}
		})
	}
}

// TestCounterWrap checks that the count of a detector that is off cannot
// eject when it wraps around to 0 (after 2^32 failures in a row).
func TestCounterWrap(t *testing.T) {
	s := New(10, Config{Outlier: Outlier{ConsecutiveGatewayErrors: 5, MaxEjectionPercent: 100}})
	s.eps[0].fail5xx.Store(math.MaxUint32)
	report(s, 0, 1, Outcome{Status: 500})
	if got := s.Ejected(); len(got) != 0 {
		t.Errorf("Ejected = %v after the 5xx count (its detector off) wrapped, want none", got)
	}
}
