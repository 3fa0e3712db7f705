package balance

// Pick returns the endpoint for a new request or connection: -1 for a Set
// of no endpoints. It skips ejected endpoints; when every endpoint is
// ejected it picks among all of them (Envoy's panic mode). hash is the
// request's key for ConsistentHash (HashString, HashBytes, HashAddr) and
// is ignored by the other policies; a request with no key (no such header
// or cookie) should pass a random hash, as Envoy then picks at random.
func (s *Set) Pick(hash uint64) int {
	n := len(s.eps)
	if n <= 1 {
		return n - 1
	}
	if s.ejected.Load() == 0 {
		return s.pickAll(hash, n)
	}
	return s.pickHealthy(hash, n)
}

// pickAll picks among all n endpoints, the common path: atomics only.
func (s *Set) pickAll(hash uint64, n int) int {
	switch s.policy {
	case LeastRequest:
		a, b := s.two(n)
		if s.eps[b].active.Load() < s.eps[a].active.Load() {
			return b
		}
		return a
	case Random:
		return int(s.rand(uint32(n)))
	case ConsistentHash:
		return jump(hash, n)
	}
	return int((s.rr.Add(1) - 1) % uint32(n))
}

// two returns two different random numbers in [0, n), n >= 2: the
// candidates of LeastRequest. (Envoy draws its two independently, so
// sometimes compares an endpoint with itself; distinct is never worse.)
func (s *Set) two(n int) (int, int) {
	a := int(s.rand(uint32(n)))
	b := int(s.rand(uint32(n - 1)))
	if b >= a {
		b++
	}
	return a, b
}

// pickHealthy picks among the endpoints in service, bringing back those
// whose ejection time has passed; with none in service, among all.
func (s *Set) pickHealthy(hash uint64, n int) int {
	now := s.clock()
	healthy := 0
	for i := range s.eps {
		if s.inService(i, now) {
			healthy++
		}
	}
	if healthy == 0 || healthy == n {
		return s.pickAll(hash, n)
	}
	var k int
	switch s.policy {
	case LeastRequest:
		if healthy == 1 {
			k = 0
			break
		}
		a, b := s.two(healthy)
		ia, ib := s.nth(a, now), s.nth(b, now)
		if ia < 0 || ib < 0 {
			return s.pickAll(hash, n) // the Set changed under us: rare, and any endpoint will do
		}
		if s.eps[ib].active.Load() < s.eps[ia].active.Load() {
			return ib
		}
		return ia
	case Random:
		k = int(s.rand(uint32(healthy)))
	case ConsistentHash:
		// The key's own endpoint if it is in service, so that keys on
		// the endpoints in service never move; otherwise a rehash, a few
		// times, then the key's place among the endpoints in service.
		key := hash
		for range 4 {
			if i := jump(key, n); s.inService(i, now) {
				return i
			}
			key = mix(key + 0x9e3779b97f4a7c15)
		}
		k = int(key % uint64(healthy))
	default:
		k = int((s.rr.Add(1) - 1) % uint32(healthy))
	}
	if i := s.nth(k, now); i >= 0 {
		return i
	}
	return s.pickAll(hash, n)
}

// inService reports whether endpoint i is in service at now, bringing it
// back if its ejection time has passed.
func (s *Set) inService(i int, now int64) bool {
	u := s.eps[i].until.Load()
	if u == 0 {
		return true
	}
	if now < u {
		return false
	}
	s.returnOne(i, u, now)
	return true
}

// nth is the index of the k-th endpoint in service (from 0), or -1 if
// there are no more than k of them (they changed since they were counted).
func (s *Set) nth(k int, now int64) int {
	for i := range s.eps {
		if u := s.eps[i].until.Load(); u == 0 || now >= u {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return -1
}
