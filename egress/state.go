package egress

import (
	"context"
	"fmt"
	"net"
	"net/http/httputil"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/origination"
	"github.com/egressgw/egressgw/route"
)

// state is one configuration as the engine serves it: the snapshot plus
// what the engine derived from it (upstreams with their proxies). It is
// immutable; connections read it through one atomic load.
type state struct {
	snap        *config.Snapshot
	listeners   map[uint32]config.Listener
	upstreams   [][]*upstream        // [entry][port index], aligned with snap.Entries[i].Ports
	views       [][][]*upstream      // [entry][view][port index] for an entry with SourceViews (DestinationRule exportTo); nil otherwise
	passthrough map[uint32]*upstream // ALLOW_ANY traffic to unregistered hosts, per listener port
	keys        map[string]bool      // transport keys in use
	clusters    []*upstream          // aligned with snap.Clusters; nil for a cluster whose destination is missing
	clusterVs   [][]*upstream        // [cluster][view] for a cluster with Views (DestinationRule exportTo); nil otherwise, and nil for a view that misses it
	routeOK     sync.Map             // *route.HTTPRoute -> *routeCounter: its requests answered 200, once the first was
}

// routeCounter is a route's cached counter of requests answered 200, and
// the side and Gateway server it counts for (a route bound to several
// Gateways is counted per Gateway: the others take the labelled path).
type routeCounter struct {
	side route.Side
	srv  *route.Server
	c    prometheus.Counter
}

// routeServed returns the counter of rt's requests on side through srv answered with status.
func (s *state) routeServed(m *Metrics, side route.Side, srv *route.Server, rt *route.HTTPRoute, status int) prometheus.Counter {
	gw := ""
	if srv != nil {
		gw = srv.Gateway
	}
	if status != 200 {
		return m.RouteRequests.WithLabelValues(side.String(), gw, rt.VirtualService, rt.Name, statusLabel(status))
	}
	if v, ok := s.routeOK.Load(rt); ok {
		if rc := v.(*routeCounter); rc.side == side && rc.srv == srv {
			return rc.c
		}
	}
	c := m.RouteRequests.WithLabelValues(side.String(), gw, rt.VirtualService, rt.Name, "200")
	s.routeOK.LoadOrStore(rt, &routeCounter{side: side, srv: srv, c: c})
	return c
}

// upstream is one (entry, port): where its traffic goes and how.
type upstream struct {
	entry   *config.Entry // nil for PassthroughCluster
	port    *config.Port
	host    string // metric label: the registered pattern, or "unregistered"
	cluster string
	scheme  string // "http" or "https" (TLS origination)
	portStr string // target port
	logAddr string // the access log's "upstream" when it does not depend on the requested host (target.host set)
	target  *target
	idle    time.Duration
	proxy   *httputil.ReverseProxy        // nil for TLS/TCP-only ports
	h1      *origination.H1Pool           // HTTP/1.1 upstream connections; nil for TLS/TCP-only ports and plaintext HTTP/2 upstreams
	h2      *origination.H2Pool           // HTTP/2 upstream connections, for HTTP/2 upstreams only
	ok      atomic.Pointer[servedCounter] // requests allowed and answered 200, once the first was
	// endpoints balances a route destination's endpoints (each an
	// upstream of its own); nil: the upstream dials its target itself.
	endpoints *endpoints
}

// served returns the counter of u's allowed requests answered 200 on
// listener l, cached for the listener u first served on (an entry's
// upstream belongs to one; a route's cluster may serve several).
func (u *upstream) served(m *Metrics, l *listener) prometheus.Counter {
	if c := u.ok.Load(); c != nil && c.l == l.key() {
		return c.c
	}
	c := m.Requests.WithLabelValues(l.side.String(), l.label, u.host, "allow", "200")
	u.ok.CompareAndSwap(nil, &servedCounter{l: l.key(), c: c})
	return c
}

// servedCounter is a cached counter of requests answered 200, and the listener it counts for.
type servedCounter struct {
	l listenerKey
	c prometheus.Counter
}

