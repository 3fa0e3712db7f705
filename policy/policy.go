package policy

// Policy is everything Decide needs. Immutable once built; safe for
// concurrent use.
type Policy struct {
	Mode     Mode
	Registry *Registry // nil is treated as an empty registry
	Authz    *Authz    // nil means no AuthorizationPolicies
}
