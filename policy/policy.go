package policy

// Policy is everything Decide needs. Immutable once built.
type Policy struct {
	Mode     Mode
	Registry *Registry
	Authz    *Authz
}

// Decide reports what to do with q. It never blocks, does no I/O and does not allocate.
func (p *Policy) Decide(q Query) Decision { return Decision{Entry: -1} }
