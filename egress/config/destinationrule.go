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
	matched bool
}

// portSettings is what a DestinationRule sets for one port.
type portSettings struct {
	tls  *origination.TLS
	pool PoolSettings
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
	if len(dr.Subsets) > 0 {
		c.r.warn(f, res, "spec.subsets", "not applied: egressgw sends traffic straight to the upstream, there are no subsets to route to")
	}
	if len(dr.ExportTo) > 0 {
		c.r.warn(f, res, "spec.exportTo", "not applied: egressgw serves every namespace")
	}
	if dr.WorkloadSelector != nil {
		c.r.warn(f, res, "spec.workloadSelector", "not applied: the rule applies to all matching traffic through egressgw")
	}
	d := &destRule{obj: o, host: host, ports: map[uint32]portSettings{}, pfield: map[uint32]string{}, used: map[uint32]bool{}}
	d.top = portSettings{pool: defaultPool}
	if tp := dr.TrafficPolicy; tp != nil {
		c.unsupportedPolicy(o, "spec.trafficPolicy", tp.LoadBalancer != nil, tp.OutlierDetection != nil)
		for _, u := range []struct {
			name string
			set  bool
		}{{"tunnel", tp.Tunnel != nil}, {"proxyProtocol", tp.ProxyProtocol != nil}, {"retryBudget", tp.RetryBudget != nil}} {
			if u.set {
				c.r.warn(f, res, "spec.trafficPolicy."+u.name, "not applied: not supported by egressgw")
			}
		}
		d.top = c.portSettings(o, "spec.trafficPolicy", "trafficPolicy", tp.Tls, tp.ConnectionPool)
		for i, pl := range tp.PortLevelSettings {
			field := fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d]", i)
			if pl == nil || pl.Port == nil || pl.Port.Number == 0 {
				c.r.problem(f, res, field+".port.number", "required")
				continue
			}
			n := pl.Port.Number
			if n > 65535 {
				c.r.problem(f, res, field+".port.number", "%d is not a valid port (1-65535)", n)
				continue
			}
			if prev, dup := d.pfield[n]; dup {
				c.r.warn(f, res, field, "not applied: port %d is already set by %s", n, prev)
				continue
			}
			c.unsupportedPolicy(o, field, pl.LoadBalancer != nil, pl.OutlierDetection != nil)
			d.pfield[n] = field
			d.ports[n] = c.portSettings(o, field, fmt.Sprintf("portLevelSettings[%d]", i), pl.Tls, pl.ConnectionPool)
		}
	}
	c.drs = append(c.drs, d)
}

func (c *compiler) unsupportedPolicy(o *object, field string, lb, od bool) {
	if lb {
		c.r.warn(o.File, o.Resource(), field+".loadBalancer", "not applied: egressgw dials one resolved address per connection")
	}
	if od {
		c.r.warn(o.File, o.Resource(), field+".outlierDetection", "not applied: not supported by egressgw")
	}
}

// portSettings builds the settings of one trafficPolicy or portLevelSettings
// block. Fields omitted there get defaults (Istio: port-level settings are
// not merged with destination-level ones).
func (c *compiler) portSettings(o *object, field, src string, t *networking.ClientTLSSettings, cp *networking.ConnectionPoolSettings) portSettings {
	ps := portSettings{pool: defaultPool}
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
// DestinationRule that applies to it.
func (c *compiler) applyDestinationRules() {
	exact := map[string][]*destRule{}
	var wild []*destRule
	for _, d := range c.drs {
		if isWildcard(d.host) {
			wild = append(wild, d)
		} else {
			exact[d.host] = append(exact[d.host], d)
		}
	}
	bestWild := func(host string) []*destRule {
		var best []*destRule
		for _, d := range wild {
			if d.host != host && !wildcardCovers(d.host, host) {
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
	for i := range c.entries {
		e := &c.entries[i]
		target := c.emeta[i].authzHost
		cands := exact[e.Host]
		if len(cands) == 0 && target != "" {
			cands = exact[target]
		}
		if len(cands) == 0 {
			cands = bestWild(e.Host)
		}
		if len(cands) == 0 && target != "" {
			cands = bestWild(target)
		}
		d := c.pickDR(cands, e.Namespace)
		if d == nil {
			continue
		}
		d.matched = true
		c.emeta[i].dr = d
		for j := range e.Ports {
			p := &e.Ports[j]
			ps := d.top
			if pl, ok := d.ports[p.Number]; ok {
				ps = pl
				d.used[p.Number] = true
			}
			p.TLS, p.Pool = ps.tls, ps.pool
		}
	}
	for _, d := range c.drs {
		if !d.matched {
			if c.coversAnyEntry(d.host) {
				c.r.warn(d.obj.File, d.obj.Resource(), "spec.host", "not applied: for every entry %s covers, another DestinationRule takes precedence (exact host over wildcard, then the entry's namespace, then the gateway's, then the first loaded)", d.host)
			} else {
				c.r.warn(d.obj.File, d.obj.Resource(), "spec.host", "not applied: %s matches no ServiceEntry host or ExternalName Service", d.host)
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
