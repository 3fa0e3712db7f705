package route

import "strings"

// Mesh is the gateway name of VirtualServices bound to the mesh: the
// pods' own traffic on egress.
const Mesh = "mesh"

// Lookup finds the HTTP route of r on l: the server admitting r.Host, the
// virtual host for r.Host among those bound to that server (exact, then
// the longest wildcard, then "*"), then the first route whose match
// accepts r. A request whose Gateway is "mesh" (a pod's own request on
// egress), or any request on a listener without servers, is looked up
// among the virtual hosts of VirtualServices bound to mesh instead. It
// does not allocate.
func (l *Listener) Lookup(r *Request) Result {
	vx := &l.hosts
	var srv *Server
	if len(l.Servers) > 0 && r.Gateway != Mesh {
		si := l.servers.find(r.Host)
		switch {
		case si >= 0:
			srv, vx = l.Servers[si], &l.byServer[si]
		case l.hosts.empty():
			return Result{Miss: NoServer}
		}
	}
	vi := vx.find(r.Host)
	if vi < 0 && srv != nil {
		// Another server of the port may admit the host too (a.example.com
		// and *.example.com): its virtual hosts are searched next, as Envoy
		// searches one route table merged from every server of a port.
		for i, s := range l.Servers {
			if s == srv || !admitsHost(s, r.Host) {
				continue
			}
			if j := l.byServer[i].find(r.Host); j >= 0 {
				srv, vi = s, j
				break
			}
		}
	}
	if vi < 0 {
		return Result{Miss: NoVirtualService, Server: srv}
	}
	vh := l.HTTP[vi]
	gw := r.Gateway
	if srv != nil {
		gw = srv.Gateway
	}
	if vh.scoped && r.Source.Scoped {
		return l.lookupFrom(vx, vh, r, gw)
	}
	for _, rt := range vh.Routes {
		if i := rt.matchIndex(r, gw); i >= 0 {
			return found(srv, vh, rt, i)
		}
	}
	return Result{Miss: NoRouteMatched, Server: srv, Host: vh}
}

// lookupFrom is the route loop of a mesh virtual host some of whose routes
// are exported to some namespaces only: the routes r.Source does not see
// are skipped, and when it sees none the host has no VirtualService for
// it (the request is forwarded as registered, as from a namespace Istio
// gives no route for the host). The routes it sees are tried in Istio's
// order for a proxy's VirtualServices: those of its own namespace
// exported to it, then those of other namespaces exported to it by name,
// then those exported everywhere; each in load order.
func (l *Listener) lookupFrom(vx *hostIndex, vh *VirtualHost, r *Request, gw string) Result {
	// A host none of whose VirtualServices the source sees falls to the
	// next less specific one (a wildcard), as Istio selects a proxy's
	// VirtualServices among those it sees.
	for rank := 0; ; {
		res := vh.lookupFrom(r, gw)
		if res.Miss != NoVirtualService {
			return res
		}
		var vi int
		if vi, rank = vx.next(r.Host, rank); vi < 0 {
			return res
		}
		vh = l.HTTP[vi]
	}
}

func (vh *VirtualHost) lookupFrom(r *Request, gw string) Result {
	// One pass: the first match of each class is kept, and one of the
	// first class ends the search.
	var best [routeClasses]*HTTPRoute
	var at [routeClasses]int
	seen := false
	for _, rt := range vh.Routes {
		c := r.Source.class(rt)
		if c < 0 {
			continue
		}
		seen = true
		if best[c] != nil {
			continue
		}
		if i := rt.matchIndex(r, gw); i >= 0 {
			if c == 0 {
				return found(nil, vh, rt, i)
			}
			best[c], at[c] = rt, i
		}
	}
	for c, rt := range best {
		if rt != nil {
			return found(nil, vh, rt, at[c])
		}
	}
	if !seen {
		return Result{Miss: NoVirtualService}
	}
	return Result{Miss: NoRouteMatched, Host: vh}
}

// found is the Result of route rt of vh, its match i (len(rt.Match): none).
func found(srv *Server, vh *VirtualHost, rt *HTTPRoute, i int) Result {
	var m *Match
	if i < len(rt.Match) {
		m = &rt.Match[i]
	}
	return Result{Server: srv, Host: vh, Route: rt, Match: m}
}

// matchIndex returns the index of the first of the route's matches that
// accepts r, len(rt.Match) for a route without match (it accepts
// everything), or -1.
func (rt *HTTPRoute) matchIndex(r *Request, gw string) int {
	if len(rt.Match) == 0 {
		return 0
	}
	for i := range rt.Match {
		if rt.Match[i].matches(r, gw) {
			return i
		}
	}
	return -1
}

// matches reports whether every set part of m accepts r, which came
// through gateway gw.
func (m *Match) matches(r *Request, gw string) bool {
	if m.Port != 0 && m.Port != r.Port {
		return false
	}
	if len(m.Gateways) > 0 && !containsString(m.Gateways, gw) {
		return false
	}
	if !m.URI.match(r.Path, m.IgnoreURICase) ||
		!m.Method.match(r.Method, false) ||
		!m.Scheme.match(r.Scheme, false) ||
		!m.Authority.match(r.Authority, false) {
		return false
	}
	for i := range m.Headers {
		if !m.Headers[i].matchHeader(r) {
			return false
		}
	}
	for i := range m.QueryParams {
		if !m.QueryParams[i].matchQuery(r.Query) {
			return false
		}
	}
	return true
}

func admitsHost(s *Server, host string) bool {
	for _, h := range s.Hosts {
		if hostMatches(h, host) {
			return true
		}
	}
	return false
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// match reports whether s satisfies m. With fold, exact and prefix compare
// case-insensitively (Value is lowercase then; a regex carries its own (?i)).
func (m *StringMatch) match(s string, fold bool) bool {
	switch m.Kind {
	case MatchExact:
		if fold {
			return strings.EqualFold(s, m.Value)
		}
		return s == m.Value
	case MatchPrefix:
		if fold {
			return len(s) >= len(m.Value) && strings.EqualFold(s[:len(m.Value)], m.Value)
		}
		return strings.HasPrefix(s, m.Value)
	case MatchRegex:
		return m.Re != nil && m.Re.MatchString(s)
	default:
		return true
	}
}

// matchHeader applies a header match: any value of the header may satisfy
// it. Absent (withoutHeaders) inverts it: no value may satisfy it, and a
// bare Absent match wants the header missing.
func (h *HeaderMatch) matchHeader(r *Request) bool {
	vs := r.Header[h.Name]
	found := false
	if len(vs) > 0 {
		if h.Match.Kind == MatchAny {
			found = true
		} else {
			for _, v := range vs {
				if h.Match.match(v, false) {
					found = true
					break
				}
			}
		}
	}
	return found != h.Absent
}

// matchQuery applies a query parameter match to the raw query (names and
// values compared as sent, not unescaped). A parameter present without a
// value has the value "".
func (h *HeaderMatch) matchQuery(q string) bool {
	found := false
	for q != "" && !found {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != h.Name {
			continue
		}
		found = h.Match.Kind == MatchAny || h.Match.match(v, false)
	}
	return found != h.Absent
}
