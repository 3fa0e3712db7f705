package config

import (
	"fmt"
	"strings"

	"github.com/egressgw/egressgw/policy"
)

// checkHost validates a host with the registry's own rule (policy.ValidateHost);
// without wildcard, a leading "*." label is refused too.
func checkHost(h string, wildcard bool) error {
	if !wildcard && strings.HasPrefix(h, "*") {
		return fmt.Errorf("%q: a wildcard is not allowed here", h)
	}
	if err := policy.ValidateHost(h); err != nil {
		return fmt.Errorf("%q is not a valid host: %v", h, err)
	}
	return nil
}

func checkLabel(l string) error { return policy.ValidateLabel(l) }

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

// declaresHTTP2 reports whether a port's protocol (or, without one, its
// name prefix) is HTTP2 or GRPC.
func declaresHTTP2(protocol, name string) bool {
	p := strings.ToUpper(protocol)
	if p == "" {
		p, _, _ = strings.Cut(strings.ToUpper(name), "-")
	}
	return p == "HTTP2" || p == "GRPC" || p == "H2C"
}

// protocolFromName infers a protocol from an Istio port name
// "<protocol>[-<suffix>]"; ProtocolAuto if the prefix is not one.
func protocolFromName(name string) Protocol {
	prefix, _, _ := strings.Cut(name, "-")
	if p, ok := protocols[strings.ToUpper(prefix)]; ok {
		return p
	}
	return ProtocolAuto
}
