package dnsproxy

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/egressgw/egressgw/identity"
)

// Names is the current set of intercepted names. Safe for concurrent use,
// never blocks. (policy.Registry implements it: Intercepts takes a DNS name
// in any case, trailing dot allowed.)
type Names interface{ Intercepts(name string) bool }

// PodNames is Names that answers per client pod (policy.Policy implements
// it: exportTo and Sidecars). InterceptsFor reports whether name is
// intercepted for a client in pod (nil: an address no pod holds), and
// whether a name it does not intercept is forwarded (ALLOW_ANY) rather
// than blocked. Safe for concurrent use, never blocks.
type PodNames interface {
	Names
	InterceptsFor(name string, pod *identity.Pod) (intercept, allowAny bool)
}

// Config configures a Handler. Zero values get the defaults noted.
type Config struct {
	Names             func() Names  // current view, called once per query (an atomic load behind it); never returns nil
	EgressAddr        netip.Addr    // answer for intercepted names
	ClusterDomain     string        // e.g. "cluster.local"; default "cluster.local"
	Upstream          string        // "ip:port" for every name not intercepted; ":53" is added when the port is missing
	BlockUnregistered bool          // REGISTRY_ONLY
	TTL               uint32        // intercepted answers; default 5
	Timeout           time.Duration // upstream exchange; default 2s
	Log               *zap.Logger   // component logger; nil = nop
	Metrics           *Metrics      // nil = none
	// Identities is the current table of pods by address, called once per
	// query. With a table, and Names that are PodNames, a query is
	// answered for the client's pod: what it does not see is answered as
	// unregistered, forwarded or blocked by the outbound traffic policy
	// that applies to it (which replaces BlockUnregistered). Nil, or a nil
	// table: every client is answered alike.
	Identities func() *identity.Table

	// Forwarded queries in flight, in all and from one client address;
	// past either bound a query is answered SERVFAIL with an Extended DNS
	// Error naming it. Defaults DefaultForwardMax and
	// DefaultForwardMaxPerSource; the share is at most the whole.
	ForwardMax          int
	ForwardMaxPerSource int
}

const (
	defaultTTL           = 5
	defaultTimeout       = 2 * time.Second
	defaultClusterDomain = "cluster.local."
	blockReason          = "not registered (outboundTrafficPolicy REGISTRY_ONLY)"
)

// Handler is the gateway's DNS handler (a dns.Handler). It is immutable
// after NewHandler and safe for concurrent use.
type Handler struct {
	names      func() Names
	identities func() *identity.Table // nil: none
	a          net.IP                 // 4 bytes, nil when the egress address is not IPv4
	aaaa       net.IP                 // 16 bytes, nil when the egress address is not IPv6
	ttl        uint32
	block      bool
	suffixes   []string // lower-case FQDNs whose subtrees are always forwarded
	fwd        *forwarder
	limit      *forwardLimit
	limited    [3]string // the EDE text of a query refused by each bound (overGlobal, overSource)
	log        *zap.Logger
	metrics    *Metrics
}

