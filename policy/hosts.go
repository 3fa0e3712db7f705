package policy

import (
	"errors"
	"fmt"
	"strings"
)

// maxNameLen is the longest DNS name in text form, without the trailing dot.
const maxNameLen = 253

// ValidateHost checks a registry host pattern: a lowercase DNS name such as
// "api.example.com", or one with a leading wildcard label, "*.example.com".
func ValidateHost(h string) error {
	if h == "" {
		return errors.New("host is empty")
	}
	if h == "*" {
		return errors.New(`a lone "*" is not allowed; use "*.example.com"`)
	}
	if len(h) > maxNameLen {
		return fmt.Errorf("longer than %d characters", maxNameLen)
	}
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return errors.New(`"*" is only allowed as the whole first label, as in "*.example.com"`)
	}
	if strings.HasSuffix(name, ".") {
		return errors.New("must not end with a dot")
	}
	for label := range strings.SplitSeq(name, ".") {
		if err := ValidateLabel(label); err != nil {
			return err
		}
	}
	return nil
}

// ValidateLabel checks one DNS-1123 label, as Istio does for hosts.
func ValidateLabel(l string) error {
	switch {
	case l == "":
		return errors.New("empty label")
	case len(l) > 63:
		return fmt.Errorf("label %q is longer than 63 characters", l)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with %q", l, "-")
	}
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case 'A' <= c && c <= 'Z':
			return errors.New("must be lowercase")
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
		default:
			return fmt.Errorf("label %q has character %q (letters, digits and '-' only)", l, c)
		}
	}
	return nil
}

// cleanName returns host without its trailing dot. It reports false in ok
// for a name that is empty, starts with a dot or is longer than
// maxNameLen, which is never registered. (Other empty labels are caught
// by find.)
func cleanName(host string) (n string, ok bool) {
	host = trimDot(host)
	// A leading dot is an empty first label: the index would take
	// ".eu.example.com" for the key of "*.eu.example.com" (FuzzLookup).
	return host, host != "" && host[0] != '.' && len(host) <= maxNameLen
}

func trimDot(host string) string {
	if l := len(host); l > 0 && host[l-1] == '.' {
		return host[:l-1]
	}
	return host
}
