package servercert

import (
	"testing"
	"time"
)

// TestLogLimiter: one line a second; the next one let through counts
// those held back.
func TestLogLimiter(t *testing.T) {
	var l logLimiter
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		at          time.Duration
		wantOK      bool
		wantDropped uint64
	}{
		{0, true, 0},
		{100 * time.Millisecond, false, 0},
		{900 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{time.Second + time.Millisecond, false, 0},
		{3 * time.Second, true, 1},
	} {
		n, ok := l.allow(t0.Add(tc.at))
		if ok != tc.wantOK || n != tc.wantDropped {
			t.Errorf("at %s: got (%d, %v), want (%d, %v)", tc.at, n, ok, tc.wantDropped, tc.wantOK)
		}
	}
}