// NewHandler returns a Handler for cfg, filling in defaults.
func NewHandler(cfg Config) *Handler {
	h := &Handler{
		names:      cfg.Names,
		identities: cfg.Identities,
		ttl:        cfg.TTL,
		block:      cfg.BlockUnregistered,
		log:        cfg.Log,
		metrics:    cfg.Metrics,
	}
	if h.names == nil {
		h.names = func() Names { return noNames{} }
	}
	if h.ttl == 0 {
		h.ttl = defaultTTL
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	if egress := cfg.EgressAddr.Unmap(); egress.Is4() {
		h.a = egress.AsSlice()
	} else if egress.Is6() {
		h.aaaa = egress.AsSlice()
	}
	domain := defaultClusterDomain
	if d := strings.Trim(cfg.ClusterDomain, "."); d != "" {
		domain = strings.ToLower(d) + "."
	}
	h.suffixes = []string{domain, "in-addr.arpa.", "ip6.arpa."}
	h.fwd = newForwarder(cfg.Upstream, cfg.Timeout, cfg.Metrics)
	h.limit = newForwardLimit(cfg.ForwardMax, cfg.ForwardMaxPerSource)
	h.limited[overGlobal] = fmt.Sprintf("egressgw: %d forwarded queries in flight, the most allowed (--dns-forward-max)", h.limit.max)
	h.limited[overSource] = fmt.Sprintf("egressgw: %d forwarded queries in flight from this client, the most allowed (--dns-forward-max-per-source)", h.limit.perSource)
	return h
}

type noNames struct{}

func (noNames) Intercepts(string) bool { return false }

// ServeDNS answers r: malformed queries get FORMERR (two OPT records
// included), NOTIMP or BADVERS, intercepted names the egress address, and
// other names are forwarded upstream or, under REGISTRY_ONLY, blocked. A message that is itself a
// response is dropped unanswered, so that two servers cannot loop.
func (h *Handler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if rest := h.serveSplit(w, r); rest != nil {
		rest()
	}
}

// serveSplit answers r at once, except a query to forward: that it
// returns as the work left to do, for the UDP server to run on a goroutine.
func (h *Handler) serveSplit(w dns.ResponseWriter, r *dns.Msg) func() {
	if r.Response {
		h.metrics.count(outcomeMalformed)
		return nil
	}
	if r.Opcode != dns.OpcodeQuery {
		h.malformed(w, r, dns.RcodeNotImplemented)
		return nil
	}
	if len(r.Question) != 1 {
		h.malformed(w, r, dns.RcodeFormatError)
		return nil
	}
	switch opt, n := edns0(r); {
	case n > 1:
		h.malformed(w, r, dns.RcodeFormatError) // RFC 6891 section 6.1.1
		return nil
	case opt != nil && opt.Version() != 0:
		h.malformed(w, r, dns.RcodeBadVers) // RFC 6891 section 6.1.3
		return nil
	}
	q := &r.Question[0]
	switch intercept, block := h.lookup(w, q.Name); {
	case intercept:
		h.intercept(w, r, q)
	case !block || h.alwaysForwarded(q.Name):
		// The bound is checked here, before the forward costs a goroutine
		// or a buffer; locally answered names never wait on it.
		t, over := h.limit.acquire(source(w))
		if over != withinLimit {
			h.overLimit(w, r, q, over)
			return nil
		}
		return func() {
			h.forward(w, r, q)
			h.limit.release(t)
		}
	default:
		h.blocked(w, r, q)
	}
	return nil
}

// lookup reports whether name is intercepted for w's client and, if not,
// whether it is blocked: for the client's pod when pods are known and the
// names answer per pod, else alike for every client.
func (h *Handler) lookup(w dns.ResponseWriter, name string) (intercept, block bool) {
	names := h.names()
	if names == nil {
		return false, h.block
	}
	if pn, ok := names.(PodNames); ok && h.identities != nil {
		if t := h.identities(); t != nil {
			intercept, allowAny := pn.InterceptsFor(name, t.Lookup(source(w)))
			return intercept, !allowAny
		}
	}
	return names.Intercepts(name), h.block
}

// edns0 returns r's OPT record, if any, and how many r carries: more than
// one makes the query malformed.
func edns0(r *dns.Msg) (opt *dns.OPT, n int) {
	for _, rr := range r.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			opt = o
			n++
		}
	}
	return opt, n
}

// alwaysForwarded reports whether name is under the cluster domain or a
// reverse-lookup zone, names that REGISTRY_ONLY does not block.
func (h *Handler) alwaysForwarded(name string) bool {
	for _, s := range h.suffixes {
		if isSubdomain(name, s) {
			return true
		}
	}
	return false
}

// isSubdomain reports whether name (presentation format, any case) equals
// or is below zone (lower case, fully qualified). A trailing dot on name is
// optional. It does not allocate. An escaped dot ("a\.cluster.local.") is
// not a label boundary, so such a name is not below "cluster.local.".
func isSubdomain(name, zone string) bool {
	if !strings.HasSuffix(name, ".") {
		zone = zone[:len(zone)-1]
	}
	n := len(name) - len(zone)
	if n < 0 || !strings.EqualFold(name[n:], zone) {
		return false
	}
	if n == 0 {
		return true
	}
	if name[n-1] != '.' {
		return false
	}
	// The dot is a label boundary only if preceded by an even number of
	// backslashes.
	backslashes := 0
	for i := n - 2; i >= 0 && name[i] == '\\'; i-- {
		backslashes++
	}
	return backslashes%2 == 0
}

