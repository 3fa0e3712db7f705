package balance

import "time"

// Outlier is outlier detection as Istio's DestinationRule
// trafficPolicy.outlierDetection configures it in Envoy. The zero value
// is detection off. A threshold of 0 turns that detector off; with at
// least one threshold set, a zero Interval, BaseEjection or
// MaxEjectionPercent takes Envoy's default (10s, 30s, 10%). Istio's own
// default of 5 for consecutive5xxErrors when outlierDetection is present
// but leaves it out is the caller's to fill in (DefaultConsecutive5xx).
// Validating the fields is the config layer's job: here a negative count
// is 0 and a percentage above 100 is 100.
type Outlier struct {
	// Consecutive5xx ejects an endpoint after this many 5xx responses,
	// connect failures or resets in a row (consecutive5xxErrors).
	Consecutive5xx int
	// ConsecutiveGatewayErrors ejects an endpoint after this many 502,
	// 503, 504 responses, connect failures or resets in a row
	// (consecutiveGatewayErrors).
	ConsecutiveGatewayErrors int
	// Interval is how often Envoy sweeps; here it only paces the decay of
	// an endpoint's ejection multiplier (one step per interval spent in
	// service).
	Interval time.Duration
	// BaseEjection is the first ejection's length; the n-th ejection in a
	// row lasts n times as long, at most max(MaxEjection, BaseEjection).
	BaseEjection time.Duration
	// MaxEjectionPercent bounds the share of endpoints ejected at once: an
	// endpoint is ejected only if, with it, no more than this percentage
	// of the Set is ejected (Envoy's rule; with Istio's default of 10%, a
	// Set of fewer than 10 endpoints ejects none).
	MaxEjectionPercent int
	// AlwaysEjectOne lets one endpoint be ejected whatever
	// MaxEjectionPercent says (Envoy's always_eject_one_host, which Istio
	// leaves off).
	AlwaysEjectOne bool
}

// Defaults of Istio and Envoy for outlierDetection's fields left out.
const (
	DefaultConsecutive5xx     = 5
	DefaultInterval           = 10 * time.Second
	DefaultBaseEjection       = 30 * time.Second
	DefaultMaxEjectionPercent = 10
	// MaxEjection is Envoy's max_ejection_time default, which Istio does
	// not set: the longest an ejection lasts unless BaseEjection is longer.
	MaxEjection = 300 * time.Second
)

// outlier is an Outlier with its defaults applied, in nanoseconds.
type outlier struct {
	on         bool
	c5xx, cgw  uint32
	interval   int64
	base       int64
	max        int64 // the longest ejection
	maxPercent int
	alwaysOne  bool
}

func normalize(o Outlier) outlier {
	n := outlier{
		c5xx:       uint32(max(o.Consecutive5xx, 0)),
		cgw:        uint32(max(o.ConsecutiveGatewayErrors, 0)),
		interval:   int64(o.Interval),
		base:       int64(o.BaseEjection),
		maxPercent: min(o.MaxEjectionPercent, 100),
		alwaysOne:  o.AlwaysEjectOne,
	}
	n.on = n.c5xx > 0 || n.cgw > 0
	if n.interval <= 0 {
		n.interval = int64(DefaultInterval)
	}
	if n.base <= 0 {
		n.base = int64(DefaultBaseEjection)
	}
	if n.maxPercent <= 0 {
		n.maxPercent = DefaultMaxEjectionPercent
	}
	n.max = max(int64(MaxEjection), n.base)
	return n
}

// Outcome is how one request on an endpoint ended, for outlier detection.
type Outcome struct {
	// Status is the response's status code, 0 if there was none. A
	// response timeout is reported as 504 (Envoy counts its own timeouts so).
	Status int
	// ConnectFailed: no connection could be made to the endpoint.
	ConnectFailed bool
	// Reset: the connection or stream was reset or closed before a
	// response. Like ConnectFailed it counts as a 503 (Envoy's mapping of
	// local-origin errors when they are not split out, Istio's default).
	Reset bool
}

