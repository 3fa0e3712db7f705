package config

import (
	"fmt"
	"slices"
	"strings"
)

// Cluster is one destination of the route table: a host, port and subset,
// with the registered entry and port settings that forwarding to it uses.
type Cluster struct {
	Name   string // Istio's cluster name: "outbound|8000|v1|httpbin.default.svc.cluster.local"
	Host   string
	Port   uint32
	Subset string
	// Entry is the entry registering Host, its endpoints filtered by the
	// subset's labels; EntryPort is its port Port, with the
	// DestinationRule's (and the subset's) settings applied.
	Entry     Entry
	EntryPort Port
	// EgressGateway: Host is one of Options.EgressGatewayHosts, the egress
	// gateway's own Service: the route is the hop into this gateway, whose
	// Gateway-bound routes then apply (Entry and EntryPort are empty).
	EgressGateway bool
	// Missing is non-empty when the host, port or subset is not found: why,
	// for the 503 body.
	Missing string
	// Views are EntryPort as each of Entry.Views sees it (the
	// DestinationRule a source namespace gets), aligned with
	// Entry.Views.Ports; nil when the entry has no views.
	Views []ClusterView
}

// ClusterView is a cluster's port settings for the sources of one view,
// or why the cluster is missing for them (its subset is not defined by
// the rule they see).
type ClusterView struct {
	Port    Port
	Missing string
}

// clusterKey identifies a Cluster.
type clusterKey struct {
	host   string
	port   uint32
	subset string
}

// destRef is a route destination before it is resolved into a cluster.
type destRef struct {
	obj    *object
	field  string // "spec.http[0].route[1].destination"
	host   string // expanded, lowercase
	port   uint32 // 0: unset
	subset string
}

// cluster returns the index in c.clusters of the destination d as seen
// from a listener on port lport (an unset port takes the entry's only
// port, else lport), creating the Cluster the first time.
func (c *compiler) cluster(d destRef, lport uint32) int {
	if c.isEgressGateway(d.host) {
		return c.addCluster(clusterKey{d.host, d.port, d.subset}, func(cl *Cluster) { cl.EgressGateway = true })
	}
	ei := c.entryFor(d.host)
	if ei < 0 {
		k := clusterKey{d.host, d.port, d.subset}
		if _, seen := c.clusterIdx[k]; !seen {
			c.r.unservedReference(d.obj.File, d.obj.Resource(), d.field+".host", "IST0101 referenced host not found: no ServiceEntry or Service registers %s (requests routed there get 503)", d.host)
		}
		return c.addCluster(k, func(cl *Cluster) {
			cl.Missing = fmt.Sprintf("no ServiceEntry or Service registers %s", d.host)
		})
	}
	e := &c.entries[ei]
	port := d.port
	switch {
	case port != 0:
	case len(e.Ports) == 1:
		port = e.Ports[0].Number
	default:
		port = lport
	}
	k := clusterKey{d.host, port, d.subset}
	if i, ok := c.clusterIdx[k]; ok {
		return i
	}
	p, ok := e.Port(port)
	if !ok {
		nums := make([]string, len(e.Ports))
		for i, ep := range e.Ports {
			nums[i] = fmt.Sprint(ep.Number)
		}
		why := fmt.Sprintf("%s (%s) has no port %d (ports: %s)", d.host, e.Source, port, strings.Join(nums, ", "))
		if d.port != 0 {
			c.r.problem(d.obj.File, d.obj.Resource(), d.field+".port.number", "route to a port the destination lacks: %s", why)
		} else {
			c.r.warn(d.obj.File, d.obj.Resource(), d.field+".port", "no port given and %s: requests routed there on port %d get 503", why, lport)
		}
		return c.addCluster(k, func(cl *Cluster) { cl.Missing = why; cl.Entry = *e })
	}
	inCluster := c.emeta[ei].inCluster
	fill := func(cl *Cluster) {
		cl.Entry, cl.EntryPort = *e, *p
		if inCluster {
			cl.Entry.Endpoints = endpointsOnPort(e.Endpoints, p.Name)
			if len(cl.Entry.Endpoints) == 0 {
				cl.Missing = fmt.Sprintf("%s has no ready endpoints for port %d", e.Source, port)
				return
			}
		}
		if d.subset == "" {
			return
		}
		dr := c.emeta[ei].dr
		var sub *subset
		if dr != nil {
			for _, s := range dr.subsets {
				if s.name == d.subset {
					sub = s
				}
			}
		}
		if sub == nil {
			cl.Missing = fmt.Sprintf("subset %s of %s is not defined by any DestinationRule", d.subset, d.host)
			c.r.unservedReference(d.obj.File, d.obj.Resource(), d.field+".subset", "IST0101 referenced subset not found: %s", cl.Missing)
			return
		}
		eps := cl.Entry.Endpoints
		cl.Entry.Endpoints = slices.DeleteFunc(slices.Clone(eps), func(ep Endpoint) bool { return !labelsSubset(sub.labels, ep.Labels) })
		if inCluster && len(cl.Entry.Endpoints) == 0 && c.opts.PodLabels == nil {
			// Istio matches subset labels against pod labels; EndpointSlices
			// carry none, and egressgw does not read Pods for this.
			c.r.warn(d.obj.File, d.obj.Resource(), d.field+".subset", "subset %s (%s %s) selects no endpoint of %s: its labels are matched against pod labels, "+
				"which egressgw does not read for Service endpoints (only a subset without labels selects them): requests routed there get 503", d.subset, dr.obj.Resource(), sub.field, d.host)
			cl.Missing = fmt.Sprintf("subset %s of %s selects no endpoint (labels %v: Service endpoints carry no pod labels in egressgw)", d.subset, d.host, sub.labels)
		} else if len(eps) > 0 && len(cl.Entry.Endpoints) == 0 {
			c.r.warn(d.obj.File, d.obj.Resource(), d.field+".subset", "subset %s (%s %s) selects no endpoint of %s: requests routed there get 503", d.subset, dr.obj.Resource(), sub.field, d.host)
			cl.Missing = fmt.Sprintf("subset %s of %s selects no endpoint (labels %v)", d.subset, d.host, sub.labels)
		}
		ps := dr.settings(sub, port)
		cl.EntryPort.TLS, cl.EntryPort.Pool, cl.EntryPort.LB, cl.EntryPort.Outlier = ps.tls, ps.pool, ps.lb, ps.outlier
	}
	return c.addCluster(k, func(cl *Cluster) {
		fill(cl)
		if cl.Missing == "" && e.Views != nil {
			c.clusterViews(cl, ei, d.subset)
		}
	})
}

