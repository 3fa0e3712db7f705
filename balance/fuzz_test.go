package balance

import (
	"slices"
	"testing"
	"time"
)

// FuzzSet drives a Set through a sequence of picks, outcomes and clock
// moves read from the input and checks what must always hold: picks in
// range, never an ejected endpoint while one is in service, no more
// endpoints out than the maximum percentage allows, active counts back to
// 0. Run by scripts/test.sh's fuzz section with a budget in executions.
func FuzzSet(f *testing.F) {
	f.Add([]byte{0, 4, 2, 2, 50, 0, 1, 1, 1, 1, 0, 2, 3, 0})
	f.Add([]byte{1, 9, 1, 3, 10, 1, 1, 1, 5, 5, 5, 2, 2, 2, 0, 0, 3})
	f.Add([]byte{3, 2, 1, 0, 100, 1, 1, 1, 1, 0, 0, 2, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 5 {
			return
		}
		clock := &fakeClock{}
		n := int(data[1]%16) + 1
		o := Outlier{
			Consecutive5xx:           int(data[2] % 4),
			ConsecutiveGatewayErrors: int(data[3] % 4),
			BaseEjection:             time.Duration(data[2]%8) * time.Second,
			Interval:                 time.Duration(data[3]%8) * time.Second,
			MaxEjectionPercent:       int(data[4]) % 120,
			AlwaysEjectOne:           data[4]&0x80 != 0,
		}
		s := New(n, Config{Policy: Policy(data[0] % 5), Outlier: o, Now: clock.Now, Rand: fixedRand(uint64(data[0]))})
		maxOut := normalize(o).maxPercent * n / 100
		if o.AlwaysEjectOne {
			maxOut = max(maxOut, 1)
		}
		outcomes := []Outcome{{Status: 200}, {Status: 500}, {Status: 503}, {ConnectFailed: true}, {Reset: true}, {}, {Status: 404}, {Status: 504}}
		for j, b := range data[5:] {
			switch b % 4 {
			case 0, 1:
				i := s.Pick(uint64(b) * uint64(j+1))
				if i < 0 || i >= n {
					t.Fatalf("Pick = %d, want in [0, %d)", i, n)
				}
				if out := s.Ejected(); len(out) < n && slices.Contains(out, i) {
					t.Fatalf("Pick = %d, ejected (%v) while others are in service", i, out)
				}
				s.Begin(i)
				s.End(i, outcomes[int(b>>2)%len(outcomes)])
			case 2:
				clock.Advance(time.Duration(b>>2) * time.Second)
			case 3:
				if out := s.Ejected(); len(out) > maxOut {
					t.Fatalf("%d endpoints ejected (%v), want at most %d", len(out), out, maxOut)
				}
			}
		}
		for i := range n {
			if got := s.Active(i); got != 0 {
				t.Fatalf("endpoint %d: %d active, want 0", i, got)
			}
		}
	})
}
