package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	security "istio.io/api/security/v1beta1"

	"github.com/egressgw/egressgw/policy"
)

// authorizationPolicy compiles an AuthorizationPolicy. One in the root
// namespace or the gateway's own without selector, or whose selector
// matches the gateway's labels, applies gateway-wide. One in another
// namespace without selector applies to requests from that namespace's
// pods, and one whose selector matches no gateway to the pods it selects
// (of its namespace; of every namespace from the root namespace), as their
// sidecars would enforce it.
func (c *compiler) authorizationPolicy(o *object) {
	f, res := o.File, o.Resource()
	var ap security.AuthorizationPolicy
	if err := unmarshalSpec(o.Spec, &ap); err != nil {
		c.r.problem(f, res, "spec", "%v", err)
		return
	}
	if ap.TargetRef != nil || len(ap.TargetRefs) > 0 {
		c.r.warn(f, res, "spec.targetRefs", "not applied: egressgw applies AuthorizationPolicies by selector only")
		return
	}
	sel := ap.Selector.GetMatchLabels()
	egress, ingress := labelsSubset(sel, c.opts.Labels), labelsSubset(sel, c.opts.IngressLabels)
	root := o.Namespace == c.opts.RootNamespace
	scope := "" // gateway-wide
	switch {
	case len(sel) == 0 && (root || o.Namespace == c.opts.Namespace):
	case len(sel) == 0:
		scope = o.Namespace // the namespace's pods; ingress as before
	case egress || ingress:
	case root:
		scope, egress = "*", true // the pods it selects, in every namespace
	default:
		scope, egress = o.Namespace, true
	}
	before := len(c.r.problems)
	out := policy.AuthzPolicy{Name: o.Namespace + "/" + o.Name}
	switch ap.Action {
	case security.AuthorizationPolicy_ALLOW:
		out.Action = policy.ActionAllow
	case security.AuthorizationPolicy_DENY:
		out.Action = policy.ActionDeny
	default:
		c.r.problem(f, res, "spec.action", "%v is not supported (use ALLOW or DENY)", ap.Action)
	}
	if ap.GetProvider() != nil {
		c.r.problem(f, res, "spec.provider", "external authorization (CUSTOM) is not supported")
	}
	for i, rule := range ap.Rules {
		field := fmt.Sprintf("spec.rules[%d]", i)
		if rule == nil {
			out.Rules = append(out.Rules, policy.Rule{})
			continue
		}
		var pr policy.Rule
		for j, from := range rule.From {
			pr.From = append(pr.From, c.authzSource(o, fmt.Sprintf("%s.from[%d].source", field, j), from.GetSource()))
		}
		for j, to := range rule.To {
			pr.To = append(pr.To, c.authzOperation(o, fmt.Sprintf("%s.to[%d].operation", field, j), to.GetOperation()))
		}
		if len(rule.When) > 0 {
			c.r.problem(f, res, field+".when", "when conditions are not supported")
		}
		if out.Action == policy.ActionDeny {
			c.warnBroadDeny(o, field, pr)
		}
		out.Rules = append(out.Rules, pr)
	}
	if len(c.r.problems) > before {
		return
	}
	// Validate host and path patterns now, so problems name the file and field.
	if _, err := policy.NewAuthz([]policy.AuthzPolicy{out}); err != nil {
		prefix := "AuthorizationPolicy " + out.Name + " "
		for _, e := range unjoin(err) {
			msg := strings.TrimPrefix(e.Error(), prefix)
			field, rest, ok := strings.Cut(msg, ": ")
			if !ok || !strings.HasPrefix(field, "rules[") {
				c.r.problem(f, res, "", "%s", msg)
				continue
			}
			c.r.problem(f, res, "spec."+field, "%s", rest)
		}
		return
	}
	if ingress && (scope == "" || len(sel) == 0) {
		c.ingAuthz = append(c.ingAuthz, out)
	}
	if egress {
		if scope != "" {
			out.Scope, out.Selector = scope, sel
		}
		c.authz = append(c.authz, out)
	}
}

