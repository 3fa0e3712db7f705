package config

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// service registers a Service of type ExternalName; other Services are
// kept for buildServices, which joins them with their endpoints.
func (c *compiler) service(o *object) {
	f, res := o.File, o.Resource()
	var svc corev1.Service
	if err := json.Unmarshal(o.JSON, &svc); err != nil {
		c.r.problem(f, res, "", "%s", jsonErr(err))
		return
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName {
		c.kubeSvcs = append(c.kubeSvcs, kubeSvc{obj: o, svc: &svc}) // built with its endpoints once all are read (services.go)
		return
	}
	c.seeService(o) // its Endpoints, if any, are not "of no loaded Service"
	before := len(c.r.problems)
	target := strings.TrimSuffix(strings.ToLower(svc.Spec.ExternalName), ".")
	if target == "" {
		c.r.problem(f, res, "spec.externalName", "required for type ExternalName")
	} else if err := checkHost(target, false); err != nil {
		c.r.problem(f, res, "spec.externalName", "%v", err)
	}
	if len(svc.Spec.Ports) == 0 {
		c.r.warn(f, res, "spec.ports", "not registered: egressgw needs the ports to serve an ExternalName Service on")
		return
	}
	host := c.serviceHost(o)
	ports, fields := c.servicePorts(o, &svc, host, false)
	if len(c.r.problems) > before || len(ports) == 0 {
		return
	}
	slices.SortFunc(ports, func(a, b Port) int { return int(a.Number) - int(b.Number) })
	c.entries = append(c.entries, Entry{
		Source:     "Service " + o.Namespace + "/" + o.Name + " (ExternalName)",
		Namespace:  o.Namespace,
		Host:       host,
		Target:     target,
		Resolution: ResolutionDNS,
		Ports:      ports,
	})
	c.emeta = append(c.emeta, entryMeta{obj: o, authzHost: target, portField: fields})
}

// followServiceEntries makes an ExternalName Service whose externalName is
// a ServiceEntry host an alias of that host on the ports both declare, as
// Istio treats it: the Service port takes the ServiceEntry port's protocol
// and targetPort together with the settings (TLS origination, connection
// pool) of the DestinationRule that applies to the ServiceEntry host on that
// port, and the entry dials the ServiceEntry's endpoints if it has any.
// Applying the DestinationRule but not the targetPort would originate TLS
// to the plaintext port. The Service's other ports keep their own
// settings. Runs after applyDestinationRules.
func (c *compiler) followServiceEntries() {
	for i := range c.entries {
		target := c.emeta[i].authzHost
		if target == "" || c.emeta[i].inCluster {
			continue
		}
		se := c.serviceEntryFor(target)
		if se < 0 {
			continue
		}
		e, s := &c.entries[i], &c.entries[se]
		e.Internal = s.Internal // an alias of a MESH_INTERNAL host reaches what it reaches (netguard)
		if len(s.Endpoints) > 0 {
			// Where the ServiceEntry sends its host, the alias goes too.
			e.Resolution, e.Endpoints = s.Resolution, s.Endpoints
		}
		var aliased []string
		for j := range e.Ports {
			p := &e.Ports[j]
			sp, ok := s.Port(p.Number)
			if !ok {
				continue
			}
			p.Name, p.Protocol, p.TargetPort, p.HTTP2 = sp.Name, sp.Protocol, sp.TargetPort, sp.HTTP2 // the name selects endpoint ports
			p.TLS, p.Pool, p.LB, p.Outlier = sp.TLS, sp.Pool, sp.LB, sp.Outlier
			aliased = append(aliased, strconv.Itoa(int(p.Number)))
		}
		// A DestinationRule for the Service's own name does not apply where
		// the ServiceEntry's ports do.
		if d := c.emeta[i].dr; d != nil && len(aliased) > 0 && d.host != target && !wildcardCovers(d.host, target) {
			c.r.warn(d.obj.File, d.obj.Resource(), "spec.host", "not applied to port %s of %s: its externalName %s is registered by %s, "+
				"whose ports and DestinationRules apply there (write the rule for %s)", strings.Join(aliased, ", "), e.Source, target, s.Source, target)
		}
	}
}

// serviceEntryFor returns the index of the ServiceEntry entry registering
// host: the exact host, else the longest wildcard covering it; -1 if none.
func (c *compiler) serviceEntryFor(host string) int {
	best := -1
	for i, e := range c.entries {
		switch {
		case c.emeta[i].authzHost != "" || c.emeta[i].inCluster: // an ExternalName Service, an in-cluster Service
		case e.Host == host:
			return i
		case isWildcard(e.Host) && wildcardCovers(e.Host, host) && (best < 0 || len(e.Host) > len(c.entries[best].Host)):
			best = i
		}
	}
	return best
}

func appProtocol(sp corev1.ServicePort) string {
	if sp.AppProtocol == nil {
		return ""
	}
	return strings.TrimPrefix(*sp.AppProtocol, "kubernetes.io/")
}

// serviceProtocol is the protocol of a Service port: appProtocol if it names
// one, else the port name prefix (Istio's rules), else ProtocolAuto.
func serviceProtocol(sp corev1.ServicePort) Protocol {
	if sp.AppProtocol != nil {
		ap := strings.ToUpper(strings.TrimPrefix(*sp.AppProtocol, "kubernetes.io/"))
		switch ap {
		case "H2C", "WS":
			return ProtocolHTTP
		case "WSS":
			return ProtocolTLS
		}
		if p, ok := protocols[ap]; ok {
			return p
		}
	}
	return protocolFromName(sp.Name)
}
