package policy

import (
	"net/netip"

	"github.com/egressgw/egressgw/identity"
)

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
	// Namespace is the namespace of the resource that registered the
	// host: what exportTo's "." and a Sidecar's "ns/host" refer to.
	Namespace string
	// ExportTo is Istio's exportTo: "*" (every namespace), "." (Namespace),
	// "~" (none) or namespace names. Empty means "*". It is enforced only
	// for queries with Identities: a source pod outside it, or an unknown
	// source when it is not "*", finds the host unregistered.
	ExportTo []string
}

// Query is one request or connection to decide on.
type Query struct {
	Host   string     // requested host (HTTP Host without port, or TLS SNI), lowercase; "" if unknown
	Port   uint32     // destination (listener) port
	Source netip.Addr // client address
	HTTP   bool       // Method and Path are known (plain HTTP); false for TLS/TCP
	Method string
	Path   string // normalized path without query
	// Identities says that the gateway knows the cluster's pods, so that
	// Pod is the source's pod, nil for an address no pod holds (an unknown
	// source). Without it (no pod table: files only) no per-namespace rule
	// applies: exportTo and Sidecars are not enforced, policies scoped to a
	// namespace do not apply, and no rule on namespaces or principals
	// matches, as for an unknown source.
	Identities bool
	Pod        *identity.Pod
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

// AuthzPolicy is one Istio AuthorizationPolicy.
type AuthzPolicy struct {
	Name   string // "namespace/name"
	Action Action
	Rules  []Rule // ALLOW with no rules allows nothing; DENY with no rules denies nothing (Istio)
	// Scope is "" for a gateway-wide policy (the root namespace's, the
	// gateway's own, or one whose selector matches the gateway's labels).
	// Otherwise the policy applies, as the workload's sidecar would enforce
	// it, only to requests from pods of namespace Scope ("*": of every
	// namespace, a root namespace policy with a workload selector) whose
	// labels include Selector; never to an unknown source.
	Scope    string
	Selector map[string]string
}

// Rule matches when every non-empty part matches: any From, and any To.
type Rule struct {
	From []Source
	To   []Operation
}

// Source is from[].source. Namespaces and Principals are matched against
// the source pod's namespace and "<trustDomain>/ns/<namespace>/sa/<serviceAccount>"
// (exact, "prefix*", "*suffix", or "*" for any), and need a known pod: a
// source that sets any of them (or their Not forms) does not match a query
// without one, as Istio's do not without mTLS.
type Source struct {
	IPBlocks                  []netip.Prefix
	NotIPBlocks               []netip.Prefix
	Namespaces, NotNamespaces []string
	Principals, NotPrincipals []string
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
