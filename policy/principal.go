package policy

import (
	"strings"

	"github.com/egressgw/egressgw/identity"
)

// matchIdentity reports whether pod (nil: an unknown source) matches the
// namespaces and principals of s: any of the values when set, none of the
// Not values. A source that sets any of them never matches an unknown
// source, Not values included: Istio requires the attribute to be present.
func (s *source) matchIdentity(pod *identity.Pod) bool {
	if !s.identity {
		return true
	}
	if pod == nil {
		return false
	}
	if len(s.namespaces) > 0 && !matchAnyPattern(s.namespaces, pod.Namespace) ||
		matchAnyPattern(s.notNamespaces, pod.Namespace) {
		return false
	}
	if len(s.principals)+len(s.notPrincipals) == 0 {
		return true
	}
	// The principal is matched in its parts, so that no string is built.
	p := principal{s.trustDomain, "/ns/", pod.Namespace, "/sa/", pod.ServiceAccount}
	if len(s.principals) > 0 && !p.matchAny(s.principals) {
		return false
	}
	return !p.matchAny(s.notPrincipals)
}

func matchAnyPattern(ps []pattern, v string) bool {
	for i := range ps {
		if ps[i].match(v) {
			return true
		}
	}
	return false
}

// principal is "<trustDomain>/ns/<namespace>/sa/<serviceAccount>" in parts.
type principal [5]string

func (p *principal) matchAny(ps []pattern) bool {
	for i := range ps {
		if p.match(&ps[i]) {
			return true
		}
	}
	return false
}

func (p *principal) match(pt *pattern) bool {
	switch pt.kind {
	case matchExact:
		return p.len() == len(pt.s) && p.hasPrefix(pt.s)
	case matchPrefix:
		return p.hasPrefix(pt.s)
	case matchSuffix:
		return p.hasSuffix(pt.s)
	default:
		return true // a known pod always has a principal
	}
}

func (p *principal) len() int {
	n := 0
	for _, s := range p {
		n += len(s)
	}
	return n
}

func (p *principal) hasPrefix(s string) bool {
	for _, part := range p {
		if len(s) <= len(part) {
			return strings.HasPrefix(part, s)
		}
		if !strings.HasPrefix(s, part) {
			return false
		}
		s = s[len(part):]
	}
	return s == ""
}

func (p *principal) hasSuffix(s string) bool {
	for i := len(p) - 1; i >= 0; i-- {
		part := p[i]
		if len(s) <= len(part) {
			return strings.HasSuffix(part, s)
		}
		if !strings.HasSuffix(s, part) {
			return false
		}
		s = s[:len(s)-len(part)]
	}
	return s == ""
}
