package balance

import (
	"slices"
	"testing"
	"time"
)

// TestInherit: a Set replacing another after a reload keeps the ejections
// of the endpoints both have, until their ejection time ends; an endpoint
// new to the Set starts in service; detection off on either side carries
// nothing.
func TestInherit(t *testing.T) {
	on := Outlier{Consecutive5xx: 3, BaseEjection: time.Minute, MaxEjectionPercent: 100}
	for _, tc := range []struct {
		name       string
		oldOut     Outlier
		newOut     Outlier
		from       []int // new index -> old index
		wantAfter  []int // ejected in the new Set right after the reload
		wantLater  []int // ejected 30s later
		wantEnd    []int // ejected 61s after the ejection
		runCarried bool  // endpoint 0's run of 2 errors carries (1 more ejects it)
	}{
		{"same endpoints", on, on, []int{0, 1, 2}, []int{1}, []int{1}, nil, true},
		{"reordered, one new", on, on, []int{-1, 2, 1}, []int{2}, []int{2}, nil, false},
		{"ejected endpoint gone", on, on, []int{0, 2}, nil, nil, nil, true},
		{"detection off after", on, Outlier{}, []int{0, 1, 2}, nil, nil, nil, false},
		{"detection off before", Outlier{}, on, []int{0, 1, 2}, nil, nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clock fakeClock
			old := New(3, Config{Outlier: tc.oldOut, Now: clock.Now})
			fail(old, 1, 3)
			report(old, 0, 2, Outcome{Status: 500})
			clock.Advance(10 * time.Second) // the new Set's base is later than the old one's
			s := New(len(tc.from), Config{Outlier: tc.newOut, Now: clock.Now})
			s.Inherit(old, tc.from)
			if got := s.Ejected(); !slices.Equal(got, tc.wantAfter) {
				t.Errorf("right after the reload: Ejected = %v, want %v", got, tc.wantAfter)
			}
			clock.Advance(20 * time.Second)
			if got := s.Ejected(); !slices.Equal(got, tc.wantLater) {
				t.Errorf("30s after the ejection: Ejected = %v, want %v", got, tc.wantLater)
			}
			clock.Advance(31 * time.Second)
			if got := s.Ejected(); !slices.Equal(got, tc.wantEnd) {
				t.Errorf("61s after the ejection (base 1m): Ejected = %v, want %v", got, tc.wantEnd)
			}
			if !tc.newOut.on() {
				return
			}
			report(s, 0, 1, Outcome{Status: 500})
			if got := slices.Contains(s.Ejected(), 0); got != tc.runCarried {
				t.Errorf("one more 500 on endpoint 0 ejects it: %v, want %v (its run of 2 carried: %v)", got, tc.runCarried, tc.runCarried)
			}
		})
	}
}

func (o Outlier) on() bool { return normalize(o).on }
