package config

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

var defaultPool = PoolSettings{ConnectTimeout: defaultConnectTimeout, IdleTimeout: defaultIdleTimeout}

// serviceEntry validates a ServiceEntry and registers one Entry per host.
func (c *compiler) serviceEntry(o *object) {
	var se networking.ServiceEntry
	f, res := o.File, o.Resource()
	if err := unmarshalSpec(o.Spec, &se); err != nil {
		c.r.problem(f, res, "spec", "%v", err)
		return
	}
	before := len(c.r.problems)

	hosts := c.seHosts(o, &se)
	wildcard := slices.ContainsFunc(hosts, isWildcard)
	resolution := c.seResolution(o, &se, hosts, wildcard)
	ports, portField := c.sePorts(o, &se)
	endpoints := c.seEndpoints(o, &se, resolution)

	if len(se.Addresses) > 0 {
		c.r.warn(f, res, "spec.addresses", "not used: clients reach egressgw through its own address (DNS interception)")
	}
	exportTo := c.exportTo(o, se.ExportTo)
	if len(se.SubjectAltNames) > 0 {
		c.r.warn(f, res, "spec.subjectAltNames", "not applied: set subjectAltNames in a DestinationRule tls block to verify the upstream")
	}
	if se.WorkloadSelector != nil {
		c.r.warn(f, res, "spec.workloadSelector", "not applied: egressgw does not select workloads")
	}
	if len(c.r.problems) > before {
		return // not registered: avoids follow-on problems; Load fails anyway
	}
	for _, h := range hosts {
		e := Entry{
			Source:     "ServiceEntry " + o.Namespace + "/" + o.Name,
			Namespace:  o.Namespace,
			Host:       h,
			Resolution: resolution,
			Internal:   se.Location == networking.ServiceEntry_MESH_INTERNAL,
			Endpoints:  endpoints,
			Ports:      slices.Clone(ports),
		}
		for i := range e.Ports {
			e.Ports[i].Cluster = fmt.Sprintf("outbound|%d||%s", e.Ports[i].Number, h)
		}
		c.entries = append(c.entries, e)
		c.emeta = append(c.emeta, entryMeta{obj: o, portField: portField, exportTo: exportTo})
	}
}

func (c *compiler) seHosts(o *object, se *networking.ServiceEntry) []string {
	if len(se.Hosts) == 0 {
		c.r.problem(o.File, o.Resource(), "spec.hosts", "at least one host is required")
		return nil
	}
	var hosts []string
	for i, h := range se.Hosts {
		h = strings.ToLower(h)
		field := fmt.Sprintf("spec.hosts[%d]", i)
		if err := checkHost(h, true); err != nil {
			c.r.problem(o.File, o.Resource(), field, "%v", err)
			continue
		}
		if slices.Contains(hosts, h) {
			c.r.warn(o.File, o.Resource(), field, "%s is listed twice", h)
			continue
		}
		hosts = append(hosts, h)
	}
	return hosts
}

func (c *compiler) seResolution(o *object, se *networking.ServiceEntry, hosts []string, wildcard bool) Resolution {
	f, res := o.File, o.Resource()
	switch se.Resolution {
	case networking.ServiceEntry_NONE:
		if len(se.Endpoints) > 0 {
			c.r.problem(f, res, "spec.endpoints", "endpoints cannot be used with resolution NONE (use STATIC or DNS)")
		}
		return ResolutionNone
	case networking.ServiceEntry_STATIC:
		if len(se.Endpoints) == 0 {
			c.r.problem(f, res, "spec.endpoints", "STATIC resolution needs at least one endpoint")
		}
		return ResolutionStatic
	case networking.ServiceEntry_DNS, networking.ServiceEntry_DNS_ROUND_ROBIN:
		if wildcard {
			c.r.problem(f, res, "spec.resolution", "%s resolution cannot be used for wildcard hosts (omit resolution, i.e. NONE, to dial the requested host)", se.Resolution)
		}
		return ResolutionDNS
	case networking.ServiceEntry_DYNAMIC_DNS:
		if len(hosts) > 0 && !allWildcards(hosts) {
			c.r.problem(f, res, "spec.resolution", "DYNAMIC_DNS resolution needs wildcard hosts")
		}
		if len(se.Endpoints) > 0 {
			c.r.problem(f, res, "spec.endpoints", "endpoints cannot be used with resolution DYNAMIC_DNS")
		}
		return ResolutionNone // the gateway dials the requested host, as Istio's dynamic forward proxy does
	default:
		c.r.problem(f, res, "spec.resolution", "%v is not supported", se.Resolution)
		return ResolutionNone
	}
}

