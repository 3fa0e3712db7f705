package balance

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrent runs Pick, Begin and End from several goroutines while
// endpoints fail, get ejected and return on a clock moved by another
// goroutine (meant for -race). Picks must stay in range, the active counts
// must come back to 0, and no more endpoints may be out than the maximum
// percentage allows.
func TestConcurrent(t *testing.T) {
	const n, workers, rounds = 8, 6, 3000
	for _, p := range []Policy{RoundRobin, LeastRequest, Random, ConsistentHash} {
		t.Run(p.String(), func(t *testing.T) {
			clock := &fakeClock{}
			s := New(n, Config{Policy: p, Now: clock.Now, Outlier: Outlier{
				Consecutive5xx: 3, ConsecutiveGatewayErrors: 2, BaseEjection: time.Millisecond, MaxEjectionPercent: 50}})
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			stop := make(chan struct{})
			var tick sync.WaitGroup
			tick.Add(1)
			go func() {
				defer tick.Done()
				for {
					select {
					case <-stop:
						return
					default:
						clock.Advance(100 * time.Microsecond)
						if got := len(s.Ejected()); got > n/2 {
							errs <- fmt.Errorf("%d endpoints ejected, want at most %d (50%%)", got, n/2)
							return
						}
					}
				}
			}()
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range rounds {
						i := s.Pick(uint64(j * (w + 1)))
						if i < 0 || i >= n {
							errs <- fmt.Errorf("Pick = %d, want in [0, %d)", i, n)
							return
						}
						s.Begin(i)
						o := Outcome{Status: 200}
						switch {
						case i%3 == 0: // endpoints 0, 3, 6 always fail
							o = Outcome{Status: 503}
						case j%7 == 0:
							o = Outcome{ConnectFailed: true}
						}
						s.End(i, o)
					}
				}()
			}
			wg.Wait()
			close(stop)
			tick.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for i := range n {
				if got := s.Active(i); got != 0 {
					t.Errorf("endpoint %d: %d active requests after all ended, want 0", i, got)
				}
			}
		})
	}
}
