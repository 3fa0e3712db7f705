package policy

import (
	"net/netip"
	"slices"
)

// request is what rules are matched against, prepared once per Decide.
type request struct {
	q    *Query
	host string     // authorization host, without a trailing dot
	fold bool       // host has upper-case letters
	src  netip.Addr // q.Source, unmapped
}

// match reports whether r matches: any From and any To, each when present.
// deny selects Istio's handling of HTTP-only fields for non-HTTP traffic.
func (r *rule) match(req *request, deny bool) bool {
	return r.matchFrom(req.src) && r.matchTo(req, deny)
}

func (r *rule) matchFrom(a netip.Addr) bool {
	for i := range r.from {
		if r.from[i].match(a) {
			return true
		}
	}
	return len(r.from) == 0
}

func (r *rule) matchTo(req *request, deny bool) bool {
	for i := range r.to {
		if r.to[i].match(req, deny) {
			return true
		}
	}
	return len(r.to) == 0
}

func (s *source) match(a netip.Addr) bool {
	if len(s.ipBlocks) > 0 && !containsAddr(s.ipBlocks, a) {
		return false
	}
	return !containsAddr(s.notIPBlocks, a)
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// match reports whether every set field of o matches. For a non-HTTP
// request, an ALLOW operation that uses HTTP-only fields does not match and
// a DENY operation ignores them.
func (o *operation) match(req *request, deny bool) bool {
	q := req.q
	if o.http && !q.HTTP && !deny {
		return false
	}
	if len(o.hosts) > 0 && !matchHost(o.hosts, req) {
		return false
	}
	if matchHost(o.notHosts, req) {
		return false
	}
	if len(o.ports) > 0 && !slices.Contains(o.ports, q.Port) {
		return false
	}
	if slices.Contains(o.notPorts, q.Port) {
		return false
	}
	if !q.HTTP {
		return true
	}
	if len(o.methods) > 0 && !slices.Contains(o.methods, q.Method) {
		return false
	}
	if slices.Contains(o.notMethods, q.Method) {
		return false
	}
	if len(o.paths) > 0 && !matchPath(o.paths, q.Path) {
		return false
	}
	return !matchPath(o.notPaths, q.Path)
}

func matchHost(hs []hostPattern, req *request) bool {
	for i := range hs {
		if hs[i].match(req.host, req.q.Port, req.fold) {
			return true
		}
	}
	return false
}

func matchPath(ps []pattern, path string) bool {
	for i := range ps {
		if ps[i].match(path) {
			return true
		}
	}
	return false
}
