package egress

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/egressgw/egressgw/policy"
	"github.com/egressgw/egressgw/route"
)

// pick draws the number a weighted choice among total is made with.
func (e *Engine) pick(total uint32) uint32 {
	if total <= 1 {
		return 0
	}
	return rand.Uint32N(total)
}

// cluster returns the upstream of a Gateway-bound route's destination,
// nil when its host, port or subset was not found (missing says why).
func (s *state) cluster(d *route.Destination) *upstream {
	return s.clusterFor(d, &client{gateway: true})
}

// clusterFor is cluster for a request or connection of cl: a cluster
// whose entry has DestinationRule views gives the upstream of the view
// cl's namespace sees.
func (s *state) clusterFor(d *route.Destination, cl *client) *upstream {
	if d == nil || d.Cluster < 0 || d.Cluster >= len(s.clusters) {
		return nil
	}
	if v := s.clusterView(d.Cluster, cl); v >= 0 {
		return s.clusterVs[d.Cluster][v]
	}
	return s.clusters[d.Cluster]
}

func (s *state) missing(d *route.Destination) string {
	return s.missingFor(d, &client{gateway: true})
}

// missingFor says why d has no upstream for cl.
func (s *state) missingFor(d *route.Destination, c *client) string {
	if d == nil || d.Cluster < 0 || d.Cluster >= len(s.snap.Clusters) {
		return "the route has no destination"
	}
	cl := &s.snap.Clusters[d.Cluster]
	if v := s.clusterView(d.Cluster, c); v >= 0 && cl.Views[v].Missing != "" {
		return "destination " + cl.Name + ": " + cl.Views[v].Missing
	}
	return "destination " + cl.Name + ": " + cl.Missing
}

// ingressDecide applies the ingress side's AuthorizationPolicies to q; when
// none decides, the request is allowed by rule (the route that matched).
func (s *state) ingressDecide(q policy.Query, rule string) policy.Decision {
	return s.ingressDecideRouted(q, rule, "routed by "+rule)
}

// ingressDecideRouted is ingressDecide with the allowed reason ("routed by " + rule) made beforehand.
func (s *state) ingressDecideRouted(q policy.Query, rule, routedBy string) policy.Decision {
	p := s.snap.IngressPolicy
	if p == nil || p.Authz == nil {
		return policy.Decision{Allow: true, Entry: -1, Rule: rule, Reason: routedBy}
	}
	d := p.Decide(q)
	if d.Allow && d.Rule == p.DefaultRule { // no AuthorizationPolicy decided: the route did
		d.Rule, d.Reason = rule, routedBy // no AuthorizationPolicy denied it
	}
	d.Entry = -1
	return d
}

