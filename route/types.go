package route

import (
	"net/http"
	"regexp"
	"time"
)

// Side is the side of the gateway a listener serves.
type Side uint8

const (
	Egress  Side = iota // pods' outbound traffic, on the egress address
	Ingress             // traffic from outside, on --ingress-addr
)

func (s Side) String() string {
	if s == Ingress {
		return "ingress"
	}
	return "egress"
}

// Protocol is what a server speaks once any TLS it terminates is off.
type Protocol uint8

const (
	ProtocolHTTP Protocol = iota // HTTP, HTTP2, GRPC, and HTTPS once terminated
	ProtocolTLS                  // TLS routed by SNI without terminating (PASSTHROUGH, AUTO_PASSTHROUGH, protocol TLS without tls)
	ProtocolTCP                  // TCP and Istio's other opaque names (MONGO, MYSQL, ...), possibly after TLS termination
)

// TLSMode is a Gateway server's tls.mode as the gateway applies it.
type TLSMode uint8

const (
	TLSNone        TLSMode = iota // plaintext server
	TLSSimple                     // terminate with the server's certificate
	TLSMutual                     // terminate; a client certificate signed by CA is required
	TLSPassthrough                // route by SNI, do not terminate
	// TLSAcceptPlaintext is ISTIO_MUTUAL on an egress Gateway: it describes
	// the sidecar-to-gateway leg, which a pod without sidecar does not have;
	// the pod's plaintext is accepted as that leg.
	TLSAcceptPlaintext
	// TLSOptionalMutual is OPTIONAL_MUTUAL: terminate; a client certificate
	// is asked for but optional, and one that is sent must verify against CA.
	TLSOptionalMutual
)

// ServerTLS is a Gateway server's TLS settings, with its certificate
// material already read (files or Secret) and validated by the compiler.
type ServerTLS struct {
	Mode    TLSMode
	CertPEM []byte // chain, leaf first; nil with ACME
	KeyPEM  []byte `json:"-"` // never dumped
	CAPEM   []byte // MUTUAL, OPTIONAL_MUTUAL: client CAs
	ACME    bool   // SIMPLE without material: certificates for Hosts from --acme-ca
	// Unserved says why the server has no material although it names some
	// (its credentialName Secret was not found, and where it was looked
	// for); its handshakes fail with that reason until a reload finds it.
	// Empty for a served server.
	Unserved     string
	Source       string   // where the material came from: "files /etc/certs/a.pem", "Secret istio-system/httpbin-credential", "ACME"
	MinVersion   uint16   // tls.VersionTLS12 when unset
	MaxVersion   uint16   // 0: the highest crypto/tls supports
	CipherSuites []uint16 // nil: crypto/tls's defaults
	Fingerprint  string   // identifies the settings and material, for reloads
}

// Terminates reports whether the server terminates TLS with a
// certificate of its own (SIMPLE, MUTUAL, OPTIONAL_MUTUAL).
func (t *ServerTLS) Terminates() bool {
	return t.Mode == TLSSimple || t.Mode == TLSMutual || t.Mode == TLSOptionalMutual
}

// Server is one servers[] entry of a Gateway, bound to its listener.
type Server struct {
	Gateway       string   // "namespace/name"
	Field         string   // "spec.servers[1]", for messages
	PortName      string   // port.name
	Protocol      Protocol // after TLS termination
	Hosts         []string // the host part of hosts: exact, "*.suffix" or "*"; lowercase
	TLS           *ServerTLS
	HTTPSRedirect bool // tls.httpsRedirect: 301 to https for every request
}

// Name names the server for messages: "Gateway istio-system/gw spec.servers[1]".
func (s *Server) Name() string { return "Gateway " + s.Gateway + " " + s.Field }

// Listener is one port of one side, with everything bound to it. Built by
// the compiler; New indexes it.
type Listener struct {
	Side    Side
	Port    uint32
	Servers []*Server // every server on the port, in Istio's order (creation time, then name; files and documents in order)

	// HTTP virtual hosts: one per VirtualService host bound to a server
	// of this listener, each with the routes of every VirtualService for
	// that host merged in order.
	HTTP []*VirtualHost
	// TLS routes (tls[] of VirtualServices) of PASSTHROUGH servers, and
	// TCP routes (tcp[]) of TCP servers, in order: first match wins.
	TLS []*TLSRoute
	TCP []*TCPRoute

	// Indexes built by New: servers by host; for each server, the HTTP
	// virtual hosts it admits (byServer[i] for Servers[i]); hosts for the
	// virtual hosts with no server (VirtualServices bound to mesh).
	servers  hostIndex
	byServer []hostIndex
	hosts    hostIndex
}

