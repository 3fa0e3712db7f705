package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/egressgw/egressgw/route"
)

// vhKey identifies a virtual host: VirtualServices for the same host bound
// to the same server (nil: mesh) of the same listener merge into it.
type vhKey struct {
	l    *route.Listener
	srv  *route.Server
	host string
}

// boundKey identifies an http route compiled for a listener port.
type boundKey struct {
	r     *httpRoute
	lport uint32
}

// bindVirtualServices binds every VirtualService, in Istio's order, to the
// listeners of its gateways: for a Gateway, the servers that admit its
// hosts; for mesh, the egress ports of its hosts' entries.
func (c *compiler) bindVirtualServices() {
	for _, v := range c.vss {
		for _, g := range v.gateways {
			if g == route.Mesh {
				c.bindMesh(v)
				continue
			}
			gw := c.gatewayByName[g]
			if gw == nil {
				c.r.unservedReference(v.obj.File, v.obj.Resource(), "spec.gateways", "IST0101 referenced Gateway not found: %s (the VirtualService's routes do not apply to it)", g)
				continue
			}
			if !v.export.Includes(c.opts.Namespace) {
				// As Istio binds a VirtualService to a gateway workload
				// only when it is exported to the workload's namespace.
				c.r.warn(v.obj.File, v.obj.Resource(), "spec.exportTo", "not bound to Gateway %s: exported to [%s], not to the gateway's namespace %s (--namespace)", g, strings.Join(v.exportTo, " "), c.opts.Namespace)
				continue
			}
			if gw.served {
				c.bindGateway(v, gw)
			}
		}
	}
}

func (c *compiler) bindMesh(v *vsObj) {
	f, res := v.obj.File, v.obj.Resource()
	for _, h := range v.hosts {
		ports := c.meshPorts(h)
		if len(ports) == 0 {
			if i := c.entryFor(h); i >= 0 && c.emeta[i].inCluster {
				c.r.warn(f, res, "spec.hosts", "not applied to mesh traffic for %s: %s is in the cluster, where pods reach it through kube-proxy, not egressgw", h, c.entries[i].Source)
				continue
			}
			c.r.warn(f, res, "spec.hosts", "not applied to mesh traffic for %s: no ServiceEntry or ExternalName Service registers it (egress listens on registered ports only)", h)
			continue
		}
		for _, p := range ports {
			l := c.listener(route.Egress, p.Number)
			if p.Protocol == ProtocolHTTP || p.Protocol == ProtocolAuto {
				c.addHTTP(v, l, nil, h)
			}
			if p.Protocol == ProtocolTLS || p.Protocol == ProtocolAuto {
				c.addTLS(v, l, nil)
			}
			if p.Protocol == ProtocolTCP {
				c.addTCP(v, l, nil)
			}
		}
	}
}

// meshPorts returns the ports of the entries a mesh VirtualService host
// covers: the entry registering it, or for a wildcard host every entry
// under it.
func (c *compiler) meshPorts(h string) []Port {
	var out []Port
	seen := map[uint32]bool{}
	add := func(e *Entry) {
		for _, p := range e.Ports {
			if !seen[p.Number] {
				seen[p.Number] = true
				out = append(out, p)
			}
		}
	}
	if i := c.entryFor(h); i >= 0 {
		if !c.emeta[i].inCluster { // pods reach an in-cluster Service through kube-proxy, not egressgw
			add(&c.entries[i])
		}
		return out
	}
	if isWildcard(h) {
		for i := range c.entries {
			if !c.emeta[i].inCluster && wildcardCovers(h, c.entries[i].Host) {
				add(&c.entries[i])
			}
		}
	}
	return out
}

