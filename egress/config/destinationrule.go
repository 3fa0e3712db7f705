package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/egressgw/egressgw/origination"
	"github.com/egressgw/egressgw/route"
)

const (
	defaultConnectTimeout = 10 * time.Second
	defaultIdleTimeout    = time.Hour
)

// destRule is a compiled DestinationRule.
type destRule struct {
	obj     *object
	host    string                  // lowercase FQDN or wildcard, short names expanded
	top     portSettings            // from spec.trafficPolicy
	ports   map[uint32]portSettings // from spec.trafficPolicy.portLevelSettings
	pfield  map[uint32]string       // port -> "spec.trafficPolicy.portLevelSettings[i]"
	used    map[uint32]bool         // port-level settings that applied to some entry port
	subsets []*subset
	matched bool
	// export is spec.exportTo ("." resolved; nil: every namespace), and
	// private says it names only the rule's own namespace ("." or its name).
	export  *route.Export
	private bool
}

// subset is one spec.subsets entry: the endpoints it selects and, when it
// has a trafficPolicy, the settings that replace the rule's for it.
type subset struct {
	name   string
	field  string
	labels map[string]string
	policy bool                    // trafficPolicy set
	set    policySet               // which of its fields it sets: those replace the rule's
	top    portSettings            // from the subset's trafficPolicy
	ports  map[uint32]portSettings // its portLevelSettings: replace the rule's for their port
}

// policySet records which fields of a trafficPolicy are set.
type policySet struct{ tls, pool, lb, outlier bool }

// settings returns what the subset (nil: none) and the rule set for port n.
// As Istio merges a subset's policy, each field the subset sets replaces
// the rule's, and its port-level settings replace the rule's for their port.
func (d *destRule) settings(s *subset, n uint32) portSettings {
	ps := d.top
	if pl, ok := d.ports[n]; ok {
		ps = pl
	}
	if s == nil || !s.policy {
		return ps
	}
	if pl, ok := s.ports[n]; ok {
		return pl
	}
	if s.set.tls {
		ps.tls = s.top.tls
	}
	if s.set.pool {
		ps.pool = s.top.pool
	}
	if s.set.lb {
		ps.lb = s.top.lb
	}
	if s.set.outlier {
		ps.outlier = s.top.outlier
	}
	return ps
}

// portSettings is what a DestinationRule sets for one port.
type portSettings struct {
	tls     *origination.TLS
	pool    PoolSettings
	lb      LBSettings
	outlier OutlierSettings
}

// destinationRule decodes and validates a DestinationRule, building its TLS
// settings now so that every problem is reported even if it matches nothing.
func (c *compiler) destinationRule(o *object) {
	f, res := o.File, o.Resource()
	var dr networking.DestinationRule
	if err := unmarshalSpec(o.Spec, &dr); err != nil {
		c.r.problem(f, res, "spec", "%v", err)
		return
	}
	host := strings.TrimSuffix(strings.ToLower(dr.Host), ".")
	switch {
	case host == "":
		c.r.problem(f, res, "spec.host", "required")
		return
	case host == "*":
	case !strings.Contains(host, "."):
		host = fmt.Sprintf("%s.%s.svc.%s", host, o.Namespace, c.opts.ClusterDomain)
	}
	if host != "*" {
		if err := checkHost(host, true); err != nil {
			c.r.problem(f, res, "spec.host", "%v", err)
			return
		}
	}
	if dr.WorkloadSelector != nil {
		c.r.warn(f, res, "spec.workloadSelector", "not applied: the rule applies to all matching traffic through egressgw")
	}
	if c.isEgressGateway(host) {
		// The sidecar-to-gateway leg of Istio's egress-gateway tasks
		// (ISTIO_MUTUAL, subsets for the gateway): accepted, not applied,
		// so its settings are not warned about.
		defer func(n int) { c.r.warnings = c.r.warnings[:n] }(len(c.r.warnings))
	}
	exportTo := c.exportTo(o, dr.ExportTo)
	d := &destRule{obj: o, host: host, export: routeExport(o.Namespace, exportTo), private: isPrivate(o.Namespace, exportTo), ports: map[uint32]portSettings{}, pfield: map[uint32]string{}, used: map[uint32]bool{}}
	d.top, d.ports, d.pfield = c.trafficPolicy(o, "spec.trafficPolicy", "", dr.TrafficPolicy)
	names := map[string]string{}
	for i, ss := range dr.Subsets {
		field := fmt.Sprintf("spec.subsets[%d]", i)
		if ss == nil || ss.Name == "" {
			c.r.problem(f, res, field+".name", "required")
			continue
		}
		if prev, dup := names[ss.Name]; dup {
			c.r.problem(f, res, field+".name", "subset %q is already defined by %s", ss.Name, prev)
			continue
		}
		names[ss.Name] = field
		sub := &subset{name: ss.Name, field: field, labels: maps.Clone(ss.Labels), policy: ss.TrafficPolicy != nil}
		if tp := ss.TrafficPolicy; tp != nil {
			sub.top, sub.ports, _ = c.trafficPolicy(o, field+".trafficPolicy", "subset "+ss.Name+" ", tp)
			sub.set = policySet{tls: tp.Tls != nil, pool: tp.ConnectionPool != nil, lb: tp.LoadBalancer != nil, outlier: tp.OutlierDetection != nil}
		}
		d.subsets = append(d.subsets, sub)
	}
	c.drs = append(c.drs, d)
}

