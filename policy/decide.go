package policy

// Rules and reasons of the decisions Decide makes itself.
const (
	ruleRegistryOnly = "outboundTrafficPolicy REGISTRY_ONLY"
	ruleAllowAny     = "outboundTrafficPolicy ALLOW_ANY"
	ruleAuthz        = "AuthorizationPolicy"

	reasonNotRegistered = "host is not registered by any ServiceEntry or ExternalName Service"
	reasonWrongPort     = "host is registered, but not on this port"
	reasonDenyRule      = "denied by an AuthorizationPolicy DENY rule"
	reasonNoAllowRule   = "no ALLOW AuthorizationPolicy rule matches"
	reasonAllowRule     = "allowed by an AuthorizationPolicy ALLOW rule"
	reasonRegistered    = "host is registered and no AuthorizationPolicy denies it"
	reasonAllowAny      = "host is not registered; outboundTrafficPolicy ALLOW_ANY lets it through"
)

// Decide reports what to do with q, in Istio's order: the registry (and the
// outbound traffic policy), then DENY policies, then ALLOW policies. It never
// blocks, does no I/O and does not allocate. A nil Policy denies everything.
func (p *Policy) Decide(q Query) Decision {
	var reg *Registry
	var az *Authz
	mode := RegistryOnly
	var sc *sidecar // the source pod's Sidecar, when it sets the mode
	var vw viewer
	if p != nil {
		reg, az, mode = p.Registry, p.Authz, p.Mode
		if q.Identities {
			vw, mode = p.view(&q)
			if vw.sc != nil && vw.sc.hasMode {
				sc = vw.sc
			}
		}
	}

	// The host is trimmed once, for both the registry and the authorization
	// policies.
	host, valid := cleanName(q.Host)
	i, ok, registered := -1, false, false
	if valid && reg != nil {
		var v *viewer
		if vw.on {
			vw.name, v = host, &vw
		}
		i, ok, registered = reg.hosts.find(host, q.Port, v)
	}
	entry, rule, reason := -1, ruleAllowAny, reasonAllowAny
	switch {
	case p != nil && p.DefaultRule != "":
		rule, reason = p.DefaultRule, p.DefaultReason
	case sc != nil:
		rule = sc.ruleAllowAny
	}
	switch {
	case ok && q.Port != 0:
		e := &reg.entries[i]
		entry, rule, reason = i, e.Source, reasonRegistered
		if e.AuthzHost != "" {
			host = trimDot(e.AuthzHost) // an ExternalName may end with a dot
		}
	case mode != AllowAny:
		reason = reasonNotRegistered
		if registered {
			reason = reasonWrongPort
		}
		rule = ruleRegistryOnly
		if sc != nil {
			rule = sc.ruleRegistryOnly
		}
		return Decision{Entry: -1, Rule: rule, Reason: reason}
	}
	// Decision is returned from values rather than built in a variable whose
	// address is taken: copying such a variable out costs a store-forwarding
	// stall on the hot path.
	if az == nil {
		return Decision{Allow: true, Entry: entry, Rule: rule, Reason: reason}
	}
	allow, r, why := az.decide(&q, host)
	if r != "" {
		rule, reason = r, why
	}
	return Decision{Allow: allow, Entry: entry, Rule: rule, Reason: reason}
}

// decide applies DENY, then ALLOW policies to a request the registry let
// through: the gateway-wide ones, and those scoped to the source pod's
// namespace that select it. host is the authorization host without its
// trailing dot. An empty rule means that no policy decided and the request
// is allowed.
func (a *Authz) decide(q *Query, host string) (allow bool, rule, reason string) {
	// The request is filled in field by field: a request returned by a
	// function would be copied, and the CPU would stall for the copy.
	req := request{q: q, host: host}
	req.words[0], req.words[1] = hostWords(host)
	req.f = requestFilter(host, byte(req.words[0]>>56), q.Port)
	if a.hasFrom {
		req.src = newAddr(q.Source.Unmap())
	}
	if q.Identities {
		return a.decideFor(&req)
	}
	if r := firstMatch(a.offDeny, &req, true); r != nil {
		return false, r.name, reasonDenyRule
	}
	if !a.offHasAllow {
		return true, "", ""
	}
	if r := firstMatch(a.offAllow, &req, false); r != nil {
		return true, r.name, reasonAllowRule
	}
	return false, ruleAuthz, reasonNoAllowRule
}

// decideFor is decide for a query with Identities: the source pod (nil:
// unknown) is matched by namespaces and principals, and the policies
// scoped to its namespace that select it apply too.
func (a *Authz) decideFor(req *request) (allow bool, rule, reason string) {
	req.pod = req.q.Pod
	if r := firstMatch(a.deny, req, true); r != nil {
		return false, r.name, reasonDenyRule
	}
	hasAllow := a.hasAllow
	var own []scopedPolicy // the policies of the pod's namespace
	scoped := req.pod != nil && (a.scoped != nil || a.anyNS != nil)
	if scoped {
		own = a.scoped[req.pod.Namespace]
		for _, ps := range [2][]scopedPolicy{own, a.anyNS} {
			for i := range ps {
				sp := &ps[i]
				if !sp.selector.matches(req.pod.Labels) {
					continue
				}
				if sp.allow {
					hasAllow = true
				} else if r := firstMatch(sp.rules, req, true); r != nil {
					return false, r.name, reasonDenyRule
				}
			}
		}
	}
	if !hasAllow {
		return true, "", ""
	}
	if r := firstMatch(a.allow, req, false); r != nil {
		return true, r.name, reasonAllowRule
	}
	if scoped {
		for _, ps := range [2][]scopedPolicy{own, a.anyNS} {
			for i := range ps {
				sp := &ps[i]
				if sp.allow && sp.selector.matches(req.pod.Labels) {
					if r := firstMatch(sp.rules, req, false); r != nil {
						return true, r.name, reasonAllowRule
					}
				}
			}
		}
	}
	return false, ruleAuthz, reasonNoAllowRule
}