// intercept answers q with the egress address, or NODATA for every type
// that could carry another address. It sends nothing upstream, and builds
// no string: the reply is packed straight into a pooled buffer.
func (h *Handler) intercept(w dns.ResponseWriter, r *dns.Msg, q *dns.Question) {
	buf := smallBuffers.Get().(*[smallBufferLen]byte)
	msg, answers, err := h.packIntercept(buf[:0], r, q)
	if err == nil {
		_, err = w.Write(msg)
	}
	smallBuffers.Put(buf)
	if err != nil {
		h.notSent(w, err)
	}
	h.metrics.count(outcomeIntercepted)
	if ce := h.log.Check(zap.DebugLevel, "dns query intercepted"); ce != nil {
		ce.Write(zap.String("name", q.Name), zap.Stringer("qtype", dns.Type(q.Qtype)),
			zap.Stringer("client", remote(w)), zap.Int("answers", answers))
	}
}

// blocked answers an unregistered external name under REGISTRY_ONLY:
// NXDOMAIN with the Extended DNS Error "Blocked". NXDOMAIN rather than
// REFUSED, which some stub resolvers take as fatal for the whole search list.
func (h *Handler) blocked(w dns.ResponseWriter, r *dns.Msg, q *dns.Question) {
	name := displayName(q.Name)
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeNameError)
	m.RecursionAvailable = true
	if r.IsEdns0() != nil {
		setEDE(m, r, dns.ExtendedErrorCodeBlocked, blockedText(name))
	}
	h.write(w, m)
	h.metrics.count(outcomeBlocked)
	if ce := h.log.Check(zap.InfoLevel, "dns query blocked"); ce != nil {
		ce.Write(zap.String("name", name), zap.Stringer("qtype", dns.Type(q.Qtype)),
			zap.Stringer("client", remote(w)), zap.String("reason", blockReason))
	}
}

// malformed answers a query the handler cannot serve with rcode.
func (h *Handler) malformed(w dns.ResponseWriter, r *dns.Msg, rcode int) {
	m := new(dns.Msg)
	m.SetRcode(r, rcode) // copies the first question, if any
	m.Opcode = r.Opcode
	if rcode == dns.RcodeBadVers {
		m.Extra = append(m.Extra, newOPT(false)) // the extended rcode lives in the OPT
	}
	h.write(w, m)
	h.metrics.count(outcomeMalformed)
	if ce := h.log.Check(zap.DebugLevel, "dns query malformed"); ce != nil {
		ce.Write(zap.String("rcode", dns.RcodeToString[rcode]), zap.Int("opcode", r.Opcode),
			zap.Int("questions", len(r.Question)), zap.Stringer("client", remote(w)))
	}
}

func (h *Handler) write(w dns.ResponseWriter, m *dns.Msg) {
	if err := w.WriteMsg(m); err != nil {
		h.notSent(w, err)
	}
}

func (h *Handler) notSent(w dns.ResponseWriter, err error) {
	if ce := h.log.Check(zap.DebugLevel, "dns reply not sent"); ce != nil {
		ce.Write(zap.Stringer("client", remote(w)), zap.Error(err))
	}
}

// displayName is name without its trailing dot, as people write it.
func displayName(name string) string {
	if len(name) > 1 {
		return strings.TrimSuffix(name, ".")
	}
	return name
}

// remote is w's client address, never a nil interface (zap.Stringer would
// panic on one).
func remote(w dns.ResponseWriter) net.Addr {
	if a := w.RemoteAddr(); a != nil {
		return a
	}
	return unknownAddr{}
}

type unknownAddr struct{}

func (unknownAddr) Network() string { return "" }
func (unknownAddr) String() string  { return "unknown" }

// overTCP reports whether the client asked over TCP.
func overTCP(w dns.ResponseWriter) bool {
	if _, ok := w.(*udpWriter); ok {
		return false // our UDP loop's: known without making its address, two allocations
	}
	_, ok := w.RemoteAddr().(*net.TCPAddr)
	return ok
}