// classify says whether o counts as a 5xx and as a gateway error; ok is
// false for an outcome that says nothing of the endpoint (no status and no
// failure: the client went away first).
func classify(o Outcome) (is5xx, gateway, ok bool) {
	switch {
	case o.ConnectFailed || o.Reset:
		return true, true, true
	case o.Status >= 500 && o.Status <= 599:
		return true, o.Status >= 502 && o.Status <= 504, true
	case o.Status > 0:
		return false, false, true
	}
	return false, false, false
}

// End closes a request begun on endpoint i and reports its outcome: a
// success resets the endpoint's consecutive-error counts, a failure
// counts, and reaching a threshold ejects the endpoint (if the maximum
// ejection percentage allows it; the counts start again either way).
func (s *Set) End(i int, o Outcome) {
	e := &s.eps[i]
	e.active.Add(-1)
	if !s.out.on {
		return
	}
	is5xx, gateway, ok := classify(o)
	if !ok {
		return
	}
	if !is5xx {
		// Loads first: no write (and no cache line taken) when already 0.
		if e.fail5xx.Load() != 0 {
			e.fail5xx.Store(0)
		}
		if e.failGw.Load() != 0 {
			e.failGw.Store(0)
		}
		return
	}
	eject := false
	if gateway {
		if c := e.failGw.Add(1); c == s.out.cgw && c != 0 {
			eject = true
		}
	} else if e.failGw.Load() != 0 {
		e.failGw.Store(0) // a 500 breaks a run of gateway errors, as in Envoy
	}
	if c := e.fail5xx.Add(1); c == s.out.c5xx && c != 0 {
		eject = true
	}
	if eject {
		s.eject(i)
	}
}

// eject takes endpoint i out of service if the maximum ejection
// percentage allows, for BaseEjection times its backoff.
func (s *Set) eject(i int) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &s.eps[i]
	e.fail5xx.Store(0)
	e.failGw.Store(0)
	s.returnLocked(now) // count only the endpoints still out
	if e.until.Load() != 0 {
		return // already out (its failures were in flight when it was ejected)
	}
	out := int(s.ejected.Load())
	if (out+1)*100 > s.out.maxPercent*len(s.eps) && !(s.out.alwaysOne && out == 0) {
		return
	}
	if e.backoff > 0 {
		// Envoy lowers the multiplier by one at each interval sweep that
		// finds the endpoint in service.
		e.backoff = max(e.backoff-(now-e.returned)/s.out.interval, 0)
	}
	e.backoff++
	d := s.out.max
	if e.backoff <= s.out.max/s.out.base { // base*backoff <= max, without overflow
		d = s.out.base * e.backoff
	}
	e.until.Store(now + max(d, 1))
	s.ejected.Add(1)
}

// returnLocked brings back every endpoint whose ejection time has passed
// at now. s.mu must be held.
func (s *Set) returnLocked(now int64) {
	if s.ejected.Load() == 0 {
		return
	}
	for i := range s.eps {
		e := &s.eps[i]
		if u := e.until.Load(); u != 0 && now >= u {
			e.until.Store(0)
			e.returned = now
			s.ejected.Add(-1)
		}
	}
}

// returnOne brings endpoint i back if it is still out with the ejection
// time until, which has passed.
func (s *Set) returnOne(i int, until, now int64) {
	s.mu.Lock()
	e := &s.eps[i]
	if e.until.Load() == until {
		e.until.Store(0)
		e.returned = now
		s.ejected.Add(-1)
	}
	s.mu.Unlock()
}

// Ejected returns the indexes of the endpoints out of service now, in
// order (for /config_dump and tests).
func (s *Set) Ejected() []int {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.returnLocked(now)
	var out []int
	for i := range s.eps {
		if s.eps[i].until.Load() != 0 {
			out = append(out, i)
		}
	}
	return out
}