func (c *compiler) bindGateway(v *vsObj, gw *gatewayObj) {
	f, res := v.obj.File, v.obj.Resource()
	bound := false
	for _, gs := range gw.servers {
		if gs.dropped {
			continue
		}
		l := c.listener(gw.side, gs.port)
		var hosts []string
		for _, h := range v.hosts {
			for _, vh := range gs.admits(h, v.obj.Namespace) {
				if !slices.Contains(hosts, vh) {
					hosts = append(hosts, vh)
				}
			}
		}
		if len(hosts) == 0 {
			continue
		}
		bound = true
		srv := gs.srv
		switch srv.Protocol {
		case route.ProtocolHTTP:
			for _, h := range hosts {
				c.addHTTP(v, l, srv, h)
			}
			c.notServed(v, srv, len(v.tls) > 0, "tls", "it terminates TLS and routes HTTP (use http routes)")
			c.notServed(v, srv, len(v.tcp) > 0, "tcp", "it serves HTTP (use http routes)")
		case route.ProtocolTLS:
			c.addTLS(v, l, srv)
			c.notServed(v, srv, len(v.http) > 0, "http", "it is a PASSTHROUGH server, which routes by SNI without terminating (use tls routes, or tls.mode SIMPLE)")
			c.notServed(v, srv, len(v.tcp) > 0, "tcp", "it is a PASSTHROUGH server (use tls routes)")
		case route.ProtocolTCP:
			c.addTCP(v, l, srv)
			c.notServed(v, srv, len(v.http) > 0, "http", "it is a TCP server (use tcp routes, or protocol HTTP/HTTPS)")
			c.notServed(v, srv, len(v.tls) > 0, "tls", "it is a TCP server (use tcp routes)")
		}
	}
	if !bound {
		c.r.warn(f, res, "spec.hosts", "not bound to Gateway %s: none of its servers admits hosts [%s] for namespace %s", gw.name, strings.Join(v.hosts, " "), v.obj.Namespace)
	}
}

func (c *compiler) notServed(v *vsObj, srv *route.Server, has bool, kind, why string) {
	if has {
		c.r.warn(v.obj.File, v.obj.Resource(), "spec."+kind, "not applied on %s: %s", srv.Name(), why)
	}
}

// addHTTP appends v's http routes to the virtual host (l, srv, host).
func (c *compiler) addHTTP(v *vsObj, l *route.Listener, srv *route.Server, host string) {
	if len(v.http) == 0 {
		return
	}
	k := vhKey{l, srv, host}
	vh := c.vhosts[k]
	if vh == nil {
		vh = &route.VirtualHost{Host: host, Server: srv}
		c.vhosts[k] = vh
		l.HTTP = append(l.HTTP, vh)
	}
	for _, name := range vh.VirtualServices {
		if name == v.name {
			return // the VirtualService is already here (two of its hosts narrowed to the same one)
		}
	}
	vh.VirtualServices = append(vh.VirtualServices, v.name)
	for _, r := range v.http {
		if r.appliesVia(srv) {
			vh.Routes = append(vh.Routes, c.boundHTTP(r, l.Port))
		}
	}
}

// boundHTTP is r with its destinations resolved for a listener on lport.
func (c *compiler) boundHTTP(r *httpRoute, lport uint32) *route.HTTPRoute {
	k := boundKey{r, lport}
	if b, ok := c.bound[k]; ok {
		return b
	}
	b := r.r // shallow copy: the match, rewrite and the rest are shared
	if b.Action.Kind == route.ActionRoute {
		b.Action.Destinations = make([]route.Destination, len(r.dests))
		for i, d := range r.dests {
			b.Action.Destinations[i] = route.Destination{Cluster: c.cluster(d, lport), Weight: r.weights[i], Headers: r.headers[i]}
		}
		if len(r.dests) > 1 {
			b.Action.TotalWeight = 100
		}
	}
	if r.mirror != nil {
		m := *r.r.Mirror
		m.Cluster = c.cluster(*r.mirror, lport)
		b.Mirror = &m
	}
	c.bound[k] = &b
	return &b
}