// trafficPolicy compiles one trafficPolicy block (of the rule, or of a
// subset: src prefixes TLS.Source): its settings, and those of its
// portLevelSettings with the field that set each port.
func (c *compiler) trafficPolicy(o *object, field, src string, tp *networking.TrafficPolicy) (portSettings, map[uint32]portSettings, map[uint32]string) {
	f, res := o.File, o.Resource()
	top := portSettings{pool: defaultPool, lb: defaultLB}
	ports, pfield := map[uint32]portSettings{}, map[uint32]string{}
	if tp == nil {
		return top, ports, pfield
	}
	for _, u := range []struct {
		name string
		set  bool
	}{{"tunnel", tp.Tunnel != nil}, {"proxyProtocol", tp.ProxyProtocol != nil}, {"retryBudget", tp.RetryBudget != nil}} {
		if u.set {
			c.r.warn(f, res, field+"."+u.name, "not applied: not supported by egressgw")
		}
	}
	top = c.portSettings(o, field, src+"trafficPolicy", tp.Tls, tp.ConnectionPool)
	top.lb = c.loadBalancer(o, field+".loadBalancer", tp.LoadBalancer)
	top.outlier = c.outlierDetection(o, field+".outlierDetection", tp.OutlierDetection)
	for i, pl := range tp.PortLevelSettings {
		pf := fmt.Sprintf("%s.portLevelSettings[%d]", field, i)
		if pl == nil || pl.Port == nil || pl.Port.Number == 0 {
			c.r.problem(f, res, pf+".port.number", "required")
			continue
		}
		n := pl.Port.Number
		if n > 65535 {
			c.r.problem(f, res, pf+".port.number", "%d is not a valid port (1-65535)", n)
			continue
		}
		if prev, dup := pfield[n]; dup {
			c.r.warn(f, res, pf, "not applied: port %d is already set by %s", n, prev)
			continue
		}
		pfield[n] = pf
		ps := c.portSettings(o, pf, fmt.Sprintf("%sportLevelSettings[%d]", src, i), pl.Tls, pl.ConnectionPool)
		ps.lb = c.loadBalancer(o, pf+".loadBalancer", pl.LoadBalancer)
		ps.outlier = c.outlierDetection(o, pf+".outlierDetection", pl.OutlierDetection)
		ports[n] = ps
	}
	return top, ports, pfield
}

// portSettings builds the settings of one trafficPolicy or portLevelSettings
// block. Fields omitted there get defaults (Istio: port-level settings are
// not merged with destination-level ones).
func (c *compiler) portSettings(o *object, field, src string, t *networking.ClientTLSSettings, cp *networking.ConnectionPoolSettings) portSettings {
	ps := portSettings{pool: defaultPool, lb: defaultLB}
	ps.tls = c.buildTLS(o, field+".tls", src+".tls", t)
	if cp == nil {
		return ps
	}
	dur := func(name string, d *durationpb.Duration, into *time.Duration) {
		if d == nil {
			return
		}
		v := d.AsDuration()
		if err := d.CheckValid(); err != nil || v <= 0 {
			c.r.problem(o.File, o.Resource(), field+".connectionPool."+name, "must be a positive duration")
			return
		}
		*into = v
	}
	if cp.Tcp != nil {
		dur("tcp.connectTimeout", cp.Tcp.ConnectTimeout, &ps.pool.ConnectTimeout)
		dur("tcp.idleTimeout", cp.Tcp.IdleTimeout, &ps.pool.IdleTimeout)
	}
	if cp.Http != nil {
		dur("http.idleTimeout", cp.Http.IdleTimeout, &ps.pool.IdleTimeout) // wins over tcp.idleTimeout
		if n := cp.Http.MaxRequestsPerConnection; n < 0 {
			c.r.problem(o.File, o.Resource(), field+".connectionPool.http.maxRequestsPerConnection", "%d must not be negative", n)
		} else {
			ps.pool.MaxRequestsPerConnection = int(n)
		}
		ps.pool.H2Upgrade = cp.Http.H2UpgradePolicy == networking.ConnectionPoolSettings_HTTPSettings_UPGRADE
	}
	return ps
}