// handleIngress serves a request that came to an ingress Gateway port:
// route it by host and path through the Gateway's servers and the
// VirtualServices bound to them, decide, then answer or forward.
func (e *Engine) handleIngress(st *state, l *listener, h *h1conn, rec *recorder, r *http.Request, host, path string, src netip.Addr, start time.Time) {
	rl := st.snap.Routes.Listener(route.Ingress, l.port)
	if rl == nil { // the listener outlived its Gateway: it is closing
		refuse(rec, http.StatusNotFound, "egressgw: no Gateway serves ingress port "+l.label)
		e.logRequest(st, l, r, host, noDecision("gateway"), nil, rec, start)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if e.cfg.Certs != nil && scheme == "http" && strings.HasPrefix(path, "/.well-known/acme-challenge/") && e.cfg.Certs.HandleHTTPChallenge(rec, r) {
		e.logRequest(st, l, r, host, noDecision("acme http-01 challenge"), nil, rec, start)
		return
	}
	trusted := e.trustedProxy(src)
	if trusted && scheme == "http" && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https" // a TLS-terminating load balancer in front
	}
	req := route.Request{Host: host, Authority: r.Host, Port: l.port, Method: r.Method, Path: path, Query: r.URL.RawQuery, Scheme: scheme, Header: r.Header}
	res := rl.Lookup(&req)
	rec.server = res.Server
	switch {
	case r.TLS != nil && res.Server != nil && rl.ServerFor(requestHost(r.TLS.ServerName)) != res.Server:
		refuse(rec, http.StatusMisdirectedRequest, "egressgw: host "+host+" is served by "+res.Server.Name()+
			", not by the server of this connection's TLS server name "+r.TLS.ServerName+": open a new connection for it")
		e.logRequest(st, l, r, host, noDecision("gateway"), nil, rec, start)
		return
	case res.Server != nil && res.Server.HTTPSRedirect && scheme == "http":
		loc := "https://" + r.Host + r.URL.RequestURI()
		if i := strings.LastIndexByte(r.Host, ':'); i > 0 && !strings.HasSuffix(r.Host, "]") {
			loc = "https://" + r.Host[:i] + r.URL.RequestURI() // to the default HTTPS port
		}
		rec.Header().Set("Location", loc)
		refuse(rec, http.StatusMovedPermanently, "egressgw: "+res.Server.Name()+" redirects to HTTPS (tls.httpsRedirect): "+loc)
		e.logRequest(st, l, r, host, noDecision("httpsRedirect"), nil, rec, start)
		return
	case res.Server != nil && res.Server.TLS != nil && r.TLS == nil && res.Server.TLS.Terminates():
		refuse(rec, http.StatusBadRequest, "egressgw: "+res.Server.Name()+" serves "+host+" over TLS on port "+l.label+": plain HTTP was sent; use https://")
		e.logRequest(st, l, r, host, noDecision("gateway"), nil, rec, start)
		return
	case res.Miss != route.Found:
		rec.Header().Set("X-Egressgw-Rule", "route")
		refuse(rec, http.StatusNotFound, "egressgw: "+explain(res, rl, r, host, path))
		e.logRequest(st, l, r, host, noDecision("route"), nil, rec, start)
		return
	}
	rec.noteRoute(res)
	switch xff := r.Header["X-Forwarded-For"]; {
	case trusted && len(xff) > 0: // only a trusted proxy's chain is believed
		r.Header["X-Forwarded-For"] = []string{strings.Join(xff, ", ") + ", " + src.String()}
	case h != nil: // the client address starts it anew
		r.Header["X-Forwarded-For"] = h.forwardedFor()
	default:
		r.Header["X-Forwarded-For"] = []string{src.String()}
	}
	if scheme == "https" {
		r.Header["X-Forwarded-Proto"] = xfpHTTPS
	} else {
		r.Header["X-Forwarded-Proto"] = xfpHTTP
	}
	rt := res.Route
	q := rec.client.query(host, l.port, src)
	q.HTTP, q.Method, q.Path = true, r.Method, path
	d := st.ingressDecideRouted(q, routeRule(rt), routedBy(rt))
	if !d.Allow {
		deny(rec, d, host)
		e.logRequest(st, l, r, host, d, nil, rec, start)
		return
	}
	u := e.serveRoute(st, h, rec, r, host, res, true)
	e.logRequest(st, l, r, host, d, u, rec, start)
}

// routeRule names a route as a decision's rule: "VirtualService ns/name spec.http[0]".
func routeRule(rt *route.HTTPRoute) string {
	if rt.Rule != "" {
		return rt.Rule
	}
	return "VirtualService " + rt.VirtualService + " " + rt.Field
}

// routedBy is an allowed decision's reason for a request rt routed.
func routedBy(rt *route.HTTPRoute) string {
	if rt.RoutedBy != "" {
		return rt.RoutedBy
	}
	return "routed by " + routeRule(rt)
}

// X-Forwarded-Proto's values, shared by every request (full slices: an
// append copies them).
var (
	xfpHTTP  = []string{"http"}
	xfpHTTPS = []string{"https"}
)