func (c *compiler) l4Dests(lr *l4Route, lport uint32) ([]route.Destination, uint32) {
	ds := make([]route.Destination, len(lr.dests))
	for i, d := range lr.dests {
		ds[i] = route.Destination{Cluster: c.cluster(d, lport), Weight: lr.weights[i]}
	}
	if len(ds) > 1 {
		return ds, 100
	}
	return ds, 0
}

// l4Key identifies the tls or tcp routes of a VirtualService added to a
// listener for one server (nil: mesh).
type l4Key struct {
	v   *vsObj
	l   *route.Listener
	srv *route.Server
}

// firstL4 reports whether v's tls/tcp routes are not yet on (l, srv).
func (c *compiler) firstL4(v *vsObj, l *route.Listener, srv *route.Server) bool {
	k := l4Key{v, l, srv}
	if c.l4Added[k] {
		return false
	}
	c.l4Added[k] = true
	return true
}

// appliesVia reports whether a match with gateways applies to routes
// bound through srv (nil: mesh).
func appliesVia(gateways []string, srv *route.Server) bool {
	if len(gateways) == 0 {
		return true
	}
	g := route.Mesh
	if srv != nil {
		g = srv.Gateway
	}
	return slices.Contains(gateways, g)
}

// appliesVia reports whether any match of r can apply through srv: a
// route whose every match names other gateways is left out there.
func (r *httpRoute) appliesVia(srv *route.Server) bool {
	if len(r.r.Match) == 0 {
		return true
	}
	for i := range r.r.Match {
		if appliesVia(r.r.Match[i].Gateways, srv) {
			return true
		}
	}
	return false
}

// via is the gateways of a match, or the one the routes are bound through.
func via(m l4Match, srv *route.Server) []string {
	switch {
	case len(m.gateways) > 0:
		return m.gateways
	case srv == nil:
		return []string{route.Mesh}
	default:
		return []string{srv.Gateway}
	}
}

// addTLS appends v's tls routes, one per match, to l.
func (c *compiler) addTLS(v *vsObj, l *route.Listener, srv *route.Server) {
	if len(v.tls) == 0 || !c.firstL4(v, l, srv) {
		return
	}
	for _, lr := range v.tls {
		ds, total := c.l4Dests(lr, l.Port)
		for i, m := range lr.matches {
			if !appliesVia(m.gateways, srv) {
				continue
			}
			l.TLS = append(l.TLS, &route.TLSRoute{
				VirtualService: v.name, Field: fmt.Sprintf("%s.match[%d]", lr.field, i), Server: srv,
				SNIHosts: m.sniHosts, Port: m.port, Gateways: via(m, srv), Destinations: ds, TotalWeight: total, Export: meshExport(v, srv),
			})
		}
	}
}

// addTCP appends v's tcp routes, one per match (or one without match), to l.
func (c *compiler) addTCP(v *vsObj, l *route.Listener, srv *route.Server) {
	if len(v.tcp) == 0 || !c.firstL4(v, l, srv) {
		return
	}
	for _, lr := range v.tcp {
		ds, total := c.l4Dests(lr, l.Port)
		if len(lr.matches) == 0 {
			l.TCP = append(l.TCP, &route.TCPRoute{VirtualService: v.name, Field: lr.field, Server: srv, Gateways: via(l4Match{}, srv), Destinations: ds, TotalWeight: total})
		}
		for i, m := range lr.matches {
			if !appliesVia(m.gateways, srv) {
				continue
			}
			l.TCP = append(l.TCP, &route.TCPRoute{
				VirtualService: v.name, Field: fmt.Sprintf("%s.match[%d]", lr.field, i), Server: srv,
				Port: m.port, Gateways: via(m, srv), Destinations: ds, TotalWeight: total,
			})
		}
	}
}

// meshExport is v's exportTo for its l4 routes bound through srv: only
// mesh routes (srv nil) are chosen per source pod.
func meshExport(v *vsObj, srv *route.Server) *route.Export {
	if srv != nil {
		return nil
	}
	return v.export
}