func allWildcards(hosts []string) bool {
	for _, h := range hosts {
		if !isWildcard(h) {
			return false
		}
	}
	return true
}

// sePorts validates spec.ports and returns them sorted by number, with the
// field that declared each number.
func (c *compiler) sePorts(o *object, se *networking.ServiceEntry) ([]Port, map[uint32]string) {
	f, res := o.File, o.Resource()
	if len(se.Ports) == 0 {
		c.r.problem(f, res, "spec.ports", "at least one port is required")
	}
	var ports []Port
	fields := map[uint32]string{}
	names := map[string]string{}
	for i, sp := range se.Ports {
		field := fmt.Sprintf("spec.ports[%d]", i)
		if sp == nil {
			c.r.problem(f, res, field, "empty port")
			continue
		}
		ok := true
		if sp.Number < 1 || sp.Number > 65535 {
			c.r.problem(f, res, field+".number", "%d is not a valid port (1-65535)", sp.Number)
			ok = false
		} else if prev, dup := fields[sp.Number]; dup {
			c.r.problem(f, res, field+".number", "port %d is already declared by %s", sp.Number, prev)
			ok = false
		}
		if sp.Name != "" {
			if err := checkLabel(sp.Name); err != nil {
				c.r.problem(f, res, field+".name", "%q is not a valid port name: %v", sp.Name, err)
				ok = false
			} else if prev, dup := names[sp.Name]; dup {
				c.r.problem(f, res, field+".name", "port name %q is already used by %s", sp.Name, prev)
				ok = false
			}
			names[sp.Name] = field
		}
		proto := protocolFromName(sp.Name)
		if sp.Protocol != "" {
			p, known := protocols[strings.ToUpper(sp.Protocol)]
			if !known {
				c.r.problem(f, res, field+".protocol", "%q is not supported (use %s)", sp.Protocol, protocolList)
				ok = false
			}
			proto = p
		}
		if sp.TargetPort > 65535 {
			c.r.problem(f, res, field+".targetPort", "%d is not a valid port (0-65535)", sp.TargetPort)
			ok = false
		}
		if !ok {
			continue
		}
		fields[sp.Number] = field
		tp := sp.TargetPort
		if tp == 0 {
			tp = sp.Number
		}
		ports = append(ports, Port{Number: sp.Number, Name: sp.Name, Protocol: proto, TargetPort: tp,
			HTTP2: declaresHTTP2(sp.Protocol, sp.Name), Pool: defaultPool})
	}
	slices.SortFunc(ports, func(a, b Port) int { return int(a.Number) - int(b.Number) })
	return ports, fields
}

func (c *compiler) seEndpoints(o *object, se *networking.ServiceEntry, r Resolution) []Endpoint {
	f, res := o.File, o.Resource()
	portNames := map[string]bool{}
	for _, p := range se.Ports {
		if p != nil && p.Name != "" {
			portNames[p.Name] = true
		}
	}
	var eps []Endpoint
	for i, we := range se.Endpoints {
		field := fmt.Sprintf("spec.endpoints[%d]", i)
		if we == nil {
			c.r.problem(f, res, field, "empty endpoint")
			continue
		}
		addr := we.Address
		_, ipErr := netip.ParseAddr(addr)
		switch {
		case addr == "":
			c.r.problem(f, res, field+".address", "required")
		case r == ResolutionStatic && ipErr != nil:
			c.r.problem(f, res, field+".address", "%q is not an IP address (STATIC resolution needs IP endpoints; use DNS for host names)", addr)
		case r == ResolutionDNS && ipErr != nil:
			addr = strings.TrimSuffix(strings.ToLower(addr), ".")
			if err := checkHost(addr, false); err != nil {
				c.r.problem(f, res, field+".address", "%v", err)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(we.Ports)) {
			n := we.Ports[name]
			if !portNames[name] {
				c.r.problem(f, res, field+".ports."+name, "%q is not the name of a port in spec.ports", name)
			}
			if n < 1 || n > 65535 {
				c.r.problem(f, res, field+".ports."+name, "%d is not a valid port (1-65535)", n)
			}
		}
		eps = append(eps, Endpoint{Address: addr, Ports: maps.Clone(we.Ports), Labels: maps.Clone(we.Labels)})
	}
	return eps
}