// VirtualHost is the HTTP routing of one host on one listener.
type VirtualHost struct {
	Host            string   // the VirtualService host: exact, "*.suffix" or "*"
	Server          *Server  // the server that admits this host (its TLS, httpsRedirect)
	VirtualServices []string // "namespace/name" of each VirtualService merged here, for 404 messages
	Routes          []*HTTPRoute
	scoped          bool // a route is exported to some namespaces only (Export set): lookups check the source
}

// HTTPRoute is one http[] entry of a VirtualService.
type HTTPRoute struct {
	VirtualService string  // "namespace/name"
	Field          string  // "spec.http[2]"
	Name           string  // http[].name, or Field when unnamed: the route label in logs and metrics
	Rule           string  // "VirtualService ns/name spec.http[2]": the rule a decision names
	RoutedBy       string  // "routed by " + Rule: an allowed decision's reason
	Match          []Match // any of them; none matches everything
	Action         Action
	Rewrite        *Rewrite
	Timeout        time.Duration // 0: none (Istio's default)
	Retries        Retries
	Fault          *Fault
	Headers        HeaderOps
	Mirror         *Mirror
	CORS           *CORS
	// Export is the exportTo of the route's VirtualService, for a route
	// bound to mesh: a pod's request skips it unless the pod's namespace
	// is exported to. nil: exported everywhere. Gateway-bound routes are
	// chosen at compile time (the gateway's namespace) and ignore it.
	Export *Export
}

// StringKind is how a StringMatch compares.
type StringKind uint8

const (
	MatchAny StringKind = iota // unset: matches anything
	MatchExact
	MatchPrefix
	MatchRegex // RE2, anchored at both ends (the whole value, as Envoy)
)

// StringMatch is Istio's StringMatch, compiled.
type StringMatch struct {
	Kind  StringKind
	Value string         // exact or prefix (lowercase when the match ignores case), or the regex as written
	Re    *regexp.Regexp `json:"-"` // MatchRegex, compiled as ^(?:expr)$ from the expression in Value
}

// HeaderMatch matches one request header (or, in QueryParams, one query parameter).
type HeaderMatch struct {
	Name    string // canonical header key (http.CanonicalHeaderKey) or query parameter name
	Match   StringMatch
	Present bool // present: true, or a bare match: the header must exist whatever its value
	Absent  bool // withoutHeaders: the header must not match (or not exist, for MatchAny)
}

// Match is one match[] entry: every set part must match.
type Match struct {
	Name          string
	URI           StringMatch
	Scheme        StringMatch
	Method        StringMatch
	Authority     StringMatch
	Headers       []HeaderMatch // includes withoutHeaders (Absent)
	QueryParams   []HeaderMatch
	Port          uint32   // 0: any
	Gateways      []string // "namespace/name" or "mesh"; nil: the VirtualService's own
	IgnoreURICase bool
}

// ActionKind is what a route does with a request it matched.
type ActionKind uint8

const (
	ActionRoute    ActionKind = iota // forward to one of Destinations
	ActionRedirect                   // answer with Redirect
	ActionDirect                     // answer with DirectResponse
)

// Action is a route's outcome.
type Action struct {
	Kind         ActionKind
	Destinations []Destination // ActionRoute; weights sum to TotalWeight
	TotalWeight  uint32
	Redirect     *Redirect
	Direct       *DirectResponse
}

// Destination is one weighted destination of a route.
type Destination struct {
	Cluster int    // index into the snapshot's clusters (config.Snapshot.Clusters)
	Weight  uint32 // 0 only when it is the single destination
	Headers HeaderOps
}

// Redirect is HTTPRedirect; empty fields keep the request's value.
type Redirect struct {
	URI       string
	Authority string
	Port      uint32
	Scheme    string
	Code      int // default 301
	// DerivePort is derivePort: DeriveFromProtocolDefault or DeriveFromRequestPort.
	DerivePort uint8
}

// Redirect.DerivePort values.
const (
	DeriveNone                uint8 = iota // the request's port, unless the scheme changes (then the scheme's default)
	DeriveFromProtocolDefault              // the new scheme's default port (omitted from Location)
	DeriveFromRequestPort                  // the port the request came in on
)

// DirectResponse answers without any upstream.
type DirectResponse struct {
	Status int
	Body   []byte
}

// Rewrite is HTTPRewrite; empty fields leave the request's value.
type Rewrite struct {
	URI       string // replaces the matched prefix (or the whole path for exact and regex matches)
	Authority string
	Regex     *regexp.Regexp `json:"-"` // uriRegexRewrite.match (RegexExpr as written)
	RegexExpr string
	RegexSub  string // uriRegexRewrite.rewrite, in Go's Expand syntax (\1 converted to ${1})
}

// Retries is HTTPRetry, with Istio's default where a route sets none.
type Retries struct {
	Attempts      int           // retries after the first try; 0: none
	PerTryTimeout time.Duration // 0: the route timeout
	On            RetryOn
	Codes         []int // retriable-status-codes: the HTTP statuses named in retryOn; 503 when none is named
}

