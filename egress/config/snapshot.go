package config

import (
	"time"

	"github.com/egressgw/egressgw/origination"
	"github.com/egressgw/egressgw/policy"
	"github.com/egressgw/egressgw/route"
)

// Snapshot is one compiled, validated configuration. It is immutable once
// Compile returns it and is shared by every connection that started under
// it; a reload builds a new one and swaps it in atomically.
type Snapshot struct {
	Policy *policy.Policy // egress: mode, registry and authorization, ready for Decide
	// IngressPolicy decides ingress requests: the AuthorizationPolicies
	// whose selector matches Options.IngressLabels, and those without one.
	IngressPolicy *policy.Policy
	// Routes is every ingress listener, and every egress listener with an
	// egress Gateway server or a VirtualService bound to mesh; nil when
	// there is neither.
	Routes *route.Table
	// Clusters are the destinations of Routes (route.Destination.Cluster
	// and route.Mirror.Cluster index it), one per (host, port, subset).
	Clusters  []Cluster
	Entries   []Entry    // index = policy.Entry index = policy.Decision.Entry
	Listeners []Listener // one per distinct registered port, sorted by port
	Files     []string   // every file read (config and referenced certificates), for watching
	Warnings  []string   // things accepted but not applied, each naming file and resource
	Unserved  Unserved   // how many of Warnings say that something is not served
	Resources []Resource // every resource loaded, for /config_dump
	// SecretRefs names every Secret ("namespace/name") a credentialName
	// looked for, found or not: the Secrets to read from the API server.
	SecretRefs []string
}

// Unserved counts what a configuration declares but does not serve, for
// the egressgw_config_unserved gauge.
type Unserved struct {
	Servers    int // Gateway servers, or hosts of them, not served: another server serves the host, or the credentialName Secret is missing
	References int // references not found (IST0101): a VirtualService's Gateway, a route's host or subset
}

// Resource names one loaded document.
type Resource struct {
	File, Kind, Namespace, Name string
}

// Resolution is a ServiceEntry resolution.
type Resolution uint8

const (
	ResolutionNone   Resolution = iota // dial the requested host (resolved through --dns-upstream)
	ResolutionStatic                   // dial endpoint addresses
	ResolutionDNS                      // resolve endpoint hostnames, else the entry's host (or Target)
)

// Protocol is a port protocol, reduced to what the gateway does with it.
type Protocol uint8

const (
	ProtocolAuto Protocol = iota // sniff: TLS ClientHello -> passthrough, else HTTP
	ProtocolHTTP                 // HTTP, HTTP2, GRPC
	ProtocolTLS                  // HTTPS, TLS: SNI passthrough
	ProtocolTCP                  // TCP and other opaque protocols
)

// ListenerKind says how a listener handles a new connection.
type ListenerKind uint8

const (
	ListenerSniff ListenerKind = iota // peek: TLS -> SNI passthrough, otherwise HTTP routed by Host
	ListenerTCP                       // forward every connection to Entries[TCPEntry] (server-first protocols: never peek)
)

// Listener is one egress port.
type Listener struct {
	Port     uint32
	Kind     ListenerKind
	TCPEntry int // for ListenerTCP: index into Entries
}

// Entry is one registered host: one host of a ServiceEntry, or one ExternalName Service.
type Entry struct {
	Source     string // "ServiceEntry default/cnn" or "Service default/my-httpbin (ExternalName)"
	Namespace  string
	Host       string // as registered, lowercase: exact or "*.suffix"
	Target     string // ExternalName: the externalName host to dial; "" otherwise
	Resolution Resolution
	Internal   bool // location MESH_INTERNAL: the operator vouches for its addresses, which netguard then does not vet
	Endpoints  []Endpoint
	Ports      []Port // sorted by Number
	// Views are the per-source-namespace DestinationRule choices, when a
	// rule for the entry is exported to some namespaces only; nil: every
	// source gets Ports.
	Views *SourceViews
}

// Endpoint is a ServiceEntry endpoint.
type Endpoint struct {
	Address string            // IP, or host name with DNS resolution
	Ports   map[string]uint32 // port name -> port, overrides the target port
	Labels  map[string]string
}

// Port is one registered port of an Entry, with the upstream settings that apply to it.
type Port struct {
	Number     uint32
	Name       string
	Protocol   Protocol
	TargetPort uint32           // port to dial upstream; equals Number unless targetPort is set
	HTTP2      bool             // declared HTTP2 or GRPC: a plaintext upstream gets HTTP/2 (h2c), as Istio does
	TLS        *origination.TLS // DestinationRule TLS origination (SIMPLE/MUTUAL); nil = plaintext to upstream
	Pool       PoolSettings     // DestinationRule connectionPool
	LB         LBSettings       // DestinationRule loadBalancer (Istio's default LEAST_REQUEST)
	Outlier    OutlierSettings  // DestinationRule outlierDetection (Enabled false without one)
	Cluster    string           // Istio-style cluster name for logs: "outbound|80||edition.cnn.com"
}

// PoolSettings is the part of DestinationRule connectionPool the gateway honours.
type PoolSettings struct {
	ConnectTimeout           time.Duration // tcp.connectTimeout; default 10s
	IdleTimeout              time.Duration // http.idleTimeout (and tcp idle for passthrough); default 1h
	MaxRequestsPerConnection int           // http.maxRequestsPerConnection; 0 = unlimited, 1 disables keep-alive
	H2Upgrade                bool          // http.h2UpgradePolicy UPGRADE: HTTP/2 to the upstream for a port declared HTTP
}

// Port returns the entry's port with the given number.
func (e *Entry) Port(n uint32) (*Port, bool) {
	for i := range e.Ports {
		if e.Ports[i].Number == n {
			return &e.Ports[i], true
		}
	}
	return nil, false
}