// lookup returns the upstream for entry i on port, or the ALLOW_ANY passthrough for i < 0.
func (s *state) lookup(i int, port uint32) *upstream {
	if i < 0 {
		return s.passthrough[port]
	}
	return onPort(s.upstreams[i], port)
}

// lookupFor is lookup for a connection or request of cl: an entry whose
// DestinationRules are exported to some namespaces only has the upstream
// of the rule cl's namespace sees (an unknown pod: the rules exported
// everywhere); without a pod table, the one chosen ignoring exportTo.
func (s *state) lookupFor(i int, port uint32, cl *client) *upstream {
	if i < 0 || !cl.known || s.views == nil || s.views[i] == nil {
		return s.lookup(i, port)
	}
	ns := ""
	if cl.pod != nil {
		ns = cl.pod.Namespace
	}
	return onPort(s.views[i][s.snap.Entries[i].Views.View(ns)], port)
}

func onPort(ups []*upstream, port uint32) *upstream {
	for _, u := range ups {
		if u.port.Number == port {
			return u
		}
	}
	return nil
}

func (e *Engine) buildState(snap *config.Snapshot) (*state, error) {
	st := &state{
		snap:        snap,
		listeners:   make(map[uint32]config.Listener, len(snap.Listeners)),
		upstreams:   make([][]*upstream, len(snap.Entries)),
		passthrough: make(map[uint32]*upstream, len(snap.Listeners)),
		keys:        map[string]bool{},
	}
	for _, l := range snap.Listeners {
		st.listeners[l.Port] = l
	}
	for i := range snap.Entries {
		ent := &snap.Entries[i]
		for j := range ent.Ports {
			u, err := e.newUpstream(st, ent, &ent.Ports[j])
			if err != nil {
				return nil, err
			}
			st.upstreams[i] = append(st.upstreams[i], u)
		}
		if ent.Views == nil {
			continue
		}
		if st.views == nil {
			st.views = make([][][]*upstream, len(snap.Entries))
		}
		for vi := range ent.Views.Ports {
			ports := ent.Views.Ports[vi]
			ups := make([]*upstream, 0, len(ports))
			for j := range ports {
				u, err := e.newUpstream(st, ent, &ports[j])
				if err != nil {
					return nil, fmt.Errorf("%s for sources that see %s: %w", ent.Source, viewRule(ent.Views.Rules[vi]), err)
				}
				ups = append(ups, u)
			}
			st.views[i] = append(st.views[i], ups)
		}
	}
	for _, l := range snap.Listeners {
		p := &config.Port{Number: l.Port, TargetPort: l.Port, Protocol: config.ProtocolAuto,
			Cluster: "PassthroughCluster", Pool: config.PoolSettings{ConnectTimeout: 10 * time.Second, IdleTimeout: time.Hour}}
		u, err := e.newUpstream(st, &config.Entry{Source: "outboundTrafficPolicy ALLOW_ANY", Resolution: config.ResolutionNone, Ports: []config.Port{*p}}, p)
		if err != nil {
			return nil, err
		}
		u.entry, u.host = nil, "unregistered"
		st.passthrough[l.Port] = u
	}
	st.clusters = make([]*upstream, len(snap.Clusters))
	for i := range snap.Clusters {
		cl := &snap.Clusters[i]
		if cl.Missing != "" || cl.EgressGateway { // no upstream: a 503 naming why, or the hop into this gateway
			continue
		}
		u, err := e.clusterUpstream(st, cl, cl.EntryPort)
		if err != nil {
			return nil, err
		}
		st.clusters[i] = u
		if cl.Views == nil {
			continue
		}
		if st.clusterVs == nil {
			st.clusterVs = make([][]*upstream, len(snap.Clusters))
		}
		st.clusterVs[i] = make([]*upstream, len(cl.Views))
		for vi := range cl.Views {
			if cl.Views[vi].Missing != "" {
				continue
			}
			if st.clusterVs[i][vi], err = e.clusterUpstream(st, cl, cl.Views[vi].Port); err != nil {
				return nil, fmt.Errorf("%w (for sources that see %s)", err, viewRule(cl.Entry.Views.Rules[vi]))
			}
		}
	}
	return st, nil
}

