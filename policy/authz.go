package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Authz holds compiled AuthorizationPolicies. Built by NewAuthz; immutable
// and safe for concurrent use. A nil *Authz has no policies.
type Authz struct {
	deny     []rule // every rule of every gateway-wide DENY policy, in order
	allow    []rule // every rule of every gateway-wide ALLOW policy, in order
	hasAllow bool   // a gateway-wide ALLOW policy exists, even one with no rules
	hasFrom  bool   // some rule has a From, so the source address is needed

	// The policies scoped to workloads (AuthzPolicy.Scope), by namespace;
	// anyNS holds those of Scope "*". Only a known source pod looks them up.
	scoped map[string][]scopedPolicy
	anyNS  []scopedPolicy

	// Without identities (no pod table: files only) a namespace's policy
	// without selector applies gateway-wide, as before pods were known:
	// these are deny, allow and hasAllow with those policies in their
	// places. They share the arrays of the above when there are none.
	offDeny, offAllow []rule
	offHasAllow       bool
}

// scopedPolicy is a compiled policy that applies to the pods its selector
// matches.
type scopedPolicy struct {
	selector selector
	allow    bool
	rules    []rule
}

// DefaultTrustDomain is the trust domain of principals unless one is given.
const DefaultTrustDomain = "cluster.local"

// rule is a compiled Rule.
type rule struct {
	filter        // checked first, to reject most rules without their parts
	name   string // "AuthorizationPolicy ns/name rules[i]", for Decision.Rule
	// The sources: when none has notIpBlocks, as ips, the union of their
	// ipBlocks, which is what they match together; else as from.
	ips  []prefix
	from []source
	to   []operation
}

type source struct {
	ipBlocks, notIPBlocks     []prefix
	namespaces, notNamespaces []pattern
	principals, notPrincipals []pattern
	identity                  bool   // some of the four above is set: needs a known pod
	trustDomain               string // of principals
}

type operation struct {
	hosts, notHosts     []hostPattern
	ports, notPorts     []uint32
	methods, notMethods []string
	paths, notPaths     []pattern
	http                bool // sets Methods, Paths or their Not forms
}

// NewAuthz validates and compiles policies. DENY and ALLOW rules keep their
// input order. All problems are reported, one per line, each naming the
// policy, rule and field. Principals are in DefaultTrustDomain.
func NewAuthz(ps []AuthzPolicy) (*Authz, error) {
	return NewAuthzIn(DefaultTrustDomain, ps)
}

