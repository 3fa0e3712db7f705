package route

// Pick returns the destination that n (in [0, TotalWeight), the caller's
// random number) falls on; n past the total picks the last one. Nil when
// the action has no destination.
func (a *Action) Pick(n uint32) *Destination { return pick(a.Destinations, n) }

// Pick is Action.Pick for a TLS route.
func (r *TLSRoute) Pick(n uint32) *Destination { return pick(r.Destinations, n) }

// Pick is Action.Pick for a TCP route.
func (r *TCPRoute) Pick(n uint32) *Destination { return pick(r.Destinations, n) }

func pick(ds []Destination, n uint32) *Destination {
	if len(ds) == 0 {
		return nil
	}
	for i := range ds {
		if n < ds[i].Weight {
			return &ds[i]
		}
		n -= ds[i].Weight
	}
	return &ds[len(ds)-1]
}