// clusterUpstream is the upstream of cluster cl with the port settings port.
func (e *Engine) clusterUpstream(st *state, cl *config.Cluster, port config.Port) (*upstream, error) {
	ent := cl.Entry // the cluster's connections go to its host (resolved, SNI and certificate name), whatever the request's Host
	if ent.Target == "" && cl.Host != "" && cl.Host[0] != '*' {
		ent.Target = cl.Host
	}
	if port.TLS != nil && (port.Protocol == config.ProtocolTLS || port.Protocol == config.ProtocolAuto) {
		// A DestinationRule originates TLS to it: routes send it HTTP,
		// which goes out over TLS (Istio's egress gateway TLS
		// origination task routes port 80 to an HTTPS port 443 so).
		port.Protocol = config.ProtocolHTTP
	}
	u, err := e.newUpstream(st, &ent, &port)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cl.Name, err)
	}
	u.cluster = cl.Name
	if u.endpoints, err = e.newEndpoints(st, &ent, u.port, cl.Name); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cl.Name, err)
	}
	return u, nil
}

// clusterView returns the view index of cluster ci for cl (the gateway's
// own namespace's for a Gateway-bound route), -1 when the cluster has no
// views or cl is a pod not scoped (no pod table).
func (s *state) clusterView(ci int, cl *client) int {
	if s.clusterVs == nil || s.clusterVs[ci] == nil {
		return -1
	}
	v := s.snap.Clusters[ci].Entry.Views
	switch {
	case cl.gateway:
		return v.Gateway
	case !cl.known:
		return -1
	case cl.pod == nil:
		return v.View("")
	default:
		return v.View(cl.pod.Namespace)
	}
}

// viewRule names a view's DestinationRule for messages.
func viewRule(r string) string {
	if r == "" {
		return "no DestinationRule"
	}
	return r
}

func (e *Engine) newUpstream(st *state, ent *config.Entry, p *config.Port) (*upstream, error) {
	t, err := newTarget(ent, p)
	if err != nil {
		return nil, err
	}
	u := &upstream{
		entry: ent, port: p, host: ent.Host, cluster: p.Cluster, scheme: "http",
		portStr: strconv.Itoa(int(p.TargetPort)), target: t, idle: p.Pool.IdleTimeout,
	}
	if u.idle == 0 {
		u.idle = time.Hour
	}
	if p.TLS != nil {
		u.scheme = "https"
	}
	if t.host != "" {
		u.logAddr = u.upstreamAddr(t.host) // after the scheme: it names it
	}
	if p.Protocol == config.ProtocolTLS || p.Protocol == config.ProtocolTCP {
		return u, nil
	}
	fp := ""
	if p.TLS != nil {
		fp = p.TLS.Fingerprint
	}
	http2 := p.HTTP2 || p.Pool.H2Upgrade
	key := fmt.Sprint(t.key(), "|", fp, "|", u.idle, "|", p.Pool.MaxRequestsPerConnection, "|", http2)
	st.keys[key] = true
	ou := origination.Upstream{
		Key:         key,
		TLS:         p.TLS,
		Dial:        func(ctx context.Context, host string) (*net.TCPConn, error) { return e.dialer.dial(ctx, t, host) },
		IdleTimeout: u.idle,
		MaxRequests: p.Pool.MaxRequestsPerConnection,
		HTTP2:       http2,
	}
	tr := e.pool.Transport(ou)
	if e.cfg.StdlibPaths { // every request through the ReverseProxy and http.Transport
		u.proxy = e.newProxy(u, tr)
		return u, nil
	}
	if http2 {
		u.h2 = e.pool.H2(ou)
	}
	if !http2 || p.TLS != nil { // over TLS, HTTP/2 falls back to HTTP/1.1 when ALPN declines it
		u.h1 = e.pool.H1(ou)
	}
	u.proxy = e.newProxy(u, tr)
	return u, nil
}
