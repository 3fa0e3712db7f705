package route

import (
	"fmt"
	"strings"
)

// Explain is the body of the 404 for a lookup that found no route: what
// was missing, naming the Gateway servers and VirtualServices involved.
// path is shown as given: the caller may put the method before it
// ("GET /headers"). It returns "" for a Result that found a route. Not for
// the hot path: it allocates.
func (r Result) Explain(host, path string, l *Listener) string {
	side, port := "egress", uint32(0)
	if l != nil {
		side, port = l.Side.String(), l.Port
	}
	switch r.Miss {
	case NoServer:
		if l == nil || len(l.Servers) == 0 {
			return fmt.Sprintf("no Gateway server on %s port %d serves host %s", side, port, host)
		}
		parts := make([]string, len(l.Servers))
		for i, s := range l.Servers {
			parts[i] = fmt.Sprintf("%s hosts [%s]", s.Name(), strings.Join(s.Hosts, " "))
		}
		return fmt.Sprintf("no Gateway server on %s port %d serves host %s (servers: %s)", side, port, host, strings.Join(parts, ", "))
	case NoVirtualService:
		if r.Server == nil {
			return fmt.Sprintf("no VirtualService for host %s is bound to %s port %d", host, side, port)
		}
		return fmt.Sprintf("%s admits host %s but no VirtualService for %s is bound to it", r.Server.Name(), host, host)
	case NoRouteMatched:
		var vss []string
		if r.Host != nil {
			vss = r.Host.VirtualServices
		}
		what := "VirtualService " + strings.Join(vss, ", VirtualService ")
		if len(vss) == 0 {
			what = "the VirtualServices for " + host
		}
		return fmt.Sprintf("no route of %s matched %s", what, path)
	default:
		return ""
	}
}
