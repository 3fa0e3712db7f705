package policy

import (
	"errors"
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
