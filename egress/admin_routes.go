package egress

import (
	"strconv"
	"strings"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/route"
)

// The compiled routes and clusters, as /config_dump shows them: what each
// Gateway server and VirtualService became, never key material.

type routeListenerDump struct {
	Side    string            `json:"side"`
	Port    uint32            `json:"port"`
	Servers []serverDump      `json:"servers"`
	HTTP    []virtualHostDump `json:"http,omitempty"`
	TLS     []streamRouteDump `json:"tls,omitempty"`
	TCP     []streamRouteDump `json:"tcp,omitempty"`
}

type serverDump struct {
	Server        string   `json:"server"` // "Gateway ns/name spec.servers[0]"
	Port          string   `json:"portName,omitempty"`
	Hosts         []string `json:"hosts"`
	TLS           string   `json:"tls,omitempty"` // mode and where the certificate comes from
	HTTPSRedirect bool     `json:"httpsRedirect,omitempty"`
}

type virtualHostDump struct {
	Host            string          `json:"host"`
	Server          string          `json:"server,omitempty"`
	VirtualServices []string        `json:"virtualServices"`
	Routes          []httpRouteDump `json:"routes"`
}

type httpRouteDump struct {
	Route   string   `json:"route"` // "VirtualService ns/name spec.http[0]"
	Name    string   `json:"name"`
	Match   []string `json:"match,omitempty"`
	Action  string   `json:"action"`
	Timeout string   `json:"timeout,omitempty"`
	Retries string   `json:"retries,omitempty"`
	Rewrite string   `json:"rewrite,omitempty"`
	Fault   string   `json:"fault,omitempty"`
}

type streamRouteDump struct {
	Route        string   `json:"route"`
	SNIHosts     []string `json:"sniHosts,omitempty"`
	Port         uint32   `json:"port,omitempty"`
	Destinations []string `json:"destinations"`
}

type clusterDump struct {
	Name      string   `json:"name"`
	Subset    string   `json:"subset,omitempty"`
	Endpoints []string `json:"endpoints,omitempty"`
	TLS       string   `json:"tlsOrigination,omitempty"`
	Missing   string   `json:"missing,omitempty"`
	Ejected   []string `json:"ejectedEndpoints,omitempty"` // by outlier detection, now ("address:port")
}

// dumpEjected fills in each cluster's ejected endpoints (cs is dumpRoutes' of s.snap).
func (s *state) dumpEjected(cs []clusterDump) {
	if s == nil {
		return
	}
	for i := range cs {
		if i < len(s.clusters) && s.clusters[i] != nil && s.clusters[i].endpoints != nil {
			cs[i].Ejected = s.clusters[i].endpoints.dumpEjected()
		}
	}
}