// NewAuthzIn is NewAuthz with principals in trustDomain ("" for the
// default).
func NewAuthzIn(trustDomain string, ps []AuthzPolicy) (*Authz, error) {
	if trustDomain == "" {
		trustDomain = DefaultTrustDomain
	}
	a := &Authz{}
	var errs []error
	var offDeny, offAllow []rule
	for i, p := range ps {
		name := p.Name
		if name == "" {
			name = fmt.Sprintf("policies[%d]", i)
		}
		name = "AuthorizationPolicy " + name
		if p.Action != ActionAllow && p.Action != ActionDeny {
			errs = append(errs, fmt.Errorf("%s: unknown action %d", name, p.Action))
			continue
		}
		var rules []rule
		for j, r := range p.Rules {
			c := &compiler{at: fmt.Sprintf("%s rules[%d]", name, j), trustDomain: trustDomain}
			cr := c.rule(r)
			errs = append(errs, c.errs...)
			rules = append(rules, cr)
			a.hasFrom = a.hasFrom || len(cr.ips)+len(cr.from) > 0
		}
		allow := p.Action == ActionAllow
		wide := p.Scope == ""                                 // gateway-wide
		off := wide || p.Scope != "*" && len(p.Selector) == 0 // gateway-wide without identities
		if !wide {
			sp := scopedPolicy{selector: newSelector(p.Selector), allow: allow, rules: rules}
			if p.Scope == "*" {
				a.anyNS = append(a.anyNS, sp)
			} else {
				if a.scoped == nil {
					a.scoped = map[string][]scopedPolicy{}
				}
				a.scoped[p.Scope] = append(a.scoped[p.Scope], sp)
			}
		}
		switch {
		case wide && allow:
			a.hasAllow, a.allow = true, append(a.allow, rules...)
		case wide:
			a.deny = append(a.deny, rules...)
		}
		switch {
		case off && allow:
			a.offHasAllow, offAllow = true, append(offAllow, rules...)
		case off:
			offDeny = append(offDeny, rules...)
		}
	}
	a.offDeny, a.offAllow = a.deny, a.allow
	if len(offDeny) != len(a.deny) {
		a.offDeny = offDeny
	}
	if len(offAllow) != len(a.allow) {
		a.offAllow = offAllow
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// compiler compiles one rule, collecting errors that name the field.
type compiler struct {
	at          string // "AuthorizationPolicy ns/name rules[i]"
	trustDomain string
	errs        []error
}

func (c *compiler) fail(field string, i int, v any, err error) {
	c.errs = append(c.errs, fmt.Errorf("%s.%s[%d]: %v: %w", c.at, field, i, v, err))
}

func (c *compiler) rule(r Rule) rule {
	cr := rule{name: c.at}
	for i, s := range r.From {
		cr.from = append(cr.from, c.source(i, s))
	}
	if !slices.ContainsFunc(cr.from, func(s source) bool { return len(s.notIPBlocks) > 0 || s.identity }) {
		for _, s := range cr.from {
			cr.ips = append(cr.ips, s.ipBlocks...)
		}
		cr.from = nil
	}
	for i, o := range r.To {
		cr.to = append(cr.to, c.operation(i, o))
	}
	cr.filter = newFilter(cr.to)
	return cr
}

func (c *compiler) source(i int, s Source) source {
	f := fmt.Sprintf("from[%d].source", i)
	ids := len(s.Namespaces) + len(s.NotNamespaces) + len(s.Principals) + len(s.NotPrincipals)
	if len(s.IPBlocks) == 0 && len(s.NotIPBlocks) == 0 && ids == 0 {
		c.errs = append(c.errs, fmt.Errorf("%s.%s: must not be empty", c.at, f))
	}
	return source{
		ipBlocks:      c.prefixes(f+".ipBlocks", s.IPBlocks),
		notIPBlocks:   c.prefixes(f+".notIpBlocks", s.NotIPBlocks),
		namespaces:    compileAll(c, f+".namespaces", s.Namespaces, compilePattern),
		notNamespaces: compileAll(c, f+".notNamespaces", s.NotNamespaces, compilePattern),
		principals:    compileAll(c, f+".principals", s.Principals, compilePattern),
		notPrincipals: compileAll(c, f+".notPrincipals", s.NotPrincipals, compilePattern),
		identity:      ids > 0,
		trustDomain:   c.trustDomain,
	}
}

func (c *compiler) prefixes(field string, ps []netip.Prefix) []prefix {
	out := make([]prefix, 0, len(ps))
	for i, p := range ps {
		if !p.IsValid() {
			c.fail(field, i, p, errors.New("invalid prefix"))
			continue
		}
		out = append(out, newPrefix(p))
	}
	return out
}

func (c *compiler) operation(i int, o Operation) operation {
	f := fmt.Sprintf("to[%d].operation.", i)
	if len(o.Hosts)+len(o.NotHosts)+len(o.Ports)+len(o.NotPorts)+
		len(o.Methods)+len(o.NotMethods)+len(o.Paths)+len(o.NotPaths) == 0 {
		c.errs = append(c.errs, fmt.Errorf("%s.%s: must not be empty", c.at, f[:len(f)-1]))
	}
	return operation{
		hosts:      uniq(compileAll(c, f+"hosts", o.Hosts, compileHost)),
		notHosts:   uniq(compileAll(c, f+"notHosts", o.NotHosts, compileHost)),
		ports:      c.ports(f+"ports", o.Ports),
		notPorts:   c.ports(f+"notPorts", o.NotPorts),
		methods:    c.methods(f+"methods", o.Methods),
		notMethods: c.methods(f+"notMethods", o.NotMethods),
		paths:      compileAll(c, f+"paths", o.Paths, compilePath),
		notPaths:   compileAll(c, f+"notPaths", o.NotPaths, compilePath),
		http:       len(o.Methods)+len(o.NotMethods)+len(o.Paths)+len(o.NotPaths) > 0,
	}
}

func compileAll[T any](c *compiler, field string, vs []string, compile func(string) (T, error)) []T {
	out := make([]T, 0, len(vs))
	for i, v := range vs {
		t, err := compile(v)
		if err != nil {
			c.fail(field, i, fmt.Sprintf("%q", v), err)
			continue
		}
		out = append(out, t)
	}
	return out
}

// uniq drops repeated values, keeping the first of each: a host listed as
// both "a.com" and "a.com:*" (as Istio advises) is then matched once.
func uniq[T comparable](vs []T) []T {
	var out []T
	for _, v := range vs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func (c *compiler) ports(field string, ps []uint32) []uint32 {
	for i, p := range ps {
		if p < 1 || p > 65535 {
			c.fail(field, i, p, errors.New("must be 1..65535"))
		}
	}
	return slices.Clone(ps)
}

func (c *compiler) methods(field string, ms []string) []string {
	for i, m := range ms {
		if m == "" {
			c.fail(field, i, `""`, errors.New("empty value"))
		}
	}
	return slices.Clone(ms)
}
