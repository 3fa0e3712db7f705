package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A pattern is an Istio string match: exact, "prefix*", "*suffix" or "*".
type pattern struct {
	kind patternKind
	s    string // without the "*"
}

type patternKind uint8

const (
	matchExact patternKind = iota
	matchPrefix
	matchSuffix
	matchAny
)

func compilePattern(v string) (pattern, error) {
	switch n := strings.Count(v, "*"); {
	case v == "":
		return pattern{}, errors.New("empty value")
	case v == "*":
		return pattern{kind: matchAny}, nil
	case n == 0:
		return pattern{kind: matchExact, s: v}, nil
	case n == 1 && v[0] == '*':
		return pattern{kind: matchSuffix, s: v[1:]}, nil
	case n == 1 && v[len(v)-1] == '*':
		return pattern{kind: matchPrefix, s: v[:len(v)-1]}, nil
	default:
		return pattern{}, errors.New(`"*" is only allowed at the start or the end`)
	}
}

// match reports whether v matches, case-sensitively.
func (p *pattern) match(v string) bool {
	switch p.kind {
	case matchExact:
		return v == p.s
	case matchPrefix:
		return strings.HasPrefix(v, p.s)
	case matchSuffix:
		return strings.HasSuffix(v, p.s)
	default:
		return true
	}
}

// matchFold reports whether v matches, ignoring ASCII case; p.s is lowercase.
func (p *pattern) matchFold(v string) bool {
	switch p.kind {
	case matchExact:
		return len(v) == len(p.s) && equalFold(v, p.s)
	case matchPrefix:
		return len(v) >= len(p.s) && equalFold(v[:len(p.s)], p.s)
	case matchSuffix:
		return len(v) >= len(p.s) && equalFold(v[len(v)-len(p.s):], p.s)
	default:
		return true
	}
}

// equalFold compares s and lower (lowercase) of equal length, ignoring ASCII case.
func equalFold(s, lower string) bool {
	for i := 0; i < len(lower); i++ {
		if lowerASCII(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// hostPattern is an AuthorizationPolicy host: a pattern, optionally with
// ":*" (any port) or ":PORT" (only that port).
type hostPattern struct {
	pattern
	port uint32 // 0: any port
}

func compileHost(v string) (hostPattern, error) {
	if v == "" {
		return hostPattern{}, errors.New("empty value")
	}
	v = strings.ToLower(v)
	var hp hostPattern
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		h, p := v[:i], v[i+1:]
		if strings.Contains(h, ":") && !(strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]")) {
			return hostPattern{}, errors.New("an IPv6 address must be in brackets")
		}
		if p != "*" {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil || n == 0 {
				return hostPattern{}, fmt.Errorf("port %q: must be 1..65535 or %q", p, "*")
			}
			hp.port = uint32(n)
		}
		v = h
	}
	if strings.ContainsAny(v, " /") {
		return hostPattern{}, errors.New("not a host name")
	}
	var err error
	hp.pattern, err = compilePattern(v)
	return hp, err
}

// match reports whether host (no trailing dot) on port matches. fold says
// host has upper-case letters; patterns are lowercase.
func (h *hostPattern) match(host string, port uint32, fold bool) bool {
	if h.port != 0 && h.port != port {
		return false
	}
	if fold {
		return h.matchFold(host)
	}
	return h.pattern.match(host)
}

func compilePath(v string) (pattern, error) {
	switch {
	case v == "":
		return pattern{}, errors.New("empty value")
	case strings.ContainsAny(v, "{}"):
		return pattern{}, errors.New("path templates are not supported")
	case v[0] != '/' && v[0] != '*':
		return pattern{}, errors.New(`must start with "/" or "*"`)
	}
	return compilePattern(v)
}
