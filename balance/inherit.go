package balance

// Inherit carries the outlier state of old's endpoints into s, a Set not
// yet in use that replaces old after a configuration reload (Envoy keeps a
// host's state across cluster updates that keep the host): from[i] is the
// index in old of s's endpoint i, or -1 for an endpoint old did not have.
// An ejected endpoint stays out until the end of the ejection it is in;
// its ejection multiplier and its runs of consecutive errors carry over
// too. It does nothing when either Set has outlier detection off. s must
// not be in use yet; old may be (its state is read as it is now).
func (s *Set) Inherit(old *Set, from []int) {
	if old == nil || !s.out.on || !old.out.on {
		return
	}
	now := old.clock()
	shift := int64(old.base.Sub(s.base)) // old's times, in ns since s.base
	old.mu.Lock()
	defer old.mu.Unlock()
	for i, j := range from {
		if i >= len(s.eps) || j < 0 || j >= len(old.eps) {
			continue
		}
		o, e := &old.eps[j], &s.eps[i]
		e.fail5xx.Store(o.fail5xx.Load())
		e.failGw.Store(o.failGw.Load())
		e.backoff = o.backoff
		e.returned = o.returned + shift
		if u := o.until.Load(); u != 0 && u > now {
			e.until.Store(max(u+shift, 1))
			s.ejected.Add(1)
		}
	}
}
