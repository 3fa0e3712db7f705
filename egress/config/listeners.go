package config

import (
	"cmp"
	"maps"
	"slices"

	"github.com/egressgw/egressgw/route"
)

// listeners builds one Listener per distinct port. A port that any entry
// declares TCP is forwarded without peeking, so it must belong to exactly
// one entry with a single destination.
func (c *compiler) listeners() []Listener {
	owners := map[uint32][]int{}
	tcp := map[uint32]bool{}
	for i, e := range c.entries {
		for _, p := range e.Ports {
			owners[p.Number] = append(owners[p.Number], i)
			if p.Protocol == ProtocolTCP {
				tcp[p.Number] = true
			}
		}
	}
	var ls []Listener
	// An egress Gateway server's port opens even if no entry registers it.
	for _, l := range c.routeOrder {
		if l.Side == route.Egress && len(l.Servers) > 0 && owners[l.Port] == nil {
			ls = append(ls, Listener{Port: l.Port, Kind: ListenerSniff})
		}
	}
	for _, port := range slices.Sorted(maps.Keys(owners)) {
		if !tcp[port] {
			ls = append(ls, Listener{Port: port, Kind: ListenerSniff})
			continue
		}
		own := owners[port]
		first := own[0]
		for _, other := range own[1:] {
			m := c.emeta[other]
			c.r.problem(m.obj.File, m.obj.Resource(), m.portField[port],
				"TCP port %d is claimed by %s (%s) and %s (%s); egressgw cannot tell TCP connections apart by destination (Istio allocates a VIP per ServiceEntry); use HTTP/TLS or separate ports",
				port, c.entries[first].Source, c.entries[first].Host, c.entries[other].Source, c.entries[other].Host)
		}
		if e := c.entries[first]; isWildcard(e.Host) && e.Resolution != ResolutionStatic {
			m := c.emeta[first]
			c.r.problem(m.obj.File, m.obj.Resource(), m.portField[port],
				"TCP port %d needs one destination, but %s is a wildcard host: use an exact host or STATIC endpoints", port, e.Host)
		}
		ls = append(ls, Listener{Port: port, Kind: ListenerTCP, TCPEntry: first})
	}
	slices.SortFunc(ls, func(a, b Listener) int { return cmp.Compare(a.Port, b.Port) })
	return ls
}
