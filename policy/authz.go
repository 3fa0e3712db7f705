package policy

// Authz holds compiled AuthorizationPolicies. Built by NewAuthz.
type Authz struct{}
