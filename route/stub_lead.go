package route

// TEMPORARY (lead's branch only, removed when the route table's build
// lands): unindexed lookups so the engine compiles and can be tested.

import (
	"net/http"
	"strings"
)

type Table struct{ ls []*Listener }

func New(ls []*Listener) (*Table, error) { return &Table{ls: ls}, nil }

func (t *Table) Listeners() []*Listener {
	if t == nil {
		return nil
	}
	return t.ls
}

func (t *Table) Listener(side Side, port uint32) *Listener {
	if t == nil {
		return nil
	}
	for _, l := range t.ls {
		if l.Side == side && l.Port == port {
			return l
		}
	}
	return nil
}

func hostMatch(pat, h string) bool {
	return pat == "*" || pat == h || strings.HasPrefix(pat, "*.") && strings.HasSuffix(h, pat[1:])
}

func (l *Listener) ServerFor(host string) *Server {
	if host == "" {
		if len(l.Servers) == 1 {
			return l.Servers[0]
		}
		for _, s := range l.Servers {
			for _, h := range s.Hosts {
				if h == "*" {
					return s
				}
			}
		}
		return nil
	}
	for _, s := range l.Servers {
		for _, h := range s.Hosts {
			if hostMatch(h, host) {
				return s
			}
		}
	}
	return nil
}

func (l *Listener) Lookup(r *Request) Result {
	s := l.ServerFor(r.Host)
	if s == nil {
		return Result{Miss: NoServer}
	}
	for _, vh := range l.HTTP {
		if !hostMatch(vh.Host, r.Host) {
			continue
		}
		for _, rt := range vh.Routes {
			if len(rt.Match) == 0 {
				return Result{Server: vh.Server, Host: vh, Route: rt}
			}
			for i := range rt.Match {
				m := &rt.Match[i]
				if m.URI.Kind == MatchAny || m.URI.Kind == MatchPrefix && strings.HasPrefix(r.Path, m.URI.Value) || m.URI.Kind == MatchExact && r.Path == m.URI.Value {
					return Result{Server: vh.Server, Host: vh, Route: rt, Match: m}
				}
			}
		}
		return Result{Miss: NoRouteMatched, Server: vh.Server, Host: vh}
	}
	return Result{Miss: NoVirtualService, Server: s}
}

func (l *Listener) LookupTLS(sni string, port uint32) *TLSRoute {
	for _, r := range l.TLS {
		for _, h := range r.SNIHosts {
			if hostMatch(h, sni) {
				return r
			}
		}
	}
	return nil
}

func (l *Listener) LookupTCP(port uint32) *TCPRoute {
	if len(l.TCP) > 0 {
		return l.TCP[0]
	}
	return nil
}

func (a *Action) Pick(n uint32) *Destination { return pick(a.Destinations, n) }

func pick(ds []Destination, n uint32) *Destination {
	for i := range ds {
		if n < ds[i].Weight || i == len(ds)-1 {
			return &ds[i]
		}
		n -= ds[i].Weight
	}
	return nil
}

func (r *TLSRoute) Pick(n uint32) *Destination { return pick(r.Destinations, n) }
func (r *TCPRoute) Pick(n uint32) *Destination { return pick(r.Destinations, n) }

func (r Result) Explain(host, path string, l *Listener) string {
	return "no route for " + host + path
}

func (rw *Rewrite) Path(path string, m *Match) string {
	if rw.URI == "" {
		return path
	}
	if m != nil && m.URI.Kind == MatchPrefix {
		return rw.URI + strings.TrimPrefix(path, m.URI.Value)
	}
	return rw.URI
}

func (rd *Redirect) Location(scheme, host string, port uint32, path, query string) string {
	u := scheme + "://" + host + path
	if query != "" {
		u += "?" + query
	}
	return u
}

func (e *HeaderEdit) Apply(h http.Header) {
	for _, k := range e.Remove {
		h.Del(k)
	}
	for _, kv := range e.Set {
		h.Set(kv.Name, kv.Value)
	}
	for _, kv := range e.Add {
		h.Add(kv.Name, kv.Value)
	}
}

type hostIndex struct{}
