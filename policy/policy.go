package policy

// Policy is everything Decide needs. Immutable once built.
type Policy struct {
	Mode     Mode
	Registry *Registry
	Authz    *Authz
}