// trustedProxy reports whether src is one of --trusted-proxies.
func (e *Engine) trustedProxy(src netip.Addr) bool {
	for _, p := range e.cfg.TrustedProxies {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// serveRoute carries out the action of the route res found for r:
// redirect, direct response, or forward to a destination (faults,
// rewrites, header edits, timeout and retries applied). It returns the
// upstream the request went to, nil if none.
// forwarded says the X-Forwarded headers are the gateway's own (ingress), to be forwarded.
func (e *Engine) serveRoute(st *state, h *h1conn, rec *recorder, r *http.Request, host string, res route.Result, forwarded bool) *upstream {
	rt := res.Route
	var corsEdit *route.HeaderEdit
	if c := rt.CORS; c != nil {
		if origin := corsOrigin(c, r); origin != "" {
			if corsPreflight(c, rec, r, origin) {
				return nil
			}
			corsEdit = corsResponse(c, origin)
		}
	}
	switch rt.Action.Kind {
	case route.ActionRedirect:
		rd := rt.Action.Redirect
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		port := uint32(0)
		if _, p, ok := strings.Cut(r.Host, ":"); ok && !strings.Contains(p, ":") {
			n, _ := strconv.ParseUint(p, 10, 16)
			port = uint32(n)
		}
		rec.Header().Set("Location", rd.Location(scheme, host, port, r.URL.EscapedPath(), r.URL.RawQuery))
		code := rd.Code
		if code == 0 {
			code = http.StatusMovedPermanently
		}
		rec.Header().Set("Content-Length", "0")
		rec.WriteHeader(code)
		return nil
	case route.ActionDirect:
		dr := rt.Action.Direct
		rec.Header().Set("Content-Length", strconv.Itoa(len(dr.Body)))
		if len(dr.Body) > 0 && rec.Header().Get("Content-Type") == "" {
			rec.Header().Set("Content-Type", "text/plain")
		}
		rt.Headers.Response.Apply(rec.Header())
		rec.WriteHeader(dr.Status)
		_, _ = rec.Write(dr.Body)
		return nil
	}
	d := rt.Action.Pick(e.pick(rt.Action.TotalWeight))
	// The DestinationRule a mesh route's destination gets is the one the
	// pod's namespace sees; a Gateway-bound route's, the one the gateway's
	// namespace sees.
	src := &rec.client
	if res.Server != nil {
		src = &client{gateway: true}
	}
	hopPort, hop := st.egressHop(d)
	var u *upstream
	if !hop {
		if u = st.clusterFor(d, src); u == nil {
			refuse(rec, http.StatusServiceUnavailable, "egressgw: "+routeRule(rt)+": "+st.missingFor(d, src))
			return nil
		}
	}
	if f := rt.Fault; f != nil {
		if f.Delay > 0 && e.chance(f.DelayPerMil) {
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			case <-e.stop.Done():
				t.Stop()
			}
		}
		if f.AbortStatus != 0 && e.chance(f.AbortPerMil) {
			rec.rule = routeRule(rt)
			refuse(rec, f.AbortStatus, "egressgw: fault injected by "+routeRule(rt)+" (fault.abort httpStatus "+strconv.Itoa(f.AbortStatus)+")")
			return u
		}
	}
	if rw := rt.Rewrite; rw != nil {
		if rw.URI != "" || rw.Regex != nil {
			setPath(r, rw.Path(r.URL.EscapedPath(), res.Match))
		}
		if rw.Authority != "" {
			r.Host = rw.Authority
		}
	}
	rt.Headers.Request.Apply(r.Header)
	d.Headers.Request.Apply(r.Header)
	rec.respEdits = [3]*route.HeaderEdit{&rt.Headers.Response, &d.Headers.Response, corsEdit}
	if hop {
		// The hop into the egress gateway, as a sidecar would make it: this
		// route's fault, rewrite and header edits applied, then the egress
		// Gateway's route; its response edits apply after the gateway's.
		rec.outerEdits, rec.respEdits = rec.respEdits, [3]*route.HeaderEdit{}
		if rw := rt.Rewrite; rw != nil && rw.Authority != "" {
			host = requestHost(r.Host) // the gateway routes the Host it is sent
		}
		return e.hopHTTP(st, h, rec, r, host, rt, hopPort, forwarded)
	}
	if m := rt.Mirror; m != nil && e.chance(m.PerMil) {
		if mu := st.clusterFor(&route.Destination{Cluster: m.Cluster}, src); mu != nil && mu.proxy != nil {
			e.mirror(mu, h, r, host, rt)
		}
	}
	if eps := u.endpoints; eps != nil {
		var i int
		var src netip.Addr
		if h != nil {
			src = h.src // parsed once per connection
		} else {
			src = remoteAddr4(r)
		}
		u, i = eps.pick(rec, r, src)
		defer func() { eps.done(i, rec.status) }()
	}
	target := hostOr(u.target.host, host)
	switch {
	case u.proxy == nil:
		refuse(rec, http.StatusBadGateway, "egressgw: "+routeRule(rt)+" sends HTTP to "+u.cluster+", whose port is not declared HTTP")
	case h != nil && (u.h1 != nil || u.h2 != nil) && !isUpgrade(r) && !timed(rt):
		h.retries, h.forwarded = &rt.Retries, forwarded
		h.roundTrip(u, rec, r, target)
		h.retries, h.forwarded = nil, false
	case h == nil && pooledH1(u, r, rt):
		e.forwardH1(u, rec, r, target, &rt.Retries, forwarded)
	default:
		ctx := context.WithValue(r.Context(), routeKey{}, routed{rt, forwarded})
		if rt.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, rt.Timeout)
			defer cancel()
		}
		u.proxy.ServeHTTP(rec, r.WithContext(ctx))
	}
	return u
}

// routeKey is the context key of the route a proxied request follows
// (its retries and timeout, read by the transport and the error handler).
type routeKey struct{}

// routed is the value under routeKey.
type routed struct {
	rt        *route.HTTPRoute
	forwarded bool // the X-Forwarded headers are the gateway's own: the proxy forwards them
}

// chance reports true with probability perMil millionths.
func (e *Engine) chance(perMil uint32) bool {
	return perMil >= 1_000_000 || perMil > 0 && rand.Uint32N(1_000_000) < perMil
}