func dumpRoutes(s *config.Snapshot) (ls []routeListenerDump, cs []clusterDump) {
	dest := func(ds []route.Destination) []string {
		out := make([]string, 0, len(ds))
		for _, d := range ds {
			name := "cluster #" + strconv.Itoa(d.Cluster)
			if d.Cluster >= 0 && d.Cluster < len(s.Clusters) {
				name = s.Clusters[d.Cluster].Name
			}
			if len(ds) > 1 {
				name += " weight " + strconv.Itoa(int(d.Weight))
			}
			out = append(out, name)
		}
		return out
	}
	for _, rl := range s.Routes.Listeners() {
		ld := routeListenerDump{Side: rl.Side.String(), Port: rl.Port}
		for _, sv := range rl.Servers {
			sd := serverDump{Server: sv.Name(), Port: sv.PortName, Hosts: sv.Hosts, HTTPSRedirect: sv.HTTPSRedirect}
			if sv.TLS != nil {
				sd.TLS = tlsModeName(sv.TLS.Mode)
				if sv.TLS.Source != "" {
					sd.TLS += " from " + sv.TLS.Source
				}
			}
			ld.Servers = append(ld.Servers, sd)
		}
		for _, vh := range rl.HTTP {
			vd := virtualHostDump{Host: vh.Host, VirtualServices: vh.VirtualServices}
			if vh.Server != nil {
				vd.Server = vh.Server.Name()
			}
			for _, rt := range vh.Routes {
				rd := httpRouteDump{Route: routeRule(rt), Name: rt.Name}
				for i := range rt.Match {
					rd.Match = append(rd.Match, describeMatch(&rt.Match[i]))
				}
				switch rt.Action.Kind {
				case route.ActionRedirect:
					rd.Action = "redirect " + strconv.Itoa(rt.Action.Redirect.Code)
				case route.ActionDirect:
					rd.Action = "direct response " + strconv.Itoa(rt.Action.Direct.Status)
				default:
					rd.Action = "route to " + strings.Join(dest(rt.Action.Destinations), ", ")
				}
				if rt.Timeout > 0 {
					rd.Timeout = rt.Timeout.String()
				}
				if rt.Retries.Attempts > 0 {
					rd.Retries = strconv.Itoa(rt.Retries.Attempts) + " attempts"
					if rt.Retries.PerTryTimeout > 0 {
						rd.Retries += ", " + rt.Retries.PerTryTimeout.String() + " per try"
					}
				}
				if rw := rt.Rewrite; rw != nil {
					rd.Rewrite = strings.TrimSpace("uri=" + rw.URI + " authority=" + rw.Authority)
				}
				if f := rt.Fault; f != nil {
					rd.Fault = "delay " + f.Delay.String() + " abort " + strconv.Itoa(f.AbortStatus)
				}
				vd.Routes = append(vd.Routes, rd)
			}
			ld.HTTP = append(ld.HTTP, vd)
		}
		for _, tr := range rl.TLS {
			ld.TLS = append(ld.TLS, streamRouteDump{Route: "VirtualService " + tr.VirtualService + " " + tr.Field, SNIHosts: tr.SNIHosts, Port: tr.Port, Destinations: dest(tr.Destinations)})
		}
		for _, tr := range rl.TCP {
			ld.TCP = append(ld.TCP, streamRouteDump{Route: "VirtualService " + tr.VirtualService + " " + tr.Field, Port: tr.Port, Destinations: dest(tr.Destinations)})
		}
		ls = append(ls, ld)
	}
	for _, c := range s.Clusters {
		cd := clusterDump{Name: c.Name, Subset: c.Subset, Missing: c.Missing}
		for _, ep := range c.Entry.Endpoints {
			cd.Endpoints = append(cd.Endpoints, ep.Address)
		}
		if t := c.EntryPort.TLS; t != nil {
			cd.TLS = "from " + t.Source
		}
		cs = append(cs, cd)
	}
	return ls, cs
}

func tlsModeName(m route.TLSMode) string {
	return [...]string{"none", "SIMPLE", "MUTUAL", "PASSTHROUGH", "ISTIO_MUTUAL (the pod's plaintext accepted)", "OPTIONAL_MUTUAL"}[m]
}

// describeMatch writes a match as "uri prefix /status, method exact GET, ...".
func describeMatch(m *route.Match) string {
	var parts []string
	str := func(what string, s route.StringMatch) {
		if s.Kind == route.MatchAny {
			return
		}
		v := s.Value
		if s.Re != nil {
			v = s.Re.String()
		}
		parts = append(parts, what+" "+[...]string{"", "exact", "prefix", "regex"}[s.Kind]+" "+v)
	}
	str("uri", m.URI)
	str("scheme", m.Scheme)
	str("method", m.Method)
	str("authority", m.Authority)
	for _, h := range m.Headers {
		what := "header " + h.Name
		if h.Absent {
			what = "without header " + h.Name
		}
		if h.Match.Kind == route.MatchAny {
			parts = append(parts, what+" present")
			continue
		}
		str(what, h.Match)
	}
	for _, q := range m.QueryParams {
		str("query "+q.Name, q.Match)
	}
	if m.Port != 0 {
		parts = append(parts, "port "+strconv.Itoa(int(m.Port)))
	}
	if len(m.Gateways) > 0 {
		parts = append(parts, "gateways "+strings.Join(m.Gateways, " "))
	}
	if m.IgnoreURICase {
		parts = append(parts, "ignoreUriCase")
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, ", ")
}
