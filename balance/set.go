package balance

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Policy is how a Set chooses among its endpoints. A value not listed
// here picks as RoundRobin.
type Policy uint8

const (
	// RoundRobin takes the endpoints in turn (Istio's ROUND_ROBIN, and
	// PASSTHROUGH, which the caller maps here: the endpoints are the
	// addresses the request asked for).
	RoundRobin Policy = iota
	// LeastRequest takes the less busy of two endpoints chosen at random
	// (Envoy's power of two choices, its default choice count; Istio's
	// LEAST_REQUEST, and Istio's default when a DestinationRule sets no
	// loadBalancer: the caller must say so, the zero Policy is RoundRobin).
	LeastRequest
	// Random takes an endpoint at random (Istio's RANDOM).
	Random
	// ConsistentHash maps the hash passed to Pick to an endpoint, the same
	// one for the same hash in every Set of the same size (Istio's
	// consistentHash; ringHash and maglev are both served by a jump hash).
	ConsistentHash
)

// String is the policy's Istio name.
func (p Policy) String() string {
	switch p {
	case RoundRobin:
		return "ROUND_ROBIN"
	case LeastRequest:
		return "LEAST_REQUEST"
	case Random:
		return "RANDOM"
	case ConsistentHash:
		return "CONSISTENT_HASH"
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// Config is a Set's behaviour. Now and Rand have defaults.
type Config struct {
	Policy  Policy
	Outlier Outlier
	// Now is the clock (default time.Now). It must be safe for concurrent
	// use and never go backwards much: ejection times are measured on it.
	Now func() time.Time
	// Rand returns a number in [0, n) for n > 0 (default
	// math/rand/v2.Uint32N). It must be safe for concurrent use.
	Rand func(n uint32) uint32
}

// Set balances one cluster's endpoints. Its configuration is immutable
// after New; the per-endpoint counters are atomics; mu guards ejections,
// returns and each endpoint's backoff.
type Set struct {
	eps    []endpoint
	policy Policy
	out    outlier // normalized Config.Outlier
	now    func() time.Time
	rand   func(n uint32) uint32
	base   time.Time // times are kept as nanoseconds since base (monotonic when Now is time.Now)

	_       [64]byte // rr is written on every RoundRobin pick; keep it off the lines read by all
	rr      atomic.Uint32
	_       [60]byte
	ejected atomic.Int32 // endpoints ejected (returning lazily: some may be past their time)

	mu sync.Mutex
}

// endpoint is one endpoint's state, padded to its own cache line: Begin
// and End write it on every request.
type endpoint struct {
	active  atomic.Int64  // requests begun and not ended
	fail5xx atomic.Uint32 // consecutive 5xx (and connect failures, resets)
	failGw  atomic.Uint32 // consecutive 502, 503, 504 (and connect failures, resets)
	until   atomic.Int64  // ejected until this time (ns since Set.base); 0: not ejected

	// guarded by Set.mu
	backoff  int64 // Envoy's ejection multiplier: +1 per ejection, -1 per interval spent in service
	returned int64 // when it last returned to service (ns since Set.base)

	_ [24]byte
}

// New returns a Set of n endpoints (indexes 0..n-1) balanced as cfg says.
// A Set of no endpoints picks -1.
func New(n int, cfg Config) *Set {
	if n < 0 {
		n = 0
	}
	s := &Set{
		eps:    make([]endpoint, n),
		policy: cfg.Policy,
		out:    normalize(cfg.Outlier),
		now:    cfg.Now,
		rand:   cfg.Rand,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Uint32N
	}
	s.base = s.now()
	return s
}

// Len is the number of endpoints.
func (s *Set) Len() int { return len(s.eps) }

// Begin counts one request (or connection) on endpoint i as active, for
// LeastRequest. Every Begin must be followed by one End.
func (s *Set) Begin(i int) { s.eps[i].active.Add(1) }

// Active is the number of requests begun on endpoint i and not ended.
func (s *Set) Active(i int) int { return int(s.eps[i].active.Load()) }

// clock is the time since s.base in nanoseconds, never below 0.
func (s *Set) clock() int64 {
	return max(int64(s.now().Sub(s.base)), 0)
}