// setPath replaces r's path with the escaped path p.
func setPath(r *http.Request, p string) {
	if q := strings.IndexByte(p, '?'); q >= 0 { // a rewrite with a query replaces the query too
		r.URL.RawQuery, p = p[q+1:], p[:q]
	}
	r.URL.RawPath = p
	if u, err := url.PathUnescape(p); err == nil {
		r.URL.Path = u
	} else {
		r.URL.Path = p
	}
	if r.URL.EscapedPath() == r.URL.Path {
		r.URL.RawPath = ""
	}
	r.RequestURI = r.URL.RequestURI()
}

// routeEgress serves r by the VirtualServices for its host on this egress
// port (bound to mesh, or to an egress Gateway), if there are any: true
// when it answered. Without one the request is forwarded as registered.
func (e *Engine) routeEgress(st *state, l *listener, h *h1conn, rec *recorder, r *http.Request, host, path string, d policy.Decision, start time.Time) bool {
	rl := st.snap.Routes.Listener(route.Egress, l.port)
	if rl == nil {
		return false
	}
	req := route.Request{Host: host, Authority: r.Host, Port: l.port, Method: r.Method, Path: path, Query: r.URL.RawQuery, Scheme: "http", Header: r.Header, Gateway: "mesh",
		Source: rec.client.source()}
	res := rl.Lookup(&req)
	switch res.Miss {
	case route.NoServer, route.NoVirtualService:
		return false
	case route.NoRouteMatched:
		rec.server = res.Server
		rec.Header().Set("X-Egressgw-Rule", "route")
		refuse(rec, http.StatusNotFound, "egressgw: "+explain(res, rl, r, host, path))
		e.logRequest(st, l, r, host, d, nil, rec, start)
		return true
	}
	rec.noteRoute(res)
	u := e.serveRoute(st, h, rec, r, host, res, false)
	e.logRequest(st, l, r, host, d, u, rec, start)
	return true
}

// explain is the body of a 404: what was missing for host and path, and
// (when routes exist) for which host on which Gateway server.
func explain(res route.Result, rl *route.Listener, r *http.Request, host, path string) string {
	msg := res.Explain(host, r.Method+" "+path, rl)
	if res.Miss == route.NoRouteMatched {
		msg += " for host " + host
		if res.Server != nil {
			msg += " on " + res.Server.Name()
		}
	} else {
		msg += " (request " + r.Method + " " + path + ")"
	}
	return msg
}

// remoteAddr4 is r's client address.
func remoteAddr4(r *http.Request) netip.Addr {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return ap.Addr().Unmap()
}

// egressHop reports whether d is the egress gateway's own Service (a mesh
// route's hop into this gateway), and on which port.
func (s *state) egressHop(d *route.Destination) (uint32, bool) {
	if d == nil || d.Cluster < 0 || d.Cluster >= len(s.snap.Clusters) {
		return 0, false
	}
	cl := &s.snap.Clusters[d.Cluster]
	return cl.Port, cl.EgressGateway
}

// hopHTTP serves a request that a mesh route sent to the egress gateway's
// own Service: it arrives, as in Istio, at the egress Gateway's server on
// that port, whose bound routes then apply (serveRoute applied the mesh
// route's fault, rewrite and header edits before; its timeout and retries
// do not apply to the hop, which has no connection of its own).
func (e *Engine) hopHTTP(st *state, h *h1conn, rec *recorder, r *http.Request, host string, from *route.HTTPRoute, port uint32, forwarded bool) *upstream {
	rl := st.snap.Routes.Listener(route.Egress, port)
	req := route.Request{Host: host, Authority: r.Host, Port: port, Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Scheme: "http", Header: r.Header}
	var res route.Result
	if rl != nil {
		res = rl.Lookup(&req)
	}
	switch {
	case rl == nil || len(rl.Servers) == 0:
		refuse(rec, http.StatusServiceUnavailable, "egressgw: "+routeRule(from)+" sends "+host+" to the egress gateway on port "+
			strconv.Itoa(int(port))+", but no egress Gateway server listens there")
		return nil
	case res.Miss != route.Found:
		rec.Header().Set("X-Egressgw-Rule", "route")
		refuse(rec, http.StatusNotFound, "egressgw: "+routeRule(from)+" sends "+host+" to the egress gateway: "+explain(res, rl, r, host, req.Path))
		return nil
	}
	if _, again := st.egressHop(res.Route.Action.Pick(0)); again && res.Route.Action.Kind == route.ActionRoute {
		refuse(rec, http.StatusLoopDetected, "egressgw: "+routeRule(res.Route)+" on the egress Gateway sends "+host+" to the egress gateway again: a loop")
		return nil
	}
	rec.noteRoute(res)
	return e.serveRoute(st, h, rec, r, host, res, forwarded)
}
