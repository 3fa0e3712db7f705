package policy

import "github.com/egressgw/egressgw/identity"

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
	// Sidecars apply per source pod (queries with Identities): the
	// outbound traffic policy and the hosts a pod's namespace sees. Nil:
	// none.
	Sidecars *Sidecars
}

// Intercepts reports whether DNS name is registered on any port: the
// registry's answer, for a source whose pod is not looked up.
func (p *Policy) Intercepts(name string) bool {
	if p == nil {
		return false
	}
	return p.Registry.Intercepts(name)
}

// InterceptsFor reports whether DNS name is registered on any port for a
// client in pod (nil: an unknown source, which sees only what is exported
// to every namespace), and whether a name it does not see may be resolved
// upstream (the outbound traffic policy that applies to the pod: its
// Sidecar's, else Mode).
func (p *Policy) InterceptsFor(name string, pod *identity.Pod) (intercept, allowAny bool) {
	if p == nil {
		return false, false
	}
	q := Query{Host: name, Identities: true, Pod: pod}
	v, mode := p.view(&q)
	host, valid := cleanName(name)
	if valid && p.Registry != nil {
		v.name = host
		_, intercept, _ = p.Registry.hosts.find(host, 0, v.orNil())
	}
	return intercept, mode == AllowAny
}

// view returns what q's source sees of the registry (a viewer whose name
// is still to be set) and the outbound traffic policy that applies to it.
func (p *Policy) view(q *Query) (viewer, Mode) {
	v := viewer{reg: p.Registry}
	mode := p.Mode
	if !q.Identities {
		return v, mode
	}
	if q.Pod != nil {
		v.ns = q.Pod.Namespace
		if v.sc = p.Sidecars.forPod(q.Pod); v.sc != nil && v.sc.hasMode {
			mode = v.sc.mode
		}
	}
	v.on = v.sc != nil || p.Registry != nil && p.Registry.scoped
	return v, mode
}
