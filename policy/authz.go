package policy

import "errors"

// Authz holds compiled AuthorizationPolicies. Built by NewAuthz.
type Authz struct{}

// NewAuthz compiles policies. Placeholder until authz lands.
func NewAuthz(ps []AuthzPolicy) (*Authz, error) { return nil, errors.New("authz: not built yet") }
