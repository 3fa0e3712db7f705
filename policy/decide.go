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
	if p != nil {
		reg, az, mode = p.Registry, p.Authz, p.Mode
	}

	d := Decision{Entry: -1}
	host := q.Host
	i, ok, registered := reg.find(q.Host, q.Port)
	switch {
	case ok && q.Port != 0:
		e := &reg.entries[i]
		d.Entry, d.Rule, d.Reason = i, e.Source, reasonRegistered
		if e.AuthzHost != "" {
			host = e.AuthzHost
		}
	case mode != AllowAny:
		d.Rule, d.Reason = ruleRegistryOnly, reasonNotRegistered
		if registered {
			d.Reason = reasonWrongPort
		}
		return d
	default:
		d.Rule, d.Reason = ruleAllowAny, reasonAllowAny
	}
	if az == nil {
		d.Allow = true
		return d
	}
	az.decide(&d, &q, host)
	return d
}

// decide applies DENY, then ALLOW policies to a request the registry let
// through, updating d.
func (a *Authz) decide(d *Decision, q *Query, host string) {
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	req := request{q: q, host: host, fold: hasUpper(host), src: q.Source.Unmap()}
	for i := range a.deny {
		if r := &a.deny[i]; r.match(&req, true) {
			d.Rule, d.Reason = r.name, reasonDenyRule
			return
		}
	}
	if !a.hasAllow {
		d.Allow = true
		return
	}
	for i := range a.allow {
		if r := &a.allow[i]; r.match(&req, false) {
			d.Allow, d.Rule, d.Reason = true, r.name, reasonAllowRule
			return
		}
	}
	d.Rule, d.Reason = ruleAuthz, reasonNoAllowRule
}