// addCluster returns the index of the cluster k, creating it with fill.
func (c *compiler) addCluster(k clusterKey, fill func(*Cluster)) int {
	if i, ok := c.clusterIdx[k]; ok {
		return i
	}
	cl := Cluster{Name: fmt.Sprintf("outbound|%d|%s|%s", k.port, k.subset, k.host), Host: k.host, Port: k.port, Subset: k.subset}
	fill(&cl)
	if cl.EntryPort.Number != 0 {
		cl.EntryPort.Cluster = cl.Name
	}
	for i := range cl.Views {
		cl.Views[i].Port.Cluster = cl.Name
	}
	if c.clusterIdx == nil {
		c.clusterIdx = map[clusterKey]int{}
	}
	c.clusterIdx[k] = len(c.clusters)
	c.clusters = append(c.clusters, cl)
	return len(c.clusters) - 1
}

// entryFor returns the entry registering host (exact, else the longest
// wildcard covering it), or -1.
func (c *compiler) entryFor(host string) int {
	if i, ok := c.entryOf[host]; ok {
		return i
	}
	i := c.findEntry(host)
	if c.entryOf == nil {
		c.entryOf = map[string]int{}
	}
	c.entryOf[host] = i
	return i
}

func (c *compiler) findEntry(host string) int {
	best := -1
	for i, e := range c.entries {
		switch {
		case e.Host == host:
			return i
		case isWildcard(e.Host) && wildcardCovers(e.Host, host) && (best < 0 || len(e.Host) > len(c.entries[best].Host)):
			best = i
		}
	}
	return best
}

// isEgressGateway reports whether host names the egress gateway's own Service.
func (c *compiler) isEgressGateway(host string) bool {
	return slices.Contains(c.opts.EgressGatewayHosts, host)
}