// RetryOn is the set of Envoy retryOn conditions, as bits.
type RetryOn uint32

const (
	Retry5xx RetryOn = 1 << iota
	RetryGatewayError
	RetryReset
	RetryConnectFailure
	RetryRefusedStream
	RetryRetriableStatusCodes
	RetryRetriable4xx
	RetryEnvoyRateLimited
	RetryUnavailable       // gRPC: unavailable
	RetryCancelled         // gRPC: cancelled
	RetryDeadlineExceeded  // gRPC: deadline-exceeded
	RetryResourceExhausted // gRPC: resource-exhausted
	RetryInternal          // gRPC: internal
	RetryResetBeforeRequest
	RetryRetriableHeaders
	RetryHTTP3PostConnectFailure
)

// DefaultRetries is Istio's retry policy for a route that sets none:
// 2 attempts on connect-failure, refused-stream, unavailable, cancelled
// and retriable-status-codes (503).
var DefaultRetries = Retries{Attempts: 2, On: RetryConnectFailure | RetryRefusedStream | RetryUnavailable | RetryCancelled | RetryRetriableStatusCodes, Codes: []int{503}}

// Fault is HTTPFaultInjection. Percentages are in millionths (Envoy's
// fractional percent), 1_000_000 being every request.
type Fault struct {
	Delay       time.Duration
	DelayPerMil uint32
	AbortStatus int
	AbortGRPC   string // abort.grpcStatus
	AbortPerMil uint32
}

// HeaderOps are Headers' request and response edits.
type HeaderOps struct {
	Request, Response HeaderEdit
}

// HeaderEdit sets, adds and removes headers; keys are canonical.
type HeaderEdit struct {
	Set    []Header
	Add    []Header
	Remove []string
}

// Header is one header to set or add.
type Header struct {
	Name, Value string
	values      []string // []string{Value}, shared by every request it is set on (NewHeader)
}

// NewHeader is a header to set or add whose value slice is made once:
// setting it costs a request no allocation. The slice is full (len = cap),
// so adding to the header copies it instead of writing into it.
func NewHeader(name, value string) Header {
	return Header{Name: name, Value: value, values: []string{value}}
}

// Mirror is a route's mirror and mirrorPercentage.
type Mirror struct {
	Cluster int
	PerMil  uint32 // millionths; 1_000_000 when mirrorPercentage is unset
}

// CORS is CorsPolicy, compiled.
type CORS struct {
	AllowOrigins     []StringMatch
	AllowMethods     string // joined with ", "
	AllowHeaders     string
	ExposeHeaders    string
	MaxAge           string // seconds
	AllowCredentials bool
}

// TLSRoute is one tls[] entry of a VirtualService bound to a PASSTHROUGH server.
type TLSRoute struct {
	VirtualService string
	Field          string
	Server         *Server
	SNIHosts       []string // the match's sniHosts (or the VirtualService hosts): exact, "*.suffix", "*"
	Port           uint32   // 0: any
	Gateways       []string // match.gateways, "namespace/name" or "mesh"; nil: every gateway the VirtualService is bound to
	Destinations   []Destination
	TotalWeight    uint32
	Export         *Export // as HTTPRoute.Export, for a route bound to mesh (Server nil)
}

// TCPRoute is one tcp[] entry of a VirtualService bound to a TCP server.
type TCPRoute struct {
	VirtualService string
	Field          string
	Server         *Server
	Port           uint32   // 0: any
	Gateways       []string // as TLSRoute.Gateways
	Destinations   []Destination
	TotalWeight    uint32
}

// Request is what an HTTP lookup matches on. Header is read, never written.
type Request struct {
	Host      string // canonical Host: lowercase, without port
	Authority string // the Host header as sent (authority matches)
	Port      uint32 // listener port
	Method    string
	Path      string // escaped path, without query
	Query     string // raw query, without '?'
	Scheme    string // "http" or "https" (the client's)
	Header    http.Header
	// Gateway is what Match.Gateways are compared with on a listener without
	// a server admitting the host: "mesh" for a pod's own request. When a
	// server admits the host, its Gateway is used instead.
	Gateway string
	// Source is the sending pod, for mesh routes' exportTo.
	Source Source
}

// Miss says why an HTTP lookup found no route.
type Miss uint8

const (
	Found            Miss = iota
	NoServer              // no server of the listener admits the host
	NoVirtualService      // a server admits it, but no VirtualService for the host is bound to it
	NoRouteMatched        // VirtualServices exist for the host; none of their routes matched
)

// Result is the outcome of an HTTP lookup.
type Result struct {
	Miss   Miss
	Server *Server      // the server admitting the host; nil with NoServer
	Host   *VirtualHost // nil with NoServer and NoVirtualService
	Route  *HTTPRoute   // nil unless Found
	Match  *Match       // the match of Route that matched; nil when Route has none
}