// applyDestinationRules gives every entry port the settings of the
// DestinationRule that applies to it and, when a rule for the entry is
// exported to some namespaces only, the per-source choices (sourceViews).
func (c *compiler) applyDestinationRules() {
	x := c.drIndex()
	for i := range c.entries {
		e := &c.entries[i]
		raw := slices.Clone(e.Ports)
		d := c.pickDR(x.candidates(e.Host, c.emeta[i].authzHost, nil), e.Namespace)
		if d != nil {
			d.matched = true
			c.emeta[i].dr = d
			for j := range e.Ports {
				e.Ports[j] = d.apply(e.Ports[j])
			}
		}
		c.sourceViews(x, i, raw)
	}
	for _, d := range c.drs {
		if !d.matched && c.isEgressGateway(d.host) {
			continue // the sidecar-to-gateway leg (Istio's egress-gateway tasks): accepted, nothing to apply
		}
		if !d.matched {
			if c.coversAnyEntry(d.host) {
				c.r.warn(d.obj.File, d.obj.Resource(), "spec.host", "not applied: for every entry %s covers, another DestinationRule takes precedence (exact host over wildcard, then the entry's namespace, then the gateway's, then the first loaded)", d.host)
			} else {
				c.r.warn(d.obj.File, d.obj.Resource(), "spec.host", "not applied: %s matches no ServiceEntry host or Service", d.host)
			}
			continue
		}
		for _, n := range slices.Sorted(maps.Keys(d.pfield)) {
			if !d.used[n] {
				c.r.warn(d.obj.File, d.obj.Resource(), d.pfield[n], "not applied: port %d is not a port of %s", n, d.host)
			}
		}
	}
}

// apply returns p with the rule's settings for its port.
func (d *destRule) apply(p Port) Port {
	ps := d.settings(nil, p.Number)
	if _, ok := d.ports[p.Number]; ok {
		d.used[p.Number] = true
	}
	p.TLS, p.Pool, p.LB, p.Outlier = ps.tls, ps.pool, ps.lb, ps.outlier
	return p
}

// drIndex is the DestinationRules by exact host, and the wildcard ones.
type drIndex struct {
	exact map[string][]*destRule
	wild  []*destRule
}

func (c *compiler) drIndex() drIndex {
	x := drIndex{exact: map[string][]*destRule{}}
	for _, d := range c.drs {
		if isWildcard(d.host) {
			x.wild = append(x.wild, d)
		} else {
			x.exact[d.host] = append(x.exact[d.host], d)
		}
	}
	return x
}

// candidates returns the rules keep accepts (nil: all) that match an
// entry most specifically: for its host exactly, else for its target
// (ExternalName) exactly, else the longest wildcard covering the host,
// then the target; in load order.
func (x drIndex) candidates(host, target string, keep func(*destRule) bool) []*destRule {
	ok := func(d *destRule) bool { return keep == nil || keep(d) }
	exact := func(h string) []*destRule {
		var out []*destRule
		for _, d := range x.exact[h] {
			if ok(d) {
				out = append(out, d)
			}
		}
		return out
	}
	bestWild := func(h string) []*destRule {
		var best []*destRule
		for _, d := range x.wild {
			if !ok(d) || d.host != h && !wildcardCovers(d.host, h) {
				continue
			}
			switch {
			case len(best) == 0 || len(d.host) > len(best[0].host):
				best = []*destRule{d}
			case len(d.host) == len(best[0].host):
				best = append(best, d)
			}
		}
		return best
	}
	if out := exact(host); len(out) > 0 {
		return out
	}
	if target != "" {
		if out := exact(target); len(out) > 0 {
			return out
		}
	}
	if out := bestWild(host); len(out) > 0 || target == "" {
		return out
	}
	return bestWild(target)
}

// pickDR chooses among DestinationRules for the same host: the one in the
// entry's namespace, else in the gateway's namespace, else the first loaded.
func (c *compiler) pickDR(cands []*destRule, ns string) *destRule {
	if len(cands) == 0 {
		return nil
	}
	for _, want := range []string{ns, c.opts.Namespace} {
		for _, d := range cands {
			if d.obj.Namespace == want {
				return d
			}
		}
	}
	return cands[0]
}

func (c *compiler) coversAnyEntry(host string) bool {
	for i, e := range c.entries {
		for _, h := range []string{e.Host, c.emeta[i].authzHost} {
			if h != "" && (h == host || isWildcard(host) && wildcardCovers(host, h)) {
				return true
			}
		}
	}
	return false
}
