package policy

import "net/netip"

// Mode is the outbound traffic policy (Istio meshConfig.outboundTrafficPolicy.mode).
type Mode uint8

const (
	// RegistryOnly allows only hosts registered by a ServiceEntry or an ExternalName Service.
	RegistryOnly Mode = iota
	// AllowAny also allows hosts that are not registered.
	AllowAny
)

// Entry is one registered host (one host of one ServiceEntry, or one
// ExternalName Service). Its index in the slice given to NewRegistry is the
// index Lookup returns.
type Entry struct {
	Host      string   // lowercase; exact "api.example.com" or wildcard "*.example.com"
	Ports     []uint32 // ports the host is registered on
	AuthzHost string   // host AuthorizationPolicy hosts are matched against; "" means the requested host
	Source    string   // e.g. "ServiceEntry default/cnn"; used in decision reasons
}

// Query is one request or connection to decide on.
type Query struct {
	Host   string     // requested host (HTTP Host without port, or TLS SNI), lowercase; "" if unknown
	Port   uint32     // destination (listener) port
	Source netip.Addr // client address
	HTTP   bool       // Method and Path are known (plain HTTP); false for TLS/TCP
	Method string
	Path   string // normalized path without query
}

// Decision is the outcome of Decide. Rule and Reason are built when the
// policy is compiled, never per request.
type Decision struct {
	Allow  bool
	Entry  int    // index of the matched registry Entry, -1 if none (ALLOW_ANY to an unregistered host)
	Rule   string // what decided, e.g. "AuthorizationPolicy istio-system/deny-admin rules[0]" or "outboundTrafficPolicy REGISTRY_ONLY"
	Reason string // a sentence a person can act on
}

// Action is an AuthorizationPolicy action.
type Action uint8

const (
	ActionAllow Action = iota
	ActionDeny
)

// AuthzPolicy is one Istio AuthorizationPolicy, already filtered by selector.
type AuthzPolicy struct {
	Name   string // "namespace/name"
	Action Action
	Rules  []Rule // ALLOW with no rules allows nothing; DENY with no rules denies nothing (Istio)
}

// Rule matches when every non-empty part matches: any From, and any To.
type Rule struct {
	From []Source
	To   []Operation
}

// Source is from[].source; only IP blocks are supported (no workload identity without mTLS).
type Source struct {
	IPBlocks    []netip.Prefix
	NotIPBlocks []netip.Prefix
}

// Operation is to[].operation. Hosts: exact, "*.suffix", "prefix.*" or "*",
// case-insensitive; a pattern "host:*" or "host:PORT" also matches host
// (Istio's advice is to list both). Paths: exact, "/prefix/*", "*suffix" or "*".
// Methods are exact. Methods and Paths are HTTP-only: for a non-HTTP query an
// ALLOW rule that uses them does not match, and a DENY rule ignores them (Istio).
type Operation struct {
	Hosts, NotHosts     []string
	Ports, NotPorts     []uint32
	Methods, NotMethods []string
	Paths, NotPaths     []string
}
