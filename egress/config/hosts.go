package config

import (
	"fmt"
	"strings"
)

// checkHost validates a lowercase DNS name; with wildcard, a leading "*."
// label is also allowed. "*" alone is never valid here.
func checkHost(h string, wildcard bool) error {
	if h == "" {
		return fmt.Errorf("empty host")
	}
	if h == "*" {
		return fmt.Errorf(`"*" alone is not a valid host: list the domains to allow, e.g. "*.example.com"`)
	}
	name := h
	if wildcard {
		name = strings.TrimPrefix(h, "*.")
	}
	if strings.Contains(name, "*") {
		return fmt.Errorf("%q: a wildcard is only allowed as the whole first label, as in \"*.example.com\"", h)
	}
	if len(name) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", h)
	}
	for _, l := range strings.Split(name, ".") {
		if err := checkLabel(l); err != nil {
			return fmt.Errorf("%q is not a valid DNS name: %v", h, err)
		}
	}
	return nil
}

func checkLabel(l string) error {
	switch {
	case l == "":
		return fmt.Errorf("empty label")
	case len(l) > 63:
		return fmt.Errorf("label %q is longer than 63 characters", l)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with '-'", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("label %q has character %q (letters, digits and '-' only)", l, c)
		}
	}
	return nil
}

func isWildcard(h string) bool { return strings.HasPrefix(h, "*") }

// wildcardCovers reports whether wildcard pattern ("*" or "*.suffix") covers
// host (exact or itself a narrower wildcard).
func wildcardCovers(pattern, host string) bool {
	if pattern == "*" {
		return true
	}
	return strings.HasPrefix(pattern, "*.") && strings.HasSuffix(host, pattern[1:]) && host != pattern
}

// protocols maps an Istio port protocol (upper case) to what egressgw does.
var protocols = map[string]Protocol{
	"HTTP": ProtocolHTTP, "HTTP2": ProtocolHTTP, "GRPC": ProtocolHTTP,
	"HTTPS": ProtocolTLS, "TLS": ProtocolTLS,
	"TCP": ProtocolTCP, "MONGO": ProtocolTCP, "MYSQL": ProtocolTCP, "REDIS": ProtocolTCP,
}

const protocolList = "HTTP, HTTP2, GRPC, HTTPS, TLS, TCP, MONGO, MYSQL or REDIS"

// protocolFromName infers a protocol from an Istio port name
// "<protocol>[-<suffix>]"; ProtocolAuto if the prefix is not one.
func protocolFromName(name string) Protocol {
	prefix, _, _ := strings.Cut(name, "-")
	if p, ok := protocols[strings.ToUpper(prefix)]; ok {
		return p
	}
	return ProtocolAuto
}
