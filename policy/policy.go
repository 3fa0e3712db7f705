package policy

// Policy is everything Decide needs. Immutable once built; safe for
// concurrent use.
type Policy struct {
	Mode     Mode
	Registry *Registry // nil is treated as an empty registry
	Authz    *Authz    // nil means no AuthorizationPolicies
	// DefaultRule and DefaultReason, when set, name what let through a
	// request that no registry entry and no AuthorizationPolicy decided
	// with Mode AllowAny, instead of outboundTrafficPolicy ALLOW_ANY (the
	// ingress policy: its traffic is routed by Gateways, not registered).
	DefaultRule, DefaultReason string
}
