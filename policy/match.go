package policy

import (
	"slices"

	"github.com/egressgw/egressgw/identity"
)

// request is what rules are matched against, prepared once per decision.
type request struct {
	q     *Query
	host  string        // authorization host, without a trailing dot, in any case
	words [2]uint64     // hostWords of host, by hostPattern.side
	src   addr          // q.Source, unmapped; only set when a rule has a From
	f     filter        // host and port, as in rule.filter
	pod   *identity.Pod // q.Pod when q.Identities, else nil (an unknown source)
}

// firstMatch returns the first of rules that matches, or nil: a rule
// matches when any From and any To do, each when present. deny selects
// Istio's handling of HTTP-only fields for non-HTTP traffic.
//
// This runs for every decision, for every rule, so the loops are written
// out in one function, cheapest checks first: most rules are rejected with
// a few compares and no call.
func firstMatch(rules []rule, req *request, deny bool) *rule {
	q, a := req.q, &req.src
	for i := range rules {
		r := &rules[i]
		if !r.filter.may(&req.f) ||
			len(r.ips) > 0 && !containsAddr(r.ips, a) || len(r.from) > 0 && !matchFrom(r.from, req) {
			continue
		}
		if len(r.to) == 0 {
			return r
		}
	ops:
		for j := range r.to {
			// Every set field of the operation must match. For a non-HTTP
			// request, an ALLOW operation that uses HTTP-only fields does
			// not match and a DENY operation ignores them.
			o := &r.to[j]
			if o.http && !q.HTTP && !deny ||
				len(o.ports) > 0 && !slices.Contains(o.ports, q.Port) ||
				len(o.notPorts) > 0 && slices.Contains(o.notPorts, q.Port) {
				continue
			}
			// Any of its hosts, and none of its notHosts: patterns whose word
			// fits (nextHost, inlined), then the rest of the comparison.
			host := len(o.hosts) == 0
			for k := nextHost(o.hosts, 0, req); !host && k < len(o.hosts); k = nextHost(o.hosts, k+1, req) {
				host = o.hosts[k].simple || o.hosts[k].matchRest(req)
			}
			if !host {
				continue
			}
			for k := nextHost(o.notHosts, 0, req); k < len(o.notHosts); k = nextHost(o.notHosts, k+1, req) {
				if o.notHosts[k].simple || o.notHosts[k].matchRest(req) {
					continue ops
				}
			}
			if !o.http || !q.HTTP || o.matchHTTP(q) {
				return r
			}
		}
	}
	return nil
}

func matchFrom(ss []source, req *request) bool {
	a := &req.src
	for i := range ss {
		s := &ss[i]
		if (len(s.ipBlocks) == 0 || containsAddr(s.ipBlocks, a)) && !containsAddr(s.notIPBlocks, a) &&
			s.matchIdentity(req.pod) {
			return true
		}
	}
	return false
}

func containsAddr(ps []prefix, a *addr) bool {
	for i := range ps {
		if ps[i].contains(a) {
			return true
		}
	}
	return false
}

// matchHTTP reports whether the HTTP-only fields of o match.
func (o *operation) matchHTTP(q *Query) bool {
	return (len(o.methods) == 0 || slices.Contains(o.methods, q.Method)) &&
		!slices.Contains(o.notMethods, q.Method) &&
		(len(o.paths) == 0 || matchPath(o.paths, q.Path)) &&
		!matchPath(o.notPaths, q.Path)
}

func matchPath(ps []pattern, path string) bool {
	for i := range ps {
		if ps[i].match(path) {
			return true
		}
	}
	return false
}