// warnBroadDeny warns about a DENY rule that narrows only by HTTP fields:
// on TLS and TCP connections Istio ignores methods and paths in a DENY rule,
// so such a rule refuses every connection.
func (c *compiler) warnBroadDeny(o *object, field string, r policy.Rule) {
	if len(r.From) > 0 {
		return
	}
	for j, op := range r.To {
		httpOnly := len(op.Methods)+len(op.NotMethods)+len(op.Paths)+len(op.NotPaths) > 0
		scoped := len(op.Hosts)+len(op.NotHosts)+len(op.Ports)+len(op.NotPorts) > 0
		if httpOnly && !scoped {
			c.r.warn(o.File, o.Resource(), fmt.Sprintf("%s.to[%d].operation", field, j),
				"methods and paths only apply to HTTP: on TLS and TCP connections this DENY rule ignores them and refuses every connection (Istio semantics); add hosts or ports to scope it")
		}
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func labelsSubset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

const (
	noIdentity = "is not supported: use principals (\"<trustDomain>/ns/<namespace>/sa/<serviceAccount>\", the source pod's, known by its address) or namespaces"
	noJWT      = "needs a request identity (JWT), which egressgw does not see: use ipBlocks"
	noRemoteIP = "needs the original client IP, which egressgw does not see: use ipBlocks"
)

func (c *compiler) authzSource(o *object, field string, s *security.Source) policy.Source {
	f, res := o.File, o.Resource()
	var out policy.Source
	if s == nil {
		c.r.problem(f, res, field, "must not be empty")
		return out
	}
	for _, u := range []struct {
		name string
		set  []string
		msg  string
	}{
		{"serviceAccounts", s.ServiceAccounts, noIdentity}, {"notServiceAccounts", s.NotServiceAccounts, noIdentity},
		{"trustDomains", s.TrustDomains, noIdentity}, {"notTrustDomains", s.NotTrustDomains, noIdentity},
		{"requestPrincipals", s.RequestPrincipals, noJWT}, {"notRequestPrincipals", s.NotRequestPrincipals, noJWT},
		{"remoteIpBlocks", s.RemoteIpBlocks, noRemoteIP}, {"notRemoteIpBlocks", s.NotRemoteIpBlocks, noRemoteIP},
	} {
		if len(u.set) > 0 {
			c.r.problem(f, res, field+"."+u.name, "%s", u.msg)
		}
	}
	if proto.Size(s) == 0 {
		c.r.problem(f, res, field, "must not be empty")
	}
	out.IPBlocks = c.prefixes(o, field+".ipBlocks", s.IpBlocks)
	out.NotIPBlocks = c.prefixes(o, field+".notIpBlocks", s.NotIpBlocks)
	out.Namespaces, out.NotNamespaces = s.Namespaces, s.NotNamespaces
	out.Principals, out.NotPrincipals = s.Principals, s.NotPrincipals
	return out
}

func (c *compiler) prefixes(o *object, field string, ss []string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range ss {
		p, err := parsePrefix(s)
		if err != nil {
			c.r.problem(o.File, o.Resource(), fmt.Sprintf("%s[%d]", field, i), "%q is not an IP address or CIDR", s)
			continue
		}
		out = append(out, p)
	}
	return out
}

// parsePrefix parses "10.0.0.0/8" or a single address (as a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (c *compiler) authzOperation(o *object, field string, op *security.Operation) policy.Operation {
	if op == nil || proto.Size(op) == 0 {
		c.r.problem(o.File, o.Resource(), field, "must not be empty")
		return policy.Operation{}
	}
	return policy.Operation{
		Hosts: op.Hosts, NotHosts: op.NotHosts,
		Ports:    c.ports(o, field+".ports", op.Ports),
		NotPorts: c.ports(o, field+".notPorts", op.NotPorts),
		Methods:  op.Methods, NotMethods: op.NotMethods,
		Paths: op.Paths, NotPaths: op.NotPaths,
	}
}

func (c *compiler) ports(o *object, field string, ss []string) []uint32 {
	var out []uint32
	for i, s := range ss {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n < 1 || n > 65535 {
			c.r.problem(o.File, o.Resource(), fmt.Sprintf("%s[%d]", field, i), "%q is not a port number (1-65535)", s)
			continue
		}
		out = append(out, uint32(n))
	}
	return out
}
